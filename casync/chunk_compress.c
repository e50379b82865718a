/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Compressing chunks for a store, in any of casync's three formats. casync's own parameters are
 * the defaults (spec §1.2): zstd level 3, xz preset 6 with a CRC64 check, gzip at zlib's default
 * level. Readers only care about the decompressed bytes, so other levels stay compatible. A
 * compressor keeps its context and output buffer from chunk to chunk; it belongs to one thread.
 */
#include <lzma.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "casync/casync.h"

struct ca_compressor {
        ca_compression type;
        int level;
        ZSTD_CCtx *zstd;
        z_stream gzip;
        bool gzip_ready;
        uint8_t *out;
        size_t out_alloc;
};

int ca_compression_from_name(const char *name, ca_compression *ret)
{
        static const ca_compression all[] = {CA_COMPRESSION_XZ, CA_COMPRESSION_GZIP,
                                             CA_COMPRESSION_ZSTD};

        for (size_t i = 0; i < ELEMENTSOF(all); i++)
                if (strcmp(name, ca_compression_name(all[i])) == 0) {
                        *ret = all[i];
                        return 0;
                }
        return -EINVAL;
}

int ca_compression_check_level(ca_compression c, int level)
{
        if (level == CA_COMPRESSION_LEVEL_DEFAULT)
                return 0;
        switch (c) {
        case CA_COMPRESSION_ZSTD:
                return level >= ZSTD_minCLevel() && level <= ZSTD_maxCLevel() && level != 0
                           ? 0
                           : -ERANGE;
        case CA_COMPRESSION_XZ:
                return level >= 0 && level <= 9 ? 0 : -ERANGE;
        case CA_COMPRESSION_GZIP:
                return level >= 1 && level <= 9 ? 0 : -ERANGE;
        default:
                return -EINVAL;
        }
}

int ca_compressor_new(ca_compression c, int level, ca_compressor **ret)
{
        _cleanup_(ca_compressor_freep) ca_compressor *z = NULL;
        int r = ca_compression_check_level(c, level);

        if (r < 0)
                return r;
        z = calloc(1, sizeof(*z));
        if (!z)
                return -ENOMEM;
        z->type = c;
        switch (c) {
        case CA_COMPRESSION_ZSTD:
                z->level = level == CA_COMPRESSION_LEVEL_DEFAULT ? 3 : level;
                z->zstd = ZSTD_createCCtx();
                if (!z->zstd || ZSTD_isError(ZSTD_CCtx_setParameter(
                                    z->zstd, ZSTD_c_compressionLevel, z->level)))
                        return -ENOMEM;
                break;
        case CA_COMPRESSION_XZ:
                z->level = level == CA_COMPRESSION_LEVEL_DEFAULT ? 6 : level;
                break;
        case CA_COMPRESSION_GZIP:
                z->level = level == CA_COMPRESSION_LEVEL_DEFAULT ? Z_DEFAULT_COMPRESSION : level;
                if (deflateInit2(&z->gzip, z->level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
                    Z_OK)
                        return -ENOMEM;
                z->gzip_ready = true;
                break;
        default:
                return -EINVAL;
        }
        *ret = TAKE_PTR(z);
        return 0;
}

static int reserve(ca_compressor *z, size_t size)
{
        uint8_t *p;

        if (z->out_alloc >= size)
                return 0;
        p = realloc(z->out, size);
        if (!p)
                return -ENOMEM;
        z->out = p;
        z->out_alloc = size;
        return 0;
}

int ca_compressor_run(ca_compressor *z, const void *in, size_t size, const void **ret,
                      size_t *ret_size)
{
        size_t bound, n = 0;
        int r;

        switch (z->type) {
        case CA_COMPRESSION_ZSTD:
                bound = ZSTD_compressBound(size);
                if ((r = reserve(z, bound)) < 0)
                        return r;
                n = ZSTD_compress2(z->zstd, z->out, bound, in, size);
                if (ZSTD_isError(n))
                        return -EIO;
                break;
        case CA_COMPRESSION_XZ:
                bound = lzma_stream_buffer_bound(size);
                if ((r = reserve(z, bound)) < 0)
                        return r;
                if (lzma_easy_buffer_encode((uint32_t)z->level, LZMA_CHECK_CRC64, NULL, in, size,
                                            z->out, &n, bound) != LZMA_OK)
                        return -EIO;
                break;
        case CA_COMPRESSION_GZIP:
                /* Reset first: a finished stream's bound leaves out the gzip wrapper. */
                if (deflateReset(&z->gzip) != Z_OK)
                        return -EIO;
                bound = deflateBound(&z->gzip, size);
                if ((r = reserve(z, bound)) < 0)
                        return r;
                z->gzip.next_in = (Bytef *)(uintptr_t)in;
                z->gzip.avail_in = (uInt)size;
                z->gzip.next_out = z->out;
                z->gzip.avail_out = (uInt)bound;
                if (deflate(&z->gzip, Z_FINISH) != Z_STREAM_END)
                        return -EIO;
                n = bound - z->gzip.avail_out;
                break;
        default:
                return -EINVAL;
        }
        *ret = z->out;
        *ret_size = n;
        return 0;
}

ca_compressor *ca_compressor_free(ca_compressor *z)
{
        if (!z)
                return NULL;
        ZSTD_freeCCtx(z->zstd);
        if (z->gzip_ready)
                deflateEnd(&z->gzip);
        free(z->out);
        free(z);
        return NULL;
}
