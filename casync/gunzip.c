/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * gzip decoding (see gunzip.h). isa-l parses gzip headers itself, but version 2.30 (Debian 12)
 * refuses a valid header CRC-16 (FHCRC), which zlib and Go accept; so the header is read here
 * and isa-l decodes the rest (ISAL_GZIP_NO_HDR_VER: deflate data, then the trailer checked).
 */
#include <errno.h>
#include <isa-l/igzip_lib.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "casync/gunzip.h"

/* gzip header flags (RFC 1952 2.3.1) */
#define F_HCRC       0x02
#define F_EXTRA      0x04
#define F_NAME       0x08
#define F_COMMENT    0x10
#define F_RESERVED   0xe0
#define HEADER_FIXED 10U
/* isa-l counts input in 32 bits; larger pieces are fed in parts. */
#define IN_MAX (1U << 30)

typedef enum part {
        P_FIXED,   /* the first 10 bytes */
        P_XLEN,    /* FEXTRA's 2-byte length */
        P_EXTRA,   /* FEXTRA's bytes */
        P_NAME,    /* up to a NUL */
        P_COMMENT, /* up to a NUL */
        P_HCRC,    /* 2 bytes */
        P_DEFLATE, /* isa-l's, to the end of the trailer */
        P_DONE,    /* a member ended */
} part;

struct ca_gunzip {
        part part;
        uint8_t flags;
        uint8_t fixed[HEADER_FIXED];
        size_t fill;   /* bytes of the current header field gathered */
        uint32_t left; /* P_EXTRA: bytes to skip */
        uint32_t hcrc; /* CRC-32 of the header so far */
        struct inflate_state z;
};

static void begin_member(ca_gunzip *g)
{
        g->part = P_FIXED;
        g->fill = 0;
        g->left = 0;
        g->hcrc = (uint32_t)crc32(0L, Z_NULL, 0);
}

int ca_gunzip_new(ca_gunzip **ret)
{
        ca_gunzip *g = calloc(1, sizeof(*g));
        if (!g)
                return -ENOMEM;
        begin_member(g);
        *ret = g;
        return 0;
}

ca_gunzip *ca_gunzip_free(ca_gunzip *g)
{
        free(g);
        return NULL;
}

bool ca_gunzip_complete(const ca_gunzip *g)
{
        return g->part == P_DONE;
}

/* After the header field that ended: the next one the flags ask for. */
static void next_part(ca_gunzip *g)
{
        g->fill = 0;
        if (g->part < P_XLEN && (g->flags & F_EXTRA))
                g->part = P_XLEN;
        else if (g->part < P_NAME && (g->flags & F_NAME))
                g->part = P_NAME;
        else if (g->part < P_COMMENT && (g->flags & F_COMMENT))
                g->part = P_COMMENT;
        else if (g->part < P_HCRC && (g->flags & F_HCRC))
                g->part = P_HCRC;
        else {
                g->part = P_DEFLATE;
                isal_inflate_init(&g->z);
                g->z.crc_flag = ISAL_GZIP_NO_HDR_VER;
        }
}

