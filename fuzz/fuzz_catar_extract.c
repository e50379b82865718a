/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Extraction of a hostile catar, as `extract` and render write it: into a fresh directory per
 * input under the target's private directory. Checks what extraction promises: on failure
 * nothing is left (no temporary directory, no partial DEST), on success exactly DEST appears,
 * and never anything beside it. Ownership is not restored and so device nodes are not made
 * (--no-same-owner's policy): the fuzzer runs as root on a shared machine.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "casync/fs_safe.h"
#include "fuzz/fuzz.h"

static int parent_fd = -1;
static char dest[128];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        fuzz_log_everything();
        snprintf(dest, sizeof(dest), "%s/dest", fuzz_tmpdir());
        parent_fd = open(fuzz_tmpdir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (parent_fd < 0)
                abort();
        return 0;
}

static int extract(const uint8_t *data, size_t size)
{
        ca_extract_options o = {.no_same_owner = true};
        _cleanup_(ca_extract_freep) ca_extract *e = NULL;
        ca_sink sink;
        int r = ca_extract_new(dest, &o, &e, &sink);
        if (r < 0)
                return r;
        _cleanup_(ca_decoder_freep) ca_decoder *d = NULL;
        r = ca_decoder_new(&sink, UINT64_MAX, "fuzz.catar", &d);
        if (r < 0)
                return r;
        r = ca_decoder_feed(d, data, size);
        if (r >= 0)
                r = ca_decoder_finish(d);
        if (r >= 0)
                r = ca_extract_commit(e);
        return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        int r = extract(data, size);
        if (r >= 0) {
                struct stat st;
                FUZZ_ASSERT(fstatat(parent_fd, "dest", &st, AT_SYMLINK_NOFOLLOW) == 0);
                FUZZ_ASSERT(S_ISDIR(st.st_mode));
                FUZZ_ASSERT(fs_remove_tree_at(parent_fd, "dest") == 0);
        }
        /* Failed or removed: nothing at all may remain beside DEST. */
        FUZZ_ASSERT(fs_dir_is_empty(parent_fd) == 1);
        return 0;
}
