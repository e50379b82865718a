/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One place that decides what reaches stderr, so --quiet and --debug work everywhere. */
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "casync/casync.h"

static int max_level = CA_LOG_INFO;
static void (*writer)(void *userdata, const char *line, size_t size);
static void *writer_userdata;
static void (*space_note)(void *userdata, char *buf, size_t size);
static void *space_note_userdata;

void ca_log_set_max_level(int level)
{
        max_level = level;
}

int ca_log_get_max_level(void)
{
        return max_level;
}

void ca_log_set_writer(void (*write)(void *userdata, const char *line, size_t size), void *userdata)
{
        writer = write;
        writer_userdata = userdata;
}

void ca_log_set_space_note(void (*note)(void *userdata, char *buf, size_t size), void *userdata)
{
        space_note = note;
        space_note_userdata = userdata;
}

void ca_format_bytes(uint64_t v, char buf[static 32])
{
        if (v >= UINT64_C(10) * 1024 * 1024 * 1024)
                snprintf(buf, 32, "%.1f GiB", (double)v / (1024.0 * 1024.0 * 1024.0));
        else if (v >= UINT64_C(1024) * 1024)
                snprintf(buf, 32, "%.1f MiB", (double)v / (1024.0 * 1024.0));
        else if (v >= 1024)
                snprintf(buf, 32, "%.1f KiB", (double)v / 1024.0);
        else
                snprintf(buf, 32, "%llu B", (unsigned long long)v);
}

static void log_va(int level, const char *fmt, va_list ap)
{
        if (level > max_level)
                return;
        /* One write per message keeps lines whole when threads log at once. */
        char buf[4096];
        const char *prefix = level <= CA_LOG_ERR       ? "error: "
                             : level == CA_LOG_WARNING ? "warning: "
                                                       : "";
        int n = snprintf(buf, sizeof(buf), "acfetch: %s", prefix);
        if (n < 0)
                return;
        int m = vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
        if (m < 0)
                return;
        size_t len = MIN((size_t)n + (size_t)m, sizeof(buf) - 2);
        buf[len++] = '\n';
        if (writer)
                writer(writer_userdata, buf, len);
        else
                fwrite(buf, 1, len, stderr);
}

void ca_log(int level, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        log_va(level, fmt, ap);
        va_end(ap);
}

int ca_log_errno(int level, int err, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        log_va(level, fmt, ap);
        va_end(ap);
        return err;
}

/* " (the file system at MOUNT, SIZE)" for path's nearest existing ancestor: the mount point is
 * where the device changes walking up. Empty when it cannot be told. */
static void describe_file_system(const char *path, char *buf, size_t size)
{
        buf[0] = 0;
        char dir[PATH_MAX];
        if (!realpath(path, dir)) {
                /* The path itself may be gone (a removed temporary): its parents are not. */
                snprintf(dir, sizeof(dir), "%s", path);
                struct stat st;
                while (stat(dir, &st) < 0) {
                        char *slash = strrchr(dir, '/');
                        if (!slash)
                                snprintf(dir, sizeof(dir), ".");
                        else if (slash == dir)
                                dir[1] = 0;
                        else
                                *slash = 0;
                        if (strcmp(dir, ".") == 0 || strcmp(dir, "/") == 0)
                                break;
                }
                char abs[PATH_MAX];
                if (!realpath(dir, abs))
                        return;
                snprintf(dir, sizeof(dir), "%s", abs);
        }
        struct stat st, up;
        struct statvfs vfs;
        if (stat(dir, &st) < 0 || statvfs(dir, &vfs) < 0)
                return;
        while (strcmp(dir, "/") != 0) {
                char *slash = strrchr(dir, '/');
                char keep = slash[slash == dir ? 1 : 0];
                slash[slash == dir ? 1 : 0] = 0;
                bool other = stat(dir, &up) < 0 || up.st_dev != st.st_dev;
                if (other) { /* undo: the mount point is the child */
                        slash[slash == dir ? 1 : 0] = keep;
                        break;
                }
        }
        char total[32];
        ca_format_bytes((uint64_t)vfs.f_blocks * vfs.f_frsize, total);
        snprintf(buf, size, " (the file system at %s, %s)", dir, total);
}

int ca_log_write_error(const char *what, int err)
{
        /* A full disk is said once: the writers still running (chunk downloads, the tree being
         * extracted) then hit it too, and their lines would only repeat it. */
        static atomic_bool told_full;
        if (ca_errno_is_no_space(err)) {
                if (atomic_exchange(&told_full, true))
                        return ca_log_errno(CA_LOG_DEBUG, err, "%s: %s", what, strerror(-err));
                char fs[PATH_MAX + 64], note[1024] = "";
                describe_file_system(what, fs, sizeof(fs));
                if (space_note)
                        space_note(space_note_userdata, note, sizeof(note));
                return ca_log_errno(
                    CA_LOG_ERR, err, "%s: %s%s%s", what,
                    err == -ENOSPC ? "no space left on device" : "disk quota exceeded", fs, note);
        }
        return ca_log_errno(CA_LOG_ERR, err, "%s: cannot write: %s", what, strerror(-err));
}
