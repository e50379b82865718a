/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Turns any file (a .catar, usually a deliberately broken one) into an archive index and a chunk
 * store, cut into fixed pieces, so that `acfetch mount` can be pointed at it. The index's feature
 * flags are the first ENTRY's (or argv[4] in hex, to test a mismatch).
 *
 * Usage: catar_index FILE STORE_DIR OUT.caidx [FLAGS_HEX]
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "casync/casync.h"

#define PIECE 4096

int main(int argc, char **argv)
{
        if (argc < 4 || argc > 5) {
                fprintf(stderr, "usage: catar_index FILE STORE_DIR OUT.caidx [FLAGS_HEX]\n");
                return 2;
        }
        _cleanup_(closep) int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0 || st.st_size <= 0) {
                perror(argv[1]);
                return 1;
        }
        size_t size = (size_t)st.st_size;
        _cleanup_(freep) uint8_t *data = malloc(size);
        if (!data || read_full(fd, data, size) < 0) {
                perror(argv[1]);
                return 1;
        }
        uint64_t flags = size >= 24 ? read_le64(data + 16) : 0;
        if (argc == 5)
                flags = strtoull(argv[4], NULL, 16);

        _cleanup_(ca_store_freep) ca_store *s = NULL;
        if (ca_store_open(argv[2], CA_STORE_CREATE, &s) < 0)
                return 1;
        ca_index idx = {
            .feature_flags = flags,
            .chunk_size_min = PIECE / 4,
            .chunk_size_avg = PIECE,
            .chunk_size_max = PIECE * 4,
            .n_items = (size + PIECE - 1) / PIECE,
            .total_size = size,
        };
        _cleanup_(freep) ca_index_item *items = calloc(idx.n_items, sizeof(*items));
        if (!items)
                return 1;
        idx.items = items;
        ca_digest_type t = ca_digest_type_from_flags(flags);
        for (size_t k = 0; k < idx.n_items; k++) {
                uint64_t off = (uint64_t)k * PIECE, n = MIN((uint64_t)PIECE, size - off);
                items[k] = (ca_index_item){.offset = off, .size = n};
                if (ca_digest_once(t, data + off, n, &items[k].id) < 0 ||
                    ca_store_put(s, &items[k].id, data + off, n) < 0)
                        return 1;
        }
        _cleanup_(freep) void *out = NULL;
        size_t out_size;
        if (ca_index_serialize(&idx, &out, &out_size) < 0)
                return 1;
        _cleanup_(closep) int ofd = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (ofd < 0 || write_full(ofd, out, out_size) < 0) {
                perror(argv[3]);
                return 1;
        }
        return 0;
}
