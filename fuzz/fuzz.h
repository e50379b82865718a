/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What every libFuzzer target shares. Targets call the functions the product calls on remote
 * (or on-disk) input, with the product's caps, and abort() when a property the product relies on
 * does not hold, so libFuzzer keeps the input. Messages are formatted at every level (they quote
 * hostile names), and fuzz/run.sh sends them to /dev/null with -close_fd_mask.
 */
#pragma once

#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "casync/casync.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property the product relies on failed: stop here so libFuzzer saves the input. */
#define FUZZ_ASSERT(expr)                                                                          \
        do {                                                                                       \
                if (!(expr)) {                                                                     \
                        fprintf(stderr, "%s:%d: fuzz assertion failed: %s\n", __FILE__, __LINE__,  \
                                #expr);                                                            \
                        abort();                                                                   \
                }                                                                                  \
        } while (0)

/* Every message formatted, so format and quoting code runs on hostile input too. */
static inline void fuzz_log_everything(void)
{
        ca_log_set_max_level(CA_LOG_DEBUG);
}

/* A NUL-terminated copy (parsers of C strings); NULL when out of memory. */
/* An error described into buf (n bytes): one line of printable ASCII that fits, and says the
 * HTTP status first (S3's and registries' error documents). */
static inline void fuzz_check_status_line(const char *buf, size_t n, long status)
{
        size_t len = strnlen(buf, n);
        FUZZ_ASSERT(len < n);
        for (size_t i = 0; i < len; i++)
                FUZZ_ASSERT(buf[i] >= 0x20 && buf[i] < 0x7f);
        char want[64];
        int w = snprintf(want, sizeof(want), "HTTP status %ld", status);
        FUZZ_ASSERT(strncmp(buf, want, MIN((size_t)w, len)) == 0);
}

static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
        char *s = malloc(size + 1);
        if (s) {
                memcpy(s, data, size);
                s[size] = 0;
        }
        return s;
}

/* data as a string with each token replaced by value (harnesses fill in digests that inputs
 * cannot know); malloc'ed, never NULL. */
static inline char *fuzz_replace(const uint8_t *data, size_t size, const char *token,
                                 const char *value)
{
        char *s = fuzz_strndup(data, size);
        FUZZ_ASSERT(s);
        char *out = strdup("");
        FUZZ_ASSERT(out);
        for (char *p = s, *hit;; p = hit + strlen(token)) {
                hit = strstr(p, token);
                char *n;
                FUZZ_ASSERT(asprintf(&n, "%s%.*s%s", out,
                                     (int)(hit ? (size_t)(hit - p) : strlen(p)), p,
                                     hit ? value : "") >= 0);
                free(out);
                out = n;
                if (!hit) {
                        free(s);
                        return out;
                }
        }
}

/* Writes path whole (0600), or aborts. */
static inline void fuzz_write_file(const char *path, const void *data, size_t size)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        FUZZ_ASSERT(fd >= 0 && write_full(fd, data, size) >= 0 && close(fd) == 0);
}

/*
 * Splits an input made of two parts: a 2-byte little-endian length, that many bytes (the first
 * part, cut short at the end of the input), and the rest. fuzz/make-corpus.sh writes seeds so.
 */
static inline void fuzz_split2(const uint8_t *data, size_t size, const uint8_t **a, size_t *a_size,
                               const uint8_t **b, size_t *b_size)
{
        size_t n = size >= 2 ? (size_t)data[0] | (size_t)data[1] << 8 : 0;
        size_t head = size >= 2 ? 2 : size;
        n = n < size - head ? n : size - head;
        *a = data + head;
        *a_size = n;
        *b = data + head + n;
        *b_size = size - head - n;
}

/* A fixed "now" for checks of times (2030-01-01): runs do not change with the clock, and it
 * comes after the corpus's keys were made (they never expire). */
#define FUZZ_NOW INT64_C(1893456000)

/* /dev/null, opened once, for printers whose output does not matter. */
FILE *fuzz_devnull(void);

/* A private directory for a target's files, made once (on tmpfs when /dev/shm exists), removed
 * at exit. The path stays valid for the process's life. */
const char *fuzz_tmpdir(void);

/* The feature flags a catar's root ENTRY declares (0 when too short): what an index made of it
 * would carry, and what picks the digest. */
static inline uint64_t fuzz_catar_flags(const uint8_t *data, size_t size)
{
        return size >= 24 ? read_le64(data + 16) : 0;
}
