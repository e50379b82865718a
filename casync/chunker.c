/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Content-defined chunking as casync does it (spec: casync-formats.md §3): a buzhash over the
 * last 48 bytes, reset at every cut; a chunk ends at the first length L >= max, or at the first
 * L >= min where hash mod d == d - 1. Since nothing before a chunk's byte L - 48 can influence a
 * cut at L, the bytes before min - 48 are not hashed at all (same cuts, less work).
 */
#include <ctype.h>
#include <string.h>

#include "casync/casync.h"

static const uint32_t buzhash_table[256] = {
#include "casync/buzhash_table.inc"
};

static inline uint32_t rol32(uint32_t x, unsigned r)
{
        r &= 31;
        return r == 0 ? x : (x << r) | (x >> (32 - r));
}

uint32_t ca_buzhash(const uint8_t window[CA_CHUNKER_WINDOW_SIZE])
{
        uint32_t h = 0;

        for (unsigned j = 0; j < CA_CHUNKER_WINDOW_SIZE; j++)
                h ^= rol32(buzhash_table[window[j]], CA_CHUNKER_WINDOW_SIZE - 1 - j);
        return h;
}

uint64_t ca_chunker_discriminator(uint64_t min, uint64_t avg, uint64_t max)
{
        /* casync's correction for the skew min/max give the size distribution; IEEE doubles,
         * truncated, then clamped. */
        double a = (double)avg;
        uint64_t d = (uint64_t)(a / (-1.42888852e-7 * a + 1.33237515));

        return MIN(MAX(d, min), max);
}

int ca_chunker_init(ca_chunker *c, uint64_t min, uint64_t avg, uint64_t max)
{
        if (min < CA_CHUNK_SIZE_LIMIT_MIN || max > CA_CHUNK_SIZE_LIMIT_MAX || min > avg ||
            avg > max)
                return -EINVAL;

        *c = (ca_chunker){
            .min = min,
            .avg = avg,
            .max = max,
            .discriminator = ca_chunker_discriminator(min, avg, max),
            .fixed = min == avg && avg == max,
            /* The first length at which a cut is considered: one full window. */
            .first = MAX(min, (uint64_t)CA_CHUNKER_WINDOW_SIZE),
        };
        /* h mod d by multiplication (Lemire's fastmod, exact for 32-bit h). */
        c->fastmod = UINT64_MAX / c->discriminator + 1;
        return 0;
}

/* h mod d == d - 1, i.e. d divides h + 1: one multiplication (Lemire's divisibility test, exact
 * for 32-bit numerators; h + 1 == 2^32 is checked apart). */
static inline bool is_cut(uint32_t h, uint64_t m, uint64_t d)
{
        uint32_t n = h + 1;

        if (__builtin_expect(n == 0, 0))
                return (UINT64_C(1) << 32) % d == 0;
        return (uint64_t)n * m <= m - 1;
}

size_t ca_chunker_scan(ca_chunker *c, const void *data, size_t size)
{
        const uint8_t *p = data;
        size_t i = 0;

        if (c->fixed) {
                uint64_t left = c->avg - c->pos;

                if (size < left) {
                        c->pos += size;
                        return SIZE_MAX;
                }
                c->pos = 0;
                return (size_t)left;
        }

        /* Bytes no window ending at or after `first` covers. */
        if (c->pos < c->first - CA_CHUNKER_WINDOW_SIZE) {
                uint64_t skip = MIN((uint64_t)size, c->first - CA_CHUNKER_WINDOW_SIZE - c->pos);

                c->pos += skip;
                i += (size_t)skip;
        }

        /* Fill the first window. */
        while (c->pos < c->first && i < size) {
                c->window[c->pos - (c->first - CA_CHUNKER_WINDOW_SIZE)] = p[i++];
                if (++c->pos == c->first) {
                        c->h = ca_buzhash(c->window);
                        c->idx = 0;
                        if (c->pos >= c->max || is_cut(c->h, c->fastmod, c->discriminator))
                                goto cut;
                }
        }
        if (c->pos < c->first)
                return SIZE_MAX;

        {
                /* Roll: the byte 48 back leaves (rotated by 48, i.e. 16), the new one enters.
                 * The leaving bytes come from the window for the first 48 steps of this call,
                 * then straight from the data. */
                const uint64_t d = c->discriminator, m = c->fastmod;
                uint32_t h = c->h;
                size_t start = i;
                /* Never past the forced cut at max. */
                size_t end = i + (size_t)MIN((uint64_t)(size - i), c->max - c->pos);
                size_t head = MIN(end, start + CA_CHUNKER_WINDOW_SIZE);
                bool found = false;

                for (unsigned k = c->idx; i < head; i++) {
                        h = rol32(h, 1) ^ rol32(buzhash_table[c->window[k]], 16) ^
                            buzhash_table[p[i]];
                        if (++k == CA_CHUNKER_WINDOW_SIZE)
                                k = 0;
                        if (is_cut(h, m, d)) {
                                found = true;
                                i++;
                                break;
                        }
                }
                if (!found)
                        for (; i < end; i++) {
                                h = rol32(h, 1) ^
                                    rol32(buzhash_table[p[i - CA_CHUNKER_WINDOW_SIZE]], 16) ^
                                    buzhash_table[p[i]];
                                if (is_cut(h, m, d)) {
                                        found = true;
                                        i++;
                                        break;
                                }
                        }
                c->pos += i - start;
                if (found || c->pos >= c->max)
                        goto cut;

                /* Keep the last 48 bytes for the next call. */
                size_t n = i - start;
                if (n >= CA_CHUNKER_WINDOW_SIZE) {
                        memcpy(c->window, p + i - CA_CHUNKER_WINDOW_SIZE, CA_CHUNKER_WINDOW_SIZE);
                        c->idx = 0;
                } else {
                        for (size_t k = 0; k < n; k++)
                                c->window[(c->idx + k) % CA_CHUNKER_WINDOW_SIZE] = p[start + k];
                        c->idx = (unsigned)((c->idx + n) % CA_CHUNKER_WINDOW_SIZE);
                }
                c->h = h;
                return SIZE_MAX;
        }

cut:
        c->pos = 0;
        return i;
}

