/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Small idioms shared by every layer: scope-bound cleanup and checked arithmetic. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f)   __attribute__((cleanup(f)))
#define _unused_       __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _warn_unused_  __attribute__((warn_unused_result))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define MIN(a, b)     ((a) < (b) ? (a) : (b))
#define MAX(a, b)     ((a) > (b) ? (a) : (b))

static inline void freep(void *p)
{
        free(*(void **)p);
}

static inline void closep(int *fd)
{
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}

static inline void fclosep(FILE **f)
{
        if (*f)
                fclose(*f);
}

/* Return the descriptor/pointer and disarm its cleanup. */
#define TAKE_FD(fd)                                                                                \
        ({                                                                                         \
                int _fd_ = (fd);                                                                   \
                (fd) = -1;                                                                         \
                _fd_;                                                                              \
        })
#define TAKE_PTR(p)                                                                                \
        ({                                                                                         \
                __typeof__(p) _p_ = (p);                                                           \
                (p) = NULL;                                                                        \
                _p_;                                                                               \
        })

/* Checked size arithmetic: true on overflow. */
#define ADD_OVERFLOW(a, b, r) __builtin_add_overflow((a), (b), (r))
#define MUL_OVERFLOW(a, b, r) __builtin_mul_overflow((a), (b), (r))

static inline uint64_t read_le64(const void *p)
{
        const uint8_t *b = p;
        return (uint64_t)b[0] | (uint64_t)b[1] << 8 | (uint64_t)b[2] << 16 | (uint64_t)b[3] << 24 |
               (uint64_t)b[4] << 32 | (uint64_t)b[5] << 40 | (uint64_t)b[6] << 48 |
               (uint64_t)b[7] << 56;
}

static inline void write_le64(void *p, uint64_t v)
{
        uint8_t *b = p;
        for (int i = 0; i < 8; i++)
                b[i] = (uint8_t)(v >> (8 * i));
}

/* Lowercase hex of size bytes into out, which needs 2 * size + 1 bytes (NUL-terminated). */
static inline void hex_encode(const void *data, size_t size, char *out)
{
        static const char digits[] = "0123456789abcdef";
        const uint8_t *b = data;
        for (size_t i = 0; i < size; i++) {
                out[2 * i] = digits[b[i] >> 4];
                out[2 * i + 1] = digits[b[i] & 15];
        }
        out[2 * size] = 0;
}

/* Negative errno of the last failing libc call, never 0. */
static inline int negative_errno(void)
{
        return errno > 0 ? -errno : -EIO;
}

/* Reads exactly size bytes: 0, -EBADMSG if the file ends first, or the read error. */
static inline int read_full(int fd, void *buf, size_t size)
{
        uint8_t *p = buf;
        size_t done = 0;
        while (done < size) {
                ssize_t l = read(fd, p + done, size - done);
                if (l < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (l == 0)
                        return -EBADMSG;
                done += (size_t)l;
        }
        return 0;
}

/* Writes all of buf: 0 or the write error. */
static inline int write_full(int fd, const void *buf, size_t size)
{
        const uint8_t *p = buf;
        while (size > 0) {
                ssize_t l = write(fd, p, size);
                if (l < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                p += l;
                size -= (size_t)l;
        }
        return 0;
}
