/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Chunk codec: round trips through real xz/gzip/zstd encoders, bombs, short and long output,
 * truncation at every length, trailing bytes, concatenation, zstd window and xz memory limits,
 * the compressed-size cap, digest verification, and use from several threads at once. Every
 * decode writes into a buffer followed by a guard region that must stay untouched.
 */
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_getFrameHeader, to check the crafted frames */
#include <lzma.h>
#include <pthread.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "casync/casync.h"
#include "tests/test.h"

#define GUARD      4096
#define GUARD_BYTE 0xa5

static void fill_random(uint8_t *p, size_t n, uint64_t seed)
{
        uint64_t x = seed * UINT64_C(0x9e3779b97f4a7c15) + 1;
        for (size_t i = 0; i < n; i++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                p[i] = (uint8_t)(x >> 32);
        }
}

static void fill_text(uint8_t *p, size_t n)
{
        static const char words[] = "casync chunk store index archive payload goodbye entry ";
        for (size_t i = 0; i < n; i++)
                p[i] = (uint8_t)words[(i * 7 + i / 91) % (sizeof(words) - 1)];
}

static uint8_t *enc_zstd(const void *in, size_t n, int level, bool content_size, size_t *ret)
{
        ZSTD_CCtx *c = ZSTD_createCCtx();
        size_t cap = ZSTD_compressBound(n);
        uint8_t *out = malloc(cap);
        CHECK(c && out);
        CHECK(!ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level)));
        CHECK(!ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, content_size)));
        *ret = ZSTD_compress2(c, out, cap, in, n);
        CHECK(!ZSTD_isError(*ret));
        ZSTD_freeCCtx(c);
        return out;
}

static uint8_t *enc_xz_filters(const void *in, size_t n, const lzma_filter *filters, size_t *ret)
{
        size_t cap = lzma_stream_buffer_bound(n), pos = 0;
        uint8_t *out = malloc(cap);
        CHECK(out);
        CHECK_EQ_INT(lzma_stream_buffer_encode((lzma_filter *)filters, LZMA_CHECK_CRC64, NULL, in,
                                               n, out, &pos, cap),
                     LZMA_OK);
        *ret = pos;
        return out;
}

static uint8_t *enc_xz(const void *in, size_t n, uint32_t preset, size_t *ret)
{
        lzma_options_lzma opt;
        CHECK(!lzma_lzma_preset(&opt, preset));
        lzma_filter filters[] = {{LZMA_FILTER_LZMA2, &opt}, {LZMA_VLI_UNKNOWN, NULL}};
        return enc_xz_filters(in, n, filters, ret);
}

