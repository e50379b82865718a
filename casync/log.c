/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One place that decides what reaches stderr, so --quiet and --debug work everywhere. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "casync/casync.h"

static int max_level = CA_LOG_INFO;

void ca_log_set_max_level(int level)
{
        max_level = level;
}

int ca_log_get_max_level(void)
{
        return max_level;
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

int ca_log_write_error(const char *what, int err)
{
        /* A full disk is said once: the writers still running (chunk downloads, the tree being
         * extracted) then hit it too, and their lines would only repeat it. */
        static atomic_bool told_full;
        if (ca_errno_is_no_space(err)) {
                int level = atomic_exchange(&told_full, true) ? CA_LOG_DEBUG : CA_LOG_ERR;
                return ca_log_errno(level, err, "%s: %s", what,
                                    err == -ENOSPC ? "no space left on device"
                                                   : "disk quota exceeded");
        }
        return ca_log_errno(CA_LOG_ERR, err, "%s: cannot write: %s", what, strerror(-err));
}
