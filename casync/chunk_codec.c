/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Chunk files: one xz, gzip or zstd stream, told apart by magic. Decoding writes into the
 * caller's buffer of exactly the size the index declares, so a bomb can never write past it; a
 * one-byte spill buffer tells "exactly full" from "would overrun".
 */
#include <inttypes.h>
#include <limits.h>
#include <lzma.h>
#include <pthread.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "casync/casync.h"

/* zstd contexts are costly to set up (tables, window buffer), so they are kept: a compression
 * context per thread (encoders are few), decompression contexts in a pool, taken only while a
 * chunk is decoded. A context keeps a window buffer as large as the chunks it decoded, so one per
 * thread would cost a fetch with a hundred download workers tens of MB for nothing: only as
 * many decode at once as there are CPUs. */
typedef struct codec_cache {
        ZSTD_CCtx *cctx;
} codec_cache;

#define DCTX_POOL_MAX 16
static pthread_mutex_t dctx_pool_lock = PTHREAD_MUTEX_INITIALIZER;
static ZSTD_DCtx *dctx_pool[DCTX_POOL_MAX];
static size_t dctx_pool_n;

static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static bool cache_key_ready;

static void cache_free(void *p)
{
        codec_cache *c = p;

        if (c) {
                ZSTD_freeCCtx(c->cctx);
                free(c);
        }
}

static void cache_key_init(void)
{
        cache_key_ready = pthread_key_create(&cache_key, cache_free) == 0;
}

static codec_cache *cache_get(void)
{
        codec_cache *c;

        if (pthread_once(&cache_once, cache_key_init) != 0 || !cache_key_ready)
                return NULL;
        c = pthread_getspecific(cache_key);
        if (c)
                return c;
        c = calloc(1, sizeof(*c));
        if (!c)
                return NULL;
        if (pthread_setspecific(cache_key, c) != 0) {
                free(c);
                return NULL;
        }
        return c;
}

static ZSTD_DCtx *dctx_get(void)
{
        ZSTD_DCtx *d = NULL;

        pthread_mutex_lock(&dctx_pool_lock);
        if (dctx_pool_n > 0)
                d = dctx_pool[--dctx_pool_n];
        pthread_mutex_unlock(&dctx_pool_lock);
        if (d)
                return d;
        d = ZSTD_createDCtx();
        if (d &&
            ZSTD_isError(ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, CA_ZSTD_WINDOW_LOG_MAX))) {
                ZSTD_freeDCtx(d);
                d = NULL;
        }
        return d;
}

static void dctx_put(ZSTD_DCtx *d)
{
        pthread_mutex_lock(&dctx_pool_lock);
        if (dctx_pool_n < DCTX_POOL_MAX) {
                dctx_pool[dctx_pool_n++] = d;
                d = NULL;
        }
        pthread_mutex_unlock(&dctx_pool_lock);
        ZSTD_freeDCtx(d);
}

static ZSTD_CCtx *cctx_get(void)
{
        codec_cache *c = cache_get();

        if (!c)
                return NULL;
        if (!c->cctx)
                c->cctx = ZSTD_createCCtx();
        return c->cctx;
}

/* The largest window zstd's own levels 1-19 ask for. */
#define ZSTD_WINDOW_LOG_TYPICAL_MAX 23

static const uint8_t xz_magic[] = {0xfd, '7', 'z', 'X', 'Z', 0x00};
static const uint8_t gzip_magic[] = {0x1f, 0x8b};
static const uint8_t zstd_magic[] = {0x28, 0xb5, 0x2f, 0xfd};

static bool has_magic(const void *data, size_t size, const uint8_t *magic, size_t magic_size)
{
        return size >= magic_size && memcmp(data, magic, magic_size) == 0;
}

ca_compression ca_compression_detect(const void *data, size_t size)
{
        /* casync's order. */
        if (has_magic(data, size, xz_magic, sizeof(xz_magic)))
                return CA_COMPRESSION_XZ;
        if (has_magic(data, size, gzip_magic, sizeof(gzip_magic)))
                return CA_COMPRESSION_GZIP;
        if (has_magic(data, size, zstd_magic, sizeof(zstd_magic)))
                return CA_COMPRESSION_ZSTD;
        return CA_COMPRESSION_UNKNOWN;
}

