/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Files that appear under their name only when complete (extract of a blob, export). */
#include <fcntl.h>
#include <libgen.h>
#include <string.h>
#include <sys/stat.h>

#include "casync/fs_safe.h"
#include "fetcher/publish/publish.h"

static int write_fd(void *userdata, const void *data, size_t size)
{
        return write_full(*(int *)userdata, data, size);
}

int write_file_atomic(const char *dest, bool sync, file_producer produce, void *userdata)
{
        return write_file_atomic_mode(dest, 0666 & ~fs_get_umask(), sync, produce, userdata);
}

int write_file_atomic_mode(const char *dest, mode_t mode, bool sync, file_producer produce,
                           void *userdata)
{
        _cleanup_(freep) char *a = strdup(dest), *b = strdup(dest), *tmp = NULL;
        if (!a || !b || asprintf(&tmp, "%s/.%s.acfetch-XXXXXX", dirname(a), basename(b)) < 0)
                return -ENOMEM;
        _cleanup_(closep) int fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return ca_log_errno(CA_LOG_ERR, negative_errno(), "%s: %m", tmp);
        int r = produce(userdata, write_fd, &fd);
        if (r >= 0 && (fchmod(fd, mode) < 0 || (sync && fsync(fd) < 0) ||
                       close(TAKE_FD(fd)) < 0))
                r = ca_log_errno(CA_LOG_ERR, negative_errno(), "%s: %m", tmp);
        if (r >= 0 && rename(tmp, dest) < 0)
                r = ca_log_errno(CA_LOG_ERR, negative_errno(), "%s: %m", dest);
        if (r < 0)
                unlink(tmp);
        return r;
}
