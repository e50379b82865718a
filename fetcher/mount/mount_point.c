/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Whether acfetch is mounted at a mount point already (/proc/self/mountinfo): a second FUSE
 * mount on top would hide the first, which would go on running unseen.
 */
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "fetcher/mount/mount.h"

/* mountinfo escapes space, tab, newline and backslash as \ooo; in place. */
static void unescape(char *s)
{
        char *w = s;
        for (const char *p = s; *p; p++) {
                if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
                    p[3] >= '0' && p[3] <= '7') {
                        *w++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
                        p += 3;
                } else
                        *w++ = *p;
        }
        *w = 0;
}

/* The absolute path of mountpoint without touching it: a dead FUSE mount fails stat(2). */
static char *canonical_point(const char *mountpoint)
{
        char *full = realpath(mountpoint, NULL);
        if (full)
                return full;
        _cleanup_(freep) char *a = strdup(mountpoint), *b = strdup(mountpoint);
        if (!a || !b)
                return NULL;
        const char *base = basename(b);
        if (strcmp(base, ".") == 0 || strcmp(base, "..") == 0 || strcmp(base, "/") == 0)
                return NULL;
        _cleanup_(freep) char *parent = realpath(dirname(a), NULL);
        char *p = NULL;
        if (!parent || asprintf(&p, "%s%s%s", parent, strcmp(parent, "/") ? "/" : "", base) < 0)
                return NULL;
        return p;
}

int mount_point_check(const char *mountpoint)
{
        _cleanup_(freep) char *point = canonical_point(mountpoint);
        if (!point)
                return 0; /* mount(2) names what is wrong with the path */
        FILE *f = fopen("/proc/self/mountinfo", "re");
        if (!f)
                return 0; /* no /proc: nothing to check against */
        char *line = NULL, *source = NULL;
        size_t size = 0;
        while (!source && getline(&line, &size, f) > 0) {
                /* ID PARENT MAJ:MIN ROOT POINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPER */
                char *save = NULL, *field[5] = {}, *t;
                int n = 0;
                for (t = strtok_r(line, " \n", &save); t && n < 5; t = strtok_r(NULL, " \n", &save))
                        field[n++] = t;
                while (t && strcmp(t, "-") != 0)
                        t = strtok_r(NULL, " \n", &save);
                char *type = t ? strtok_r(NULL, " \n", &save) : NULL;
                char *src = type ? strtok_r(NULL, " \n", &save) : NULL;
                if (n < 5 || !src || strcmp(type, "fuse.acfetch") != 0)
                        continue;
                unescape(field[4]);
                if (strcmp(field[4], point) == 0) {
                        unescape(src);
                        source = strdup(src);
                        if (!source)
                                source = strdup("");
                }
        }
        free(line);
        fclose(f);
        if (!source)
                return 0;
        const char *what = strncmp(source, "acfetch:", 8) == 0 ? source + 8 : source;
        int r = ca_log_errno(CA_LOG_ERR, -EBUSY,
                             "%s: acfetch has mounted %s there already; unmount it first "
                             "('fusermount3 -u %s')",
                             mountpoint, *what ? what : "an image", mountpoint);
        free(source);
        return r;
}
