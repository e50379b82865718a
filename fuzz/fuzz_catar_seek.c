/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The seeking catar reader behind `mount`: the archive is served through an archive reader over
 * an in-memory index of 4 KiB chunks (as chunks split it), and walked as the file system does:
 * the root, each directory's goodbye table, every child in archive order, lookups by name (and
 * of a name that is absent), ACLs as xattrs, and the start of each file's payload. The walk is
 * bounded (nodes, depth, bytes read) as a mount is by the kernel's requests.
 */
#include <sys/stat.h>

#include "casync/acl_xattr.h"
#include "fuzz/fuzz.h"

#define CHUNK        4096
#define NODES_MAX    2048
#define DEPTH_MAX    80
#define PAYLOAD_READ 8192

typedef struct walk {
        ca_archive_reader *r;
        uint64_t flags;
        unsigned nodes;
} walk;

static const uint8_t *input;

static int get_chunk(void *userdata, const ca_index_item *item, ca_digest_type t, void *buf)
{
        memcpy(buf, input + item->offset, item->size);
        return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        fuzz_log_everything();
        return 0;
}

static void visit_meta(walk *w, const ca_seek_entry *e)
{
        void *v;
        size_t n;
        if (ca_acl_access_xattr(&e->node, "fuzz", &v, &n) == 0)
                free(v);
        if (ca_acl_default_xattr(&e->node, "fuzz", &v, &n) == 0)
                free(v);
        if (S_ISREG(e->node.mode) && e->node.payload_size > 0) {
                uint8_t buf[PAYLOAD_READ];
                size_t take = (size_t)MIN(e->node.payload_size, (uint64_t)sizeof(buf));
                (void)ca_archive_reader_read(w->r, e->payload_offset, buf, take);
        }
}

static void visit(walk *w, const ca_seek_entry *e, unsigned depth)
{
        if (++w->nodes > NODES_MAX || depth > DEPTH_MAX)
                return;
        visit_meta(w, e);
        if (!S_ISDIR(e->node.mode))
                return;
        _cleanup_(ca_seek_dir_freep) ca_seek_dir *d = NULL;
        if (ca_seek_dir_open(w->r, e, &d) < 0)
                return;
        /* A name the input may or may not hold: what a lookup finds bears the name it asked. */
        _cleanup_(ca_seek_entry_freep) ca_seek_entry *other = NULL;
        if (ca_seek_dir_lookup(w->r, w->flags, d, "not-in-the-archive~", &other) == 0)
                FUZZ_ASSERT(strcmp(other->name, "not-in-the-archive~") == 0);
        for (size_t i = 0; i < d->n && w->nodes <= NODES_MAX; i++) {
                _cleanup_(ca_seek_entry_freep) ca_seek_entry *c = NULL;
                if (ca_seek_dir_child(w->r, w->flags, d, i, &c) < 0)
                        continue;
                /* A child found by position is found by its name, at the same place. */
                _cleanup_(ca_seek_entry_freep) ca_seek_entry *l = NULL;
                if (ca_seek_dir_lookup(w->r, w->flags, d, c->name, &l) == 0)
                        FUZZ_ASSERT(l->filename_offset == c->filename_offset);
                visit(w, c, depth + 1);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size == 0)
                return 0;
        input = data;
        ca_index index = {.feature_flags = fuzz_catar_flags(data, size),
                          .n_items = (size + CHUNK - 1) / CHUNK,
                          .total_size = size};
        _cleanup_(freep) ca_index_item *items = calloc(index.n_items, sizeof(ca_index_item));
        if (!items)
                return 0;
        for (size_t i = 0; i < index.n_items; i++)
                items[i] = (ca_index_item){.offset = i * CHUNK,
                                           .size = MIN((uint64_t)CHUNK, size - i * CHUNK)};
        index.items = items;

        walk w = {.flags = index.feature_flags};
        _cleanup_(ca_archive_reader_freep) ca_archive_reader *r = NULL;
        if (ca_archive_reader_new(&index, get_chunk, NULL, 4, "fuzz.catar", &r) < 0)
                return 0;
        w.r = r;
        _cleanup_(ca_seek_entry_freep) ca_seek_entry *root = NULL;
        if (ca_seek_root(r, w.flags, &root) == 0)
                visit(&w, root, 0);
        return 0;
}
