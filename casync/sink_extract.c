/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The extract sink: turns decoder events into a directory tree.
 *
 * Safety. Every operation is relative to a held directory fd (one per open directory node, at
 * most CA_NODES_MAX) and one validated name; nothing is opened by path and no symlink is ever
 * followed: directories are opened O_DIRECTORY|O_NOFOLLOW (openat2 RESOLVE_BENEATH|
 * RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS when available), new non-directories are created with
 * O_CREAT|O_EXCL (an unexpected EEXIST is a duplicate or a case-folding collision, and an
 * error), and metadata is set through the entry's own fd, or with the AT_SYMLINK_NOFOLLOW forms
 * for symlinks, fifos, sockets and devices. Symlink targets are written verbatim. Children of a
 * directory must come in strictly increasing strcmp() order, as casync writes them.
 *
 * Atomicity. Unless in place, the tree is built in a private 0700 directory
 * ".<dest>.acfetch-XXXXXX" beside dest and renamed to dest by ca_extract_commit (an empty dest
 * directory is atomically replaced); ca_extract_free removes it otherwise. In place, new
 * non-directories are created under a temporary name and renamed over the old entry; existing
 * directories are reused, other entries in the way of a directory are replaced by it, and a
 * directory is never replaced by a non-directory.
 *
 * Merging (in place, first writer wins). Whether a name exists is asked with fstatat
 * AT_SYMLINK_NOFOLLOW on the held parent, and only under a directory that existed before (a
 * directory we created holds only what we wrote). An existing name skips the node; a directory
 * meeting a non-directory (a symlink included, which is never followed) skips its subtree, whose
 * events are still checked but write nothing; an existing directory is opened O_NOFOLLOW and
 * merged into, its metadata left alone (its mtime, which new children change, is put back at its
 * end). New entries are renamed into place with RENAME_NOREPLACE, so nothing is ever replaced. The
 * filter can skip any non-directory, in any mode; directories are always made.
 *
 * Metadata. Directories are created 0700 and get their final owner, mode, xattrs, ACLs, times
 * and chattr flags when their node ends, so read-only directories and parent mtimes come out
 * right. For every node the order is: owner (chown clears setuid bits and file capabilities),
 * xattrs, ACLs, file capabilities, SELinux label, mode, mtime (atime is left alone, as casync
 * does), then chattr flags (immutable would block the rest). xattrs go before the mode so that an
 * unprivileged run can still set them on a read-only file. Ownership uses the numeric ids, and
 * ACL entries their numeric ids too: names would be resolved with this host's user database,
 * which says nothing about the image. Without permission bits in the archive, modes are 0777
 * (directories) and 0666 (others) minus the umask. The archive root's metadata goes on the
 * temporary directory, its chattr flags on dest after the rename.
 *
 * Unprivileged policy (euid ≠ 0, or --no-same-owner): ownership is not restored, device nodes
 * are skipped, setuid/setgid bits stay only on files that still belong to the archive's owner
 * and group, and trusted.*, security.* xattrs, file capabilities and chattr flags the kernel
 * refuses with EPERM are skipped. Extraction does not fail for these;
 * ca_extract_free prints one warning in total with the counts once the tree is committed (after
 * a failure the error says enough). The same happens as root when the kernel still says EPERM
 * (a user namespace). Features the file system lacks (chattr flags, xattrs, ACLs, SELinux
 * labels, project quota IDs, FAT attributes, btrfs subvolumes) give one warning per kind.
 * trusted.overlay.* xattrs are never restored: they would steer overlayfs if the tree is later
 * used as a lower directory.
 */
#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "casync/casync.h"
#include "casync/fs_safe.h"
#include "casync/extract.h"

/* ---------------------------------------------------------------- file data */

