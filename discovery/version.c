/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The order of version labels: which of two versions of an image is the later one (publish's
 * latest link, the store's choice for an unversioned name). SemVer 2.0.0 precedence when both
 * are SemVer; otherwise piece by piece, runs of digits as numbers and other text byte by byte.
 */
#include <string.h>

#include "casync/casync.h"
#include "discovery/discovery.h"

static bool is_digit(char c)
{
        return c >= '0' && c <= '9';
}

static int sign(int v)
{
        return (v > 0) - (v < 0);
}

/* Two runs of digits as numbers of any length: leading zeros skipped, then the longer is
 * larger, then the bytes decide. */
static int compare_number(const char *a, size_t na, const char *b, size_t nb)
{
        while (na > 1 && *a == '0')
                a++, na--;
        while (nb > 1 && *b == '0')
                b++, nb--;
        if (na != nb)
                return na < nb ? -1 : 1;
        return sign(memcmp(a, b, na));
}

/* Runs of digits and runs of other bytes, in turn; a number sorts before text, a prefix before
 * what extends it ("1.0" < "1.0.1", "1.9" < "1.10", "1.0a" > "1.0"). */
static int compare_pieces(const char *a, size_t na, const char *b, size_t nb)
{
        size_t i = 0, j = 0;
        while (i < na && j < nb) {
                bool da = is_digit(a[i]), db = is_digit(b[j]);
                if (da != db)
                        return da ? -1 : 1;
                size_t ei = i, ej = j;
                while (ei < na && is_digit(a[ei]) == da)
                        ei++;
                while (ej < nb && is_digit(b[ej]) == db)
                        ej++;
                int c;
                if (da)
                        c = compare_number(a + i, ei - i, b + j, ej - j);
                else {
                        size_t n = MIN(ei - i, ej - j);
                        c = sign(memcmp(a + i, b + j, n));
                        if (c == 0 && ei - i != ej - j)
                                c = ei - i < ej - j ? -1 : 1;
                }
                if (c != 0)
                        return c;
                i = ei;
                j = ej;
        }
        return i < na ? 1 : j < nb ? -1 : 0;
}

static bool all_digits(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (!is_digit(s[i]))
                        return false;
        return n > 0;
}

/* SemVer's pre-release precedence: identifier by identifier, numeric ones as numbers and below
 * alphanumeric ones, a shorter list first when all else is equal. */
static int compare_prerelease(const char *a, size_t na, const char *b, size_t nb)
{
        for (;;) {
                size_t la = strcspn(a, "."), lb = strcspn(b, ".");
                la = MIN(la, na);
                lb = MIN(lb, nb);
                bool da = all_digits(a, la), db = all_digits(b, lb);
                int c;
                if (da && db)
                        c = compare_number(a, la, b, lb);
                else if (da != db)
                        c = da ? -1 : 1;
                else {
                        c = sign(memcmp(a, b, MIN(la, lb)));
                        if (c == 0 && la != lb)
                                c = la < lb ? -1 : 1;
                }
                if (c != 0)
                        return c;
                bool ma = la < na, mb = lb < nb; /* more identifiers follow */
                if (!ma || !mb)
                        return ma ? 1 : mb ? -1 : 0;
                a += la + 1, na -= la + 1;
                b += lb + 1, nb -= lb + 1;
        }
}

static int compare_semver(const char *a, const char *b)
{
        /* Build metadata does not count. */
        size_t na = strcspn(a, "+"), nb = strcspn(b, "+");
        size_t ca = strcspn(a, "-"), cb = strcspn(b, "-");
        ca = MIN(ca, na);
        cb = MIN(cb, nb);
        /* major.minor.patch, each a number */
        for (size_t i = 0, j = 0;;) {
                size_t ei = i, ej = j;
                while (ei < ca && a[ei] != '.')
                        ei++;
                while (ej < cb && b[ej] != '.')
                        ej++;
                int c = compare_number(a + i, ei - i, b + j, ej - j);
                if (c != 0)
                        return c;
                if (ei >= ca || ej >= cb)
                        break;
                i = ei + 1;
                j = ej + 1;
        }
        bool pa = ca < na, pb = cb < nb; /* has a pre-release part */
        if (!pa || !pb)
                return pa ? -1 : pb ? 1 : 0;
        return compare_prerelease(a + ca + 1, na - ca - 1, b + cb + 1, nb - cb - 1);
}

int dc_version_compare(const char *a, const char *b)
{
        if (dc_semver_valid(a) && dc_semver_valid(b))
                return compare_semver(a, b);
        return compare_pieces(a, strlen(a), b, strlen(b));
}
