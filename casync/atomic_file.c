/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Files that appear under their name only when complete: written under a temporary name beside
 * it (fs_temp_prefix's, naming this process), given their mode, optionally synced, then renamed
 * over the name. An abandoned file (a failure, or freed before commit) is removed, so only a
 * crash leaves a temporary file, and CA_ATOMIC_RECLAIM has the next writer remove it.
 */
#include <fcntl.h>
#include <libgen.h>
#include <string.h>
#include <sys/stat.h>

#include "casync/casync.h"
#include "casync/fs_safe.h"

struct ca_atomic_file {
        int dir_fd, fd;
        char *name, *tmp; /* tmp: NULL once renamed */
        char *what;       /* the final path in messages; NULL: failures are not logged */
        mode_t mode;
        unsigned flags;
};

static int failed(const ca_atomic_file *f, int r, const char *action)
{
        if (!f->what || r == -ENOMEM)
                return r;
        if (ca_errno_is_no_space(r))
                return ca_log_write_error(f->what, r);
        return ca_log_errno(CA_LOG_ERR, r, "%s: %s: %s", f->what, action, strerror(-r));
}

/* Takes dir_fd over. */
static int atomic_file_new(int dir_fd, const char *name, const char *what, mode_t mode,
                           unsigned flags, ca_atomic_file **ret)
{
        _cleanup_(closep) int dfd = dir_fd;
        _cleanup_(ca_atomic_file_freep) ca_atomic_file *f = calloc(1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        f->dir_fd = TAKE_FD(dfd);
        f->fd = -1;
        f->mode = mode == CA_ATOMIC_MODE_DEFAULT ? 0666 & ~fs_get_umask() : mode;
        f->flags = flags;
        f->name = strdup(name);
        f->what = what ? strdup(what) : NULL;
        _cleanup_(freep) char *prefix = NULL;
        if (!f->name || (what && !f->what) || fs_temp_prefix(name, &prefix) < 0)
                return -ENOMEM;
        if (flags & CA_ATOMIC_RECLAIM)
                fs_temp_reclaim_siblings(f->dir_fd, name, what ? what : name);
        f->fd = fs_mkstemp_at(f->dir_fd, prefix, &f->tmp);
        if (f->fd < 0)
                return failed(f, f->fd, "cannot create");
        *ret = TAKE_PTR(f);
        return 0;
}

int ca_atomic_file_new(const char *path, mode_t mode, unsigned flags, ca_atomic_file **ret)
{
        _cleanup_(freep) char *a = strdup(path), *b = strdup(path);
        if (!a || !b)
                return -ENOMEM;
        int dfd = open(dirname(a), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
                int r = negative_errno();
                return ca_log_errno(CA_LOG_ERR, r, "%s: cannot create: %s", path, strerror(-r));
        }
        return atomic_file_new(dfd, basename(b), path, mode, flags, ret);
}

int ca_atomic_file_new_at(int dir_fd, const char *name, const char *what, mode_t mode,
                          unsigned flags, ca_atomic_file **ret)
{
        /* Our own descriptor: the caller may close dir_fd before committing. */
        int dfd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
        if (dfd < 0) {
                int r = negative_errno();
                return what ? ca_log_errno(CA_LOG_ERR, r, "%s: cannot create: %s", what,
                                           strerror(-r))
                            : r;
        }
        return atomic_file_new(dfd, name, what, mode, flags, ret);
}

int ca_atomic_file_fd(const ca_atomic_file *f)
{
        return f->fd;
}

int ca_atomic_file_write(void *userdata, const void *data, size_t size)
{
        ca_atomic_file *f = userdata;
        return write_full(f->fd, data, size);
}

int ca_atomic_file_commit(ca_atomic_file *f)
{
        if (!f->tmp)
                return 0;
        if (fchmod(f->fd, f->mode) < 0)
                return failed(f, negative_errno(), "cannot chmod");
        if ((f->flags & CA_ATOMIC_SYNC) && fsync(f->fd) < 0)
                return failed(f, negative_errno(), "cannot write");
        if (close(TAKE_FD(f->fd)) < 0)
                return failed(f, negative_errno(), "cannot write");
        if (renameat(f->dir_fd, f->tmp, f->dir_fd, f->name) < 0)
                return failed(f, negative_errno(), "cannot rename into place");
        free(f->tmp);
        f->tmp = NULL;
        if ((f->flags & CA_ATOMIC_SYNC_DIR) && fsync(f->dir_fd) < 0)
                return failed(f, negative_errno(), "cannot write");
        return 0;
}

ca_atomic_file *ca_atomic_file_free(ca_atomic_file *f)
{
        if (!f)
                return NULL;
        if (f->fd >= 0)
                close(f->fd);
        if (f->tmp)
                (void)unlinkat(f->dir_fd, f->tmp, 0);
        if (f->dir_fd >= 0)
                close(f->dir_fd);
        free(f->tmp);
        free(f->name);
        free(f->what);
        free(f);
        return NULL;
}

int ca_write_file_atomic(const char *path, mode_t mode, unsigned flags, ca_stream_producer produce,
                         void *userdata)
{
        _cleanup_(ca_atomic_file_freep) ca_atomic_file *f = NULL;
        int r = ca_atomic_file_new(path, mode, flags, &f);
        if (r < 0)
                return r;
        r = produce(userdata, ca_atomic_file_write, f);
        if (r < 0)
                return r;
        return ca_atomic_file_commit(f);
}

int ca_write_file_atomic_at(int dir_fd, const char *name, const char *what, mode_t mode,
                            unsigned flags, const void *data, size_t size)
{
        _cleanup_(ca_atomic_file_freep) ca_atomic_file *f = NULL;
        int r = ca_atomic_file_new_at(dir_fd, name, what, mode, flags, &f);
        if (r < 0)
                return r;
        r = ca_atomic_file_write(f, data, size);
        if (r < 0)
                return failed(f, r, "cannot write");
        return ca_atomic_file_commit(f);
}