static bool is_zero(const uint8_t *p, size_t n)
{
        return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

static int pwrite_all(int fd, const uint8_t *p, size_t n, uint64_t offset)
{
        while (n > 0) {
                ssize_t k = pwrite(fd, p, n, (off_t)offset);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (k == 0)
                        return -EIO;
                p += k;
                n -= (size_t)k;
                offset += (uint64_t)k;
        }
        return 0;
}

/* Writes the buffer at its file offset; all-zero blocks are skipped (holes) unless no_sparse. */
static int flush_buffer(ca_extract *e, const ca_node *n)
{
        const uint8_t *p = e->buf;
        size_t len = e->buf_len, i = 0;
        int r;

        if (e->opts.no_sparse) {
                r = pwrite_all(e->cur_fd, p, len, e->buf_offset);
                i = len;
                if (r < 0)
                        return fail(r, n->path, "cannot write");
                if (len > 0)
                        e->data_end = e->buf_offset + len;
        }
        while (i < len) {
                size_t blk = MIN(SPARSE_BLOCK_SIZE, len - i);
                if (is_zero(p + i, blk)) {
                        i += blk;
                        continue;
                }
                size_t start = i;
                i += blk;
                while (i < len) {
                        blk = MIN(SPARSE_BLOCK_SIZE, len - i);
                        if (is_zero(p + i, blk))
                                break;
                        i += blk;
                }
                r = pwrite_all(e->cur_fd, p + start, i - start, e->buf_offset + start);
                if (r < 0)
                        return fail(r, n->path, "cannot write");
                e->data_end = e->buf_offset + i;
        }
        e->buf_offset += len;
        e->buf_len = 0;
        return 0;
}

static int extract_payload(void *userdata, const ca_node *n, const void *data, size_t size)
{
        ca_extract *e = userdata;
        const uint8_t *p = data;

        if (!e->cur_active || !S_ISREG(n->mode))
                return ca_bad("%s: file data for a node that is not a regular file", n->path);
        if (e->cur_skipped)
                return 0;
        uint64_t total;
        if (ADD_OVERFLOW(e->received, (uint64_t)size, &total) || total > n->payload_size)
                return ca_bad("%s: more file data than the declared %llu bytes", n->path,
                              (unsigned long long)n->payload_size);
        e->received = total;

        while (size > 0) {
                size_t k = MIN(size, WRITE_BUFFER_SIZE - e->buf_len);
                memcpy(e->buf + e->buf_len, p, k);
                e->buf_len += k;
                p += k;
                size -= k;
                if (e->buf_len == WRITE_BUFFER_SIZE) {
                        int r = flush_buffer(e, n);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/* ---------------------------------------------------------------- creating nodes */

static bool type_enabled(uint64_t flags, uint64_t mode)
{
        switch (mode & S_IFMT) {
        case S_IFDIR:
        case S_IFREG:
                return true;
        case S_IFLNK:
                return flags & CA_FORMAT_WITH_SYMLINKS;
        case S_IFCHR:
        case S_IFBLK:
                return flags & CA_FORMAT_WITH_DEVICE_NODES;
        case S_IFIFO:
                return flags & CA_FORMAT_WITH_FIFOS;
        case S_IFSOCK:
                return flags & CA_FORMAT_WITH_SOCKETS;
        default:
                return false;
        }
}

/* Merging: 1 with *st filled if dir_fd already holds the node's name (never followed), else 0. */
static int lookup_existing(const ca_node *n, int dir_fd, struct stat *st)
{
        if (fstatat(dir_fd, n->name, st, AT_SYMLINK_NOFOLLOW) >= 0)
                return 1;
        if (errno == ENOENT)
                return 0;
        return fail(negative_errno(), n->path, "cannot access");
}

static void count_skipped(ca_extract *e, const ca_node *n, const char *why)
{
        e->n_skipped++;
        ca_log_debug("%s: skipped: %s", n->path, why);
}

/* Merging into the directory open as l->fd: remember the mtime that new children will change. */
static int hold_merged(level *l, const char *what)
{
        struct stat st;
        if (fstat(l->fd, &st) < 0)
                return fail(negative_errno(), what, "cannot access");
        l->reused = l->merged = true;
        l->mtime = st.st_mtim;
        return 0;
}

/* Merging: puts back the mtime of a directory that was there before, if children changed it. */
static int restore_mtime(const ca_extract *e, const ca_node *n, const level *l)
{
        struct stat st;
        if (fstat(l->fd, &st) < 0)
                return fail(negative_errno(), node_what(e, n), "cannot access");
        if (st.st_mtim.tv_sec == l->mtime.tv_sec && st.st_mtim.tv_nsec == l->mtime.tv_nsec)
                return 0;
        struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}, l->mtime};
        if (futimens(l->fd, ts) < 0)
                return fail(negative_errno(), node_what(e, n), "cannot set modification time");
        return 0;
}

/* Merging: renames without ever replacing an entry. */
static int rename_noreplace(int dir_fd, const char *from, const char *to)
{
        if (renameat2(dir_fd, from, dir_fd, to, RENAME_NOREPLACE) >= 0)
                return 0;
        if (errno != EINVAL)
                return negative_errno();
        /* No RENAME_NOREPLACE on this file system: check, then rename. */
        struct stat st;
        if (fstatat(dir_fd, to, &st, AT_SYMLINK_NOFOLLOW) >= 0)
                return -EEXIST;
        if (errno != ENOENT)
                return negative_errno();
        return renameat(dir_fd, from, dir_fd, to) < 0 ? negative_errno() : 0;
}

/* Creates a non-directory under `name`; returns its fd for a regular file, else 0. */
static int make_entry(int dir_fd, const char *name, const ca_node *n)
{
        switch (n->mode & S_IFMT) {
        case S_IFREG:
                return fs_open_beneath(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOCTTY, 0600);
        case S_IFLNK:
                return symlinkat(n->symlink_target, dir_fd, name) < 0 ? negative_errno() : 0;
        case S_IFIFO:
                return mkfifoat(dir_fd, name, 0600) < 0 ? negative_errno() : 0;
        case S_IFSOCK:
                return mknodat(dir_fd, name, S_IFSOCK | 0600, 0) < 0 ? negative_errno() : 0;
        default: /* devices */
                return mknodat(dir_fd, name, (mode_t)(n->mode & S_IFMT) | 0600,
                               makedev((unsigned)n->device_major, (unsigned)n->device_minor)) < 0
                           ? negative_errno()
                           : 0;
        }
}

static int begin_non_directory(ca_extract *e, const ca_node *n, const level *parent)
{
        const char *what = n->path;
        int dir_fd = parent->fd;
        int r;

        if (S_ISLNK(n->mode)) {
                size_t len = n->symlink_target ? strnlen(n->symlink_target, 4096) : 0;
                if (len == 0 || len >= 4096)
                        return ca_bad("%s: invalid symlink target", what);
        }
        if (S_ISCHR(n->mode) || S_ISBLK(n->mode)) {
                /* Linux dev_t: 12-bit major, 20-bit minor. */
                if (n->device_major >= (1U << 12) || n->device_minor >= (1U << 20))
                        return ca_bad("%s: invalid device number %llu:%llu", what,
                                      (unsigned long long)n->device_major,
                                      (unsigned long long)n->device_minor);
        }

        if (parent->skipped) {
                e->cur_skipped = true; /* counted with its directory */
                return 0;
        }
        if (e->opts.filter) {
                r = e->opts.filter(e->opts.filter_userdata, n);
                if (r < 0)
                        return ca_log_errno(CA_LOG_ERR, r, "%s: filter failed: %s", what,
                                            strerror(-r));
                if (r == 0) {
                        count_skipped(e, n, "filtered out");
                        e->cur_skipped = true;
                        return 0;
                }
        }
        if (parent->merged) {
                struct stat st;
                r = lookup_existing(n, dir_fd, &st);
                if (r < 0)
                        return r;
                if (r > 0) {
                        count_skipped(e, n, "already present");
                        e->cur_skipped = true;
                        return 0;
                }
        }
        if ((S_ISCHR(n->mode) || S_ISBLK(n->mode)) && !e->chown_allowed) {
                e->n_devices++;
                e->cur_skipped = true;
                return 0;
        }

        if (!e->opts.in_place)
                r = make_entry(dir_fd, n->name, n);
        else {
                /* A fresh name, renamed over the old entry at node_end; an archive entry may
                 * happen to use the same name, hence the retries. */
                unsigned attempt = 0;
                do {
                        fs_temp_name(e->cur_tmp);
                        r = make_entry(dir_fd, e->cur_tmp, n);
                } while (r == -EEXIST && ++attempt < 16);
                if (r < 0)
                        e->cur_tmp[0] = '\0';
        }
        if (r == -EEXIST)
                return ca_log_errno(CA_LOG_ERR, r,
                                    "%s: already exists (a duplicate entry, or a name collision on "
                                    "a case-insensitive file system)",
                                    what);
        if (r == -EPERM && (S_ISCHR(n->mode) || S_ISBLK(n->mode))) {
                e->n_devices++; /* root without CAP_MKNOD, e.g. in a user namespace */
                e->cur_skipped = true;
                return 0;
        }
        if (r < 0)
                return fail(r, what, "cannot create");
        if (S_ISREG(n->mode)) {
                e->cur_fd = r;
                /* A merged directory keeps its default ACL: nothing inherits it from us. */
                if (parent->merged && (e->feature_flags & CA_FORMAT_WITH_ACL))
                        extract_strip_acls(e->cur_fd);
                r = extract_apply_early(e, n, e->cur_fd);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int end_non_directory(ca_extract *e, const ca_node *n)
{
        level *parent = &e->stack[e->depth - 1];
        const char *what = n->path;
        int r;

        /* Before t: a goto past its initialization would run its cleanup on garbage. */
        if (e->cur_skipped) {
                e->cur_active = e->cur_skipped = false;
                return 0;
        }

        if (S_ISREG(n->mode)) {
                r = flush_buffer(e, n);
                if (r < 0)
                        return r;
                if (e->received != n->payload_size)
                        return ca_bad("%s: file data ends after %llu of %llu bytes", what,
                                      (unsigned long long)e->received,
                                      (unsigned long long)n->payload_size);
                /* Trailing holes are not written: set the size. */
                if (e->data_end < n->payload_size &&
                    ftruncate(e->cur_fd, (off_t)n->payload_size) < 0)
                        return fail(negative_errno(), what, "cannot set size");
        }

        const char *name = e->opts.in_place ? e->cur_tmp : n->name;
        _cleanup_(extract_target_done)
            target t = {.fd = e->cur_fd, .dir_fd = parent->fd, .name = name, .path_fd = -1};
        r = extract_apply_metadata(e, n, &t);
        if (r < 0)
                return r;

        if (e->opts.in_place) {
                if (e->opts.merge) {
                        r = rename_noreplace(parent->fd, e->cur_tmp, n->name);
                        if (r == -EEXIST)
                                return ca_log_errno(CA_LOG_ERR, r,
                                                    "%s: appeared while being extracted; refusing "
                                                    "to replace it",
                                                    what);
                        if (r < 0)
                                return fail(r, what, "cannot rename into place");
                } else if (renameat(parent->fd, e->cur_tmp, parent->fd, n->name) < 0) {
                        r = negative_errno();
                        if (r == -EISDIR)
                                return ca_log_errno(CA_LOG_ERR, r,
                                                    "%s: is a directory; refusing to replace it "
                                                    "with a non-directory",
                                                    what);
                        return fail(r, what, "cannot replace");
                }
                e->cur_tmp[0] = '\0';
        }

        if (e->cur_fd >= 0) {
                unsigned value = extract_node_chattr(e, n);
                if (value != 0 &&
                    (r = extract_chattr_merge(e, n, e->cur_fd, value, e->chattr_mask)) < 0)
                        return r;
                /* close() can report a deferred write error (NFS, quota). */
                if (close(TAKE_FD(e->cur_fd)) < 0)
                        return fail(negative_errno(), what, "cannot write");
        }
        e->cur_active = false;
        return 0;
}

/* Called for the root and for each directory opened for children. */
static int prepare_directory(ca_extract *e, const ca_node *n, level *l)
{
        if (l->merged)
                return 0; /* as the first writer left it */
        if (n->depth == 0 || l->reused) {
                /* Inherited or stale state the archive's metadata would not overwrite. */
                if (e->feature_flags & CA_FORMAT_WITH_ACL)
                        extract_strip_acls(l->fd);
                unsigned old;
                if (e->chattr_mask != 0 && fs_chattr_get(l->fd, &old) >= 0 &&
                    (old & e->chattr_mask) != 0) {
                        int r = extract_chattr_merge(e, n, l->fd, 0, e->chattr_mask);
                        if (r < 0)
                                return r;
                }
        }
        return extract_apply_early(e, n, l->fd);
}

static int begin_directory(ca_extract *e, const ca_node *n, const level *parent, level *l)
{
        const char *what = n->path;
        int dir_fd = parent->fd;
        int fd;

        if (parent->skipped) {
                l->skipped = true; /* counted with its ancestor */
                return 0;
        }
        if (parent->merged) {
                struct stat st;
                int r = lookup_existing(n, dir_fd, &st);
                if (r < 0)
                        return r;
                if (r > 0 && !S_ISDIR(st.st_mode)) {
                        count_skipped(e, n, "a non-directory is in the way");
                        l->skipped = true;
                        return 0;
                }
                if (r > 0) {
                        /* Refuses a symlink swapped in since (ELOOP). */
                        l->fd = fs_open_beneath(dir_fd, n->name, O_RDONLY | O_DIRECTORY, 0);
                        if (l->fd < 0)
                                return fail(l->fd, what, "cannot open directory");
                        return hold_merged(l, what);
                }
        }

        if (mkdirat(dir_fd, n->name, 0700) >= 0)
                fd = fs_open_beneath(dir_fd, n->name, O_RDONLY | O_DIRECTORY, 0);
        else if (errno != EEXIST)
                return fail(negative_errno(), what, "cannot create directory");
        else if (!e->opts.in_place || e->opts.merge)
                return ca_log_errno(CA_LOG_ERR, -EEXIST,
                                    "%s: already exists (a duplicate entry, or a name collision on "
                                    "a case-insensitive file system)",
                                    what);
        else {
                fd = fs_open_beneath(dir_fd, n->name, O_RDONLY | O_DIRECTORY, 0);
                if (fd >= 0)
                        l->reused = true;
                else if (fd == -ENOTDIR || fd == -ELOOP) {
                        /* Something else is in the way (a symlink perhaps): build the directory
                         * under a temporary name, swap it in at node_end. */
                        unsigned attempt = 0;
                        int r;
                        do {
                                fs_temp_name(l->tmp_name);
                                r = mkdirat(dir_fd, l->tmp_name, 0700) < 0 ? negative_errno() : 0;
                        } while (r == -EEXIST && ++attempt < 16);
                        if (r < 0) {
                                l->tmp_name[0] = '\0';
                                return fail(r, what, "cannot create directory");
                        }
                        fd = fs_open_beneath(dir_fd, l->tmp_name, O_RDONLY | O_DIRECTORY, 0);
                }
        }
        if (fd < 0)
                return fail(fd, what, "cannot open directory");
        l->fd = fd;
        /* An unusual umask must not keep us from writing the children. */
        if (!l->reused && (e->umask & 0700) && fchmod(fd, 0700) < 0)
                return fail(negative_errno(), what, "cannot change mode");
        if (!l->reused && parent->merged && (e->feature_flags & CA_FORMAT_WITH_ACL))
                extract_strip_acls(fd); /* inherited from a merged directory's default ACL */
        return prepare_directory(e, n, l);
}

static int begin_root(ca_extract *e, const ca_node *n)
{
        if (e->root_begun)
                return ca_bad("%s: a second root node", e->dest);
        if (!S_ISDIR(n->mode))
                return ca_bad("%s: the archive root is not a directory", e->dest);
        e->root_begun = true;
        e->feature_flags = n->feature_flags;
        e->chattr_mask = extract_chattr_from_flags(n->feature_flags & CA_FORMAT_WITH_CHATTR);

        level *l = &e->stack[0];
        *l = (level){.fd = TAKE_FD(e->root_fd), .reused = e->opts.in_place};
        e->depth = 1;
        if (e->opts.merge) {
                int r = hold_merged(l, e->dest);
                if (r < 0)
                        return r;
        }
        return prepare_directory(e, n, l);
}

static int extract_node_begin(void *userdata, const ca_node *n)
{
        ca_extract *e = userdata;

        if (e->root_done)
                return ca_bad("%s: node after the end of the archive root", n->path);
        if (e->cur_active)
                return ca_bad("%s: node inside a non-directory", n->path);
        if (n->depth != e->depth)
                return ca_bad("%s: node at depth %u, expected %u", n->path, n->depth, e->depth);
        if (e->root_begun && n->feature_flags != e->feature_flags)
                return ca_bad("%s: feature flags differ from the root's", n->path);
        if (!type_enabled(n->feature_flags, n->mode) || (n->mode & ~(uint64_t)(S_IFMT | 07777)))
                return ca_bad("%s: invalid or disabled file type (mode %llo)", n->path,
                              (unsigned long long)n->mode);
        if (n->depth == 0)
                return begin_root(e, n);

        if (!fs_name_is_valid(n->name))
                return ca_bad("%s: invalid file name", n->path);
        level *parent = &e->stack[e->depth - 1];
        if (parent->has_child && strcmp(parent->last_child, n->name) >= 0)
                return ca_bad("%s: duplicate or unsorted directory entry", n->path);
        parent->has_child = true;
        strcpy(parent->last_child, n->name); /* length checked above */

        if (S_ISDIR(n->mode)) {
                if (e->depth >= CA_NODES_MAX)
                        return ca_bad("%s: directories nested deeper than %u levels", n->path,
                                      CA_NODES_MAX);
                level *l = &e->stack[e->depth];
                *l = (level){.fd = -1};
                e->depth++;
                return begin_directory(e, n, parent, l);
        }

        e->cur_active = true;
        e->cur_skipped = false;
        e->buf_len = 0;
        e->buf_offset = e->received = e->data_end = 0;
        return begin_non_directory(e, n, parent);
}

static int end_directory(ca_extract *e, const ca_node *n)
{
        level *l = &e->stack[e->depth - 1];
        int r;

        if (l->skipped) {
                e->depth--;
                return 0;
        }
        _cleanup_(extract_target_done) target t = {.fd = l->fd, .path_fd = -1};
        if (l->merged)
                r = restore_mtime(e, n, l);
        else {
                if (l->reused && (e->feature_flags & CA_FORMAT_WITH_XATTRS) &&
                    (r = extract_remove_stale_xattrs(e, n, l->fd)) < 0)
                        return r;
                r = extract_apply_metadata(e, n, &t);
        }
        if (r < 0)
                return r;

        if (n->depth == 0) {
                /* The chattr flags go on dest after the rename (immutable blocks it). */
                e->root_chattr_value = l->merged ? 0 : extract_node_chattr(e, n);
                e->root_fd = TAKE_FD(l->fd);
                e->depth = 0;
                e->root_done = true;
                return 0;
        }

        level *parent = &e->stack[e->depth - 2];
        if (l->tmp_name[0]) {
                /* Swap the new directory in, then remove what was in the way (a non-directory:
                 * unlinkat without AT_REMOVEDIR refuses anything else). */
                if (renameat2(parent->fd, l->tmp_name, parent->fd, n->name, RENAME_EXCHANGE) >= 0)
                        r = unlinkat(parent->fd, l->tmp_name, 0) < 0 ? negative_errno() : 0;
                else if (errno == ENOENT)
                        r = renameat2(parent->fd, l->tmp_name, parent->fd, n->name,
                                      RENAME_NOREPLACE) < 0
                                ? negative_errno()
                                : 0;
                else
                        r = negative_errno();
                if (r < 0)
                        return fail(r, n->path, "cannot replace");
                l->tmp_name[0] = '\0';
        }

        unsigned value = l->merged ? 0 : extract_node_chattr(e, n);
        if (value != 0 && (r = extract_chattr_merge(e, n, l->fd, value, e->chattr_mask)) < 0)
                return r;
        close(TAKE_FD(l->fd));
        e->depth--;
        return 0;
}

static int extract_node_end(void *userdata, const ca_node *n)
{
        ca_extract *e = userdata;

        if (e->cur_active) {
                if (n->depth != e->depth || S_ISDIR(n->mode))
                        return ca_bad("%s: unexpected end of node", n->path);
                return end_non_directory(e, n);
        }
        if (e->depth == 0 || n->depth != e->depth - 1 || !S_ISDIR(n->mode))
                return ca_bad("%s: unexpected end of directory", n->path);
        return end_directory(e, n);
}

static int extract_finish(void *userdata)
{
        ca_extract *e = userdata;
        if (!e->root_done)
                return ca_bad("%s: archive ended before its root directory", e->dest);
        return 0;
}

/* The sink's entry points: errors leave through extract_dest_error. */
static int sink_node_begin(void *userdata, const ca_node *n)
{
        return extract_dest_error(userdata, extract_node_begin(userdata, n));
}

static int sink_payload(void *userdata, const ca_node *n, const void *data, size_t size)
{
        return extract_dest_error(userdata, extract_payload(userdata, n, data, size));
}

static int sink_node_end(void *userdata, const ca_node *n)
{
        return extract_dest_error(userdata, extract_node_end(userdata, n));
}

/* ---------------------------------------------------------------- setup */

int ca_extract_new(const char *dest, const ca_extract_options *opts, ca_extract **ret,
                   ca_sink *ret_sink)
{
        if (!dest || !*dest)
                return ca_log_errno(CA_LOG_ERR, -EINVAL, "empty destination path");
        if (opts && opts->merge && !opts->in_place)
                return ca_log_errno(CA_LOG_ERR, -EINVAL, "%s: merging needs in-place extraction",
                                    dest);
        _cleanup_(ca_extract_freep) ca_extract *e = calloc(1, sizeof(ca_extract));
        if (!e)
                return -ENOMEM;
        e->parent_fd = e->root_fd = e->cur_fd = -1;
        if (opts)
                e->opts = *opts;
        e->euid = geteuid();
        e->egid = getegid();
        e->privileged = e->euid == 0;
        e->chown_allowed = e->privileged && !e->opts.no_same_owner;
        e->umask = fs_get_umask();
        e->dest = strdup(dest);
        e->dest_name = strdup(e->opts.dest_name ? e->opts.dest_name : dest);
        e->buf = malloc(WRITE_BUFFER_SIZE);
        if (!e->dest || !e->dest_name || !e->buf)
                return -ENOMEM;

        int r;
        if (e->opts.in_place) {
                e->root_fd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (e->root_fd < 0) {
                        r = negative_errno();
                        if (r == -ENOENT || r == -ENOTDIR)
                                return ca_log_errno(CA_LOG_ERR, r,
                                                    "%s: --in-place needs an existing directory",
                                                    dest);
                        return fail(r, dest, "cannot open directory");
                }
        } else if ((r = extract_prepare_dest(e)) < 0)
                return r;

        *ret_sink = (ca_sink){
            .node_begin = sink_node_begin,
            .payload = sink_payload,
            .node_end = sink_node_end,
            .finish = extract_finish,
            .userdata = e,
        };
        *ret = TAKE_PTR(e);
        return 0;
}
