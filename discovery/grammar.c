/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The appc grammar: AC Identifier, AC Name, SemVer, image IDs, RFC 3339 dates and the os/arch
 * whitelist, shared by image strings (name.c) and manifests (aci/). */
#include <ctype.h>
#include <string.h>

#include "casync/casync.h"
#include "discovery/discovery.h"

static bool is_lower_alnum(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_digit(char c)
{
        return c >= '0' && c <= '9';
}

/* Runs of [a-z0-9] joined by single separators from `seps`; no separator at either end. */
static bool separated_runs_are_valid(const char *s, const char *seps)
{
        if (!s || !is_lower_alnum(*s))
                return false;
        for (const char *p = s; *p; p++) {
                if (is_lower_alnum(*p))
                        continue;
                if (!strchr(seps, *p) || !is_lower_alnum(p[1]))
                        return false;
        }
        return true;
}

bool dc_identifier_valid(const char *s)
{
        return separated_runs_are_valid(s, "-._~/");
}

bool dc_ac_name_valid(const char *s)
{
        return separated_runs_are_valid(s, "-");
}

/* One dot-separated SemVer identifier [0-9A-Za-z-]+ of length n; numeric ones (when
 * no_leading_zero) must not start with 0 unless they are "0". */
static bool semver_ident_is_valid(const char *s, size_t n, bool no_leading_zero)
{
        bool numeric = true;
        if (n == 0)
                return false;
        for (size_t i = 0; i < n; i++) {
                if (is_digit(s[i]))
                        continue;
                numeric = false;
                if (!isalpha((unsigned char)s[i]) && s[i] != '-')
                        return false;
        }
        return !(numeric && no_leading_zero && n > 1 && s[0] == '0');
}

/* Validates identifiers up to the first char in `stops` (or the end); returns that position,
 * or NULL if one is invalid. */
static const char *semver_idents(const char *s, const char *stops, bool no_leading_zero,
                                 bool numeric_only, size_t n_required)
{
        size_t count = 0;
        for (;;) {
                size_t n = strcspn(s, ".");
                size_t stop = strcspn(s, stops);
                if (stop < n)
                        n = stop;
                if (!semver_ident_is_valid(s, n, no_leading_zero))
                        return NULL;
                if (numeric_only)
                        for (size_t i = 0; i < n; i++)
                                if (!is_digit(s[i]))
                                        return NULL;
                count++;
                s += n;
                if (*s != '.')
                        break;
                s++;
        }
        if (n_required > 0 && count != n_required)
                return NULL;
        return s;
}

bool dc_semver_valid(const char *s)
{
        if (!s)
                return false;
        s = semver_idents(s, "-+", true, true, 3);
        if (!s)
                return false;
        if (*s == '-') {
                s = semver_idents(s + 1, "+", true, false, 0);
                if (!s)
                        return false;
        }
        if (*s == '+') {
                s = semver_idents(s + 1, "", false, false, 0);
                if (!s)
                        return false;
        }
        return *s == '\0';
}

bool dc_image_id_valid(const char *s)
{
        if (!s || strncmp(s, "sha512-", 7) != 0)
                return false;
        s += 7;
        size_t n = strlen(s);
        if (n < 2 || n > 128)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!is_digit(s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
                        return false;
        return true;
}

/* Parses exactly n digits at *p into *ret, advancing *p. */
static bool take_digits(const char **p, size_t n, unsigned *ret)
{
        unsigned v = 0;
        for (size_t i = 0; i < n; i++) {
                if (!is_digit((*p)[i]))
                        return false;
                v = v * 10 + (unsigned)((*p)[i] - '0');
        }
        *p += n;
        *ret = v;
        return true;
}

static bool take_char(const char **p, const char *allowed)
{
        if (**p == '\0' || !strchr(allowed, **p))
                return false;
        (*p)++;
        return true;
}

bool dc_rfc3339_valid(const char *s)
{
        static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        unsigned y, mo, d, h, mi, se, oh, om;

        if (!s)
                return false;
        if (!take_digits(&s, 4, &y) || !take_char(&s, "-") || !take_digits(&s, 2, &mo) ||
            !take_char(&s, "-") || !take_digits(&s, 2, &d) || !take_char(&s, "Tt") ||
            !take_digits(&s, 2, &h) || !take_char(&s, ":") || !take_digits(&s, 2, &mi) ||
            !take_char(&s, ":") || !take_digits(&s, 2, &se))
                return false;
        if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || se > 59)
                return false;
        if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
                return false;
        if (*s == '.') {
                s++;
                if (!is_digit(*s))
                        return false;
                while (is_digit(*s))
                        s++;
        }
        if (take_char(&s, "Zz"))
                return *s == '\0';
        if (!take_char(&s, "+-") || !take_digits(&s, 2, &oh) || !take_char(&s, ":") ||
            !take_digits(&s, 2, &om))
                return false;
        return oh <= 23 && om <= 59 && *s == '\0';
}

bool dc_os_arch_valid(const char *os, const char *arch)
{
        static const struct {
                const char *os;
                const char *archs[11];
        } table[] = {
            {"linux",
             {"amd64", "i386", "aarch64", "aarch64_be", "armv6l", "armv7l", "armv7b", "ppc64",
              "ppc64le", "s390x", NULL}},
            {"freebsd", {"amd64", "i386", "arm", NULL}},
            {"darwin", {"x86_64", "i386", NULL}},
        };
        if (!os)
                return false;
        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                if (strcmp(table[i].os, os) != 0)
                        continue;
                if (!arch)
                        return true;
                for (size_t j = 0; table[i].archs[j]; j++)
                        if (strcmp(table[i].archs[j], arch) == 0)
                                return true;
                return false;
        }
        return false;
}
