/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Manifests of images in registries (fetcher/source/registry_store.c), as a reader gets them
 * from a registry: any bytes as the tagged document (a manifest or an image index), then as a
 * part. What is accepted must be well formed: digests valid, chunks found by their IDs after
 * sorting, the image index's parts bounded.
 */
#include <string.h>

#include "fetcher/source/source.h"
#include "fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        fuzz_log_everything();
        return 0;
}

static void check_image(registry_image *img)
{
        registry_image_sort(img);
        const registry_blob *docs[] = {&img->index, &img->sig, &img->profile, &img->profile_sig};
        for (size_t i = 0; i < ELEMENTSOF(docs); i++)
                FUZZ_ASSERT(!docs[i]->digest[0] || registry_digest_valid(docs[i]->digest));
        FUZZ_ASSERT(img->n_chunks <= CA_INDEX_ITEMS_MAX);
        for (size_t i = 0; i < img->n_chunks; i++) {
                FUZZ_ASSERT(registry_digest_valid(img->chunks[i].blob.digest));
                FUZZ_ASSERT(i == 0 || memcmp(&img->chunks[i - 1].id, &img->chunks[i].id,
                                             sizeof(ca_chunk_id)) < 0);
                FUZZ_ASSERT(registry_image_chunk(img, &img->chunks[i].id) == &img->chunks[i]);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static registry_blob parts[(CA_INDEX_ITEMS_MAX + REGISTRY_CHUNKS_PER_MANIFEST - 1) /
                                   REGISTRY_CHUNKS_PER_MANIFEST];
        registry_image img = {};
        size_t n_parts = 0;
        if (registry_image_parse(data, size, "fuzz", &img, parts, &n_parts) >= 0) {
                FUZZ_ASSERT(n_parts <= ELEMENTSOF(parts));
                for (size_t i = 0; i < n_parts; i++)
                        FUZZ_ASSERT(registry_digest_valid(parts[i].digest));
                check_image(&img);
        }
        registry_image_clear(&img);
        /* The same bytes as a part, where an image index is refused. */
        if (registry_image_parse(data, size, "fuzz", &img, NULL, NULL) >= 0)
                check_image(&img);
        registry_image_clear(&img);
        return 0;
}
