/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * OpenPGP ASCII armor (RFC 9580 §6): one block of a known kind, headers skipped, base64 decoded
 * strictly, the CRC-24 line checked when present. Also the reverse, for writing key files.
 */
#include <string.h>

#include "aci/openpgp/internal.h"

#define ARMOR_HEADERS_MAX 64
#define ARMOR_LINE_MAX    (64 * 1024)

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static const char *kind_label(pgp_armor_kind kind)
{
        return kind == PGP_ARMOR_SIGNATURE ? "SIGNATURE" : "PUBLIC KEY BLOCK";
}

uint32_t pgp_crc24(const uint8_t *data, size_t size)
{
        uint32_t crc = 0xb704ceU;
        for (size_t i = 0; i < size; i++) {
                crc ^= (uint32_t)data[i] << 16;
                for (int b = 0; b < 8; b++) {
                        crc <<= 1;
                        if (crc & 0x1000000U)
                                crc ^= 0x1864cfbU;
                }
        }
        return crc & 0xffffffU;
}

static int b64_value(char c)
{
        const char *p = c ? strchr(b64_alphabet, c) : NULL;
        return p ? (int)(p - b64_alphabet) : -1;
}

/* A line of the input: [start, start+len), without the line break; *next is the next line. */
typedef struct line {
        const char *start;
        size_t len;
} line;

static bool next_line(const char **p, const char *end, line *ret)
{
        if (*p >= end)
                return false;
        const char *nl = memchr(*p, '\n', (size_t)(end - *p));
        const char *stop = nl ? nl : end;
        ret->start = *p;
        ret->len = (size_t)(stop - *p);
        /* Trailing whitespace (and the CR of CRLF) is not part of the line. */
        while (ret->len > 0 && strchr(" \t\r", ret->start[ret->len - 1]))
                ret->len--;
        *p = nl ? nl + 1 : end;
        return true;
}

static bool line_is(const line *l, const char *s)
{
        return l->len == strlen(s) && memcmp(l->start, s, l->len) == 0;
}

static bool line_starts(const line *l, const char *s)
{
        return l->len >= strlen(s) && memcmp(l->start, s, strlen(s)) == 0;
}

/* The offset of "-----BEGIN PGP " at the start of a line at or after `from`, or SIZE_MAX. */
static size_t find_begin(const char *data, size_t size, size_t from)
{
        static const char tag[] = "-----BEGIN PGP ";
        for (size_t i = from; i + sizeof(tag) - 1 <= size; i++) {
                if ((i == 0 || data[i - 1] == '\n') && memcmp(data + i, tag, sizeof(tag) - 1) == 0)
                        return i;
        }
        return SIZE_MAX;
}

/* Appends the base64 characters of a line to the decoder; whitespace inside is skipped. */
typedef struct b64_state {
        uint8_t *out;
        size_t n;
        uint32_t acc;
        unsigned bits;
        unsigned pad; /* '=' seen: only more '=' may follow */
} b64_state;

static int b64_feed(b64_state *s, const line *l)
{
        for (size_t i = 0; i < l->len; i++) {
                char c = l->start[i];
                if (c == ' ' || c == '\t')
                        continue;
                if (c == '=') {
                        s->pad++;
                        if (s->pad > 2)
                                return -EBADMSG;
                        continue;
                }
                int v = b64_value(c);
                if (v < 0 || s->pad)
                        return -EBADMSG;
                s->acc = (s->acc << 6) | (uint32_t)v;
                s->bits += 6;
                if (s->bits >= 8) {
                        s->bits -= 8;
                        s->out[s->n++] = (uint8_t)(s->acc >> s->bits);
                }
        }
        return 0;
}

/* At the end: the left-over bits must be padding zeros, and '=' must fill the last quantum. */
static bool b64_complete(const b64_state *s)
{
        if ((s->acc & ((1U << s->bits) - 1)) != 0)
                return false;
        if (s->bits == 0)
                return s->pad == 0;
        /* 4 leftover bits: one byte in the last quantum, "==". 2 bits: two bytes, "=". An
         * unpadded tail is tolerated, as most decoders do. */
        return (s->bits == 4 && (s->pad == 2 || s->pad == 0)) ||
               (s->bits == 2 && (s->pad == 1 || s->pad == 0));
}