/* One "<number>[.<fraction>]<suffix>" term of a size; suffixes are powers of 1024, as casync's
 * parse_size takes them, and terms may follow each other in decreasing units ("1M512K"). */
static int parse_size(const char *s, uint64_t *ret)
{
        static const struct {
                char suffix;
                uint64_t factor;
        } units[] = {
            {'E', UINT64_C(1) << 60},
            {'P', UINT64_C(1) << 50},
            {'T', UINT64_C(1) << 40},
            {'G', UINT64_C(1) << 30},
            {'M', UINT64_C(1) << 20},
            {'K', UINT64_C(1) << 10},
            {'B', 1},
            {0, 1},
        };
        uint64_t total = 0;
        size_t next_unit = 0;

        do {
                uint64_t whole = 0, part;
                double frac = 0;
                size_t u;

                while (isspace((unsigned char)*s))
                        s++;
                if (!isdigit((unsigned char)*s))
                        return -EINVAL;
                for (; isdigit((unsigned char)*s); s++)
                        if (MUL_OVERFLOW(whole, 10, &whole) ||
                            ADD_OVERFLOW(whole, (uint64_t)(*s - '0'), &whole))
                                return -ERANGE;
                if (*s == '.') {
                        double scale = 1;
                        for (s++; isdigit((unsigned char)*s); s++) {
                                scale /= 10;
                                frac += (*s - '0') * scale;
                        }
                }
                while (isspace((unsigned char)*s))
                        s++;
                for (u = next_unit; u < ELEMENTSOF(units); u++)
                        if (units[u].suffix == 0 || *s == units[u].suffix)
                                break;
                if (u >= ELEMENTSOF(units))
                        return -EINVAL;
                if (units[u].suffix)
                        s++;
                if (MUL_OVERFLOW(whole, units[u].factor, &part) ||
                    ADD_OVERFLOW(part, (uint64_t)(frac * (double)units[u].factor), &part) ||
                    ADD_OVERFLOW(total, part, &total))
                        return -ERANGE;
                next_unit = u + 1;
        } while (*s && next_unit < ELEMENTSOF(units));

        if (*s)
                return -EINVAL;
        *ret = total;
        return 0;
}

int ca_chunk_size_parse(const char *s, uint64_t *ret_min, uint64_t *ret_avg, uint64_t *ret_max)
{
        uint64_t min, avg, max;
        const char *a, *b;
        int r;

        if (strcmp(s, "auto") == 0) {
                *ret_min = CA_CHUNK_SIZE_AVG_DEFAULT / 4;
                *ret_avg = CA_CHUNK_SIZE_AVG_DEFAULT;
                *ret_max = CA_CHUNK_SIZE_AVG_DEFAULT * 4;
                return 0;
        }

        a = strchr(s, ':');
        if (!a) {
                r = parse_size(s, &avg);
                if (r < 0)
                        return r;
                if (avg < CA_CHUNK_SIZE_LIMIT_MIN || avg > CA_CHUNK_SIZE_LIMIT_MAX)
                        return -ERANGE;
                min = MAX(avg / 4, (uint64_t)CA_CHUNK_SIZE_LIMIT_MIN);
                max = MIN(avg * 4, (uint64_t)CA_CHUNK_SIZE_LIMIT_MAX);
        } else {
                _cleanup_(freep) char *t1 = NULL, *t2 = NULL;

                b = strchr(a + 1, ':');
                if (!b)
                        return -EINVAL; /* casync takes one value or three, never two */
                t1 = strndup(s, (size_t)(a - s));
                t2 = strndup(a + 1, (size_t)(b - a - 1));
                if (!t1 || !t2)
                        return -ENOMEM;
                if ((r = parse_size(t1, &min)) < 0 || (r = parse_size(t2, &avg)) < 0 ||
                    (r = parse_size(b + 1, &max)) < 0)
                        return r;
                if (min < CA_CHUNK_SIZE_LIMIT_MIN || max > CA_CHUNK_SIZE_LIMIT_MAX)
                        return -ERANGE;
                if (avg < min || max < avg)
                        return -EINVAL;
        }
        *ret_min = min;
        *ret_avg = avg;
        *ret_max = max;
        return 0;
}
