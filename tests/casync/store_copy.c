/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Test tool: copies every chunk an index names from one local store to another through the
 * store API (read + verify from SRC, recompress with zstd into DST). SRC is opened read-only, as
 * a user's store would be. Exits 1 naming the first chunk that SRC cannot supply.
 *
 * Usage: store_copy INDEX SRC_STORE DST_STORE
 */
#include <stdio.h>
#include <string.h>

#include "casync/casync.h"

int main(int argc, char **argv)
{
        _cleanup_(ca_index_freep) ca_index *idx = NULL;
        _cleanup_(ca_store_freep) ca_store *src = NULL, *dst = NULL;
        _cleanup_(freep) uint8_t *buf = NULL;
        char hex[CA_CHUNK_ID_HEX_SIZE];
        size_t copied = 0;
        ca_digest_type t;
        int r;

        if (argc != 4) {
                fprintf(stderr, "usage: store_copy INDEX SRC_STORE DST_STORE\n");
                return 2;
        }
        if (ca_index_load(argv[1], &idx) < 0 ||
            ca_store_open(argv[2], CA_STORE_READ_ONLY, &src) < 0 ||
            ca_store_open(argv[3], CA_STORE_CREATE, &dst) < 0)
                return 1;

        t = ca_digest_type_from_flags(idx->feature_flags);
        buf = malloc(MAX(idx->chunk_size_max, (uint64_t)1));
        if (!buf)
                return 1;

        for (size_t i = 0; i < idx->n_items; i++) {
                const ca_index_item *item = &idx->items[i];

                ca_chunk_id_to_hex(&item->id, hex);
                r = ca_store_get(src, &item->id, item->size, t, buf);
                if (r < 0) {
                        fprintf(stderr, "store_copy: chunk %s (index item %zu): %s\n", hex, i,
                                r == -ENOENT ? "missing or corrupt in the source store"
                                             : strerror(-r));
                        return 1;
                }
                r = ca_store_put(dst, &item->id, buf, item->size);
                if (r < 0) {
                        fprintf(stderr, "store_copy: chunk %s: cannot store: %s\n", hex,
                                strerror(-r));
                        return 1;
                }
                copied++;
        }
        printf("store_copy: %zu chunks (%s) copied\n", copied, ca_digest_type_name(t));
        return 0;
}
