/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Navigating a catar by seeking instead of streaming: the root GOODBYE tail at the end of the
 * stream leads to the root, a directory's GOODBYE table (at its end) to its children, and each
 * child's FILENAME, ENTRY and metadata records are read at their offsets. Only the records
 * needed are read, so a lazily fetched archive fetches only the chunks that hold them.
 *
 * Everything is checked as the streaming decoder checks it (record sizes and order, names,
 * modes, ids, times, ACLs, device numbers), and the layout too: every offset stays inside the
 * node it belongs to, a directory's goodbye table must tile its body exactly with its children
 * in BST order of their hashes, a child's name must hash to its item, and no two children share
 * a name. A violation is -EBADMSG, logged with the archive offset.
 */
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>

#include "casync/casync.h"
#include "casync/catar_rules.h"

/* The smallest serialization of a child: FILENAME with a 1-byte name, then an ENTRY. */
#define CHILD_SIZE_MIN (CA_FORMAT_HEADER_SIZE + 2 + CA_FORMAT_ENTRY_SIZE)

#define bad(r, off, fmt, ...)                                                                      \
        ca_bad("%s: archive offset %" PRIu64 ": " fmt, ca_archive_reader_what(r), (uint64_t)(off), \
               ##__VA_ARGS__)

/* ---------------------------------------------------------------- field rules */

bool ca_seek_name_valid(const char *s, size_t len)
{
        return len > 0 && len <= CA_CATAR_FILENAME_LEN_MAX && !memchr(s, 0, len) &&
               !memchr(s, '/', len) && !(len == 1 && s[0] == '.') &&
               !(len == 2 && s[0] == '.' && s[1] == '.');
}

static int check_entry(ca_archive_reader *r, uint64_t off, uint64_t flags, const uint8_t *b,
                       bool root, ca_node *n)
{
        char why[CA_CATAR_WHY_MAX];
        uint64_t f = read_le64(b);
        if (f != flags)
                return bad(r, off, "feature flags 0x%" PRIx64 " differ from the index's 0x%" PRIx64,
                           f, flags);
        if (ca_catar_entry_parse(b, off, root, n, why) < 0)
                return bad(r, off, "%s", why);
        return 0;
}

/* ---------------------------------------------------------------- nodes */

ca_seek_entry *ca_seek_entry_free(ca_seek_entry *e)
{
        if (!e)
                return NULL;
        free(e->meta);
        free(e->xattrs);
        free(e->acls);
        free(e);
        return NULL;
}

static int meta_append(ca_seek_entry *e, size_t *alloc, const uint8_t *rec, size_t size)
{
        if (e->meta_size + size > *alloc) {
                size_t a = MAX(*alloc * 2, e->meta_size + size);
                uint8_t *p = realloc(e->meta, a);
                if (!p)
                        return -ENOMEM;
                e->meta = p;
                *alloc = a;
        }
        memcpy(e->meta + e->meta_size, rec, size);
        e->meta_size += size;
        return 0;
}

/* The checks that need all records, then the node's pointers into e->meta. */
static int finalize(ca_archive_reader *r, uint64_t off, ca_seek_entry *e,
                    const ca_catar_meta_state *m)
{
        ca_node *n = &e->node;
        char why[CA_CATAR_WHY_MAX];

        if (ca_catar_meta_finish(m, n->feature_flags, why) < 0)
                return bad(r, off, "%s", why);

        size_t n_acls = m->n_acl[0] + m->n_acl[1] + m->n_acl[2] + m->n_acl[3];
        e->xattrs = calloc(MAX(m->n_xattrs, (size_t)1), sizeof(ca_xattr));
        e->acls = calloc(MAX(n_acls, (size_t)1), sizeof(ca_acl_entry));
        if (!e->xattrs || !e->acls)
                return -ENOMEM;

        ca_catar_node_set_meta(n, e->meta, e->meta_size, m->n_acl, e->xattrs, e->acls);
        n->name = e->name;
        n->path = e->name[0] ? e->name : ".";
        return 0;
}

/* Parses the node whose ENTRY is at `off` and whose serialization ends at `end`. */
static int parse_node(ca_archive_reader *r, uint64_t flags, uint64_t off, uint64_t end,
                      ca_seek_entry *e)
{
        uint8_t entry[CA_FORMAT_ENTRY_SIZE];
        size_t meta_alloc = 0;
        ca_catar_meta_state m;
        char why[CA_CATAR_WHY_MAX];
        int q;

        ca_catar_meta_init(&m);

        if (off > end || end - off < CA_FORMAT_ENTRY_SIZE)
                return bad(r, off, "node too small for its ENTRY record");
        q = ca_archive_reader_read(r, off, entry, sizeof(entry));
        if (q < 0)
                return q;
        if (read_le64(entry) != CA_FORMAT_ENTRY_SIZE || read_le64(entry + 8) != CA_FORMAT_ENTRY)
                return bad(r, off, "ENTRY record expected");
        q = check_entry(r, off, flags, entry + CA_FORMAT_HEADER_SIZE, e->name[0] == 0, &e->node);
        if (q < 0)
                return q;
        e->end = end;
        uint64_t mode = e->node.mode;

        for (uint64_t pos = off + CA_FORMAT_ENTRY_SIZE;;) {
                if (pos == end) {
                        if (S_ISFIFO(mode) || S_ISSOCK(mode))
                                return finalize(r, pos, e, &m);
                        return bad(r, pos, "node ends before its body");
                }
                uint8_t h[CA_FORMAT_HEADER_SIZE];
                if (end - pos < sizeof(h))
                        return bad(r, pos, "record header crosses the end of the node");
                q = ca_archive_reader_read(r, pos, h, sizeof(h));
                if (q < 0)
                        return q;
                uint64_t size = read_le64(h), type = read_le64(h + 8);
                if (size < CA_FORMAT_HEADER_SIZE || size > end - pos)
                        return bad(r, pos, "record of size %" PRIu64 " crosses the end of the node",
                                   size);

                const ca_catar_record_kind *k = ca_catar_record_kind_lookup(type);
                if (k && k->rank) {
                        if (size < k->size_min || size > k->size_max)
                                return bad(r, pos, "%s record of invalid size %" PRIu64, k->name,
                                           size);
                        if (!(flags & k->flag))
                                return bad(r, pos, "%s record without its feature flag", k->name);
                        if (k->rank < m.rank || (k->rank == m.rank && !k->repeat))
                                return bad(r, pos, "%s record out of order", k->name);
                        if (e->meta_size + size > CA_CATAR_META_BYTES_MAX)
                                return bad(r, pos, "metadata too large");
                        m.rank = k->rank;
                        size_t at = e->meta_size;
                        q = meta_append(e, &meta_alloc, h, sizeof(h));
                        if (q < 0)
                                return q;
                        size_t len = (size_t)size - CA_FORMAT_HEADER_SIZE;
                        /* the body is read straight into the buffer */
                        if (e->meta_size + len > meta_alloc) {
                                uint8_t *p = realloc(e->meta, e->meta_size + len);
                                if (!p)
                                        return -ENOMEM;
                                e->meta = p;
                                meta_alloc = e->meta_size + len;
                        }
                        q = ca_archive_reader_read(r, pos + sizeof(h), e->meta + e->meta_size, len);
                        if (q < 0)
                                return q;
                        e->meta_size += len;
                        if (ca_catar_meta_check(&m, flags, mode, k, e->meta, at,
                                                e->meta + at + sizeof(h), len, why) < 0)
                                return bad(r, pos, "%s", why);
                        pos += size;
                        continue;
                }

                switch (type) {
                case CA_FORMAT_PAYLOAD:
                        if (!S_ISREG(mode) || pos + size != end)
                                return bad(r, pos, "misplaced PAYLOAD record");
                        e->payload_offset = pos + CA_FORMAT_HEADER_SIZE;
                        e->node.payload_size = size - CA_FORMAT_HEADER_SIZE;
                        return finalize(r, pos, e, &m);

                case CA_FORMAT_SYMLINK:
                case CA_FORMAT_DEVICE: {
                        bool lnk = type == CA_FORMAT_SYMLINK;
                        if (lnk ? !S_ISLNK(mode) : !S_ISBLK(mode) && !S_ISCHR(mode))
                                return bad(r, pos, "misplaced %s record",
                                           lnk ? "SYMLINK" : "DEVICE");
                        if (pos + size != end ||
                            (lnk ? size < 18 || size > CA_FORMAT_SYMLINK_SIZE_MAX
                                 : size != CA_FORMAT_DEVICE_SIZE))
                                return bad(r, pos, "%s record of invalid size %" PRIu64,
                                           lnk ? "SYMLINK" : "DEVICE", size);
                        size_t at = e->meta_size, len = (size_t)size - CA_FORMAT_HEADER_SIZE;
                        q = meta_append(e, &meta_alloc, h, sizeof(h));
                        if (q < 0)
                                return q;
                        uint8_t body[CA_FORMAT_SYMLINK_SIZE_MAX];
                        q = ca_archive_reader_read(r, pos + sizeof(h), body, len);
                        if (q < 0)
                                return q;
                        if (lnk) {
                                if (!ca_catar_c_string_valid(body, len))
                                        return bad(r, pos, "SYMLINK record with an invalid target");
                                q = meta_append(e, &meta_alloc, body, len);
                                if (q < 0)
                                        return q;
                        } else {
                                e->meta_size = at; /* not kept as metadata */
                                uint64_t major = read_le64(body), minor = read_le64(body + 8);
                                if (major >= (UINT64_C(1) << 12) || minor >= (UINT64_C(1) << 20))
                                        return bad(r, pos, "device number out of range");
                                e->node.device_major = major;
                                e->node.device_minor = minor;
                        }
                        return finalize(r, pos, e, &m);
                }

                case CA_FORMAT_FILENAME:
                case CA_FORMAT_GOODBYE:
                        if (!S_ISDIR(mode))
                                return bad(r, pos, "directory record in a non-directory");
                        e->body_offset = pos;
                        return finalize(r, pos, e, &m);
                }
                return bad(r, pos, "unexpected record type 0x%016" PRIx64, type);
        }
}

int ca_seek_root(ca_archive_reader *r, uint64_t flags, ca_seek_entry **ret)
{
        uint64_t total = ca_archive_reader_size(r);
        uint8_t tail[CA_FORMAT_GOODBYE_TAIL_SIZE];
        int q;

        if (total < CA_FORMAT_ENTRY_SIZE + 16 + CA_FORMAT_GOODBYE_TAIL_SIZE)
                return bad(r, 0, "stream too small for an archive");
        q = ca_archive_reader_read(r, total - sizeof(tail), tail, sizeof(tail));
        if (q < 0)
                return q;
        if (read_le64(tail + 16) != CA_FORMAT_GOODBYE_TAIL_MARKER || read_le64(tail + 8) > total ||
            read_le64(tail) != total - read_le64(tail + 8))
                return bad(r, total - sizeof(tail),
                           "the stream does not end with the root's GOODBYE");

        ca_seek_entry *e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        e->filename_offset = UINT64_MAX;
        q = parse_node(r, flags, 0, total, e);
        if (q < 0) {
                ca_seek_entry_free(e);
                return q;
        }
        *ret = e;
        return 0;
}

int ca_seek_entry_at(ca_archive_reader *r, uint64_t flags, uint64_t filename_offset, uint64_t end,
                     ca_seek_entry **ret)
{
        uint8_t h[CA_FORMAT_FILENAME_SIZE_MAX];
        int q;

        if (filename_offset > end || end - filename_offset < CHILD_SIZE_MIN)
                return bad(r, filename_offset, "child too small");
        q = ca_archive_reader_read(r, filename_offset, h, CA_FORMAT_HEADER_SIZE);
        if (q < 0)
                return q;
        uint64_t size = read_le64(h);
        if (read_le64(h + 8) != CA_FORMAT_FILENAME || size < 18 ||
            size > CA_FORMAT_FILENAME_SIZE_MAX || size > end - filename_offset)
                return bad(r, filename_offset, "FILENAME record expected");
        size_t len = (size_t)size - CA_FORMAT_HEADER_SIZE;
        q = ca_archive_reader_read(r, filename_offset + CA_FORMAT_HEADER_SIZE,
                                   h + CA_FORMAT_HEADER_SIZE, len);
        if (q < 0)
                return q;
        const char *name = (const char *)h + CA_FORMAT_HEADER_SIZE;
        if (h[size - 1] != 0 || !ca_seek_name_valid(name, len - 1))
                return bad(r, filename_offset, "invalid file name");

        ca_seek_entry *e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        memcpy(e->name, name, len);
        e->filename_offset = filename_offset;
        q = parse_node(r, flags, filename_offset + size, end, e);
        if (q < 0) {
                ca_seek_entry_free(e);
                return q;
        }
        *ret = e;
        return 0;
}

/* ---------------------------------------------------------------- directories */

ca_seek_dir *ca_seek_dir_free(ca_seek_dir *d)
{
        if (!d)
                return NULL;
        free(d->items);
        free(d->order);
        free(d);
        return NULL;
}

/* In-order walk of the implicit tree: hashes must not decrease (the BST of casync's table).
 * Appends each index to inorder[*k] (all n of them on success), so that equal hashes end up
 * next to each other. */
static bool bst_sorted(const ca_seek_child *items, size_t n, size_t i, uint32_t *inorder, size_t *k)
{
        if (i >= n)
                return true;
        if (!bst_sorted(items, n, 2 * i + 1, inorder, k))
                return false;
        if (*k > 0 && items[i].hash < items[inorder[*k - 1]].hash)
                return false;
        inorder[(*k)++] = (uint32_t)i;
        return bst_sorted(items, n, 2 * i + 2, inorder, k);
}

static int compare_by_offset(const void *x, const void *y, void *userdata)
{
        const ca_seek_child *items = userdata;
        uint64_t a = items[*(const uint32_t *)x].offset, b = items[*(const uint32_t *)y].offset;
        return a < b ? -1 : a > b;
}

/* Reads the name of the child at FILENAME offset `off` into buf (NUL-terminated). */
static int read_name(ca_archive_reader *r, uint64_t off, uint64_t size_max, char *buf)
{
        uint8_t h[CA_FORMAT_HEADER_SIZE];
        int q = ca_archive_reader_read(r, off, h, sizeof(h));
        if (q < 0)
                return q;
        uint64_t size = read_le64(h);
        if (read_le64(h + 8) != CA_FORMAT_FILENAME || size < 18 ||
            size > CA_FORMAT_FILENAME_SIZE_MAX || size > size_max)
                return bad(r, off, "FILENAME record expected");
        q = ca_archive_reader_read(r, off + sizeof(h), buf, (size_t)size - sizeof(h));
        if (q < 0)
                return q;
        if (buf[size - sizeof(h) - 1] != 0)
                return bad(r, off, "file name is not NUL-terminated");
        return 0;
}

/*
 * Names in a directory are unique (casync writes them sorted), so a lookup by name and a walk
 * by position find the same child. Only children with equal hashes can share a name, and the
 * in-order walk put those next to each other in d->order: their names are read (in a valid
 * archive this is a true hash collision, practically never) and, in archive order, must
 * increase, as the streaming decoder requires of all names.
 */
static int check_colliding_names(ca_archive_reader *r, ca_seek_dir *d)
{
        char prev[CA_FORMAT_FILENAME_SIZE_MAX], name[CA_FORMAT_FILENAME_SIZE_MAX];
        uint64_t prev_offset = 0;
        size_t run;
        for (size_t i = 0; i + 1 < d->n; i += run) {
                uint64_t hash = d->items[d->order[i]].hash;
                for (run = 1; i + run < d->n && d->items[d->order[i + run]].hash == hash; run++)
                        ;
                if (run == 1)
                        continue;
                /* Within the run, in archive order, each name must come after the one before. */
                qsort_r(d->order + i, run, sizeof(uint32_t), compare_by_offset, d->items);
                for (size_t j = 0; j < run; j++) {
                        const ca_seek_child *c = &d->items[d->order[i + j]];
                        int q = read_name(r, c->offset, c->size, name);
                        if (q < 0)
                                return q;
                        if (j > 0 && strcmp(prev, name) >= 0)
                                return bad(r, c->offset,
                                           "file name not after the one at offset %" PRIu64
                                           " (names must be sorted and unique)",
                                           prev_offset);
                        memcpy(prev, name, strlen(name) + 1);
                        prev_offset = c->offset;
                }
        }
        return 0;
}

int ca_seek_dir_open(ca_archive_reader *r, const ca_seek_entry *e, ca_seek_dir **ret)
{
        uint8_t tail[CA_FORMAT_GOODBYE_TAIL_SIZE], h[CA_FORMAT_HEADER_SIZE];
        uint64_t body = e->body_offset, end = e->end;
        int q;

        if (!S_ISDIR(e->node.mode))
                return -ENOTDIR;
        if (body > end || end - body < 16 + CA_FORMAT_GOODBYE_TAIL_SIZE)
                return bad(r, body, "directory too small for its GOODBYE record");
        q = ca_archive_reader_read(r, end - sizeof(tail), tail, sizeof(tail));
        if (q < 0)
                return q;
        uint64_t back = read_le64(tail), size = read_le64(tail + 8);
        uint64_t gb = end - size;
        if (read_le64(tail + 16) != CA_FORMAT_GOODBYE_TAIL_MARKER || size > end - body ||
            size < 16 + CA_FORMAT_GOODBYE_TAIL_SIZE ||
            (size - 16) % CA_FORMAT_GOODBYE_ITEM_SIZE != 0 || back != gb - e->node.entry_offset)
                return bad(r, end - sizeof(tail), "invalid GOODBYE tail");
        q = ca_archive_reader_read(r, gb, h, sizeof(h));
        if (q < 0)
                return q;
        if (read_le64(h) != size || read_le64(h + 8) != CA_FORMAT_GOODBYE)
                return bad(r, gb, "GOODBYE record expected");
        uint64_t n = (size - 16) / CA_FORMAT_GOODBYE_ITEM_SIZE - 1;
        if (n > CA_CATAR_CHILDREN_MAX || n * CHILD_SIZE_MIN > gb - body)
                return bad(r, gb, "GOODBYE record lists %" PRIu64 " entries, too many", n);
        if (n == 0 && gb != body)
                return bad(r, gb, "empty GOODBYE table for a directory with entries");

        _cleanup_(freep) uint8_t *raw = malloc(MAX(n, 1) * CA_FORMAT_GOODBYE_ITEM_SIZE);
        _cleanup_(ca_seek_dir_freep) ca_seek_dir *d = calloc(1, sizeof(*d));
        if (!raw || !d)
                return -ENOMEM;
        d->entry_offset = e->node.entry_offset;
        d->goodbye_offset = gb;
        d->n = (size_t)n;
        d->items = calloc(MAX(n, 1), sizeof(ca_seek_child));
        d->order = calloc(MAX(n, 1), sizeof(uint32_t));
        if (!d->items || !d->order)
                return -ENOMEM;
        q = ca_archive_reader_read(r, gb + 16, raw, (size_t)n * CA_FORMAT_GOODBYE_ITEM_SIZE);
        if (q < 0)
                return q;
        for (size_t i = 0; i < n; i++) {
                const uint8_t *p = raw + i * CA_FORMAT_GOODBYE_ITEM_SIZE;
                uint64_t o = read_le64(p), s = read_le64(p + 8);
                if (o > gb - body || s > o || s < CHILD_SIZE_MIN) {
                        return bad(r, gb + 16 + i * CA_FORMAT_GOODBYE_ITEM_SIZE,
                                   "GOODBYE item %zu points outside the directory", i);
                }
                d->items[i] =
                    (ca_seek_child){.offset = gb - o, .size = s, .hash = read_le64(p + 16)};
        }
        size_t k = 0;
        if (!bst_sorted(d->items, d->n, 0, d->order, &k)) {
                return bad(r, gb, "GOODBYE items not in casync's search-tree order");
        }
        q = check_colliding_names(r, d);
        if (q < 0)
                return q;
        qsort_r(d->order, d->n, sizeof(uint32_t), compare_by_offset, d->items);
        /* The children tile the body exactly, in order, and end where the GOODBYE starts. */
        uint64_t pos = body;
        for (size_t i = 0; i < d->n; i++) {
                const ca_seek_child *c = &d->items[d->order[i]];
                if (c->offset != pos) {
                        return bad(r, gb,
                                   "GOODBYE items do not tile the directory (child at %" PRIu64
                                   ", expected %" PRIu64 ")",
                                   c->offset, pos);
                }
                pos += c->size;
        }
        if (pos != gb) {
                return bad(r, gb, "GOODBYE items do not cover the directory");
        }
        *ret = TAKE_PTR(d);
        return 0;
}

int ca_seek_dir_child(ca_archive_reader *r, uint64_t flags, const ca_seek_dir *d, size_t i,
                      ca_seek_entry **ret)
{
        if (i >= d->n)
                return -EINVAL;
        const ca_seek_child *c = &d->items[d->order[i]];
        ca_seek_entry *e = NULL;
        int q = ca_seek_entry_at(r, flags, c->offset, c->offset + c->size, &e);
        if (q < 0)
                return q;
        if (ca_goodbye_hash(e->name, strlen(e->name)) != c->hash) {
                ca_seek_entry_free(e);
                return bad(r, c->offset, "file name does not match its GOODBYE item's hash");
        }
        *ret = e;
        return 0;
}

static int lookup_at(ca_archive_reader *r, uint64_t flags, const ca_seek_dir *d, size_t i,
                     const char *name, uint64_t hash, ca_seek_entry **ret)
{
        if (i >= d->n)
                return -ENOENT;
        const ca_seek_child *c = &d->items[i];
        if (hash < c->hash)
                return lookup_at(r, flags, d, 2 * i + 1, name, hash, ret);
        if (hash > c->hash)
                return lookup_at(r, flags, d, 2 * i + 2, name, hash, ret);
        char buf[CA_FORMAT_FILENAME_SIZE_MAX];
        int q = read_name(r, c->offset, c->size, buf);
        if (q < 0)
                return q;
        if (strcmp(buf, name) == 0) {
                ca_seek_entry *e = NULL;
                q = ca_seek_entry_at(r, flags, c->offset, c->offset + c->size, &e);
                if (q < 0)
                        return q;
                *ret = e;
                return 0;
        }
        /* A collision: equal hashes may sit in either subtree. */
        q = lookup_at(r, flags, d, 2 * i + 1, name, hash, ret);
        if (q != -ENOENT)
                return q;
        return lookup_at(r, flags, d, 2 * i + 2, name, hash, ret);
}

int ca_seek_dir_lookup(ca_archive_reader *r, uint64_t flags, const ca_seek_dir *d, const char *name,
                       ca_seek_entry **ret)
{
        size_t len = strlen(name);
        if (!ca_seek_name_valid(name, len))
                return -ENOENT;
        return lookup_at(r, flags, d, 0, name, ca_goodbye_hash(name, len), ret);
}
