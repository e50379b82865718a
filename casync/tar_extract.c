/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A tar's entries written into a private directory (see casync.h). Tar entries come in any
 * order, so this is not the extract sink (which takes a catar's sorted depth-first events):
 * every entry is placed by walking its parents from the root through directory fds, with
 * fs_open_beneath (no symlink, no "..", no magic link is ever followed), and created with
 * O_EXCL / mkdirat / symlinkat / linkat, which never follow or replace what exists.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "casync/casync.h"
#include "casync/fs_safe.h"

typedef struct dir_meta {
        char *path;
        unsigned depth;
        uint32_t mode;
        uint64_t uid, gid, mtime;
        bool implicit;
} dir_meta;

struct ca_tar_extract {
        int root_fd;
        char *what;
        ca_tar_extract_options o;
        bool chown;
        int cur_fd; /* the regular file being written */
        bool skip;  /* the current entry is not written */
        dir_meta *dirs;
        size_t n_dirs, alloc_dirs;
        uint64_t n_devices, n_xattrs;
        /* layers: the paths the current layer wrote (an opaque whiteout keeps them) */
        char **written;
        size_t n_written, alloc_written;
        bool written_sorted;
        /* The last parent directory open_parent walked to, kept open: tar entries come a
         * directory at a time, so most skip the walk from the root (a system call or two per
         * component). Dropped when anything at or above it is removed, and at each layer. */
        char *parent_path;
        size_t parent_len;
        int parent_fd;
};

static void parent_drop(ca_tar_extract *x)
{
        if (x->parent_fd >= 0)
                close(x->parent_fd);
        x->parent_fd = -1;
        free(x->parent_path);
        x->parent_path = NULL;
}

/* Keeps fd, the directory path[0..len), as the cached parent (a copy; nothing when none can be
 * made: the cache only saves work). */
static void parent_keep(ca_tar_extract *x, const char *path, size_t len, int fd)
{
        parent_drop(x);
        x->parent_path = strndup(path, len);
        if (!x->parent_path)
                return;
        x->parent_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        x->parent_len = len;
        if (x->parent_fd < 0)
                parent_drop(x);
}

/* path (and all below it) is about to go: the cached parent too, if it is path or below it.
 * (The entry that removes path walked to path's parent first, which replaced the cache; this
 * keeps it right should that order ever change.) */
static void parent_forget(ca_tar_extract *x, const char *path)
{
        size_t n = strlen(path);
        if (x->parent_path && x->parent_len >= n && memcmp(x->parent_path, path, n) == 0 &&
            (x->parent_len == n || x->parent_path[n] == '/'))
                parent_drop(x);
}

static void written_clear(ca_tar_extract *x)
{
        for (size_t i = 0; i < x->n_written; i++)
                free(x->written[i]);
        x->n_written = 0;
        x->written_sorted = true;
}

int ca_tar_extract_next_layer(ca_tar_extract *x, const char *what)
{
        written_clear(x);
        parent_drop(x);
        char *w = strdup(what);
        if (!w)
                return -ENOMEM;
        free(x->what);
        x->what = w;
        return 0;
}

ca_tar_extract *ca_tar_extract_free(ca_tar_extract *x)
{
        if (!x)
                return NULL;
        if (x->cur_fd >= 0)
                close(x->cur_fd);
        parent_drop(x);
        for (size_t i = 0; i < x->n_dirs; i++)
                free(x->dirs[i].path);
        free(x->dirs);
        written_clear(x);
        free(x->written);
        free(x->what);
        free(x);
        return NULL;
}

static int add_dir(ca_tar_extract *x, const char *path, size_t len, const ca_tar_entry *e)
{
        for (size_t i = 0; i < x->n_dirs; i++)
                if (strlen(x->dirs[i].path) == len && memcmp(x->dirs[i].path, path, len) == 0) {
                        if (e)
                                x->dirs[i] =
                                    (dir_meta){x->dirs[i].path, x->dirs[i].depth, e->mode, e->uid,
                                               e->gid,          e->mtime,         false};
                        return 0;
                }
        if (x->n_dirs == x->alloc_dirs) {
                size_t n = x->alloc_dirs ? x->alloc_dirs * 2 : 64;
                dir_meta *d = realloc(x->dirs, n * sizeof(*d));
                if (!d)
                        return -ENOMEM;
                x->dirs = d;
                x->alloc_dirs = n;
        }
        char *p = strndup(path, len);
        if (!p)
                return -ENOMEM;
        unsigned depth = 0;
        for (size_t i = 0; i < len; i++)
                depth += path[i] == '/';
        x->dirs[x->n_dirs++] = e ? (dir_meta){p, depth, e->mode, e->uid, e->gid, e->mtime, false}
                                 : (dir_meta){p, depth, 0755, 0, 0, 0, true};
        return 0;
}

/*
 * Opens the parent directory of path (creating missing ones when create is set, else -ENOENT
 * unlogged), without following symlinks; *ret_name points at the last component in path.
 */
static int open_parent(ca_tar_extract *x, const char *path, bool create, const char **ret_name)
{
        const char *last = strrchr(path, '/');
        if (last && x->parent_path && x->parent_len == (size_t)(last - path) &&
            memcmp(x->parent_path, path, x->parent_len) == 0) {
                int fd = fcntl(x->parent_fd, F_DUPFD_CLOEXEC, 3);
                if (fd < 0)
                        return -errno;
                *ret_name = last + 1;
                return fd;
        }
        int fd = dup(x->root_fd);
        if (fd < 0)
                return -errno;
        const char *p = path;
        for (;;) {
                const char *slash = strchr(p, '/');
                if (!slash) {
                        *ret_name = p;
                        if (last)
                                parent_keep(x, path, (size_t)(last - path), fd);
                        return fd;
                }
                char comp[FS_NAME_MAX + 1];
                size_t len = (size_t)(slash - p);
                memcpy(comp, p, len);
                comp[len] = 0;
                int sub = fs_open_beneath(fd, comp, O_RDONLY | O_DIRECTORY, 0);
                if (sub == -ENOENT && create) {
                        if (mkdirat(fd, comp, 0700) < 0 && errno != EEXIST) {
                                int r = -errno;
                                close(fd);
                                return ca_log_errno(CA_LOG_ERR, r, "%s: \"%.*s\": %s", x->what,
                                                    (int)(slash - path), path, strerror(-r));
                        }
                        int r = add_dir(x, path, (size_t)(slash - path), NULL);
                        if (r < 0) {
                                close(fd);
                                return r;
                        }
                        sub = fs_open_beneath(fd, comp, O_RDONLY | O_DIRECTORY, 0);
                }
                close(fd);
                if (sub == -ENOENT && !create)
                        return sub; /* the caller words it */
                if (sub == -ELOOP || sub == -ENOTDIR)
                        return ca_bad("%s: \"%s\": \"%.*s\" is not a directory (a symlink or a "
                                      "file): refusing to write through it",
                                      x->what, path, (int)(slash - path), path);
                if (sub < 0)
                        return ca_log_errno(CA_LOG_ERR, sub, "%s: \"%.*s\": %s", x->what,
                                            (int)(slash - path), path, strerror(-sub));
                fd = sub;
                p = slash + 1;
        }
}

/* Owner (when restored), mode (set_mode: after the chown, which may clear set-id bits) and times
 * of a node just made by name under dir, which is never followed. */
static int set_meta_at(ca_tar_extract *x, int dir, const char *name, const ca_tar_entry *e,
                       const struct timespec ts[2], bool set_mode)
{
        if (x->chown && fchownat(dir, name, (uid_t)e->uid, (gid_t)e->gid, AT_SYMLINK_NOFOLLOW) < 0)
                return ca_log_errno(CA_LOG_ERR, -errno, "%s: \"%s\": cannot chown: %m", x->what,
                                    e->path);
        if (set_mode && fchmodat(dir, name, e->mode, 0) < 0)
                return ca_log_errno(CA_LOG_ERR, -errno, "%s: \"%s\": cannot chmod: %m", x->what,
                                    e->path);
        if (utimensat(dir, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
                return ca_log_errno(CA_LOG_ERR, -errno, "%s: \"%s\": cannot set times: %m", x->what,
                                    e->path);
        return 0;
}

static int str_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static int written_add(ca_tar_extract *x, const char *path)
{
        if (x->n_written == x->alloc_written) {
                size_t n = x->alloc_written ? x->alloc_written * 2 : 64;
                char **w = realloc(x->written, n * sizeof(*w));
                if (!w)
                        return -ENOMEM;
                x->written = w;
                x->alloc_written = n;
        }
        x->written[x->n_written] = strdup(path);
        if (!x->written[x->n_written])
                return -ENOMEM;
        x->n_written++;
        x->written_sorted = false;
        return 0;
}

static bool written_has(ca_tar_extract *x, const char *path)
{
        if (!x->written_sorted && x->n_written > 1)
                qsort(x->written, x->n_written, sizeof(*x->written), str_cmp);
        x->written_sorted = true;
        return x->n_written > 0 &&
               bsearch(&path, x->written, x->n_written, sizeof(*x->written), str_cmp);
}

/* The directory records of path and everything below it: gone with it. */
static void forget_dirs(ca_tar_extract *x, const char *path)
{
        size_t len = strlen(path), k = 0;
        for (size_t i = 0; i < x->n_dirs; i++) {
                const char *p = x->dirs[i].path;
                if (strncmp(p, path, len) == 0 && (p[len] == 0 || p[len] == '/'))
                        free(x->dirs[i].path);
                else
                        x->dirs[k++] = x->dirs[i];
        }
        x->n_dirs = k;
}

/* Removes dir/name (path in the tree), a whole directory included. */
static int remove_entry(ca_tar_extract *x, int dir, const char *name, const char *path)
{
        parent_forget(x, path);
        int r = fs_remove_tree_at(dir, name);
        if (r < 0)
                return ca_log_errno(CA_LOG_ERR, r, "%s: \"%s\": cannot remove: %s", x->what, path,
                                    strerror(-r));
        forget_dirs(x, path);
        return 0;
}

/* "DIR/.wh..wh..opq": DIR keeps only what this layer wrote in it. */
static int opaque(ca_tar_extract *x, int dir, const char *path, size_t dir_len)
{
        _cleanup_(freep) char **names = NULL;
        size_t n = 0;
        int r = fs_list_sorted(dir, NULL, NULL, CA_TAR_ENTRIES_MAX, &names, &n);
        if (r < 0)
                return ca_log_errno(CA_LOG_ERR, r, "%s: \"%s\": %s", x->what, path, strerror(-r));
        for (size_t i = 0; r >= 0 && i < n; i++) {
                _cleanup_(freep) char *child = NULL;
                if (asprintf(&child, "%.*s%s%s", (int)dir_len, path, dir_len ? "/" : "", names[i]) <
                    0)
                        r = -ENOMEM;
                else if (!written_has(x, child))
                        r = remove_entry(x, dir, names[i], child);
        }
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        return r;
}

/*
 * layers: a whiteout is applied here (1: done, the entry is not written); any other entry
 * replaces what has its name, unless both are directories (0: write it).
 */
static int layer_entry(ca_tar_extract *x, int dir, const char *name, const ca_tar_entry *e)
{
        size_t dir_len = (size_t)(name - e->path);
        dir_len = dir_len ? dir_len - 1 : 0;
        if (strcmp(name, ".wh..wh..opq") == 0)
                return opaque(x, dir, e->path, dir_len) ?: 1;
        if (strncmp(name, ".wh.", 4) == 0) {
                const char *victim = name + 4;
                if (!fs_name_is_valid(victim))
                        return ca_bad("%s: \"%s\": a whiteout must name one file, not \"%s\"",
                                      x->what, e->path, victim);
                _cleanup_(freep) char *vpath = NULL;
                if (asprintf(&vpath, "%.*s%s%s", (int)dir_len, e->path, dir_len ? "/" : "",
                             victim) < 0)
                        return -ENOMEM;
                return remove_entry(x, dir, victim, vpath) ?: 1;
        }
        int r = written_add(x, e->path);
        if (r < 0)
                return r;
        struct stat st;
        if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT
                           ? 0
                           : ca_log_errno(CA_LOG_ERR, -errno, "%s: \"%s\": %m", x->what, e->path);
        if (S_ISDIR(st.st_mode) && e->type == CA_TAR_DIRECTORY)
                return 0;
        return remove_entry(x, dir, name, e->path);
}

static int duplicate(ca_tar_extract *x, const char *path)
{
        return ca_bad("%s: \"%s\": the archive holds it twice", x->what, path);
}

static int set_xattrs(ca_tar_extract *x, int fd, const ca_tar_entry *e)
{
        for (size_t i = 0; i < e->n_xattrs; i++) {
                if (fsetxattr(fd, e->xattrs[i].name, e->xattrs[i].value, e->xattrs[i].size, 0) <
                    0) {
                        if (errno == EPERM || errno == EOPNOTSUPP || errno == ENOTSUP ||
                            errno == EACCES) {
                                x->n_xattrs++;
                                continue;
                        }
                        return ca_log_errno(CA_LOG_ERR, -errno, "%s: \"%s\": xattr %s: %m", x->what,
                                            e->path, e->xattrs[i].name);
                }
        }
        return 0;
}

/* Owner, mode (after chown, which clears set-id bits), xattrs and times of a file or directory. */
static int set_meta_fd(ca_tar_extract *x, int fd, const char *path, uint32_t mode, uint64_t uid,
                       uint64_t gid, uint64_t mtime)
{
        if (x->chown && fchown(fd, (uid_t)uid, (gid_t)gid) < 0)
                return ca_log_errno(CA_LOG_ERR, -errno, "%s: \"%s\": cannot chown: %m", x->what,
                                    path);
        if (fchmod(fd, mode) < 0)
                return ca_log_errno(CA_LOG_ERR, -errno, "%s: \"%s\": cannot chmod: %m", x->what,
                                    path);
        struct timespec ts[2] = {
            {.tv_sec = (time_t)(mtime / 1000000000U), .tv_nsec = (long)(mtime % 1000000000U)},
        };
        ts[1] = ts[0];
        if (futimens(fd, ts) < 0)
                return ca_log_errno(CA_LOG_ERR, -errno, "%s: \"%s\": cannot set times: %m", x->what,
                                    path);
        return 0;
}

static int on_entry(void *userdata, const ca_tar_entry *e)
{
        ca_tar_extract *x = userdata;
        x->skip = false;
        if (strcmp(e->path, ".") == 0) {
                x->skip = true;
                return 0;
        }
        if (x->o.filter) {
                int r = x->o.filter(x->o.filter_userdata, e);
                if (r < 0)
                        return r;
                if (r == 0) {
                        x->skip = true;
                        return 0;
                }
        }
        const char *name, *base = strrchr(e->path, '/');
        /* A whiteout in a directory no layer made has nothing to remove (and makes none). */
        bool whiteout = x->o.layers && strncmp(base ? base + 1 : e->path, ".wh.", 4) == 0;
        _cleanup_(closep) int dir = open_parent(x, e->path, !whiteout, &name);
        if (dir == -ENOENT && whiteout) {
                x->skip = true;
                return 0;
        }
        if (dir < 0)
                return dir;
        int r = 0;
        if (x->o.layers) {
                r = layer_entry(x, dir, name, e);
                if (r != 0) {
                        x->skip = true;
                        return MIN(r, 0);
                }
        }
        struct timespec ts[2] = {
            {.tv_sec = (time_t)(e->mtime / 1000000000U), .tv_nsec = (long)(e->mtime % 1000000000U)},
        };
        ts[1] = ts[0];
        switch (e->type) {
        case CA_TAR_DIRECTORY: {
                if (mkdirat(dir, name, 0700) < 0) {
                        if (errno != EEXIST)
                                return ca_log_errno(CA_LOG_ERR, -errno, "%s: \"%s\": %m", x->what,
                                                    e->path);
                        struct stat st;
                        if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                            !S_ISDIR(st.st_mode))
                                return duplicate(x, e->path);
                }
                if (e->n_xattrs > 0) {
                        _cleanup_(closep) int fd =
                            fs_open_beneath(dir, name, O_RDONLY | O_DIRECTORY, 0);
                        if (fd < 0)
                                return ca_log_errno(CA_LOG_ERR, fd, "%s: \"%s\": %s", x->what,
                                                    e->path, strerror(-fd));
                        r = set_xattrs(x, fd, e);
                        if (r < 0)
                                return r;
                }
                return add_dir(x, e->path, strlen(e->path), e);
        }
        case CA_TAR_REGULAR:
                x->cur_fd =
                    openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (x->cur_fd < 0)
                        return errno == EEXIST ? duplicate(x, e->path)
                                               : ca_log_errno(CA_LOG_ERR, -errno,
                                                              "%s: \"%s\": cannot create: %m",
                                                              x->what, e->path);
                return 0;
        case CA_TAR_SYMLINK:
                if (symlinkat(e->link_target, dir, name) < 0)
                        return errno == EEXIST ? duplicate(x, e->path)
                                               : ca_log_errno(CA_LOG_ERR, -errno, "%s: \"%s\": %m",
                                                              x->what, e->path);
                return set_meta_at(x, dir, name, e, ts, false);
        case CA_TAR_HARDLINK: {
                const char *tname;
                _cleanup_(closep) int tdir = open_parent(x, e->link_target, false, &tname);
                if (tdir == -ENOENT)
                        return ca_bad("%s: \"%s\": hardlink to \"%s\", which is not in the "
                                      "archive before it",
                                      x->what, e->path, e->link_target);
                if (tdir < 0)
                        return tdir;
                struct stat st;
                if (fstatat(tdir, tname, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
                        return ca_bad("%s: \"%s\": hardlink to \"%s\", which is not a regular "
                                      "file earlier in the archive",
                                      x->what, e->path, e->link_target);
                if (linkat(tdir, tname, dir, name, 0) < 0)
                        return errno == EEXIST ? duplicate(x, e->path)
                                               : ca_log_errno(CA_LOG_ERR, -errno, "%s: \"%s\": %m",
                                                              x->what, e->path);
                return 0;
        }
        case CA_TAR_CHAR:
        case CA_TAR_BLOCK:
        case CA_TAR_FIFO: {
                mode_t type = e->type == CA_TAR_CHAR    ? S_IFCHR
                              : e->type == CA_TAR_BLOCK ? S_IFBLK
                                                        : S_IFIFO;
                if (type != S_IFIFO && !x->chown) {
                        x->n_devices++;
                        return 0;
                }
                if (mknodat(dir, name, type | 0600, makedev(e->dev_major, e->dev_minor)) < 0)
                        return errno == EEXIST ? duplicate(x, e->path)
                                               : ca_log_errno(CA_LOG_ERR, -errno, "%s: \"%s\": %m",
                                                              x->what, e->path);
                return set_meta_at(x, dir, name, e, ts, true);
        }
        }
        return -EINVAL;
}

static int on_data(void *userdata, const ca_tar_entry *e, const void *data, size_t size)
{
        ca_tar_extract *x = userdata;
        if (x->skip)
                return 0;
        int r = write_full(x->cur_fd, data, size);
        if (r < 0)
                return ca_log_write_error(e->path, r);
        return 0;
}

static int on_end(void *userdata, const ca_tar_entry *e)
{
        ca_tar_extract *x = userdata;
        if (x->skip || e->type != CA_TAR_REGULAR)
                return 0;
        int r = set_xattrs(x, x->cur_fd, e);
        if (r >= 0)
                r = set_meta_fd(x, x->cur_fd, e->path, e->mode, e->uid, e->gid, e->mtime);
        close(x->cur_fd);
        x->cur_fd = -1;
        return r;
}

int ca_tar_extract_new(int dir_fd, const char *what, const ca_tar_extract_options *o,
                       ca_tar_extract **ret, ca_tar_handler *ret_handler)
{
        ca_tar_extract *x = calloc(1, sizeof(*x));
        if (!x)
                return -ENOMEM;
        x->root_fd = dir_fd;
        x->cur_fd = -1;
        x->parent_fd = -1;
        x->o = *o;
        x->chown = geteuid() == 0 && !o->no_same_owner;
        x->written_sorted = true;
        x->what = strdup(what);
        if (!x->what) {
                ca_tar_extract_free(x);
                return -ENOMEM;
        }
        *ret = x;
        *ret_handler = (ca_tar_handler){on_entry, on_data, on_end, x};
        return 0;
}

static int by_depth_desc(const void *a, const void *b)
{
        const dir_meta *x = a, *y = b;
        return x->depth < y->depth ? 1 : x->depth > y->depth ? -1 : 0;
}

int ca_tar_extract_finish(ca_tar_extract *x)
{
        if (x->n_dirs > 1) /* qsort must not be handed NULL */
                qsort(x->dirs, x->n_dirs, sizeof(*x->dirs), by_depth_desc);
        for (size_t i = 0; i < x->n_dirs; i++) {
                const dir_meta *d = &x->dirs[i];
                const char *name;
                _cleanup_(closep) int parent = open_parent(x, d->path, false, &name);
                if (parent < 0)
                        return parent;
                _cleanup_(closep) int fd = fs_open_beneath(parent, name, O_RDONLY | O_DIRECTORY, 0);
                if (fd < 0)
                        return ca_log_errno(CA_LOG_ERR, fd, "%s: \"%s\": %s", x->what, d->path,
                                            strerror(-fd));
                int r = set_meta_fd(x, fd, d->path, d->mode, d->implicit ? 0 : d->uid,
                                    d->implicit ? 0 : d->gid, d->mtime);
                if (r < 0)
                        return r;
        }
        /* The root is not part of an image; fixed metadata keeps its archive the same. */
        int r = set_meta_fd(x, x->root_fd, x->what, 0755, 0, 0, 0);
        if (r < 0)
                return r;
        if (x->n_devices)
                ca_log_warning("%s: %" PRIu64 " device nodes not created (that needs root)",
                               x->what, x->n_devices);
        if (x->n_xattrs)
                ca_log_warning("%s: %" PRIu64 " extended attributes could not be set", x->what,
                               x->n_xattrs);
        return 0;
}
