/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Test driver: decodes a .catar with the streaming decoder and prints what `casync mtree` would.
 *   catar_mtree [--digest=sha256|sha512-256] [--chunk=N] [--null] [--cuts] FILE|-
 * --chunk feeds the decoder N bytes at a time (default: whatever read() returns); --null decodes
 * with a sink that does nothing and prints the throughput (for benchmarks); --cuts checks that
 * the whole file decodes and that its prefixes fail at ca_decoder_finish (every prefix of a small
 * file, a sample of a large one).
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "casync/casync.h"
#include "catar_feed.h"

/* Decodes data[0..size) with a sink that does nothing; returns the result of finish. */
static int decode_prefix(const uint8_t *data, size_t size)
{
        ca_sink sink = {0};
        _cleanup_(ca_decoder_freep) ca_decoder *d = NULL;
        int r = ca_decoder_new(&sink, UINT64_MAX, "cut", &d);
        if (r < 0)
                return r;
        r = ca_decoder_feed(d, data, size);
        if (r < 0)
                return r == -EBADMSG ? 1 : r; /* a valid prefix must not fail before the end */
        return ca_decoder_finish(d);
}

static int check_cuts(int fd)
{
        _cleanup_(freep) uint8_t *data = NULL;
        size_t size = 0, alloc = 0;
        for (;;) {
                if (size == alloc) {
                        alloc = alloc ? alloc * 2 : 1 << 16;
                        uint8_t *p = realloc(data, alloc);
                        if (!p)
                                return -ENOMEM;
                        data = p;
                }
                ssize_t n = read(fd, data + size, alloc - size);
                if (n < 0)
                        return negative_errno();
                if (n == 0)
                        break;
                size += (size_t)n;
        }
        if (decode_prefix(data, size) != 0) {
                fprintf(stderr, "the whole archive does not decode\n");
                return -EBADMSG;
        }
        int level = ca_log_get_max_level();
        ca_log_set_max_level(0);
        size_t tested = 0;
        for (size_t k = 0; k < size; k++) {
                /* All short prefixes and all near the end; a sample in between. */
                if (k >= 8192 && k + 256 < size && k % MAX(size / 256, (size_t)1) != 0)
                        continue;
                int r = decode_prefix(data, k);
                if (r != -EBADMSG) {
                        ca_log_set_max_level(level);
                        fprintf(stderr, "prefix of %zu bytes: %s\n", k,
                                r == 0   ? "accepted"
                                : r == 1 ? "failed before finish"
                                         : strerror(-r));
                        return -EBADMSG;
                }
                tested++;
        }
        ca_log_set_max_level(level);
        printf("%zu of %zu prefixes checked\n", tested, size);
        return 0;
}

int main(int argc, char **argv)
{
        ca_digest_type digest = CA_DIGEST_SHA512_256;
        size_t chunk = 0;
        bool null_sink = false, cuts = false;
        const char *path = NULL;

        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--digest=sha256") == 0)
                        digest = CA_DIGEST_SHA256;
                else if (strcmp(argv[i], "--digest=sha512-256") == 0)
                        digest = CA_DIGEST_SHA512_256;
                else if (strncmp(argv[i], "--chunk=", 8) == 0)
                        chunk = strtoul(argv[i] + 8, NULL, 10);
                else if (strcmp(argv[i], "--null") == 0)
                        null_sink = true;
                else if (strcmp(argv[i], "--cuts") == 0)
                        cuts = true;
                else
                        path = argv[i];
        }
        if (!path) {
                fprintf(stderr, "usage: %s [--digest=...] [--chunk=N] [--null] [--cuts] FILE|-\n",
                        argv[0]);
                return 2;
        }

        _cleanup_(closep) int fd =
            strcmp(path, "-") == 0 ? dup(0) : open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                perror(path);
                return 1;
        }

        if (cuts)
                return check_cuts(fd) < 0;

        ca_mtree *m = NULL;
        ca_sink sink = {0};
        if (!null_sink && ca_mtree_new(stdout, digest, &m, &sink) < 0)
                return 1;
        _cleanup_(ca_decoder_freep) ca_decoder *d = NULL;
        if (ca_decoder_new(&sink, UINT64_MAX, path, &d) < 0) {
                ca_mtree_free(m);
                return 1;
        }

        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        int r = feed_all(d, fd, chunk);
        clock_gettime(CLOCK_MONOTONIC, &b);
        ca_mtree_free(m);
        if (r < 0) {
                if (r != -EBADMSG)
                        fprintf(stderr, "%s: %s\n", path, strerror(-r));
                return 1;
        }
        if (null_sink) {
                double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
                printf("%" PRIu64 " bytes in %.3f s: %.0f MB/s\n", ca_decoder_offset(d), s,
                       (double)ca_decoder_offset(d) / s / 1e6);
        }
        return 0;
}