static uint8_t *enc_gzip(const void *in, size_t n, int level, size_t *ret)
{
        z_stream z = {};
        uint8_t *out;
        uLong cap;

        CHECK_EQ_INT(deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
        cap = deflateBound(&z, n);
        out = malloc(cap);
        CHECK(out);
        z.next_in = (Bytef *)in;
        z.avail_in = (uInt)n;
        z.next_out = out;
        z.avail_out = (uInt)cap;
        CHECK_EQ_INT(deflate(&z, Z_FINISH), Z_STREAM_END);
        *ret = z.total_out;
        deflateEnd(&z);
        return out;
}

/* Decodes into a guarded buffer; checks the guard and, on success, the bytes. */
static int dec(const void *z, size_t zn, size_t expected, const uint8_t *want)
{
        uint8_t *buf = malloc(expected + GUARD);
        int r;

        CHECK(buf);
        memset(buf, GUARD_BYTE, expected + GUARD);
        r = ca_chunk_decompress(z, zn, buf, expected, "test chunk");
        for (size_t i = expected; i < expected + GUARD; i++)
                CHECK(buf[i] == GUARD_BYTE);
        if (r == 0 && want)
                CHECK(memcmp(buf, want, expected) == 0);
        free(buf);
        return r;
}

static uint8_t *concat(const uint8_t *a, size_t an, const uint8_t *b, size_t bn, size_t *ret)
{
        uint8_t *p = malloc(an + bn);
        CHECK(p);
        memcpy(p, a, an);
        memcpy(p + an, b, bn);
        *ret = an + bn;
        return p;
}

typedef uint8_t *(*encoder)(const void *in, size_t n, size_t *ret);

static uint8_t *enc_zstd3(const void *in, size_t n, size_t *ret)
{
        return enc_zstd(in, n, 3, true, ret);
}
static uint8_t *enc_zstd3_nosize(const void *in, size_t n, size_t *ret)
{
        return enc_zstd(in, n, 3, false, ret);
}
static uint8_t *enc_xz6(const void *in, size_t n, size_t *ret)
{
        return enc_xz(in, n, 6, ret);
}
static uint8_t *enc_gzip6(const void *in, size_t n, size_t *ret)
{
        return enc_gzip(in, n, Z_DEFAULT_COMPRESSION, ret);
}
static uint8_t *enc_ours(const void *in, size_t n, size_t *ret)
{
        void *p;
        CHECK_EQ_INT(ca_chunk_compress(in, n, &p, ret), 0);
        return p;
}

static const struct {
        const char *name;
        encoder enc;
        ca_compression kind;
} encoders[] = {
    {"zstd", enc_zstd3, CA_COMPRESSION_ZSTD},
    {"zstd without content size", enc_zstd3_nosize, CA_COMPRESSION_ZSTD},
    {"xz", enc_xz6, CA_COMPRESSION_XZ},
    {"gzip", enc_gzip6, CA_COMPRESSION_GZIP},
    {"ca_chunk_compress", enc_ours, CA_COMPRESSION_ZSTD},
};

static void test_detect(void)
{
        static const uint8_t xz[] = {0xfd, '7', 'z', 'X', 'Z', 0}, gz[] = {0x1f, 0x8b},
                             zs[] = {0x28, 0xb5, 0x2f, 0xfd};

        CHECK_EQ_INT(ca_compression_detect(xz, 6), CA_COMPRESSION_XZ);
        CHECK_EQ_INT(ca_compression_detect(xz, 5), CA_COMPRESSION_UNKNOWN);
        CHECK_EQ_INT(ca_compression_detect(gz, 2), CA_COMPRESSION_GZIP);
        CHECK_EQ_INT(ca_compression_detect(gz, 1), CA_COMPRESSION_UNKNOWN);
        CHECK_EQ_INT(ca_compression_detect(zs, 4), CA_COMPRESSION_ZSTD);
        CHECK_EQ_INT(ca_compression_detect(zs, 3), CA_COMPRESSION_UNKNOWN);
        CHECK_EQ_INT(ca_compression_detect("", 0), CA_COMPRESSION_UNKNOWN);
        CHECK_STREQ(ca_compression_name(CA_COMPRESSION_XZ), "xz");
        CHECK_STREQ(ca_compression_name(CA_COMPRESSION_GZIP), "gzip");
        CHECK_STREQ(ca_compression_name(CA_COMPRESSION_ZSTD), "zstd");
}

static void test_roundtrip(void)
{
        const size_t sizes[] = {1, 48, 1000, 65536, 262144 + 7, 1 << 20};
        uint8_t *data = malloc(1 << 20);

        CHECK(data);
        for (size_t s = 0; s < ELEMENTSOF(sizes); s++)
                for (int kind = 0; kind < 2; kind++) {
                        size_t n = sizes[s];
                        if (kind == 0)
                                fill_random(data, n, n);
                        else
                                fill_text(data, n);
                        for (size_t e = 0; e < ELEMENTSOF(encoders); e++) {
                                size_t zn;
                                uint8_t *z = encoders[e].enc(data, n, &zn);
                                CHECK_EQ_INT(ca_compression_detect(z, zn), encoders[e].kind);
                                CHECK(zn <= ca_chunk_compressed_size_max(n));
                                if (dec(z, zn, n, data) != 0) {
                                        fprintf(stderr, "%s: round trip of %zu bytes failed\n",
                                                encoders[e].name, n);
                                        exit(EXIT_FAILURE);
                                }
                                free(z);
                        }
                }
        free(data);
}

static void test_sizes_wrong(void)
{
        const size_t n = 100000;
        uint8_t *data = malloc(n);

        CHECK(data);
        fill_text(data, n);
        for (size_t e = 0; e < ELEMENTSOF(encoders); e++) {
                size_t zn;
                uint8_t *z = encoders[e].enc(data, n, &zn);
                CHECK_EQ_INT(dec(z, zn, n - 1, NULL), -EBADMSG); /* one byte too many */
                CHECK_EQ_INT(dec(z, zn, n + 1, NULL), -EBADMSG); /* one byte short */
                CHECK_EQ_INT(dec(z, zn, 1, NULL), -EBADMSG);
                CHECK_EQ_INT(dec(z, zn, n, data), 0);
                free(z);
        }
        free(data);
}

static void test_bombs(void)
{
        const size_t n = 16 << 20;
        uint8_t *zeros = calloc(1, n);

        CHECK(zeros);
        for (size_t e = 0; e < ELEMENTSOF(encoders); e++) {
                size_t zn;
                uint8_t *z = encoders[e].enc(zeros, n, &zn);
                /* A few KiB that claim a 4 KiB chunk but expand to 16 MiB. */
                CHECK(zn < 64 * 1024);
                CHECK_EQ_INT(dec(z, zn, 4096, NULL), -EBADMSG);
                CHECK_EQ_INT(dec(z, zn, 262144, NULL), -EBADMSG);
                free(z);
        }
        free(zeros);
}

static void test_not_compressed(void)
{
        static const uint8_t gz_magic_only[] = {0x1f, 0x8b};
        uint8_t buf[16];

        CHECK_EQ_INT(dec("hello, world", 12, 12, NULL), -EBADMSG);
        CHECK_EQ_INT(dec("", 0, 12, NULL), -EBADMSG);
        CHECK_EQ_INT(dec("\x1f", 1, 12, NULL), -EBADMSG);
        CHECK_EQ_INT(dec(gz_magic_only, 2, 12, NULL), -EBADMSG);
        /* Caller errors. */
        CHECK_EQ_INT(ca_chunk_decompress("x", 1, buf, 0, "t"), -EINVAL);
        CHECK_EQ_INT(ca_chunk_decompress("x", 1, buf, CA_CHUNK_SIZE_LIMIT_MAX + 1, "t"), -EINVAL);
        /* A compressed file far larger than any encoding of the chunk. */
        uint8_t *big = calloc(1, 200000);
        CHECK(big);
        big[0] = 0x28, big[1] = 0xb5, big[2] = 0x2f, big[3] = 0xfd;
        CHECK_EQ_INT(dec(big, 200000, 1000, NULL), -EBADMSG);
        free(big);
}

static void test_truncated(void)
{
        const size_t n = 3000;
        uint8_t data[3000];

        fill_random(data, n / 2, 7);
        fill_text(data + n / 2, n / 2);
        for (size_t e = 0; e < ELEMENTSOF(encoders); e++) {
                size_t zn;
                uint8_t *z = encoders[e].enc(data, n, &zn);
                for (size_t len = 0; len < zn; len++) {
                        /* A fresh copy of exactly len bytes, so ASan sees any over-read. */
                        uint8_t *cut = malloc(len ? len : 1);
                        CHECK(cut);
                        memcpy(cut, z, len);
                        if (dec(cut, len, n, NULL) != -EBADMSG) {
                                fprintf(stderr, "%s cut at %zu of %zu accepted\n", encoders[e].name,
                                        len, zn);
                                exit(EXIT_FAILURE);
                        }
                        free(cut);
                }
                free(z);
        }
}

static void test_trailing(void)
{
        const size_t n = 5000;
        uint8_t data[5000];
        static const uint8_t garbage[] = "GARBAGE!";
        static const uint8_t zero4[4] = {0};
        static const uint8_t skippable[] = {0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 'a', 'b', 'c'};

        fill_text(data, n);
        for (size_t e = 0; e < ELEMENTSOF(encoders); e++) {
                size_t zn, tn;
                uint8_t *z = encoders[e].enc(data, n, &zn), *t;

                for (size_t g = 1; g <= 8; g++) {
                        t = concat(z, zn, garbage, g, &tn);
                        CHECK_EQ_INT(dec(t, tn, n, NULL), -EBADMSG);
                        free(t);
                }
                /* A single zero byte is garbage for every format. */
                t = concat(z, zn, zero4, 1, &tn);
                CHECK_EQ_INT(dec(t, tn, n, NULL), -EBADMSG);
                free(t);

                /* Not even xz's stream padding: casync decodes a single stream. */
                t = concat(z, zn, zero4, 4, &tn);
                CHECK_EQ_INT(dec(t, tn, n, NULL), -EBADMSG);
                free(t);
                if (encoders[e].kind == CA_COMPRESSION_ZSTD) {
                        /* Skippable frames are part of the zstd format. */
                        t = concat(z, zn, skippable, sizeof(skippable), &tn);
                        CHECK_EQ_INT(dec(t, tn, n, data), 0);
                        free(t);
                }
                free(z);
        }
}

static void test_concatenated(void)
{
        const size_t n = 70000, h = 30000;
        uint8_t *data = malloc(n);
        size_t an, bn, cn;
        uint8_t *a, *b, *c;

        CHECK(data);
        fill_text(data, h);
        fill_random(data + h, n - h, 3);

        /* zstd: two frames whose total is the chunk. */
        a = enc_zstd(data, h, 3, true, &an);
        b = enc_zstd(data + h, n - h, 3, false, &bn);
        c = concat(a, an, b, bn, &cn);
        CHECK_EQ_INT(dec(c, cn, n, data), 0);
        CHECK_EQ_INT(dec(c, cn, n - 1, NULL), -EBADMSG);
        CHECK_EQ_INT(dec(a, an, n, NULL), -EBADMSG); /* first frame alone is short */
        free(a), free(b), free(c);

        /* xz and gzip: a second stream counts as trailing data, as casync's decoders stop
         * after the first one. */
        a = enc_xz(data, h, 1, &an);
        b = enc_xz(data + h, n - h, 1, &bn);
        c = concat(a, an, b, bn, &cn);
        CHECK_EQ_INT(dec(c, cn, n, NULL), -EBADMSG);
        free(a), free(b), free(c);

        a = enc_gzip(data, h, 6, &an);
        b = enc_gzip(data + h, n - h, 6, &bn);
        c = concat(a, an, b, bn, &cn);
        CHECK_EQ_INT(dec(c, cn, n, NULL), -EBADMSG);
        free(a), free(b), free(c);
        free(data);
}

/* A hand-made zstd frame: no content size, window descriptor wd, one raw block "hello". */
static size_t zstd_frame(uint8_t wd, uint8_t out[16])
{
        static const uint8_t frame[] = {0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x00, 0x29,
                                        0x00, 0x00, 'h',  'e',  'l',  'l',  'o'};
        memcpy(out, frame, sizeof(frame));
        out[5] = wd;
        return sizeof(frame);
}

static void test_zstd_window(void)
{
        ZSTD_frameHeader fh;
        uint8_t f[16];
        size_t n;

        /* Window descriptor 0x68: 2^23, what zstd's levels up to 19 declare: fine for any chunk. */
        n = zstd_frame(0x68, f);
        CHECK_EQ_INT(ZSTD_getFrameHeader(&fh, f, n), 0);
        CHECK(fh.windowSize == UINT64_C(1) << 23);
        CHECK_EQ_INT(dec(f, n, 5, (const uint8_t *)"hello"), 0);

        /* 0x70 (2^24) and 0x88 (2^27, the global cap) are more than a 5-byte chunk can need:
         * refused, so many workers cannot be made to allocate 128 MiB windows each. */
        n = zstd_frame(0x70, f);
        CHECK_EQ_INT(dec(f, n, 5, NULL), -EBADMSG);
        n = zstd_frame(0x88, f);
        CHECK_EQ_INT(ZSTD_getFrameHeader(&fh, f, n), 0);
        CHECK(fh.windowSize == UINT64_C(1) << 27);
        CHECK_EQ_INT(dec(f, n, 5, NULL), -EBADMSG);

        /* A chunk larger than 2^26 may use the full 2^27 window: RLE blocks of 128 KiB. */
        {
                size_t blocks = 512, big = blocks * 131072 + 1, zn = 6 + (blocks + 1) * 4;
                uint8_t *z = malloc(zn), *out = malloc(big);
                CHECK(z && out);
                memcpy(z, (const uint8_t[]){0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x88}, 6);
                for (size_t i = 0; i <= blocks; i++) {
                        uint32_t last = i == blocks, size = last ? 1 : 131072;
                        uint32_t h = last | 1u << 1 | size << 3; /* RLE block */
                        uint8_t *b = z + 6 + 4 * i;
                        b[0] = (uint8_t)h, b[1] = (uint8_t)(h >> 8), b[2] = (uint8_t)(h >> 16);
                        b[3] = 'x';
                }
                CHECK_EQ_INT(ca_chunk_decompress(z, zn, out, big, "test chunk"), 0);
                CHECK(out[0] == 'x' && out[big - 1] == 'x');
                free(z);
                free(out);
        }

        /* 0x89: 2^27 + 2^27/8 already too large; 0xa0: 2^30. Refused before any allocation. */
        n = zstd_frame(0x89, f);
        CHECK_EQ_INT(dec(f, n, 5, NULL), -EBADMSG);
        n = zstd_frame(0xa0, f);
        CHECK_EQ_INT(ZSTD_getFrameHeader(&fh, f, n), 0);
        CHECK(fh.windowSize == UINT64_C(1) << 30);
        CHECK_EQ_INT(dec(f, n, 5, NULL), -EBADMSG);

        /* Single-segment frame declaring 2^28 bytes of content: its window is the content. */
        static const uint8_t single[] = {0x28, 0xb5, 0x2f, 0xfd, 0xe0, 0,   0,   0,   0x10, 0,  0,
                                         0,    0,    0x29, 0x00, 0x00, 'h', 'e', 'l', 'l',  'o'};
        CHECK_EQ_INT(ZSTD_getFrameHeader(&fh, single, sizeof(single)), 0);
        CHECK(fh.frameContentSize == UINT64_C(1) << 28);
        CHECK_EQ_INT(dec(single, sizeof(single), 5, NULL), -EBADMSG);
}

/* Rewrites the LZMA2 dictionary-size byte in the first block header (and its CRC32). */
static void xz_set_dict(uint8_t *z, size_t zn, uint8_t dict_byte)
{
        size_t hsize = ((size_t)z[12] + 1) * 4, p = 14;
        uint8_t flags = z[13];
        uint32_t crc;

        CHECK(zn > 12 + hsize);
        for (int field = 0x40; field <= 0x80; field <<= 1)
                if (flags & field)
                        while (z[p++] & 0x80)
                                ;
        CHECK(z[p] == 0x21 && z[p + 1] == 1); /* LZMA2, one property byte */
        z[p + 2] = dict_byte;
        crc = lzma_crc32(z + 12, hsize - 4, 0);
        for (int i = 0; i < 4; i++)
                z[12 + hsize - 4 + i] = (uint8_t)(crc >> (8 * i));
}

static void test_xz_memlimit(void)
{
        const size_t n = 2000;
        uint8_t data[2000];
        lzma_options_lzma opt;
        size_t zn;
        uint8_t *z;

        fill_text(data, n);
        CHECK(!lzma_lzma_preset(&opt, 0));
        opt.dict_size = 4096;
        lzma_filter filters[] = {{LZMA_FILTER_LZMA2, &opt}, {LZMA_VLI_UNKNOWN, NULL}};
        z = enc_xz_filters(data, n, filters, &zn);
        CHECK_EQ_INT(dec(z, zn, n, data), 0);

        /* 64 MiB dictionary (byte 28): within the limit. */
        xz_set_dict(z, zn, 28);
        CHECK_EQ_INT(dec(z, zn, n, data), 0);
        /* 1 GiB (byte 36) and 4 GiB (byte 40): refused by the memory limit. */
        xz_set_dict(z, zn, 36);
        CHECK_EQ_INT(dec(z, zn, n, NULL), -EBADMSG);
        xz_set_dict(z, zn, 40);
        CHECK_EQ_INT(dec(z, zn, n, NULL), -EBADMSG);
        free(z);
}

static void test_size_max(void)
{
        const uint64_t sizes[] = {1, 48, 1000, 65536, 262144, 1 << 20, CA_CHUNK_SIZE_LIMIT_MAX};
        z_stream zs = {};

        /* zlib's tight bound, for its default parameters (which casync uses). */
        CHECK_EQ_INT(deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
        for (size_t i = 0; i < ELEMENTSOF(sizes); i++) {
                uint64_t cap = ca_chunk_compressed_size_max(sizes[i]);
                CHECK(cap >= sizes[i]);
                CHECK(ZSTD_compressBound(sizes[i]) <= cap);
                CHECK(lzma_stream_buffer_bound(sizes[i]) <= cap);
                CHECK(deflateBound(&zs, sizes[i]) <= cap);
        }
        deflateEnd(&zs);
        CHECK(ca_chunk_compressed_size_max(UINT64_MAX) == UINT64_MAX);

        /* Real worst cases: incompressible data at the strongest settings. */
        const size_t n = 1 << 20;
        uint8_t *data = malloc(n), *z;
        size_t zn;
        CHECK(data);
        fill_random(data, n, 99);
        z = enc_zstd(data, n, 19, false, &zn);
        CHECK(zn <= ca_chunk_compressed_size_max(n));
        free(z);
        z = enc_xz(data, n, 9 | LZMA_PRESET_EXTREME, &zn);
        CHECK(zn <= ca_chunk_compressed_size_max(n));
        free(z);
        z = enc_gzip(data, n, 9, &zn);
        CHECK(zn <= ca_chunk_compressed_size_max(n));
        free(z);
        /* Fixed Huffman codes, zlib's most wasteful setting for random data. */
        CHECK_EQ_INT(deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 9, Z_FIXED), Z_OK);
        zn = deflateBound(&zs, n);
        z = malloc(zn);
        CHECK(z);
        zs.next_in = data;
        zs.avail_in = (uInt)n;
        zs.next_out = z;
        zs.avail_out = (uInt)zn;
        CHECK_EQ_INT(deflate(&zs, Z_FINISH), Z_STREAM_END);
        CHECK(zs.total_out <= ca_chunk_compressed_size_max(n));
        deflateEnd(&zs);
        free(z);
        free(data);
}

static void test_compress(void)
{
        void *z;
        size_t zn;

        CHECK_EQ_INT(ca_chunk_compress("", 0, &z, &zn), -EINVAL);
        CHECK_EQ_INT(ca_chunk_compress("abc", 3, &z, &zn), 0);
        CHECK_EQ_INT(ca_compression_detect(z, zn), CA_COMPRESSION_ZSTD);
        CHECK_EQ_INT(dec(z, zn, 3, (const uint8_t *)"abc"), 0);
        free(z);
}

static void test_verify(void)
{
        static const char hello[] = "hello\n";
        ca_chunk_id id, id256;

        /* spec §6: sha512_256("hello\n"). */
        CHECK_EQ_INT(ca_chunk_id_from_hex("7f3f0c0d5219f51459578305ed2bbc19"
                                          "8588758da85d08024c79c1195d1cd611",
                                          &id),
                     0);
        CHECK_EQ_INT(ca_chunk_verify(CA_DIGEST_SHA512_256, &id, hello, 6), 0);
        CHECK_EQ_INT(ca_chunk_verify(CA_DIGEST_SHA256, &id, hello, 6), -EBADMSG);
        CHECK_EQ_INT(ca_chunk_verify(CA_DIGEST_SHA512_256, &id, hello, 5), -EBADMSG);
        CHECK_EQ_INT(ca_digest_once(CA_DIGEST_SHA256, hello, 6, &id256), 0);
        CHECK_EQ_INT(ca_chunk_verify(CA_DIGEST_SHA256, &id256, hello, 6), 0);
}

static void *thread_main(void *arg)
{
        const size_t n = 65536;
        uint8_t *data = malloc(n), *out = malloc(n);
        uintptr_t seed = (uintptr_t)arg;

        CHECK(data && out);
        for (unsigned i = 0; i < 100; i++) {
                void *z;
                size_t zn;
                fill_random(data, n / 2, seed * 1000 + i);
                fill_text(data + n / 2, n / 2);
                CHECK_EQ_INT(ca_chunk_compress(data, n, &z, &zn), 0);
                CHECK_EQ_INT(ca_chunk_decompress(z, zn, out, n, "thread"), 0);
                CHECK(memcmp(data, out, n) == 0);
                free(z);
        }
        free(data);
        free(out);
        return NULL;
}

static void test_threads(void)
{
        pthread_t t[4];

        for (uintptr_t i = 0; i < ELEMENTSOF(t); i++)
                CHECK_EQ_INT(pthread_create(&t[i], NULL, thread_main, (void *)i), 0);
        for (size_t i = 0; i < ELEMENTSOF(t); i++)
                CHECK_EQ_INT(pthread_join(t[i], NULL), 0);
}

int main(void)
{
        test_detect();
        test_roundtrip();
        test_sizes_wrong();
        test_bombs();
        test_not_compressed();
        /* The next ones log one line per rejected variant; keep the output readable. */
        ca_log_set_max_level(CA_LOG_ERR - 1);
        test_truncated();
        ca_log_set_max_level(CA_LOG_INFO);
        test_trailing();
        test_concatenated();
        test_zstd_window();
        test_xz_memlimit();
        test_size_max();
        test_compress();
        test_verify();
        test_threads();
        printf("test_codec: all checks passed\n");
        return 0;
}
