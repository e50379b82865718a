/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The chunk codec on a downloaded chunk file (zstd, xz or gzip): decompressed into a buffer of
 * the size the index declares, as the chunk sources and the store do. Input: the declared size
 * (4 bytes, little endian, taken modulo FUZZ_CHUNK_MAX + 1) and the chunk file's bytes. The
 * product's caps apply inside the codec (compressed size, zstd window, xz memory); the buffer
 * is exactly the declared size, so ASan sees any write past it.
 */
#include "fuzz/fuzz.h"

/* The largest chunk of casync's default chunk sizes (64 KiB average, 4 times that at most). A
 * tiny input can still claim far more than it holds; larger sizes would only make each run
 * slower (4 MiB ran at 270 inputs a second), since the codec's caps scale with the size. */
#define FUZZ_CHUNK_MAX (UINT32_C(256) << 10)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        fuzz_log_everything();
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 4)
                return 0;
        uint32_t declared = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
                            (uint32_t)data[3] << 24;
        size_t expected = declared % (FUZZ_CHUNK_MAX + 1);
        const uint8_t *in = data + 4;
        size_t in_size = size - 4;
        (void)ca_compression_detect(in, in_size);

        _cleanup_(freep) uint8_t *out = malloc(expected ? expected : 1);
        if (!out)
                return 0;
        if (ca_chunk_decompress_log(CA_LOG_WARNING, in, in_size, out, expected, "fuzz.cacnk") < 0)
                return 0;

        /* What the store does with a chunk it downloaded: verify it, and keep it as zstd that
         * decompresses to the same bytes. */
        ca_chunk_id id;
        FUZZ_ASSERT(ca_digest_once(CA_DIGEST_SHA256, out, expected, &id) == 0);
        FUZZ_ASSERT(ca_chunk_verify(CA_DIGEST_SHA256, &id, out, expected) == 0);
        _cleanup_(freep) void *z = NULL;
        size_t z_size;
        if (ca_chunk_compress(out, expected, &z, &z_size) < 0)
                return 0;
        _cleanup_(freep) uint8_t *back = malloc(expected ? expected : 1);
        if (!back)
                return 0;
        FUZZ_ASSERT(ca_chunk_decompress(z, z_size, back, expected, "fuzz.cacnk (again)") == 0);
        FUZZ_ASSERT(memcmp(back, out, expected) == 0);
        return 0;
}