const char *ca_compression_name(ca_compression c)
{
        switch (c) {
        case CA_COMPRESSION_XZ:
                return "xz";
        case CA_COMPRESSION_GZIP:
                return "gzip";
        case CA_COMPRESSION_ZSTD:
                return "zstd";
        default:
                return "unknown";
        }
}

uint64_t ca_chunk_compressed_size_max(uint64_t size)
{
        uint64_t r;

        /* Far above what xz, gzip or zstd add to incompressible data (well under 1%). */
        if (ADD_OVERFLOW(size, size / 8, &r) || ADD_OVERFLOW(r, UINT64_C(64) * 1024, &r))
                return UINT64_MAX;
        return r;
}

/* Messages shared by the three decoders. */
static int bad_overrun(int level, const char *what, const char *format, size_t expected)
{
        return ca_log_errno(level, -EBADMSG, "%s: %s data decompresses to more than %zu bytes",
                            what, format, expected);
}

static int bad_truncated(int level, const char *what, const char *format, size_t produced)
{
        return ca_log_errno(level, -EBADMSG, "%s: %s stream is truncated (after %zu bytes)", what,
                            format, produced);
}

static int bad_trailing(int level, const char *what, const char *format, size_t left)
{
        return ca_log_errno(level, -EBADMSG, "%s: %zu bytes of trailing data after the %s stream",
                            what, left, format);
}

static bool zstd_frame_follows(const uint8_t *p, size_t size)
{
        uint32_t m;

        if (size < 4)
                return false;
        m = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        /* A regular frame or a skippable one (magic 0x184D2A5?). */
        return m == 0xfd2fb528U || (m & 0xfffffff0U) == 0x184d2a50U;
}

static int zstd_decode_with(ZSTD_DCtx *d, int level, const uint8_t *in, size_t in_size,
                            uint8_t *out, size_t expected, const char *what)
{
        ZSTD_inBuffer ib = {in, in_size, 0};
        ZSTD_outBuffer ob = {out, expected, 0};
        uint8_t spill;

        if (!d)
                return -ENOMEM;
        if (ZSTD_isError(ZSTD_DCtx_reset(d, ZSTD_reset_session_only)))
                return -EIO;
        /* A frame without a content size makes the decoder allocate its whole declared window.
         * Allow what real encoders declare (up to level 19: 2^23) or the chunk's own size, not
         * the global cap for every chunk: many workers times 2^27 would be a memory attack. */
        int window_log = ZSTD_WINDOW_LOG_TYPICAL_MAX;
        while (window_log < CA_ZSTD_WINDOW_LOG_MAX && ((size_t)1 << window_log) < expected)
                window_log++;
        if (ZSTD_isError(ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, window_log)))
                return -EIO;

        for (;;) {
                ZSTD_outBuffer sb = {&spill, 1, 0};
                bool full = ob.pos == ob.size;
                size_t in_before = ib.pos, out_before = ob.pos;
                size_t r = ZSTD_decompressStream(d, full ? &sb : &ob, &ib);

                if (ZSTD_isError(r)) {
                        if (ZSTD_getErrorCode(r) == ZSTD_error_frameParameter_windowTooLarge)
                                return ca_log_errno(level, -EBADMSG,
                                                    "%s: zstd frame needs a window above 2^%d "
                                                    "bytes",
                                                    what, window_log);
                        if (ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation)
                                return -ENOMEM;
                        return ca_log_errno(level, -EBADMSG, "%s: zstd data is corrupt (%s)", what,
                                            ZSTD_getErrorName(r));
                }
                if (sb.pos > 0)
                        return bad_overrun(level, what, "zstd", expected);
                if (r == 0) {
                        /* A frame ended; only further frames may follow it. */
                        if (ib.pos == ib.size)
                                break;
                        if (!zstd_frame_follows(in + ib.pos, ib.size - ib.pos))
                                return bad_trailing(level, what, "zstd", ib.size - ib.pos);
                        continue;
                }
                if (ib.pos == in_before && ob.pos == out_before)
                        return bad_truncated(level, what, "zstd", ob.pos);
        }

        if (ob.pos != expected)
                return ca_log_errno(level, -EBADMSG,
                                    "%s: zstd data decompresses to %zu bytes, expected %zu", what,
                                    ob.pos, expected);
        return 0;
}

static int zstd_decode(int level, const uint8_t *in, size_t in_size, uint8_t *out, size_t expected,
                       const char *what)
{
        ZSTD_DCtx *d = dctx_get();
        int r = zstd_decode_with(d, level, in, in_size, out, expected, what);
        if (d)
                dctx_put(d);
        return r;
}

