/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gen_hostile's catar writer: records, ENTRYs, directories closed with correct GOODBYEs. */
#include "gen_hostile.h"

/* ---------------------------------------------------------------- catar writer */

void w_init(writer *w, uint64_t flags)
{
        *w = (writer){.flags = flags};
}

void w_done(writer *w)
{
        for (size_t i = 0; i < w->depth; i++)
                free(w->stack[i].kids);
        free(w->buf);
        *w = (writer){};
}

void w_bytes(writer *w, const void *p, size_t n)
{
        if (w->size + n > w->alloc) {
                w->alloc = MAX(w->alloc * 2, w->size + n + 4096);
                w->buf = xrealloc(w->buf, w->alloc);
        }
        if (n > 0)
                memcpy(w->buf + w->size, p, n);
        w->size += n;
}

void w_u64(writer *w, uint64_t v)
{
        uint8_t b[8];
        write_le64(b, v);
        w_bytes(w, b, sizeof(b));
}

void w_header(writer *w, uint64_t size, uint64_t type)
{
        w_u64(w, size);
        w_u64(w, type);
}

/* Overwrites the u64 at offset `at` (used to plant a single defect after writing). */
void w_patch(writer *w, uint64_t at, uint64_t v)
{
        if (at + 8 > w->size)
                die("patch beyond the archive");
        write_le64(w->buf + at, v);
}

uint64_t w_entry_full(writer *w, uint64_t feature_flags, uint64_t mode, uint64_t flags,
                      uint64_t uid, uint64_t gid, uint64_t mtime)
{
        uint64_t at = w->size;
        w->last_entry = at;
        w_header(w, CA_FORMAT_ENTRY_SIZE, CA_FORMAT_ENTRY);
        w_u64(w, feature_flags);
        w_u64(w, mode);
        w_u64(w, flags);
        w_u64(w, uid);
        w_u64(w, gid);
        w_u64(w, mtime);
        return at;
}

uint64_t w_entry(writer *w, uint64_t mode)
{
        return w_entry_full(w, w->flags, mode, 0, 0, 0, T0);
}

/* A FILENAME record holding exactly `n` raw bytes (normally the name and its NUL). */
uint64_t w_filename_raw(writer *w, const void *name, size_t n)
{
        if (w->depth == 0)
                die("FILENAME outside a directory");
        frame *f = &w->stack[w->depth - 1];
        if (f->n_kids > 0)
                f->kids[f->n_kids - 1].end_offset = w->size;
        f->kids = xrealloc(f->kids, (f->n_kids + 1) * sizeof(kid));
        f->kids[f->n_kids++] = (kid){
            .filename_offset = w->size,
            .hash = ca_goodbye_hash(name, strnlen(name, n)),
        };
        uint64_t at = w->size;
        w_header(w, CA_FORMAT_HEADER_SIZE + n, CA_FORMAT_FILENAME);
        w_bytes(w, name, n);
        return at;
}

uint64_t w_filename(writer *w, const char *name)
{
        return w_filename_raw(w, name, strlen(name) + 1);
}

uint64_t w_payload(writer *w, const void *data, size_t n)
{
        uint64_t at = w->size;
        w_header(w, CA_FORMAT_HEADER_SIZE + n, CA_FORMAT_PAYLOAD);
        w_bytes(w, data, n);
        return at;
}

void w_symlink(writer *w, const char *target)
{
        w_header(w, CA_FORMAT_HEADER_SIZE + strlen(target) + 1, CA_FORMAT_SYMLINK);
        w_bytes(w, target, strlen(target) + 1);
}

void w_device(writer *w, uint64_t major, uint64_t minor)
{
        w_header(w, CA_FORMAT_DEVICE_SIZE, CA_FORMAT_DEVICE);
        w_u64(w, major);
        w_u64(w, minor);
}

void w_xattr(writer *w, const char *name, const char *value)
{
        size_t nl = strlen(name) + 1, vl = strlen(value);
        w_header(w, CA_FORMAT_HEADER_SIZE + nl + vl, CA_FORMAT_XATTR);
        w_bytes(w, name, nl);
        w_bytes(w, value, vl);
}

/* Leaves every open directory unclosed: the stream is meant to end early. */
void w_abandon(writer *w)
{
        while (w->depth > 0)
                free(w->stack[--w->depth].kids);
}

