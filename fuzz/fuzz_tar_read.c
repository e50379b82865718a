/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The tar reader (an .aci imported by `acfetch fetch FILE.aci`), fed in two splits: every entry
 * it reports must be one the importer can rely on (a normalized relative path without "..", a
 * known type, data covering exactly its size, entries balanced), whether or not the stream ends
 * well, and the outcome must not depend on how the input is split. Then the entries are written
 * by the import's extraction into a fresh directory under the target's private directory
 * (owners not restored, so no device nodes: the fuzzer runs as root on a shared machine):
 * nothing may ever appear beside it. */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "casync/fs_safe.h"
#include "fuzz/fuzz.h"

static int parent_fd = -1;

typedef struct state {
        bool open;
        uint64_t got, entries;
} state;

static void check_path(const char *p)
{
        FUZZ_ASSERT(p && p[0] != 0 && p[0] != '/');
        FUZZ_ASSERT(strlen(p) <= CA_TAR_PATH_MAX);
        for (const char *c = p; *c;) {
                const char *end = strchrnul(c, '/');
                size_t len = (size_t)(end - c);
                FUZZ_ASSERT(len > 0 && len <= 255);
                FUZZ_ASSERT(!(len == 2 && c[0] == '.' && c[1] == '.'));
                FUZZ_ASSERT(!(len == 1 && c[0] == '.') || strcmp(p, ".") == 0);
                c = *end ? end + 1 : end;
        }
}

static int on_entry(void *userdata, const ca_tar_entry *e)
{
        state *s = userdata;
        FUZZ_ASSERT(!s->open);
        s->open = true;
        s->got = 0;
        s->entries++;
        check_path(e->path);
        FUZZ_ASSERT(e->type <= CA_TAR_FIFO);
        FUZZ_ASSERT(e->mode <= 07777);
        FUZZ_ASSERT(e->type == CA_TAR_REGULAR || e->size == 0);
        FUZZ_ASSERT((e->type == CA_TAR_SYMLINK || e->type == CA_TAR_HARDLINK) ==
                    (e->link_target != NULL));
        if (e->type == CA_TAR_HARDLINK)
                check_path(e->link_target);
        for (size_t i = 0; i < e->n_xattrs; i++)
                FUZZ_ASSERT(e->xattrs[i].name[0] != 0);
        return 0;
}

static int on_data(void *userdata, const ca_tar_entry *e, const void *data, size_t size)
{
        state *s = userdata;
        FUZZ_ASSERT(s->open && size > 0 && data);
        s->got += size;
        FUZZ_ASSERT(s->got <= e->size);
        return 0;
}

static int on_end(void *userdata, const ca_tar_entry *e)
{
        state *s = userdata;
        FUZZ_ASSERT(s->open && s->got == e->size);
        s->open = false;
        return 0;
}

static int run(const uint8_t *data, size_t size, size_t split, state *s)
{
        ca_tar_handler h = {on_entry, on_data, on_end, s};
        _cleanup_(ca_tar_reader_freep) ca_tar_reader *r = NULL;
        if (ca_tar_reader_new(&h, "fuzz.aci", UINT64_C(1) << 30, &r) < 0)
                return -ENOMEM;
        int k = ca_tar_reader_feed(r, data, split);
        if (k >= 0)
                k = ca_tar_reader_feed(r, data + split, size - split);
        if (k >= 0)
                k = ca_tar_reader_finish(r);
        FUZZ_ASSERT(ca_tar_reader_entries(r) >= s->entries);
        if (k >= 0)
                FUZZ_ASSERT(!s->open);
        return k;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        fuzz_log_everything();
        parent_fd = open(fuzz_tmpdir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (parent_fd < 0)
                abort();
        return 0;
}

static void extract(const uint8_t *data, size_t size)
{
        FUZZ_ASSERT(mkdirat(parent_fd, "dest", 0700) == 0);
        int dir_fd = fs_open_beneath(parent_fd, "dest", O_RDONLY | O_DIRECTORY, 0);
        FUZZ_ASSERT(dir_fd >= 0);
        ca_tar_extract_options o = {.no_same_owner = true};
        ca_tar_extract *x = NULL;
        ca_tar_reader *r = NULL;
        ca_tar_handler h;
        int k = ca_tar_extract_new(dir_fd, "fuzz.aci", &o, &x, &h);
        if (k >= 0)
                k = ca_tar_reader_new(&h, "fuzz.aci", UINT64_C(16) << 20, &r);
        if (k >= 0)
                k = ca_tar_reader_feed(r, data, size);
        if (k >= 0)
                k = ca_tar_reader_finish(r);
        if (k >= 0)
                k = ca_tar_extract_finish(x);
        ca_tar_reader_free(r);
        ca_tar_extract_free(x);
        close(dir_fd);
        FUZZ_ASSERT(fs_remove_tree_at(parent_fd, "dest") == 0);
        /* Whatever the archive said, nothing was written beside DEST. */
        FUZZ_ASSERT(fs_dir_is_empty(parent_fd) == 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        state a = {}, b = {};
        int ka = run(data, size, size, &a);
        int kb = run(data, size, size / 3, &b);
        if (ka == -ENOMEM || kb == -ENOMEM)
                return 0;
        /* How much of a corrupt compressed stream decodes before the error depends on the
         * split; the outcome must not, nor what a good stream holds. */
        FUZZ_ASSERT(ka == kb);
        if (ka >= 0)
                FUZZ_ASSERT(a.entries == b.entries);
        extract(data, size);
        return 0;
}