static int xz_decode(int level, const uint8_t *in, size_t in_size, uint8_t *out, size_t expected,
                     const char *what)
{
        lzma_stream s = LZMA_STREAM_INIT;
        size_t produced = 0;
        uint8_t spill;
        lzma_ret lr;
        int r = 0;

        /* One stream, as casync decodes: anything after it (even xz's zero padding) is
         * trailing data. Integrity checks of unknown type are skipped; the digest decides. */
        lr = lzma_stream_decoder(&s, CA_XZ_MEMLIMIT, 0);
        if (lr == LZMA_MEM_ERROR)
                return -ENOMEM;
        if (lr != LZMA_OK)
                return -EIO;

        s.next_in = in;
        s.avail_in = in_size;
        for (;;) {
                bool full = produced == expected;
                size_t avail_in = s.avail_in, avail_out, n;

                s.next_out = full ? &spill : out + produced;
                s.avail_out = avail_out = full ? 1 : expected - produced;
                lr = lzma_code(&s, LZMA_FINISH);
                n = avail_out - s.avail_out;
                if (full && n > 0) {
                        r = bad_overrun(level, what, "xz", expected);
                        break;
                }
                produced += n;

                if (lr == LZMA_STREAM_END) {
                        if (s.avail_in > 0)
                                r = bad_trailing(level, what, "xz", s.avail_in);
                        break;
                }
                if (lr == LZMA_OK && (n > 0 || s.avail_in != avail_in))
                        continue;
                if (lr == LZMA_OK || lr == LZMA_BUF_ERROR)
                        r = bad_truncated(level, what, "xz", produced);
                else if (lr == LZMA_MEM_ERROR)
                        r = -ENOMEM;
                else if (lr == LZMA_MEMLIMIT_ERROR)
                        r = ca_log_errno(level, -EBADMSG,
                                         "%s: xz stream needs more than %" PRIu64
                                         " MiB of memory to decode",
                                         what, CA_XZ_MEMLIMIT >> 20);
                else
                        r = ca_log_errno(level, -EBADMSG,
                                         "%s: xz data is corrupt (liblzma error %d)", what,
                                         (int)lr);
                break;
        }
        lzma_end(&s);
        if (r < 0)
                return r;

        if (produced != expected)
                return ca_log_errno(level, -EBADMSG,
                                    "%s: xz data decompresses to %zu bytes, expected %zu", what,
                                    produced, expected);
        return 0;
}

static int gzip_decode(int level, const uint8_t *in, size_t in_size, uint8_t *out, size_t expected,
                       const char *what)
{
        z_stream z = {};
        size_t produced = 0;
        uint8_t spill;
        int zr, r = 0;

        /* Callers bound in_size by ca_chunk_compressed_size_max(), far below UINT_MAX. */
        if (in_size > UINT_MAX || expected > UINT_MAX)
                return -EINVAL;

        /* 16 + 15: gzip wrapper only, 32 KiB window. Never inflateGetHeader (CVE-2022-37434). */
        zr = inflateInit2(&z, 16 + 15);
        if (zr == Z_MEM_ERROR)
                return -ENOMEM;
        if (zr != Z_OK)
                return -EIO;

        z.next_in = (Bytef *)in;
        z.avail_in = (uInt)in_size;
        for (;;) {
                bool full = produced == expected;
                uInt avail_in = z.avail_in, avail_out;
                size_t n;

                z.next_out = full ? &spill : out + produced;
                z.avail_out = avail_out = full ? 1 : (uInt)(expected - produced);
                zr = inflate(&z, Z_NO_FLUSH);
                n = avail_out - z.avail_out;
                if (full && n > 0) {
                        r = bad_overrun(level, what, "gzip", expected);
                        break;
                }
                produced += n;

                if (zr == Z_STREAM_END) {
                        if (z.avail_in > 0)
                                r = bad_trailing(level, what, "gzip", z.avail_in);
                        break;
                }
                if (zr == Z_OK && (n > 0 || z.avail_in != avail_in))
                        continue;
                if (zr == Z_OK || zr == Z_BUF_ERROR)
                        r = bad_truncated(level, what, "gzip", produced);
                else if (zr == Z_MEM_ERROR)
                        r = -ENOMEM;
                else
                        r = ca_log_errno(level, -EBADMSG, "%s: gzip data is corrupt (%s)", what,
                                         z.msg               ? z.msg
                                         : zr == Z_NEED_DICT ? "needs a dictionary"
                                                             : "inflate error");
                break;
        }
        inflateEnd(&z);
        if (r < 0)
                return r;

        if (produced != expected)
                return ca_log_errno(level, -EBADMSG,
                                    "%s: gzip data decompresses to %zu bytes, expected %zu", what,
                                    produced, expected);
        return 0;
}