/* The directory whose ENTRY was written last gets children from now on. */
void w_open(writer *w)
{
        if (w->depth >= DEPTH_MAX)
                die("nesting too deep for the writer");
        w->stack[w->depth++] = (frame){.entry_offset = w->last_entry};
}

typedef struct sorted_kid {
        uint64_t hash, offset, size;
} sorted_kid;

static int sorted_kid_cmp(const void *a, const void *b)
{
        const sorted_kid *x = a, *y = b;
        if (x->hash != y->hash)
                return x->hash < y->hash ? -1 : 1;
        /* Larger "distance back" = earlier FILENAME: casync breaks ties by stream position. */
        if (x->offset != y->offset)
                return x->offset > y->offset ? -1 : 1;
        return 0;
}

/* In-order walk of the implicit heap over slots [0, n) assigns the sorted items in order. */
static void bst_fill(const sorted_kid *sorted, size_t *next, sorted_kid *slots, size_t i, size_t n)
{
        if (i >= n)
                return;
        bst_fill(sorted, next, slots, 2 * i + 1, n);
        slots[i] = sorted[(*next)++];
        bst_fill(sorted, next, slots, 2 * i + 2, n);
}

/* Closes the innermost directory with a correct GOODBYE; returns the record's offset. */
uint64_t w_goodbye(writer *w)
{
        if (w->depth == 0)
                die("GOODBYE outside a directory");
        frame *f = &w->stack[--w->depth];
        uint64_t at = w->size;
        if (f->n_kids > 0)
                f->kids[f->n_kids - 1].end_offset = at;

        sorted_kid *sorted = xrealloc(NULL, f->n_kids * sizeof(sorted_kid));
        sorted_kid *slots = xrealloc(NULL, f->n_kids * sizeof(sorted_kid));
        for (size_t i = 0; i < f->n_kids; i++)
                sorted[i] = (sorted_kid){
                    .hash = f->kids[i].hash,
                    .offset = at - f->kids[i].filename_offset,
                    .size = f->kids[i].end_offset - f->kids[i].filename_offset,
                };
        qsort(sorted, f->n_kids, sizeof(sorted_kid), sorted_kid_cmp);
        size_t next = 0;
        bst_fill(sorted, &next, slots, 0, f->n_kids);

        uint64_t size = CA_FORMAT_HEADER_SIZE + CA_FORMAT_GOODBYE_ITEM_SIZE * (f->n_kids + 1);
        w_header(w, size, CA_FORMAT_GOODBYE);
        for (size_t i = 0; i < f->n_kids; i++) {
                w_u64(w, slots[i].offset);
                w_u64(w, slots[i].size);
                w_u64(w, slots[i].hash);
        }
        w_u64(w, at - f->entry_offset);
        w_u64(w, size);
        w_u64(w, CA_FORMAT_GOODBYE_TAIL_MARKER);

        free(sorted);
        free(slots);
        free(f->kids);
        *f = (frame){};
        return at;
}

void w_root(writer *w)
{
        w_entry(w, S_IFDIR | 0755);
        w_open(w);
}

void w_file(writer *w, const char *name, uint64_t mode, const char *content)
{
        w_filename(w, name);
        w_entry(w, S_IFREG | mode);
        w_payload(w, content, strlen(content));
}

void w_dir(writer *w, const char *name, uint64_t mode)
{
        w_filename(w, name);
        w_entry(w, S_IFDIR | mode);
        w_open(w);
}

void w_link(writer *w, const char *name, const char *target)
{
        w_filename(w, name);
        w_entry(w, S_IFLNK | 0777);
        w_symlink(w, target);
}

/*
 * The valid tree (names in strcmp order, as casync writes them):
 *   a.txt "hello\n" 0644, b/ 0755 { c "world!!\n" 0600 xattr user.note=x }, fifo, link -> a.txt
 */
void valid_a(writer *w)
{
        w_file(w, "a.txt", 0644, "hello\n");
}

void valid_b(writer *w)
{
        w_dir(w, "b", 0755);
        w_filename(w, "c");
        w_entry(w, S_IFREG | 0600);
        w_xattr(w, "user.note", "x");
        w_payload(w, "world!!\n", 8);
        w_goodbye(w);
}

void valid_rest(writer *w)
{
        w_filename(w, "fifo");
        w_entry(w, S_IFIFO | 0644);
        w_link(w, "link", "a.txt");
}

void valid_tree(writer *w)
{
        w_root(w);
        valid_a(w);
        valid_b(w);
        valid_rest(w);
        w_goodbye(w);
}
