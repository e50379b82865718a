/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Writes the hostile-input corpus for hostile.sh: one malformed .catar or .caidx (+ store) per
 * case, plus cases.tsv ("name<TAB>input<TAB>expected stderr substring") and valid.catar /
 * valid/x.caidx. Archives come from a small catar writer of our own that computes correct
 * GOODBYE tables, so each case carries exactly the one defect it is named after.
 *
 * Usage: gen_hostile OUTDIR
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "casync/casync.h"

/* 2020-01-02 03:04:05.123456789 UTC: a multiple of 1 ns but not of 1 µs, 1 s or 2 s. */
#define T0 UINT64_C(1577934245123456789)

/* The flags of the valid archive: what `casync make --with=32bit-uids --with=nsec-time
 * --with=permissions --with=symlinks --with=fifos --with=xattrs` writes. */
#define BASE_FLAGS                                                                                 \
        (CA_FORMAT_WITH_32BIT_UIDS | CA_FORMAT_WITH_NSEC_TIME | CA_FORMAT_WITH_PERMISSIONS |       \
         CA_FORMAT_WITH_SYMLINKS | CA_FORMAT_WITH_FIFOS | CA_FORMAT_WITH_XATTRS |                  \
         CA_FORMAT_EXCLUDE_FILE | CA_FORMAT_SHA512_256 | CA_FORMAT_EXCLUDE_NODUMP)

/* Index chunking of the valid archive: fixed pieces, all within the header's limits. */
#define IDX_MIN   128
#define IDX_AVG   256
#define IDX_MAX   512
#define IDX_PIECE 300

#define DEPTH_MAX 80

static const char *out_dir;
static FILE *tsv;

