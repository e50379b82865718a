/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gen_hostile's index cases: a bad .caidx header, chunk table or chunk for the valid archive. */
#include "gen_hostile.h"

/* Index chunking of the valid archive: fixed pieces, all within the header's limits. */
#define IDX_MIN   128
#define IDX_AVG   256
#define IDX_MAX   512
#define IDX_PIECE 300

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
void emit_both(writer *w, const char *name, const char *expect)
{
        emit_index_of(name, w->buf, w->size, w->flags, expect);
        emit_catar(w, name, expect);
}

void index_cases(const uint8_t *stream, size_t size)
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
