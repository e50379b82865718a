/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * .caexclude files as casync reads them when it makes an archive: one pattern per line (blank
 * lines and '#' comments skipped, whitespace around a line ignored), gitignore-like. casync 2
 * applies them whatever --exclude-file says, and so do we, to make the same archives.
 */
#include <fcntl.h>
#include <fnmatch.h>
#include <string.h>
#include <sys/stat.h>

#include "casync/encode.h"

#define EXCLUDE_FILE_MAX (1024 * 1024)
#define EXCLUDE_LINE_MAX (64 * 1024)

static void rule_clear(ca_exclude_rule *r)
{
        for (size_t i = 0; i < r->n_components; i++)
                free(r->components[i]);
        free(r->components);
}

ca_exclude_file *ca_exclude_file_free(ca_exclude_file *f)
{
        if (!f)
                return NULL;
        for (size_t i = 0; i < f->n_rules; i++)
                rule_clear(&f->rules[i]);
        free(f->rules);
        free(f);
        return NULL;
}

/* Parses one stripped, non-empty line into r; -EINVAL for empty, "." or ".." components. */
static int parse_rule(const char *p, ca_exclude_rule *r)
{
        *r = (ca_exclude_rule){0};
        if (*p == '!') {
                r->negative = true;
                p++;
        }
        r->anchored = strchr(p, '/') != NULL;
        p += strspn(p, "/");

        for (;;) {
                size_t k = strcspn(p, "/");
                char **c;

                if (k == 0 || (k == 1 && p[0] == '.') || (k == 2 && p[0] == '.' && p[1] == '.'))
                        return -EINVAL;
                c = realloc(r->components, (r->n_components + 1) * sizeof(char *));
                if (!c)
                        return -ENOMEM;
                r->components = c;
                c[r->n_components] = strndup(p, k);
                if (!c[r->n_components])
                        return -ENOMEM;
                r->n_components++;
                p += k;
                r->dir_only = *p == '/'; /* kept only for the last component */
                p += strspn(p, "/");
                if (*p == 0)
                        return 0;
        }
}

static bool is_space(char c)
{
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int add_line(ca_exclude_file *f, char *line, size_t len)
{
        ca_exclude_rule *rules;
        int r;

        while (len > 0 && is_space(line[len - 1]))
                len--;
        line[len] = 0;
        while (is_space(*line))
                line++;
        if (*line == 0 || *line == '#')
                return 0;

        rules = realloc(f->rules, (f->n_rules + 1) * sizeof(*rules));
        if (!rules)
                return -ENOMEM;
        f->rules = rules;
        r = parse_rule(line, &rules[f->n_rules]);
        if (r < 0) {
                rule_clear(&rules[f->n_rules]);
                return r;
        }
        f->n_rules++;
        return 0;
}

int ca_exclude_file_load(int dir_fd, const char *what, ca_exclude_file **ret)
{
        _cleanup_(ca_exclude_file_freep) ca_exclude_file *f = NULL;
        _cleanup_(closep) int fd = -1;
        _cleanup_(freep) char *buf = NULL;
        struct stat st;
        size_t start = 0;
        int r;

        fd =
            openat(dir_fd, ".caexclude", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (fd < 0) {
                r = negative_errno();
                return ca_log_errno(CA_LOG_ERR, r, "%s: cannot open: %s", what,
                                    r == -ELOOP ? "a symlink, not followed" : strerror(-r));
        }
        if (fstat(fd, &st) < 0) {
                r = negative_errno();
                return ca_log_errno(CA_LOG_ERR, r, "%s: cannot stat: %s", what, strerror(-r));
        }
        if (!S_ISREG(st.st_mode) || st.st_size > EXCLUDE_FILE_MAX)
                return ca_log_errno(CA_LOG_ERR, -EINVAL,
                                    "%s: not a regular file of at most %d bytes", what,
                                    EXCLUDE_FILE_MAX);
        buf = malloc((size_t)st.st_size + 1);
        f = calloc(1, sizeof(*f));
        if (!buf || !f)
                return -ENOMEM;
        r = read_full(fd, buf, (size_t)st.st_size);
        if (r < 0)
                return ca_log_errno(CA_LOG_ERR, r, "%s: read failed: %s", what, strerror(-r));
        buf[st.st_size] = 0;

        for (size_t i = 0; i <= (size_t)st.st_size; i++) {
                if (i < (size_t)st.st_size && buf[i] != '\n')
                        continue;
                if (i - start > EXCLUDE_LINE_MAX)
                        return ca_log_errno(CA_LOG_ERR, -ENOBUFS, "%s: line too long", what);
                buf[i] = 0;
                r = add_line(f, buf + start, i - start);
                if (r == -EINVAL)
                        return ca_log_errno(CA_LOG_ERR, r, "%s: bad pattern \"%s\"", what,
                                            buf + start);
                if (r < 0)
                        return r;
                start = i + 1;
        }

        if (f->n_rules == 0)
                f = ca_exclude_file_free(f);
        *ret = TAKE_PTR(f);
        return 0;
}

static int set_add(ca_exclude_set *s, const ca_exclude_rule *rule, size_t pos)
{
        if (s->n == s->alloc) {
                size_t n = s->alloc ? 2 * s->alloc : 8;
                ca_exclude_ref *refs = realloc(s->refs, n * sizeof(*refs));
                if (!refs)
                        return -ENOMEM;
                s->refs = refs;
                s->alloc = n;
        }
        s->refs[s->n++] = (ca_exclude_ref){rule, pos};
        return 0;
}

int ca_exclude_set_add_file(ca_exclude_set *s, const ca_exclude_file *f)
{
        for (size_t i = 0; f && i < f->n_rules; i++) {
                int r = set_add(s, &f->rules[i], 0);
                if (r < 0)
                        return r;
        }
        return 0;
}

void ca_exclude_set_clear(ca_exclude_set *s)
{
        free(s->refs);
        *s = (ca_exclude_set){0};
}

int ca_exclude_test(const ca_exclude_set *s, const char *name, bool is_dir, ca_exclude_set *below)
{
        bool positive = false, negative = false;
        int r;

        for (size_t i = 0; i < s->n; i++) {
                const ca_exclude_rule *rule = s->refs[i].rule;
                size_t pos = s->refs[i].pos;
                bool last = pos + 1 == rule->n_components;
                bool anchored = pos > 0 || rule->anchored;
                bool dir_only = last ? rule->dir_only : true;

                /* Unanchored rules hold in every directory below. */
                if (below && !anchored && is_dir && (r = set_add(below, rule, pos)) < 0)
                        return r;
                if (dir_only && !is_dir)
                        continue;
                r = fnmatch(rule->components[pos], name, FNM_PERIOD);
                if (r == FNM_NOMATCH)
                        continue;
                if (r != 0)
                        return -EINVAL;
                if (!last) {
                        if (below && (r = set_add(below, rule, pos + 1)) < 0)
                                return r;
                } else if (rule->negative)
                        negative = true;
                else
                        positive = true;
        }
        return !negative && positive;
}