int pgp_dearmor(const void *data, size_t size, pgp_armor_kind kind, const char *what, uint8_t **ret,
                size_t *ret_size)
{
        const char *text = data;
        size_t begin = find_begin(text, size, 0);
        if (begin == SIZE_MAX)
                return 0;

        const char *p = text + begin, *end = text + size;
        line l;
        char want[64];
        snprintf(want, sizeof(want), "-----BEGIN PGP %s-----", kind_label(kind));
        next_line(&p, end, &l);
        if (!line_is(&l, want))
                return ca_bad("%s: armor begins with '%.*s', expected '%s'", what,
                              (int)MIN(l.len, (size_t)64), l.start, want);

        /* Headers ("Key: value") up to a blank line; a missing blank line is tolerated, as
         * base64 holds no ':'. */
        unsigned headers = 0;
        const char *body = p;
        while (next_line(&p, end, &l)) {
                if (l.len == 0) {
                        body = p;
                        break;
                }
                if (!memchr(l.start, ':', l.len) || line_starts(&l, "-----")) {
                        p = l.start;
                        body = p;
                        break;
                }
                if (++headers > ARMOR_HEADERS_MAX)
                        return ca_bad("%s: more than %d armor headers", what, ARMOR_HEADERS_MAX);
                body = p;
        }

        _cleanup_(freep) uint8_t *out = malloc(MAX((size_t)(end - body), (size_t)1));
        if (!out)
                return -ENOMEM;
        b64_state s = {.out = out};
        bool have_crc = false, ended = false;
        uint32_t crc = 0;
        snprintf(want, sizeof(want), "-----END PGP %s-----", kind_label(kind));
        p = body;
        while (next_line(&p, end, &l)) {
                if (line_starts(&l, "-----")) {
                        if (!line_is(&l, want))
                                return ca_bad("%s: armor ends with '%.*s', expected '%s'", what,
                                              (int)MIN(l.len, (size_t)64), l.start, want);
                        ended = true;
                        break;
                }
                if (l.len > ARMOR_LINE_MAX)
                        return ca_bad("%s: armor line longer than %d bytes", what, ARMOR_LINE_MAX);
                if (have_crc) {
                        if (l.len != 0)
                                return ca_bad("%s: armor data after the checksum line", what);
                        continue;
                }
                if (l.len == 5 && l.start[0] == '=') {
                        int v[4];
                        for (int i = 0; i < 4; i++)
                                v[i] = b64_value(l.start[1 + i]);
                        if (v[0] < 0 || v[1] < 0 || v[2] < 0 || v[3] < 0)
                                return ca_bad("%s: malformed armor checksum line", what);
                        crc = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
                              (uint32_t)v[3];
                        have_crc = true;
                        continue;
                }
                if (b64_feed(&s, &l) < 0)
                        return ca_bad("%s: armor line %.*s... is not base64", what,
                                      (int)MIN(l.len, (size_t)16), l.start);
        }
        if (!ended)
                return ca_bad("%s: armor has no '%s' line", what, want);
        if (!b64_complete(&s))
                return ca_bad("%s: armor's base64 is truncated or badly padded", what);
        if (s.n == 0)
                return ca_bad("%s: armor holds no data", what);
        if (have_crc && pgp_crc24(out, s.n) != crc)
                return ca_bad("%s: armor checksum mismatch (corrupted in transit?)", what);
        if (find_begin(text, size, (size_t)(p - text)) != SIZE_MAX)
                return ca_bad("%s: more than one armored block", what);
        *ret = TAKE_PTR(out);
        *ret_size = s.n;
        return 1;
}

int pgp_armor(const uint8_t *data, size_t size, pgp_armor_kind kind, char **ret, size_t *ret_size)
{
        /* 4 characters per 3 bytes, a line break every 64 characters, and the frame. */
        size_t chars = (size + 2) / 3 * 4;
        size_t cap = chars + chars / 64 + 256;
        _cleanup_(freep) char *out = malloc(cap);
        if (!out)
                return -ENOMEM;
        size_t n = (size_t)snprintf(out, cap, "-----BEGIN PGP %s-----\n\n", kind_label(kind));
        size_t col = 0;
        for (size_t i = 0; i < size; i += 3) {
                uint32_t v = (uint32_t)data[i] << 16;
                size_t k = MIN(size - i, (size_t)3);
                if (k > 1)
                        v |= (uint32_t)data[i + 1] << 8;
                if (k > 2)
                        v |= data[i + 2];
                out[n++] = b64_alphabet[(v >> 18) & 63];
                out[n++] = b64_alphabet[(v >> 12) & 63];
                out[n++] = k > 1 ? b64_alphabet[(v >> 6) & 63] : '=';
                out[n++] = k > 2 ? b64_alphabet[v & 63] : '=';
                col += 4;
                if (col == 64) {
                        out[n++] = '\n';
                        col = 0;
                }
        }
        if (col)
                out[n++] = '\n';
        uint32_t crc = pgp_crc24(data, size);
        n += (size_t)snprintf(out + n, cap - n, "=%c%c%c%c\n-----END PGP %s-----\n",
                              b64_alphabet[(crc >> 18) & 63], b64_alphabet[(crc >> 12) & 63],
                              b64_alphabet[(crc >> 6) & 63], b64_alphabet[crc & 63],
                              kind_label(kind));
        *ret_size = n;
        *ret = TAKE_PTR(out);
        return 0;
}

int pgp_input(const void *data, size_t size, pgp_armor_kind kind, const char *what, uint8_t **owned,
              const uint8_t **ret, size_t *ret_size)
{
        bool key = kind == PGP_ARMOR_PUBLIC_KEY;
        if (size == 0)
                return key ? ca_bad("%s: empty key file", what)
                           : ca_bad("%s: the signature file is empty", what);
        if (key && size > ACI_PGP_KEY_FILE_MAX)
                return ca_bad("%s: key file over %d bytes", what, ACI_PGP_KEY_FILE_MAX);
        if (!key && size > ACI_PGP_SIGNATURE_MAX)
                return ca_bad("%s: signature file over %d bytes", what, ACI_PGP_SIGNATURE_MAX);
        size_t bin_size = 0;
        int r = pgp_dearmor(data, size, kind, what, owned, &bin_size);
        if (r < 0)
                return r;
        if (r > 0) {
                *ret = *owned;
                *ret_size = bin_size;
                return 0;
        }
        /* Not armor: binary packets start with a header octet whose top bit is set. */
        if (!(((const uint8_t *)data)[0] & 0x80))
                return ca_bad("%s: neither an armored OpenPGP %s nor a binary one", what,
                              key ? "public key" : "signature");
        *ret = data;
        *ret_size = size;
        return 0;
}