int ca_chunk_decompress_log(int level, const void *in, size_t in_size, void *out,
                            size_t expected_size, const char *what)
{
        const uint8_t *p = in;

        if (expected_size < CA_CHUNK_SIZE_LIMIT_MIN || expected_size > CA_CHUNK_SIZE_LIMIT_MAX)
                return -EINVAL;
        if (in_size > ca_chunk_compressed_size_max(expected_size))
                return ca_log_errno(level, -EBADMSG,
                                    "%s: compressed chunk of %zu bytes is too large for %zu bytes "
                                    "of data",
                                    what, in_size, expected_size);

        switch (ca_compression_detect(in, in_size)) {
        case CA_COMPRESSION_XZ:
                return xz_decode(level, in, in_size, out, expected_size, what);
        case CA_COMPRESSION_GZIP:
                return gzip_decode(level, in, in_size, out, expected_size, what);
        case CA_COMPRESSION_ZSTD:
                return zstd_decode(level, in, in_size, out, expected_size, what);
        default:
                if (in_size == 0)
                        return ca_log_errno(level, -EBADMSG, "%s: chunk file is empty", what);
                return ca_log_errno(level, -EBADMSG,
                                    "%s: unknown compression (first bytes %02x %02x %02x %02x)",
                                    what, p[0], in_size > 1 ? p[1] : 0, in_size > 2 ? p[2] : 0,
                                    in_size > 3 ? p[3] : 0);
        }
}

int ca_chunk_decompress(const void *in, size_t in_size, void *out, size_t expected_size,
                        const char *what)
{
        return ca_chunk_decompress_log(CA_LOG_ERR, in, in_size, out, expected_size, what);
}

int ca_chunk_compress(const void *in, size_t in_size, void **ret, size_t *ret_size)
{
        _cleanup_(freep) void *buf = NULL;
        ZSTD_CCtx *c;
        size_t bound, n;
        void *shrunk;

        if (in_size < CA_CHUNK_SIZE_LIMIT_MIN || in_size > CA_CHUNK_SIZE_LIMIT_MAX)
                return -EINVAL;
        c = cctx_get();
        if (!c)
                return -ENOMEM;

        bound = ZSTD_compressBound(in_size);
        buf = malloc(bound);
        if (!buf)
                return -ENOMEM;
        /* One frame at level 3, as casync writes; ours records the content size too. */
        n = ZSTD_compressCCtx(c, buf, bound, in, in_size, 3);
        if (ZSTD_isError(n))
                return ZSTD_getErrorCode(n) == ZSTD_error_memory_allocation ? -ENOMEM : -EIO;

        shrunk = realloc(buf, n);
        if (shrunk)
                buf = shrunk;
        *ret = TAKE_PTR(buf);
        *ret_size = n;
        return 0;
}

int ca_chunk_verify_log(int level, const char *what, ca_digest_type t, const ca_chunk_id *id,
                        const void *data, size_t size)
{
        char hex[CA_CHUNK_ID_HEX_SIZE];
        ca_chunk_id got;
        int r;

        r = ca_digest_once(t, data, size, &got);
        if (r < 0)
                return r;
        if (memcmp(got.bytes, id->bytes, CA_CHUNK_ID_SIZE) != 0)
                return ca_log_errno(level, -EBADMSG, "%s: content hashes to %s (wrong data)", what,
                                    ca_chunk_id_to_hex(&got, hex));
        return 0;
}

int ca_chunk_verify(ca_digest_type t, const ca_chunk_id *id, const void *data, size_t size)
{
        char hex[CA_CHUNK_ID_HEX_SIZE], what[CA_CHUNK_ID_HEX_SIZE + 8];

        snprintf(what, sizeof(what), "chunk %s", ca_chunk_id_to_hex(id, hex));
        return ca_chunk_verify_log(CA_LOG_ERR, what, t, id, data, size);
}
