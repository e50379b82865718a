/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A streaming gzip decoder (RFC 1952) for untrusted input: the header is read here, its optional
 * fields skipped and its CRC-16 checked; the deflate data and the trailer (CRC-32 and size) go
 * through isa-l, about four times zlib's inflate speed on x86-64. Concatenated members are
 * decoded one after the other, as gzip does. Memory is fixed (isa-l's state), whatever the input.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "casync/casync.h"

typedef struct ca_gunzip ca_gunzip;

int ca_gunzip_new(ca_gunzip **ret);
ca_gunzip *ca_gunzip_free(ca_gunzip *g);
static inline void ca_gunzip_freep(ca_gunzip **g)
{
        ca_gunzip_free(*g);
}

/*
 * Decodes in[0..n), each piece into *buf (buf_size bytes), then to write. *buf is read anew for
 * each piece: the writer may hand that buffer on and point *buf at another. Returns 0, a
 * writer's error, or -EBADMSG with *why saying what is wrong with the data (nothing is logged).
 */
int ca_gunzip_feed(ca_gunzip *g, const uint8_t *in, size_t n, uint8_t *const *buf, size_t buf_size,
                   ca_stream_writer write, void *userdata, const char **why);

/* Whether the input so far ends at the end of a member (else it is truncated). */
bool ca_gunzip_complete(const ca_gunzip *g);