/* Takes header bytes from *in; on -EBADMSG, *why says why. */
static int header(ca_gunzip *g, const uint8_t **in, size_t *n, const char **why)
{
        while (*n > 0 && g->part < P_DEFLATE) {
                const uint8_t *p = *in;
                size_t take = 1;
                switch (g->part) {
                case P_FIXED:
                        take = HEADER_FIXED - g->fill < *n ? HEADER_FIXED - g->fill : *n;
                        memcpy(g->fixed + g->fill, p, take);
                        g->fill += take;
                        (*in) += take;
                        (*n) -= take;
                        if (g->fill < HEADER_FIXED)
                                continue;
                        if (g->fixed[0] != 0x1f || g->fixed[1] != 0x8b) {
                                *why = "not a gzip header";
                                return -EBADMSG;
                        }
                        if (g->fixed[2] != 8 || (g->fixed[3] & F_RESERVED)) {
                                *why = "an unknown compression method or header flag";
                                return -EBADMSG;
                        }
                        g->flags = g->fixed[3];
                        g->hcrc = (uint32_t)crc32(g->hcrc, g->fixed, HEADER_FIXED);
                        next_part(g);
                        continue;
                case P_XLEN:
                        g->left = g->left | (uint32_t)p[0] << (8 * g->fill);
                        if (++g->fill == 2) {
                                g->part = P_EXTRA;
                                g->fill = 0;
                        }
                        break;
                case P_EXTRA:
                        take = g->left < *n ? g->left : *n;
                        g->left -= (uint32_t)take;
                        break;
                case P_NAME:
                case P_COMMENT: {
                        const uint8_t *nul = memchr(p, 0, *n);
                        take = nul ? (size_t)(nul - p) + 1 : *n;
                        break;
                }
                case P_HCRC:
                        g->fixed[g->fill++] = p[0]; /* the fixed part is no longer needed */
                        (*in)++;
                        (*n)--;
                        if (g->fill < 2)
                                continue;
                        if ((uint32_t)(g->fixed[0] | g->fixed[1] << 8) != (g->hcrc & 0xffff)) {
                                *why = "its header checksum does not match";
                                return -EBADMSG;
                        }
                        next_part(g);
                        continue;
                default:
                        break;
                }
                g->hcrc = (uint32_t)crc32(g->hcrc, p, (uInt)take);
                (*in) += take;
                (*n) -= take;
                bool ended = (g->part == P_EXTRA && g->left == 0) ||
                             ((g->part == P_NAME || g->part == P_COMMENT) && p[take - 1] == 0);
                if (ended)
                        next_part(g);
        }
        /* An empty FEXTRA ends as soon as its length is read. */
        if (g->part == P_EXTRA && g->left == 0)
                next_part(g);
        return 0;
}

static int feed_part(ca_gunzip *g, const uint8_t *in, size_t n, uint8_t *const *buf,
                     size_t buf_size, ca_stream_writer write, void *userdata, const char **why)
{
        for (;;) {
                if (g->part == P_DONE) {
                        if (n == 0)
                                return 0;
                        begin_member(g); /* another member follows (as gzip -c a b > c makes) */
                }
                int r = header(g, &in, &n, why);
                if (r < 0)
                        return r;
                if (g->part != P_DEFLATE)
                        return 0; /* the header goes on in the next input */
                g->z.next_in = (uint8_t *)in;
                g->z.avail_in = (uint32_t)n;
                size_t got;
                do {
                        uint32_t before = g->z.avail_in;
                        g->z.next_out = *buf;
                        g->z.avail_out = (uint32_t)buf_size;
                        int e = isal_inflate(&g->z);
                        got = buf_size - g->z.avail_out;
                        if (e == ISAL_DECOMP_OK && got == 0 && g->z.avail_in == before &&
                            before > 0 && g->z.block_state != ISAL_BLOCK_FINISH)
                                e = ISAL_INVALID_BLOCK; /* no progress: never loop on it */
                        if (e != ISAL_DECOMP_OK) {
                                *why = e == ISAL_INCORRECT_CHECKSUM ? "its checksum does not match"
                                                                    : "invalid deflate data";
                                return -EBADMSG;
                        }
                        r = got > 0 ? write(userdata, *buf, got) : 0;
                        if (r < 0)
                                return r;
                } while (g->z.block_state != ISAL_BLOCK_FINISH && (got > 0 || g->z.avail_in > 0));
                in = g->z.next_in;
                n = g->z.avail_in;
                if (g->z.block_state != ISAL_BLOCK_FINISH)
                        return 0; /* all input taken; the member goes on */
                g->part = P_DONE;
        }
}

int ca_gunzip_feed(ca_gunzip *g, const uint8_t *in, size_t n, uint8_t *const *buf, size_t buf_size,
                   ca_stream_writer write, void *userdata, const char **why)
{
        if (buf_size > IN_MAX)
                buf_size = IN_MAX;
        while (n > IN_MAX) {
                int r = feed_part(g, in, IN_MAX, buf, buf_size, write, userdata, why);
                if (r < 0)
                        return r;
                in += IN_MAX;
                n -= IN_MAX;
        }
        return feed_part(g, in, n, buf, buf_size, write, userdata, why);
}