static void die(const char *fmt, ...) _printf_(1, 2);
static void die(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        fputs("gen_hostile: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
        exit(EXIT_FAILURE);
}

static void *xrealloc(void *p, size_t n)
{
        p = realloc(p, n ? n : 1);
        if (!p)
                die("out of memory");
        return p;
}

/* ---------------------------------------------------------------- catar writer */

typedef struct kid {
        uint64_t filename_offset, end_offset, hash;
} kid;

typedef struct frame {
        uint64_t entry_offset;
        kid *kids;
        size_t n_kids;
} frame;

typedef struct writer {
        uint8_t *buf;
        size_t size, alloc;
        uint64_t flags; /* written into every ENTRY */
        uint64_t last_entry;
        frame stack[DEPTH_MAX];
        size_t depth;
} writer;

static void w_init(writer *w, uint64_t flags)
{
        *w = (writer){.flags = flags};
}

static void w_done(writer *w)
{
        for (size_t i = 0; i < w->depth; i++)
                free(w->stack[i].kids);
        free(w->buf);
        *w = (writer){};
}

static void w_bytes(writer *w, const void *p, size_t n)
{
        if (w->size + n > w->alloc) {
                w->alloc = MAX(w->alloc * 2, w->size + n + 4096);
                w->buf = xrealloc(w->buf, w->alloc);
        }
        if (n > 0)
                memcpy(w->buf + w->size, p, n);
        w->size += n;
}

static void w_u64(writer *w, uint64_t v)
{
        uint8_t b[8];
        write_le64(b, v);
        w_bytes(w, b, sizeof(b));
}

static void w_header(writer *w, uint64_t size, uint64_t type)
{
        w_u64(w, size);
        w_u64(w, type);
}

/* Overwrites the u64 at offset `at` (used to plant a single defect after writing). */
static void w_patch(writer *w, uint64_t at, uint64_t v)
{
        if (at + 8 > w->size)
                die("patch beyond the archive");
        write_le64(w->buf + at, v);
}

static uint64_t w_entry_full(writer *w, uint64_t feature_flags, uint64_t mode, uint64_t flags,
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

static uint64_t w_entry(writer *w, uint64_t mode)
{
        return w_entry_full(w, w->flags, mode, 0, 0, 0, T0);
}

/* A FILENAME record holding exactly `n` raw bytes (normally the name and its NUL). */
static uint64_t w_filename_raw(writer *w, const void *name, size_t n)
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

static uint64_t w_filename(writer *w, const char *name)
{
        return w_filename_raw(w, name, strlen(name) + 1);
}

static uint64_t w_payload(writer *w, const void *data, size_t n)
{
        uint64_t at = w->size;
        w_header(w, CA_FORMAT_HEADER_SIZE + n, CA_FORMAT_PAYLOAD);
        w_bytes(w, data, n);
        return at;
}

static void w_symlink(writer *w, const char *target)
{
        w_header(w, CA_FORMAT_HEADER_SIZE + strlen(target) + 1, CA_FORMAT_SYMLINK);
        w_bytes(w, target, strlen(target) + 1);
}

static void w_device(writer *w, uint64_t major, uint64_t minor)
{
        w_header(w, CA_FORMAT_DEVICE_SIZE, CA_FORMAT_DEVICE);
        w_u64(w, major);
        w_u64(w, minor);
}

static void w_xattr(writer *w, const char *name, const char *value)
{
        size_t nl = strlen(name) + 1, vl = strlen(value);
        w_header(w, CA_FORMAT_HEADER_SIZE + nl + vl, CA_FORMAT_XATTR);
        w_bytes(w, name, nl);
        w_bytes(w, value, vl);
}

/* Leaves every open directory unclosed: the stream is meant to end early. */
static void w_abandon(writer *w)
{
        while (w->depth > 0)
                free(w->stack[--w->depth].kids);
}

/* The directory whose ENTRY was written last gets children from now on. */
static void w_open(writer *w)
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
static uint64_t w_goodbye(writer *w)
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

/* Offsets inside a GOODBYE record at `gb` (items start after the 16-byte header). */
#define GB_ITEM(gb, i) ((gb) + CA_FORMAT_HEADER_SIZE + CA_FORMAT_GOODBYE_ITEM_SIZE * (i))
#define GB_TAIL(gb, n) GB_ITEM(gb, n)

static void w_root(writer *w)
{
        w_entry(w, S_IFDIR | 0755);
        w_open(w);
}

static void w_file(writer *w, const char *name, uint64_t mode, const char *content)
{
        w_filename(w, name);
        w_entry(w, S_IFREG | mode);
        w_payload(w, content, strlen(content));
}

static void w_dir(writer *w, const char *name, uint64_t mode)
{
        w_filename(w, name);
        w_entry(w, S_IFDIR | mode);
        w_open(w);
}

static void w_link(writer *w, const char *name, const char *target)
{
        w_filename(w, name);
        w_entry(w, S_IFLNK | 0777);
        w_symlink(w, target);
}

/*
 * The valid tree (names in strcmp order, as casync writes them):
 *   a.txt "hello\n" 0644, b/ 0755 { c "world!!\n" 0600 xattr user.note=x }, fifo, link -> a.txt
 */
static void valid_a(writer *w)
{
        w_file(w, "a.txt", 0644, "hello\n");
}

static void valid_b(writer *w)
{
        w_dir(w, "b", 0755);
        w_filename(w, "c");
        w_entry(w, S_IFREG | 0600);
        w_xattr(w, "user.note", "x");
        w_payload(w, "world!!\n", 8);
        w_goodbye(w);
}

static void valid_rest(writer *w)
{
        w_filename(w, "fifo");
        w_entry(w, S_IFIFO | 0644);
        w_link(w, "link", "a.txt");
}

static void valid_tree(writer *w)
{
        w_root(w);
        valid_a(w);
        valid_b(w);
        valid_rest(w);
        w_goodbye(w);
}

/* ---------------------------------------------------------------- output */

static void write_file(const char *name, const void *data, size_t size)
{
        _cleanup_(freep) char *path = NULL;
        if (asprintf(&path, "%s/%s", out_dir, name) < 0)
                die("out of memory");
        _cleanup_(closep) int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                die("%s: %m", path);
        const uint8_t *p = data;
        while (size > 0) {
                ssize_t k = write(fd, p, size);
                if (k < 0)
                        die("%s: %m", path);
                p += k;
                size -= (size_t)k;
        }
        if (close(TAKE_FD(fd)) < 0)
                die("%s: %m", path);
}

static void make_dir(const char *name)
{
        _cleanup_(freep) char *path = NULL;
        if (asprintf(&path, "%s/%s", out_dir, name) < 0)
                die("out of memory");
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
                die("%s: %m", path);
}

static void add_case(const char *name, const char *input, const char *expect)
{
        if (strchr(expect, '\t') || strchr(expect, '\n'))
                die("%s: expected text must be one field", name);
        fprintf(tsv, "%s\t%s\t%s\n", name, input, expect);
}

/* Emits the writer's bytes as <name>.catar and registers the case. */
static void emit_catar(writer *w, const char *name, const char *expect)
{
        _cleanup_(freep) char *file = NULL;
        if (w->depth != 0)
                die("%s: directories left open", name);
        if (asprintf(&file, "%s.catar", name) < 0)
                die("out of memory");
        write_file(file, w->buf, w->size);
        add_case(name, file, expect);
        w_done(w);
}

/* ---------------------------------------------------------------- index cases */

typedef struct chunked {
        ca_index index;
        const uint8_t *stream;
} chunked;

static void chunk_stream(const uint8_t *stream, size_t size, uint64_t flags, chunked *ret)
{
        size_t n = (size + IDX_PIECE - 1) / IDX_PIECE;
        ca_index_item *items = xrealloc(NULL, n * sizeof(ca_index_item));
        ca_digest_type t = ca_digest_type_from_flags(flags);
        for (size_t i = 0; i < n; i++) {
                uint64_t start = (uint64_t)i * IDX_PIECE;
                uint64_t len = MIN((uint64_t)IDX_PIECE, size - start);
                items[i] = (ca_index_item){.offset = start, .size = len};
                if (ca_digest_once(t, stream + start, len, &items[i].id) < 0)
                        die("digest failed");
        }
        *ret = (chunked){
            .index =
                {
                    .feature_flags = flags,
                    .chunk_size_min = IDX_MIN,
                    .chunk_size_avg = IDX_AVG,
                    .chunk_size_max = IDX_MAX,
                    .n_items = n,
                    .items = items,
                    .total_size = size,
                },
            .stream = stream,
        };
}

static void chunked_free(chunked *c)
{
        free(c->index.items);
        c->index.items = NULL;
}

static const uint8_t *chunk_data(const chunked *c, size_t i)
{
        return c->stream + c->index.items[i].offset;
}

/* Serializes the index; the caller patches bytes to plant a defect. */
static void index_bytes(const ca_index *idx, uint8_t **ret, size_t *ret_size)
{
        void *p = NULL;
        size_t n = 0;
        int r = ca_index_serialize(idx, &p, &n);
        if (r < 0)
                die("ca_index_serialize: %s", strerror(-r));
        *ret = p;
        *ret_size = n;
}

/* File offsets of index fields. */
#define IX_SIZE       0
#define IX_TYPE       8
#define IX_FLAGS      16
#define IX_MIN        24
#define IX_AVG        32
#define IX_MAX        40
#define IX_TABLE_SIZE 48
#define IX_TABLE_TYPE 56
#define IX_ITEM(i)    (64 + 40 * (i))
#define IX_TAIL(n)    IX_ITEM(n)

/* Creates <name>/ with x.caidx (given bytes) and default.castr holding every chunk but those
 * listed in skip (bitmask over the first 64 chunks). */
static ca_store *emit_index_dir(const char *name, const chunked *c, const uint8_t *idx,
                                size_t idx_size, uint64_t skip)
{
        _cleanup_(freep) char *file = NULL, *store_path = NULL;
        make_dir(name);
        if (asprintf(&file, "%s/x.caidx", name) < 0 ||
            asprintf(&store_path, "%s/%s/default.castr", out_dir, name) < 0)
                die("out of memory");
        write_file(file, idx, idx_size);

        ca_store *s = NULL;
        int r = ca_store_open(store_path, CA_STORE_CREATE, &s);
        if (r < 0)
                die("%s: %s", store_path, strerror(-r));
        for (size_t i = 0; i < c->index.n_items; i++) {
                if (i < 64 && (skip & (UINT64_C(1) << i)))
                        continue;
                r = ca_store_put(s, &c->index.items[i].id, chunk_data(c, i),
                                 c->index.items[i].size);
                if (r < 0)
                        die("%s: put: %s", store_path, strerror(-r));
        }
        return s;
}

static void index_case(const char *name, const chunked *c, const uint8_t *idx, size_t idx_size,
                       uint64_t skip, const char *expect)
{
        _cleanup_(freep) char *file = NULL;
        ca_store_free(emit_index_dir(name, c, idx, idx_size, skip));
        if (asprintf(&file, "%s/x.caidx", name) < 0)
                die("out of memory");
        add_case(name, file, expect);
}

/* A copy of the valid index with one u64 replaced. */
static void index_patch_case(const char *name, const chunked *c, size_t at, uint64_t v,
                             const char *expect)
{
        _cleanup_(freep) uint8_t *b = NULL;
        size_t n;
        index_bytes(&c->index, &b, &n);
        if (at + 8 > n)
                die("%s: patch beyond the index", name);
        write_le64(b + at, v);
        index_case(name, c, b, n, 0, expect);
}

/* Writes a chunk file byte for byte where casync's layout puts it in <case>/default.castr. */
static void store_write_raw(const char *case_name, const ca_chunk_id *id, const void *data,
                            size_t size)
{
        char hex[CA_CHUNK_ID_HEX_SIZE];
        _cleanup_(freep) char *sub = NULL, *file = NULL;
        ca_chunk_id_to_hex(id, hex);
        if (asprintf(&sub, "%s/default.castr/%.4s", case_name, hex) < 0 ||
            asprintf(&file, "%s/%s.cacnk", sub, hex) < 0)
                die("out of memory");
        make_dir(sub);
        write_file(file, data, size);
}

/* An index that is valid but whose store holds `bad` (given raw or compressed) under chunk i. */
static void index_chunk_case(const char *name, const chunked *c, size_t i, const void *bad,
                             size_t bad_size, bool compressed, const char *expect)
{
        _cleanup_(freep) uint8_t *b = NULL;
        _cleanup_(freep) char *file = NULL;
        size_t n;
        index_bytes(&c->index, &b, &n);
        ca_store *s = emit_index_dir(name, c, b, n, UINT64_C(1) << i);
        ca_store_free(s);
        if (compressed)
                store_write_raw(name, &c->index.items[i].id, bad, bad_size);
        else {
                /* zstd-compress ourselves: the store's put may check sizes we want wrong. */
                _cleanup_(freep) void *z = NULL;
                size_t zn = 0;
                int r = ca_chunk_compress(bad, bad_size, &z, &zn);
                if (r < 0)
                        die("%s: compress: %s", name, strerror(-r));
                store_write_raw(name, &c->index.items[i].id, z, zn);
        }
        if (asprintf(&file, "%s/x.caidx", name) < 0)
                die("out of memory");
        add_case(name, file, expect);
}

/* A zstd frame (no content size, no checksum) asking for a 2^30 window, data in one raw block. */
static size_t zstd_big_window_frame(const uint8_t *data, size_t size, uint8_t **ret)
{
        uint8_t *f = xrealloc(NULL, 6 + 3 + size);
        size_t k = 0;
        f[k++] = 0x28, f[k++] = 0xb5, f[k++] = 0x2f, f[k++] = 0xfd; /* magic */
        f[k++] = 0x00;                      /* frame header descriptor: window descriptor follows */
        f[k++] = (uint8_t)((30 - 10) << 3); /* window log 30, mantissa 0 */
        uint32_t bh = (uint32_t)size << 3 | 0 << 1 | 1; /* raw block, last */
        f[k++] = (uint8_t)bh, f[k++] = (uint8_t)(bh >> 8), f[k++] = (uint8_t)(bh >> 16);
        memcpy(f + k, data, size);
        *ret = f;
        return k + size;
}

/* The same archive defect reached through a .caidx: the decoder gets the stream in chunks. */
static void emit_index_of(const char *name, const uint8_t *stream, size_t size, uint64_t flags,
                          const char *expect)
{
        chunked c;
        _cleanup_(freep) uint8_t *b = NULL;
        _cleanup_(freep) char *dir = NULL;
        size_t bn;
        chunk_stream(stream, size, flags, &c);
        index_bytes(&c.index, &b, &bn);
        if (asprintf(&dir, "%s-caidx", name) < 0)
                die("out of memory");
        index_case(dir, &c, b, bn, 0, expect);
        chunked_free(&c);
}

/* As emit_catar, and the same bytes as <name>-caidx/x.caidx (+ store), the index declaring the
 * flags the archive's entries carry. */
static void emit_both(writer *w, const char *name, const char *expect)
{
        emit_index_of(name, w->buf, w->size, w->flags, expect);
        emit_catar(w, name, expect);
}

static void index_cases(const uint8_t *stream, size_t size)
{
        chunked c;
        chunk_stream(stream, size, BASE_FLAGS, &c);
        size_t n = c.index.n_items;
        if (n < 3)
                die("valid archive too small for the index cases");

        /* The valid reference, not a case. */
        {
                _cleanup_(freep) uint8_t *b = NULL;
                size_t bn;
                index_bytes(&c.index, &b, &bn);
                ca_store_free(emit_index_dir("valid", &c, b, bn, 0));
        }

        index_patch_case("idx-header-size", &c, IX_SIZE, 49,
                         "index header size is 49, expected 48");
        index_patch_case("idx-header-type", &c, IX_TYPE, CA_FORMAT_ENTRY,
                         "not a casync index (header type");
        index_patch_case("idx-flags-unknown", &c, IX_FLAGS, BASE_FLAGS | (UINT64_C(1) << 40),
                         "unknown feature flags 0x0000010000000000");
        index_patch_case("idx-flags-not-normalized", &c, IX_FLAGS,
                         BASE_FLAGS | CA_FORMAT_WITH_SEC_TIME, "are not in normal form");
        index_patch_case("idx-flags-differ-from-entry", &c, IX_FLAGS,
                         BASE_FLAGS | CA_FORMAT_WITH_SOCKETS, "differ from the index's");
        index_patch_case("idx-chunk-min-zero", &c, IX_MIN, 0,
                         "chunk_size_min 0 is outside [1, 134217728]");
        index_patch_case("idx-chunk-max-too-big", &c, IX_MAX, CA_CHUNK_SIZE_LIMIT_MAX + 1,
                         "chunk_size_max 134217729 is outside [1, 134217728]");
        index_patch_case("idx-chunk-min-above-avg", &c, IX_MIN, IDX_AVG + 1, "are not ordered");
        index_patch_case("idx-chunk-avg-above-max", &c, IX_AVG, IDX_MAX + 1, "are not ordered");
        index_patch_case("idx-table-size", &c, IX_TABLE_SIZE, 16 + 40 * n + 40,
                         "table header size is");
        index_patch_case("idx-table-type", &c, IX_TABLE_TYPE, CA_FORMAT_GOODBYE,
                         "table header type");
        index_patch_case("idx-offset-first-zero", &c, IX_ITEM(0), 0,
                         "chunk 0 at offset 0 has size 0");
        index_patch_case("idx-offset-equal", &c, IX_ITEM(1), c.index.items[0].size, "has size 0");
        index_patch_case("idx-offset-decreasing", &c, IX_ITEM(1), c.index.items[0].size - 1,
                         "before its start");
        index_patch_case("idx-offset-overflow", &c, IX_ITEM(n - 1), UINT64_MAX,
                         "above the maximum");
        index_patch_case("idx-offset-wrap", &c, IX_ITEM(0), UINT64_MAX - 8, "above the maximum");
        /* Chunks of IDX_PIECE bytes, but the header says none may exceed IDX_PIECE - 1. */
        {
                _cleanup_(freep) uint8_t *b = NULL;
                size_t bn;
                index_bytes(&c.index, &b, &bn);
                write_le64(b + IX_MIN, IDX_PIECE - 1);
                write_le64(b + IX_AVG, IDX_PIECE - 1);
                write_le64(b + IX_MAX, IDX_PIECE - 1);
                index_case("idx-chunk-above-max", &c, b, bn, 0, "above the maximum");
        }
        index_patch_case("idx-tail-zero1", &c, IX_TAIL(n), 1, "table tail padding is not zero");
        index_patch_case("idx-tail-zero2", &c, IX_TAIL(n) + 8, 1, "table tail padding is not zero");
        index_patch_case("idx-tail-index-offset", &c, IX_TAIL(n) + 16, 40,
                         "table tail index offset is 40, expected 48");
        index_patch_case("idx-tail-size", &c, IX_TAIL(n) + 24, 16 + 40 * (n + 1) + 40,
                         "table tail size is");
        index_patch_case("idx-tail-marker", &c, IX_TAIL(n) + 32, CA_FORMAT_GOODBYE_TAIL_MARKER,
                         "table tail marker missing");
        /* Length faults: cut inside an item, cut inside the tail, one byte too many. */
        {
                _cleanup_(freep) uint8_t *b = NULL;
                size_t bn;
                index_bytes(&c.index, &b, &bn);
                index_case("idx-truncated-item", &c, b, IX_ITEM(1) + 20, 0, "is not 104 + 40*n");
                index_case("idx-truncated-tail", &c, b, bn - 1, 0, "is not 104 + 40*n");
                index_case("idx-truncated-header", &c, b, 40, 0, "truncated index");
                index_case("idx-empty-file", &c, b, 0, 0, "truncated index");
                b = xrealloc(b, bn + 1);
                b[bn] = 0;
                index_case("idx-extra-byte", &c, b, bn + 1, 0, "is not 104 + 40*n");
        }
        /* Valid format, zero chunks: a catar always has a root, so a .caidx may not be empty. */
        {
                ca_index empty = c.index;
                empty.n_items = 0;
                empty.items = NULL;
                empty.total_size = 0;
                _cleanup_(freep) uint8_t *b = NULL;
                size_t bn;
                index_bytes(&empty, &b, &bn);
                index_case("idx-zero-chunks", &c, b, bn, 0, "archive index lists no chunks");
        }
        /* A file claiming more items than CA_INDEX_ITEMS_MAX: sparse, refused by its size. */
        {
                _cleanup_(freep) uint8_t *b = NULL;
                _cleanup_(freep) char *path = NULL;
                size_t bn;
                index_bytes(&c.index, &b, &bn);
                index_case("idx-too-many-items", &c, b, IX_ITEM(1), 0,
                           "has more than 4194304 chunks");
                if (asprintf(&path, "%s/idx-too-many-items/x.caidx", out_dir) < 0)
                        die("out of memory");
                if (truncate(path, 104 + 40 * (CA_INDEX_ITEMS_MAX + 1)) < 0)
                        die("%s: %m", path);
        }

        /* Chunk content faults (chunk 1 of the valid index). */
        const uint8_t *d1 = chunk_data(&c, 1);
        size_t s1 = c.index.items[1].size;
        {
                _cleanup_(freep) uint8_t *other = xrealloc(NULL, s1);
                memcpy(other, d1, s1);
                other[s1 / 2] ^= 0x20;
                index_chunk_case("chunk-wrong-hash", &c, 1, other, s1, false, "(wrong data)");
        }
        {
                /* Decompresses to the declared bytes and then 1 MiB more. */
                size_t big = s1 + (1 << 20);
                _cleanup_(freep) uint8_t *bomb = calloc(1, big);
                if (!bomb)
                        die("out of memory");
                memcpy(bomb, d1, s1);
                index_chunk_case("chunk-bomb", &c, 1, bomb, big, false,
                                 "decompresses to more than");
        }
        index_chunk_case("chunk-short", &c, 1, d1, s1 - 1, false,
                         "decompresses to 299 bytes, expected 300");
        {
                _cleanup_(freep) uint8_t *zframe = NULL;
                size_t fn = zstd_big_window_frame(d1, s1, &zframe);
                index_chunk_case("chunk-zstd-window", &c, 1, zframe, fn, true,
                                 "zstd frame needs a window above");
        }
        index_chunk_case("chunk-unknown-magic", &c, 1, d1, s1, true, "unknown compression");
        index_chunk_case("chunk-empty-file", &c, 1, "", 0, true, "chunk file is empty");
        {
                _cleanup_(freep) uint8_t *b = NULL;
                size_t bn;
                index_bytes(&c.index, &b, &bn);
                index_case("chunk-missing", &c, b, bn, UINT64_C(1) << 1, "not found in any store");
        }
        chunked_free(&c);
}

/* ---------------------------------------------------------------- catar cases */

/* A root holding one child written by `child`, as the only defect. */
typedef void (*child_fn)(writer *w);

static void one_child_case(const char *name, child_fn child, const char *expect)
{
        writer w;
        w_init(&w, BASE_FLAGS);
        w_root(&w);
        child(&w);
        w_goodbye(&w);
        emit_both(&w, name, expect);
}

static void name_case(const char *name, const void *raw, size_t n, const char *expect)
{
        writer w;
        w_init(&w, BASE_FLAGS);
        w_root(&w);
        w_filename_raw(&w, raw, n);
        w_entry(&w, S_IFREG | 0644);
        w_payload(&w, "x", 1);
        w_goodbye(&w);
        emit_both(&w, name, expect);
}

static void child_entry_size(writer *w)
{
        w_filename(w, "a.txt");
        w->last_entry = w->size;
        w_header(w, CA_FORMAT_ENTRY_SIZE + 8, CA_FORMAT_ENTRY);
        w_u64(w, w->flags);
        w_u64(w, S_IFREG | 0644);
        for (int i = 0; i < 5; i++)
                w_u64(w, i == 3 ? T0 : 0);
        w_payload(w, "x", 1);
}

static void child_unknown_type(writer *w)
{
        w_filename(w, "a.txt");
        w_entry(w, S_IFREG | 0644);
        w_header(w, 24, UINT64_C(0x0123456789abcdef));
        w_u64(w, 0);
        w_payload(w, "x", 1);
}

static void child_payload_in_dir(writer *w)
{
        w_filename(w, "d");
        w_entry(w, S_IFDIR | 0755);
        w_payload(w, "x", 1);
        w_open(w);
        w_goodbye(w);
}

static void child_two_payloads(writer *w)
{
        w_file(w, "a.txt", 0644, "hello\n");
        w_payload(w, "again\n", 6);
}

static void child_symlink_on_file(writer *w)
{
        w_filename(w, "a.txt");
        w_entry(w, S_IFREG | 0644);
        w_symlink(w, "/etc");
}

static void child_filename_in_file(writer *w)
{
        w_filename(w, "a.txt");
        w_entry(w, S_IFREG | 0644);
        /* A FILENAME where the file's body belongs. */
        w_filename(w, "b.txt");
        w_entry(w, S_IFREG | 0644);
        w_payload(w, "x", 1);
}

static void child_mode_bad_type(writer *w)
{
        w_filename(w, "a.txt");
        w_entry(w, 0170644);
        w_payload(w, "x", 1);
}

static void child_mode_extra_bits(writer *w)
{
        w_filename(w, "a.txt");
        w_entry(w, S_IFREG | 0644 | 0200000);
        w_payload(w, "x", 1);
}

static void child_socket_not_allowed(writer *w)
{
        w_filename(w, "sock");
        w_entry(w, S_IFSOCK | 0755);
}

static void child_device_not_allowed(writer *w)
{
        w_filename(w, "null");
        w_entry(w, S_IFCHR | 0666);
        w_device(w, 1, 3);
}

static void child_uid_2_32(writer *w)
{
        w_filename(w, "a.txt");
        w_entry_full(w, w->flags, S_IFREG | 0644, 0, UINT64_C(1) << 32, 0, T0);
        w_payload(w, "x", 1);
}

static void child_gid_2_32(writer *w)
{
        w_filename(w, "a.txt");
        w_entry_full(w, w->flags, S_IFREG | 0644, 0, 0, (UINT64_C(1) << 32) + 5, T0);
        w_payload(w, "x", 1);
}

static void child_uid_max32(writer *w)
{
        w_filename(w, "a.txt");
        w_entry_full(w, w->flags, S_IFREG | 0644, 0, UINT32_MAX, 0, T0);
        w_payload(w, "x", 1);
}

static void child_uid_u64max(writer *w)
{
        w_filename(w, "a.txt");
        w_entry_full(w, w->flags, S_IFREG | 0644, 0, UINT64_MAX, 0, T0);
        w_payload(w, "x", 1);
}

static void child_flags_differ(writer *w)
{
        w_filename(w, "a.txt");
        w_entry_full(w, w->flags | CA_FORMAT_WITH_SOCKETS, S_IFREG | 0644, 0, 0, 0, T0);
        w_payload(w, "x", 1);
}

static void child_entry_flags_unknown(writer *w)
{
        w_filename(w, "a.txt");
        /* Append-only, while the archive's flags do not carry WITH_FLAG_APPEND. */
        w_entry_full(w, w->flags, S_IFREG | 0644, CA_FORMAT_WITH_FLAG_APPEND, 0, 0, T0);
        w_payload(w, "x", 1);
}

static void child_xattr_unsorted(writer *w)
{
        w_filename(w, "a.txt");
        w_entry(w, S_IFREG | 0644);
        w_xattr(w, "user.b", "1");
        w_xattr(w, "user.a", "2");
        w_payload(w, "x", 1);
}

static void child_xattr_duplicate(writer *w)
{
        w_filename(w, "a.txt");
        w_entry(w, S_IFREG | 0644);
        w_xattr(w, "user.a", "1");
        w_xattr(w, "user.a", "2");
        w_payload(w, "x", 1);
}

static void child_xattr_bad_name(writer *w)
{
        w_filename(w, "a.txt");
        w_entry(w, S_IFREG | 0644);
        w_xattr(w, "security.capability", "1");
        w_payload(w, "x", 1);
}

static void child_xattr_size_max(writer *w)
{
        w_filename(w, "a.txt");
        w_entry(w, S_IFREG | 0644);
        w_header(w, UINT64_MAX, CA_FORMAT_XATTR);
        w_bytes(w, "user.a\0v", 8);
        w_payload(w, "x", 1);
}

static void child_record_size_small(writer *w)
{
        w_filename(w, "a.txt");
        w_entry(w, S_IFREG | 0644);
        w_header(w, 8, CA_FORMAT_XATTR);
        w_payload(w, "x", 1);
}

static void child_payload_size_max(writer *w)
{
        w_filename(w, "a.txt");
        w_entry(w, S_IFREG | 0644);
        w_header(w, UINT64_MAX, CA_FORMAT_PAYLOAD);
        w_bytes(w, "x", 1);
}

static void child_symlink_empty(writer *w)
{
        w_filename(w, "link");
        w_entry(w, S_IFLNK | 0777);
        w_symlink(w, "");
}

static void child_symlink_no_nul(writer *w)
{
        w_filename(w, "link");
        w_entry(w, S_IFLNK | 0777);
        w_header(w, CA_FORMAT_HEADER_SIZE + 5, CA_FORMAT_SYMLINK);
        w_bytes(w, "a.txt", 5);
}

/* ---- the escape attempts */

static void escape_slash(writer *w, const char *target, const char *inner)
{
        char name[64];
        w_link(w, "evil", target);
        snprintf(name, sizeof(name), "evil/%s", inner);
        w_file(w, name, 0644, "pwned\n");
}

static void escape_dup_dir(writer *w, const char *target, const char *inner)
{
        w_link(w, "evil", target);
        w_dir(w, "evil", 0755);
        w_file(w, inner, 0644, "pwned\n");
        w_goodbye(w);
}

static void escape_cases(void)
{
        static const struct {
                const char *name, *target, *inner;
                bool dup;
                const char *expect;
        } cases[] = {
            {"escape-slash-etc", "/etc", "passwd", false, "invalid file name \"evil/passwd\""},
            {"escape-slash-outside", "../outside", "probe", false,
             "invalid file name \"evil/probe\""},
            {"escape-dup-etc", "/etc", "passwd", true, "file name \"evil\" not after \"evil\""},
            {"escape-dup-outside", "../outside", "probe", true,
             "file name \"evil\" not after \"evil\""},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                writer w;
                w_init(&w, BASE_FLAGS);
                w_root(&w);
                valid_a(&w);
                if (cases[i].dup)
                        escape_dup_dir(&w, cases[i].target, cases[i].inner);
                else
                        escape_slash(&w, cases[i].target, cases[i].inner);
                w_goodbye(&w);
                emit_both(&w, cases[i].name, cases[i].expect);
        }
}

static void name_cases(void)
{
        char longname[257];
        memset(longname, 'n', 256);
        longname[256] = 0;

        name_case("name-empty", "", 1, "empty file name");
        name_case("name-dot", ".", 2, "invalid file name \".\"");
        name_case("name-dotdot", "..", 3, "invalid file name \"..\"");
        name_case("name-slash", "a/b", 4, "invalid file name \"a/b\"");
        name_case("name-absolute", "/etc", 5, "invalid file name \"/etc\"");
        name_case("name-embedded-nul", "a\0b", 4, "contains a NUL byte");
        name_case("name-no-nul", "abc", 3, "file name is not NUL-terminated");
        name_case("name-256-bytes", longname, 257, "file name longer than 255 bytes");

        /* Duplicates and order: casync writes children in strictly increasing strcmp order. */
        writer w;
        w_init(&w, BASE_FLAGS);
        w_root(&w);
        valid_a(&w);
        w_file(&w, "a.txt", 0644, "again\n");
        w_goodbye(&w);
        emit_both(&w, "name-duplicate", "file name \"a.txt\" not after \"a.txt\"");

        w_init(&w, BASE_FLAGS);
        w_root(&w);
        w_file(&w, "b.txt", 0644, "b\n");
        valid_a(&w);
        w_goodbye(&w);
        emit_both(&w, "name-unsorted", "file name \"a.txt\" not after \"b.txt\"");

        /* A directory and a file with the same name. */
        w_init(&w, BASE_FLAGS);
        w_root(&w);
        w_dir(&w, "a.txt", 0755);
        w_goodbye(&w);
        valid_a(&w);
        w_goodbye(&w);
        emit_both(&w, "name-duplicate-dir-file", "file name \"a.txt\" not after \"a.txt\"");
}

static void root_cases(void)
{
        writer w;
        w_init(&w, BASE_FLAGS);
        w_entry(&w, S_IFREG | 0644);
        w_payload(&w, "x", 1);
        emit_both(&w, "root-file", "the archive's root is not a directory");

        w_init(&w, BASE_FLAGS);
        w_entry(&w, S_IFLNK | 0777);
        w_symlink(&w, "/etc");
        emit_both(&w, "root-symlink", "the archive's root is not a directory");

        /* A stream that starts with something other than ENTRY. */
        w_init(&w, BASE_FLAGS);
        w_open(&w);
        w_filename(&w, "a.txt");
        w_entry(&w, S_IFREG | 0644);
        w_payload(&w, "x", 1);
        w.stack[0].entry_offset = 0;
        w_goodbye(&w);
        emit_both(&w, "root-filename-first", "FILENAME record where an ENTRY must come");
}

static void goodbye_cases(void)
{
        static const struct {
                const char *name;
                int field; /* 0 header size, 1 tail size, 2 marker, 3 entry offset, 4 item hash,
                              5 item offset, 6 item size, 7 swap items, 8 root header size */
                const char *expect;
        } cases[] = {
            {"goodbye-header-size", 0, "GOODBYE record of size 112, expected 136 for 4 entries"},
            {"goodbye-tail-size", 1, "GOODBYE tail size 160 differs from the record's 136"},
            {"goodbye-marker", 2, "GOODBYE tail has a bad marker"},
            {"goodbye-entry-offset", 3, "GOODBYE tail points to offset 1 instead of the ENTRY"},
            {"goodbye-item-hash", 4, "GOODBYE item 1 is"},
            {"goodbye-item-offset", 5, "GOODBYE item 1 is"},
            {"goodbye-item-size", 6, "GOODBYE item 1 is"},
            {"goodbye-item-order", 7, "GOODBYE item 0 is"},
            {"goodbye-root-size-beyond-stream", 8, "GOODBYE record of size 160, expected 136"},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                writer w;
                w_init(&w, BASE_FLAGS);
                w_root(&w);
                valid_a(&w);
                valid_b(&w);
                valid_rest(&w);
                uint64_t gb = w_goodbye(&w); /* the root's: 4 items */
                const size_t n = 4;
                switch (cases[i].field) {
                case 0:
                        w_patch(&w, gb, read_le64(w.buf + gb) - 24);
                        break;
                case 1:
                        w_patch(&w, GB_TAIL(gb, n) + 8, read_le64(w.buf + gb) + 24);
                        break;
                case 2:
                        w_patch(&w, GB_TAIL(gb, n) + 16, CA_FORMAT_TABLE_TAIL_MARKER);
                        break;
                case 3:
                        w_patch(&w, GB_TAIL(gb, n), read_le64(w.buf + GB_TAIL(gb, n)) - 1);
                        break;
                case 4:
                        w_patch(&w, GB_ITEM(gb, 1) + 16,
                                read_le64(w.buf + GB_ITEM(gb, 1) + 16) ^ 1);
                        break;
                case 5:
                        w_patch(&w, GB_ITEM(gb, 1), read_le64(w.buf + GB_ITEM(gb, 1)) + 1);
                        break;
                case 6:
                        w_patch(&w, GB_ITEM(gb, 1) + 8, read_le64(w.buf + GB_ITEM(gb, 1) + 8) - 1);
                        break;
                case 7: {
                        uint8_t tmp[CA_FORMAT_GOODBYE_ITEM_SIZE];
                        memcpy(tmp, w.buf + GB_ITEM(gb, 0), sizeof(tmp));
                        memcpy(w.buf + GB_ITEM(gb, 0), w.buf + GB_ITEM(gb, 1), sizeof(tmp));
                        memcpy(w.buf + GB_ITEM(gb, 1), tmp, sizeof(tmp));
                        break;
                }
                case 8:
                        w_patch(&w, gb, read_le64(w.buf + gb) + 24);
                        w_patch(&w, GB_TAIL(gb, n) + 8, read_le64(w.buf + gb));
                        break;
                }
                emit_both(&w, cases[i].name, cases[i].expect);
        }
}

static void flag_cases(void)
{
        writer w;

        /* Second-granularity archive with a nanosecond mtime. */
        w_init(&w, (BASE_FLAGS & ~CA_FORMAT_WITH_NSEC_TIME) | CA_FORMAT_WITH_SEC_TIME);
        w_entry_full(&w, w.flags, S_IFDIR | 0755, 0, 0, 0, 1577934245000000000);
        w_open(&w);
        w_filename(&w, "a.txt");
        w_entry_full(&w, w.flags, S_IFREG | 0644, 0, 0, 0, T0);
        w_payload(&w, "x", 1);
        w_goodbye(&w);
        emit_both(&w, "mtime-granularity", "not a multiple of the archive's granularity");

        /* No time flag at all, yet an mtime. */
        w_init(&w, BASE_FLAGS & ~CA_FORMAT_WITH_NSEC_TIME);
        w_entry_full(&w, w.flags, S_IFDIR | 0755, 0, 0, 0, 0);
        w_open(&w);
        w_filename(&w, "a.txt");
        w_entry_full(&w, w.flags, S_IFREG | 0644, 0, 0, 0, T0);
        w_payload(&w, "x", 1);
        w_goodbye(&w);
        emit_both(&w, "mtime-without-time-flag", "set in an archive that stores no times");

        /* No uid flag, yet a uid. */
        w_init(&w, BASE_FLAGS & ~CA_FORMAT_WITH_32BIT_UIDS);
        w_root(&w);
        w_filename(&w, "a.txt");
        w_entry_full(&w, w.flags, S_IFREG | 0644, 0, 1000, 0, T0);
        w_payload(&w, "x", 1);
        w_goodbye(&w);
        emit_both(&w, "uid-without-uid-flag", "uid 1000 invalid for the archive's uid format");

        /* Unknown and non-normalized feature flags in the root ENTRY of a .catar. */
        w_init(&w, BASE_FLAGS | (UINT64_C(1) << 40));
        valid_tree(&w);
        emit_catar(&w, "flags-unknown", "have unknown bits");

        w_init(&w, BASE_FLAGS | CA_FORMAT_WITH_USEC_TIME);
        valid_tree(&w);
        emit_catar(&w, "flags-not-normalized", "are not normalized");

        /* Devices allowed by the flags, but major/minor beyond what Linux can name. */
        w_init(&w, BASE_FLAGS | CA_FORMAT_WITH_DEVICE_NODES);
        w_root(&w);
        w_filename(&w, "dev");
        w_entry(&w, S_IFCHR | 0600);
        w_device(&w, 1 << 12, 0);
        w_goodbye(&w);
        emit_both(&w, "device-major-too-big", "device number 4096:0 out of range");

        /* Append-only is in the archive's flags, but only files and directories carry it. */
        w_init(&w, BASE_FLAGS | CA_FORMAT_WITH_FLAG_APPEND);
        w_root(&w);
        w_filename(&w, "link");
        w_entry_full(&w, w.flags, S_IFLNK | 0777, CA_FORMAT_WITH_FLAG_APPEND, 0, 0, T0);
        w_symlink(&w, "a.txt");
        w_goodbye(&w);
        emit_both(&w, "entry-flags-on-symlink",
                  "entry flags on a node that is neither file nor directory");

        /* Xattrs without the flag. */
        w_init(&w, BASE_FLAGS & ~CA_FORMAT_WITH_XATTRS);
        w_root(&w);
        w_filename(&w, "a.txt");
        w_entry(&w, S_IFREG | 0644);
        w_xattr(&w, "user.a", "1");
        w_payload(&w, "x", 1);
        w_goodbye(&w);
        emit_both(&w, "xattr-without-flag", "XATTR record in an archive without its feature flag");

        /* Without PERMISSIONS a file's mode must be 0666 (casync's fixed value). */
        w_init(&w, BASE_FLAGS & ~CA_FORMAT_WITH_PERMISSIONS);
        w_entry(&w, S_IFDIR | 0777);
        w_open(&w);
        w_filename(&w, "a.txt");
        w_entry(&w, S_IFREG | 04755);
        w_payload(&w, "x", 1);
        w_goodbye(&w);
        emit_both(&w, "mode-without-permissions",
                  "mode 4755 not possible in an archive without permissions");
}

static void structure_cases(void)
{
        writer w;

        /* Nesting: a path of 65 nodes (root + 64 directories) is one more than casync allows. */
        w_init(&w, BASE_FLAGS);
        w_root(&w);
        for (int i = 0; i < CA_NODES_MAX; i++)
                w_dir(&w, "d", 0755);
        for (int i = 0; i <= CA_NODES_MAX; i++)
                w_goodbye(&w);
        emit_both(&w, "nesting-too-deep", "directories nested deeper than 63 levels");

        /* Data after the root GOODBYE: some bytes, and a whole second archive. */
        w_init(&w, BASE_FLAGS);
        valid_tree(&w);
        w_bytes(&w, "garbage!", 8);
        emit_both(&w, "trailing-bytes", "data after the end of the archive");

        w_init(&w, BASE_FLAGS);
        valid_tree(&w);
        w_entry(&w, S_IFDIR | 0755);
        emit_both(&w, "trailing-entry", "data after the end of the archive");

        /* A PAYLOAD that says it is longer than the rest of the stream. */
        w_init(&w, BASE_FLAGS);
        w_root(&w);
        w_filename(&w, "a.txt");
        w_entry(&w, S_IFREG | 0644);
        w_header(&w, CA_FORMAT_HEADER_SIZE + (1 << 20), CA_FORMAT_PAYLOAD);
        w_bytes(&w, "hello\n", 6);
        w_abandon(&w);
        emit_both(&w, "payload-beyond-stream", "archive truncated");

        /* A metadata record whose declared size runs past the end of the stream. */
        w_init(&w, BASE_FLAGS);
        w_root(&w);
        w_filename(&w, "a.txt");
        w_entry(&w, S_IFREG | 0644);
        w_header(&w, 64, CA_FORMAT_XATTR);
        w_bytes(&w, "user.a\0", 7);
        w_abandon(&w);
        emit_both(&w, "record-beyond-stream", "archive truncated");

        /* A directory never closed: the stream just ends. */
        w_init(&w, BASE_FLAGS);
        w_root(&w);
        valid_a(&w);
        w_abandon(&w);
        emit_both(&w, "missing-root-goodbye", "archive truncated");
}

static void record_cases(void)
{
        static const struct {
                const char *name;
                child_fn fn;
                const char *expect;
        } cases[] = {
            {"entry-size", child_entry_size, "ENTRY record of invalid size 72"},
            {"record-type-unknown", child_unknown_type, "unknown record type 0x0123456789abcdef"},
            {"record-size-small", child_record_size_small, "invalid record size 8"},
            {"record-size-u64max", child_xattr_size_max,
             "invalid record size 18446744073709551615"},
            {"payload-size-u64max", child_payload_size_max,
             "invalid record size 18446744073709551615"},
            {"payload-in-dir", child_payload_in_dir,
             "PAYLOAD record for a node that is not a regular file"},
            {"payload-twice", child_two_payloads, "PAYLOAD record after the end of \"a.txt\""},
            {"symlink-on-file", child_symlink_on_file,
             "SYMLINK record for a node that is not a symlink"},
            {"filename-in-file", child_filename_in_file,
             "FILENAME record where the node's PAYLOAD record must come"},
            {"mode-bad-type", child_mode_bad_type, "mode 0170644 has an unknown file type"},
            {"mode-extra-bits", child_mode_extra_bits, "mode 0300644 has unknown bits"},
            {"socket-not-allowed", child_socket_not_allowed,
             "socket in an archive without sockets"},
            {"device-not-allowed", child_device_not_allowed,
             "device node in an archive without device nodes"},
            {"uid-2^32", child_uid_2_32, "uid 4294967296 invalid for the archive's uid format"},
            {"gid-2^32", child_gid_2_32, "gid 4294967301 invalid for the archive's uid format"},
            {"uid-ffffffff", child_uid_max32,
             "uid 4294967295 invalid for the archive's uid format"},
            {"uid-u64max", child_uid_u64max, "uid 18446744073709551615 invalid"},
            {"flags-differ-between-entries", child_flags_differ, "differ from the root's"},
            {"entry-flags-not-in-archive", child_entry_flags_unknown,
             "entry flags 0x10000 outside the archive's 0x0"},
            {"xattr-unsorted", child_xattr_unsorted,
             "XATTR names not in strictly increasing order"},
            {"xattr-duplicate", child_xattr_duplicate,
             "XATTR names not in strictly increasing order"},
            {"xattr-bad-name", child_xattr_bad_name, "XATTR record with an invalid name"},
            {"symlink-empty", child_symlink_empty, "empty symlink target"},
            {"symlink-no-nul", child_symlink_no_nul, "SYMLINK record with an invalid target"},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                one_child_case(cases[i].name, cases[i].fn, cases[i].expect);
}

int main(int argc, char **argv)
{
        if (argc != 2) {
                fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
                return EXIT_FAILURE;
        }
        out_dir = argv[1];
        if (mkdir(out_dir, 0755) < 0 && errno != EEXIST)
                die("%s: %m", out_dir);

        _cleanup_(freep) char *tsv_path = NULL;
        if (asprintf(&tsv_path, "%s/cases.tsv", out_dir) < 0)
                die("out of memory");
        tsv = fopen(tsv_path, "we");
        if (!tsv)
                die("%s: %m", tsv_path);

        writer w;
        w_init(&w, BASE_FLAGS);
        valid_tree(&w);
        write_file("valid.catar", w.buf, w.size);
        index_cases(w.buf, w.size);
        w_done(&w);

        name_cases();
        escape_cases();
        root_cases();
        goodbye_cases();
        flag_cases();
        structure_cases();
        record_cases();

        if (fclose(tsv) != 0)
                die("%s: %m", tsv_path);
        return EXIT_SUCCESS;
}
