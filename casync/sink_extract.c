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
 * Unprivileged policy (euid ≠ 0, or --no-same-owner for ownership alone): ownership is not
 * restored, device nodes are skipped, and trusted.*, security.* xattrs, file capabilities and
 * chattr flags the kernel refuses with EPERM are skipped. Extraction does not fail for these;
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

#include "casync/acl_xattr.h"
#include "casync/casync.h"
#include "casync/fs_safe.h"

/* One reusable buffer for file data: bounded memory whatever the file size. */
#define WRITE_BUFFER_SIZE (128U * 1024U)
/* Zero blocks of this size (aligned in the file) become holes, as casync does. */
#define SPARSE_BLOCK_SIZE 4096U
#define XATTR_VALUE_MAX   65536U

/* chattr flags that must be set while the file is still empty (casync does the same). */
#define EARLY_FS_FL (FS_NOATIME_FL | FS_COMPR_FL | FS_NOCOW_FL | FS_NOCOMP_FL | FS_PROJINHERIT_FL)

enum {
        WARN_CHATTR = 1 << 0,
        WARN_FAT = 1 << 1,
        WARN_SELINUX = 1 << 2,
        WARN_XATTR = 1 << 3,
        WARN_ACL = 1 << 4,
        WARN_PROJID = 1 << 5,
        WARN_SUBVOLUME = 1 << 6,
};

typedef struct level {
        int fd;                          /* -1 when skipped */
        bool reused;                     /* an existing directory, in place */
        bool merged;                     /* reused by merge: its metadata is left alone */
        bool skipped;                    /* merge: its whole subtree writes nothing */
        struct timespec mtime;           /* merged: what to put back at node_end */
        char tmp_name[FS_TEMP_NAME_MAX]; /* in place: replaces a non-directory at node_end */
        bool has_child;
        char last_child[FS_NAME_MAX + 1]; /* children come in strictly increasing order */
} level;

struct ca_extract {
        ca_extract_options opts;
        bool privileged;    /* euid 0 */
        bool chown_allowed; /* privileged and not no_same_owner */
        uid_t euid;
        gid_t egid;
        mode_t umask;

        char *dest;     /* as given, for messages */
        int parent_fd;  /* dest's parent (not in place) */
        char *base;     /* dest's last component */
        char *tmp_name; /* the temporary root under parent_fd, until committed */
        bool dest_existed;

        int root_fd; /* before the root node and after it ended; stack[0].fd in between */
        uint64_t feature_flags;
        unsigned root_chattr_value, chattr_mask;
        bool root_begun, root_done, committed;

        level stack[CA_NODES_MAX];
        unsigned depth; /* open directories */

        /* The non-directory between its node_begin and node_end. */
        bool cur_active, cur_skipped;
        int cur_fd;
        char cur_tmp[FS_TEMP_NAME_MAX]; /* in place: its temporary name */
        uint8_t *buf;
        size_t buf_len;
        uint64_t buf_offset, received, data_end;

        /* What the unprivileged policy skipped, summarized once. */
        uint64_t n_owner, n_devices, n_xattrs, n_chattr;
        uint64_t n_overlay; /* trusted.overlay.* xattrs, never restored */
        unsigned warned;

        uint64_t n_skipped; /* by merge or the filter */
};

static const struct {
        uint64_t feature;
        unsigned fs_flag;
} chattr_map[] = {
    {CA_FORMAT_WITH_FLAG_APPEND, FS_APPEND_FL},
    {CA_FORMAT_WITH_FLAG_NOATIME, FS_NOATIME_FL},
    {CA_FORMAT_WITH_FLAG_COMPR, FS_COMPR_FL},
    {CA_FORMAT_WITH_FLAG_NOCOW, FS_NOCOW_FL},
    {CA_FORMAT_WITH_FLAG_NODUMP, FS_NODUMP_FL},
    {CA_FORMAT_WITH_FLAG_DIRSYNC, FS_DIRSYNC_FL},
    {CA_FORMAT_WITH_FLAG_IMMUTABLE, FS_IMMUTABLE_FL},
    {CA_FORMAT_WITH_FLAG_SYNC, FS_SYNC_FL},
    {CA_FORMAT_WITH_FLAG_NOCOMP, FS_NOCOMP_FL},
    {CA_FORMAT_WITH_FLAG_PROJINHERIT, FS_PROJINHERIT_FL},
};

static unsigned feature_flags_to_chattr(uint64_t flags)
{
        unsigned f = 0;
        for (size_t i = 0; i < ELEMENTSOF(chattr_map); i++)
                if (flags & chattr_map[i].feature)
                        f |= chattr_map[i].fs_flag;
        return f;
}

/* How messages name a node: the destination for the root, else its path in the tree. */
static const char *node_what(const ca_extract *e, const ca_node *n)
{
        return n->depth == 0 ? e->dest : n->path;
}

static int fail(int r, const char *what, const char *action)
{
        return ca_log_errno(CA_LOG_ERR, r, "%s: %s: %s", what, action, strerror(-r));
}

static bool errno_is_unsupported(int r)
{
        return r == -EOPNOTSUPP || r == -ENOTTY || r == -ENOSYS;
}

static void warn_once(ca_extract *e, unsigned kind, const char *what, const char *msg, int r)
{
        if (e->warned & kind)
                return;
        e->warned |= kind;
        if (r < 0)
                ca_log_warning("%s: %s (%s); not restored for any entry", what, msg, strerror(-r));
        else
                ca_log_warning("%s: %s", what, msg);
}

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

/* ---------------------------------------------------------------- metadata */

/* The entry a metadata call addresses: an fd of its own, or a name under dir_fd. */
typedef struct target {
        int fd;     /* regular files and directories; -1 otherwise */
        int dir_fd; /* the parent, for symlinks and special files */
        const char *name;
        int path_fd; /* O_PATH fd, opened on demand for xattrs on special files */
} target;

static void target_done(target *t)
{
        if (t->path_fd >= 0)
                close(t->path_fd);
}

static int target_setxattr(target *t, const char *name, const void *value, size_t size)
{
        if (t->fd >= 0)
                return fsetxattr(t->fd, name, value, size, 0) < 0 ? negative_errno() : 0;
        /* No fd of its own (fifo, device, symlink): reach the inode through /proc, which
         * resolves to the entry itself and follows nothing further. */
        if (t->path_fd < 0) {
                t->path_fd = fs_open_beneath(t->dir_fd, t->name, O_PATH, 0);
                if (t->path_fd < 0)
                        return t->path_fd;
        }
        char path[FS_PROC_FD_PATH_MAX];
        fs_proc_fd_path(t->path_fd, path);
        return setxattr(path, name, value, size, 0) < 0 ? negative_errno() : 0;
}

static int apply_owner(ca_extract *e, const ca_node *n, target *t)
{
        uint64_t flags = e->feature_flags;
        if (!(flags & CA_FORMAT_WITH_UID_MASK))
                return 0; /* the archive stores no owner */

        /* Validate before narrowing: 2^32 must not become uid 0. (uid_t)-1 means "unchanged"
         * to chown, 65535 is "nobody" on 16-bit systems; casync refuses both. */
        uint64_t max = (flags & CA_FORMAT_WITH_16BIT_UIDS) ? UINT16_MAX : UINT32_MAX;
        if (n->uid >= max || n->gid >= max || n->uid == UINT16_MAX || n->gid == UINT16_MAX)
                return ca_bad("%s: invalid owner %llu:%llu", node_what(e, n),
                              (unsigned long long)n->uid, (unsigned long long)n->gid);
        uid_t uid = (uid_t)n->uid;
        gid_t gid = (gid_t)n->gid;

        if (!e->chown_allowed) {
                if (!e->opts.no_same_owner && (uid != e->euid || gid != e->egid))
                        e->n_owner++;
                return 0;
        }
        int r = t->fd >= 0 ? fchown(t->fd, uid, gid)
                           : fchownat(t->dir_fd, t->name, uid, gid, AT_SYMLINK_NOFOLLOW);
        if (r < 0) {
                r = negative_errno();
                /* Root in a user namespace: unmapped ids give EINVAL, others EPERM. */
                if (r == -EPERM || r == -EINVAL) {
                        e->n_owner++;
                        return 0;
                }
                return fail(r, node_what(e, n), "cannot change owner");
        }
        return 0;
}

static bool xattr_name_is_restorable(const char *name)
{
        return strncmp(name, "user.", 5) == 0 || strncmp(name, "trusted.", 8) == 0;
}

/* Sets a privileged or optional xattr: EPERM is policy, an unsupported file system a warning. */
static int set_xattr_checked(ca_extract *e, const ca_node *n, target *t, const char *name,
                             const void *value, size_t size)
{
        int r = target_setxattr(t, name, value, size);
        if (r >= 0)
                return 0;
        bool privileged_ns =
            strncmp(name, "trusted.", 8) == 0 || strncmp(name, "security.", 9) == 0;
        if (r == -EPERM && privileged_ns) {
                e->n_xattrs++;
                return 0;
        }
        if (errno_is_unsupported(r)) {
                warn_once(e, WARN_XATTR, node_what(e, n),
                          "extended attributes are not supported by the file system", r);
                return 0;
        }
        return ca_log_errno(CA_LOG_ERR, r, "%s: cannot set xattr %s: %s", node_what(e, n), name,
                            strerror(-r));
}

static int apply_xattrs(ca_extract *e, const ca_node *n, target *t)
{
        for (size_t i = 0; i < n->n_xattrs; i++) {
                const ca_xattr *x = &n->xattrs[i];
                size_t len = x->name ? strnlen(x->name, FS_NAME_MAX + 1) : 0;
                /* casync stores only these two namespaces; system.* and security.* have their
                 * own records and must not be smuggled in as plain xattrs. */
                if (len == 0 || len > FS_NAME_MAX || !xattr_name_is_restorable(x->name))
                        return ca_bad("%s: xattr name not allowed: %.*s", node_what(e, n),
                                      (int)MIN(len, (size_t)FS_NAME_MAX), x->name ? x->name : "");
                if (x->size > XATTR_VALUE_MAX)
                        return ca_bad("%s: xattr %s is too large", node_what(e, n), x->name);
                if (strncmp(x->name, "trusted.overlay.", 16) == 0) {
                        e->n_overlay++; /* counted in the one summary warning */
                        continue;
                }
                int r = set_xattr_checked(e, n, t, x->name, x->value, x->size);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* In place, a reused directory may carry xattrs the archive does not list: remove them. */
static int remove_stale_xattrs(ca_extract *e, const ca_node *n, int fd)
{
        ssize_t len = flistxattr(fd, (char *)e->buf, WRITE_BUFFER_SIZE);
        if (len < 0) {
                int r = negative_errno();
                if (errno_is_unsupported(r))
                        return 0;
                return fail(r, node_what(e, n), "cannot list xattrs");
        }
        for (size_t i = 0; i < (size_t)len;) {
                const char *name = (const char *)e->buf + i;
                size_t k = strnlen(name, (size_t)len - i);
                i += k + 1;
                if (!xattr_name_is_restorable(name))
                        continue;
                bool listed = false;
                for (size_t j = 0; j < n->n_xattrs && !listed; j++)
                        listed = strcmp(n->xattrs[j].name, name) == 0;
                if (listed || fremovexattr(fd, name) >= 0 || errno == ENODATA || errno == EPERM)
                        continue;
                return fail(negative_errno(), node_what(e, n), "cannot remove xattr");
        }
        return 0;
}

static int set_acl(ca_extract *e, const ca_node *n, target *t, const char *name, const void *v,
                   size_t size)
{
        int r = target_setxattr(t, name, v, size);
        if (r >= 0)
                return 0;
        if (errno_is_unsupported(r)) {
                warn_once(e, WARN_ACL, node_what(e, n), "ACLs are not supported by the file system",
                          r);
                return 0;
        }
        return fail(r, node_what(e, n), "cannot set ACL");
}

static int apply_acls(ca_extract *e, const ca_node *n, target *t)
{
        _cleanup_(freep) void *v = NULL;
        size_t size;
        int r = ca_acl_access_xattr(n, node_what(e, n), &v, &size);
        if (r < 0)
                return r;
        if (size > 0 && (r = set_acl(e, n, t, CA_ACL_XATTR_ACCESS, v, size)) < 0)
                return r;

        if (!S_ISDIR(n->mode)) {
                if (n->has_acl_default)
                        return ca_bad("%s: default ACL on a non-directory", node_what(e, n));
                return 0;
        }
        free(TAKE_PTR(v));
        r = ca_acl_default_xattr(n, node_what(e, n), &v, &size);
        if (r < 0)
                return r;
        if (size > 0 && (r = set_acl(e, n, t, CA_ACL_XATTR_DEFAULT, v, size)) < 0)
                return r;
        return 0;
}

/* ACLs inherited from a default ACL of the destination would otherwise leak into the tree. */
static void strip_acls(int fd)
{
        (void)fremovexattr(fd, CA_ACL_XATTR_ACCESS);
        (void)fremovexattr(fd, CA_ACL_XATTR_DEFAULT);
}

static int apply_fcaps(ca_extract *e, const ca_node *n, target *t)
{
        if (!n->fcaps)
                return 0;
        if (!S_ISREG(n->mode))
                return ca_bad("%s: file capabilities on a non-regular file", node_what(e, n));
        if (n->fcaps_size > XATTR_VALUE_MAX)
                return ca_bad("%s: file capabilities too large", node_what(e, n));
        return set_xattr_checked(e, n, t, "security.capability", n->fcaps, n->fcaps_size);
}

static int apply_selinux(ca_extract *e, const ca_node *n, target *t)
{
        if (!n->selinux_label)
                return 0;
        size_t len = strnlen(n->selinux_label, 4096);
        if (len == 0 || len >= 4096)
                return ca_bad("%s: invalid SELinux label", node_what(e, n));
        /* libselinux stores the label with its NUL. */
        int r = target_setxattr(t, "security.selinux", n->selinux_label, len + 1);
        if (r < 0)
                warn_once(e, WARN_SELINUX, node_what(e, n), "cannot set SELinux labels", r);
        return 0;
}

static mode_t final_mode(const ca_extract *e, const ca_node *n)
{
        if (e->feature_flags & (CA_FORMAT_WITH_PERMISSIONS | CA_FORMAT_WITH_ACL))
                return (mode_t)(n->mode & 07777);
        /* The archive only says "read-only or not" (0555/0444 vs 0777/0666): like tar,
         * apply the umask. */
        return (mode_t)(n->mode & 0777) & ~e->umask;
}

static int apply_mode(ca_extract *e, const ca_node *n, target *t)
{
        if (S_ISLNK(n->mode))
                return 0; /* Linux symlinks have no mode of their own */
        mode_t m = final_mode(e, n);
        int r =
            t->fd >= 0 ? fchmod(t->fd, m) : fchmodat(t->dir_fd, t->name, m, AT_SYMLINK_NOFOLLOW);
        return r < 0 ? fail(negative_errno(), node_what(e, n), "cannot change mode") : 0;
}

static int apply_mtime(ca_extract *e, const ca_node *n, target *t)
{
        if (!(e->feature_flags & CA_FORMAT_WITH_TIME_MASK))
                return 0; /* no time stored: leave it as it is */
        struct timespec ts[2] = {
            {.tv_nsec = UTIME_OMIT},
            {.tv_sec = (time_t)(n->mtime / 1000000000U), .tv_nsec = (long)(n->mtime % 1000000000U)},
        };
        int r = t->fd >= 0 ? futimens(t->fd, ts)
                           : utimensat(t->dir_fd, t->name, ts, AT_SYMLINK_NOFOLLOW);
        return r < 0 ? fail(negative_errno(), node_what(e, n), "cannot set modification time") : 0;
}

static int chattr_merge_checked(ca_extract *e, const ca_node *n, int fd, unsigned value,
                                unsigned mask)
{
        int r = fs_chattr_merge(fd, value, mask);
        if (r >= 0)
                return 0;
        if (r == -EPERM) { /* immutable and append-only need CAP_LINUX_IMMUTABLE */
                e->n_chattr++;
                return 0;
        }
        if (errno_is_unsupported(r) || r == -EINVAL) {
                warn_once(e, WARN_CHATTR, node_what(e, n),
                          "file attributes (chattr) are not supported by the file system", r);
                return 0;
        }
        return fail(r, node_what(e, n), "cannot set file attributes");
}

static unsigned node_chattr(const ca_extract *e, const ca_node *n)
{
        return feature_flags_to_chattr(n->flags & e->feature_flags & CA_FORMAT_WITH_CHATTR);
}

/* What has to happen on a regular file or directory while it is still empty. */
static int apply_early(ca_extract *e, const ca_node *n, int fd)
{
        unsigned early = node_chattr(e, n) & EARLY_FS_FL;
        if (early != 0) {
                int r = chattr_merge_checked(e, n, fd, early, e->chattr_mask & EARLY_FS_FL);
                if (r < 0)
                        return r;
        }
        if (n->quota_projid != 0 && (e->feature_flags & CA_FORMAT_WITH_QUOTA_PROJID)) {
                if (n->quota_projid >= UINT32_MAX)
                        return ca_bad("%s: invalid project quota ID", node_what(e, n));
                struct fsxattr fsx;
                int r = 0;
                if (ioctl(fd, FS_IOC_FSGETXATTR, &fsx) < 0)
                        r = negative_errno();
                else {
                        fsx.fsx_projid = (uint32_t)n->quota_projid;
                        if (ioctl(fd, FS_IOC_FSSETXATTR, &fsx) < 0)
                                r = negative_errno();
                }
                if (r < 0)
                        warn_once(e, WARN_PROJID, node_what(e, n), "cannot set project quota IDs",
                                  r);
        }
        if (n->flags & CA_FORMAT_WITH_FAT_ATTRS)
                warn_once(e, WARN_FAT, node_what(e, n),
                          "FAT attributes (hidden/system/archive) are ignored on Linux file "
                          "systems",
                          0);
        if (n->flags & CA_FORMAT_WITH_SUBVOLUME)
                warn_once(e, WARN_SUBVOLUME, node_what(e, n),
                          "btrfs subvolumes are extracted as plain directories", 0);
        return 0;
}

/* Everything but the chattr flags, which come last (after any rename). */
static int apply_metadata(ca_extract *e, const ca_node *n, target *t)
{
        int r;
        if ((r = apply_owner(e, n, t)) < 0)
                return r;
        if (S_ISLNK(n->mode)) {
                /* casync stores no xattrs, ACLs or capabilities for symlinks; anything claiming
                 * otherwise is ignored rather than set on whatever the link points to. */
                if ((r = apply_selinux(e, n, t)) < 0)
                        return r;
                return apply_mtime(e, n, t);
        }
        if ((r = apply_xattrs(e, n, t)) < 0 || (r = apply_acls(e, n, t)) < 0 ||
            (r = apply_fcaps(e, n, t)) < 0 || (r = apply_selinux(e, n, t)) < 0 ||
            (r = apply_mode(e, n, t)) < 0 || (r = apply_mtime(e, n, t)) < 0)
                return r;
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
        if ((S_ISCHR(n->mode) || S_ISBLK(n->mode)) && !e->privileged) {
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
                        strip_acls(e->cur_fd);
                r = apply_early(e, n, e->cur_fd);
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
        _cleanup_(target_done)
            target t = {.fd = e->cur_fd, .dir_fd = parent->fd, .name = name, .path_fd = -1};
        r = apply_metadata(e, n, &t);
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
                unsigned value = node_chattr(e, n);
                if (value != 0 &&
                    (r = chattr_merge_checked(e, n, e->cur_fd, value, e->chattr_mask)) < 0)
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
                        strip_acls(l->fd);
                unsigned old;
                if (e->chattr_mask != 0 && fs_chattr_get(l->fd, &old) >= 0 &&
                    (old & e->chattr_mask) != 0) {
                        int r = chattr_merge_checked(e, n, l->fd, 0, e->chattr_mask);
                        if (r < 0)
                                return r;
                }
        }
        return apply_early(e, n, l->fd);
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
                strip_acls(fd); /* inherited from a merged directory's default ACL */
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
        e->chattr_mask = feature_flags_to_chattr(n->feature_flags & CA_FORMAT_WITH_CHATTR);

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
        _cleanup_(target_done) target t = {.fd = l->fd, .path_fd = -1};
        if (l->merged)
                r = restore_mtime(e, n, l);
        else {
                if (l->reused && (e->feature_flags & CA_FORMAT_WITH_XATTRS) &&
                    (r = remove_stale_xattrs(e, n, l->fd)) < 0)
                        return r;
                r = apply_metadata(e, n, &t);
        }
        if (r < 0)
                return r;

        if (n->depth == 0) {
                /* The chattr flags go on dest after the rename (immutable blocks it). */
                e->root_chattr_value = l->merged ? 0 : node_chattr(e, n);
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

        unsigned value = l->merged ? 0 : node_chattr(e, n);
        if (value != 0 && (r = chattr_merge_checked(e, n, l->fd, value, e->chattr_mask)) < 0)
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

/* ---------------------------------------------------------------- setup, commit, cleanup */

static int open_dest_parent(ca_extract *e)
{
        size_t len = strlen(e->dest);
        while (len > 1 && e->dest[len - 1] == '/')
                len--;
        _cleanup_(freep) char *path = strndup(e->dest, len);
        if (!path)
                return -ENOMEM;
        char *slash = strrchr(path, '/');
        const char *base = slash ? slash + 1 : path;
        if (!fs_name_is_valid(base))
                return ca_log_errno(CA_LOG_ERR, -EINVAL,
                                    "%s: cannot replace this directory; use --in-place", e->dest);
        e->base = strdup(base);
        if (!e->base)
                return -ENOMEM;
        const char *parent = ".";
        if (slash == path)
                parent = "/";
        else if (slash) {
                *slash = '\0';
                parent = path;
        }
        e->parent_fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (e->parent_fd < 0)
                return fail(negative_errno(), parent, "cannot open directory");
        return 0;
}

/* dest may be missing or an empty directory, which the commit replaces atomically. */
static int check_dest(ca_extract *e)
{
        struct stat st;
        if (fstatat(e->parent_fd, e->base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno == ENOENT)
                        return 0;
                return fail(negative_errno(), e->dest, "cannot access");
        }
        if (!S_ISDIR(st.st_mode))
                return ca_log_errno(CA_LOG_ERR, -EEXIST, "%s exists and is not a directory",
                                    e->dest);
        _cleanup_(closep) int fd =
            fs_open_beneath(e->parent_fd, e->base, O_RDONLY | O_DIRECTORY, 0);
        if (fd < 0)
                return fail(fd, e->dest, "cannot open directory");
        int r = fs_dir_is_empty(fd);
        if (r < 0)
                return fail(r, e->dest, "cannot read directory");
        if (r == 0)
                return ca_log_errno(CA_LOG_ERR, -ENOTEMPTY,
                                    "%s exists and is not empty; use --in-place", e->dest);
        e->dest_existed = true;
        return 0;
}

/* A temporary root younger than this may belong to a process that has not locked it yet. */
#define STALE_TEMP_MIN_AGE_S 10

/*
 * Every extraction holds an flock on its temporary root. One left by a process that died
 * (kill -9, power loss) can be locked by anyone: remove it, so interrupted runs do not pile up.
 */
static void reclaim_stale_temps(ca_extract *e, const char *prefix)
{
        DIR *dir = fs_opendir_at(e->parent_fd);
        if (!dir)
                return;
        size_t plen = strlen(prefix);
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        struct dirent *de;
        while (fs_readdir(dir, &de) > 0) {
                if (strncmp(de->d_name, prefix, plen) != 0 || strlen(de->d_name) != plen + 6)
                        continue;
                _cleanup_(closep) int t = fs_open_beneath(e->parent_fd, de->d_name,
                                                          O_RDONLY | O_DIRECTORY, 0);
                struct stat st;
                if (t < 0 || fstat(t, &st) < 0 || st.st_uid != geteuid() ||
                    now.tv_sec - st.st_mtim.tv_sec < STALE_TEMP_MIN_AGE_S ||
                    flock(t, LOCK_EX | LOCK_NB) < 0)
                        continue;
                int r = fs_remove_tree_at(e->parent_fd, de->d_name);
                if (r < 0)
                        ca_log_warning("%s: cannot remove stale temporary directory %s: %s",
                                       e->dest, de->d_name, strerror(-r));
                else
                        ca_log_debug("%s: removed %s left by an interrupted extraction", e->dest,
                                     de->d_name);
        }
        closedir(dir);
}

static int make_temp_root(ca_extract *e)
{
        /* ".<base>.acfetch-XXXXXX", shortening base so the name fits NAME_MAX. */
        _cleanup_(freep) char *prefix = NULL;
        if (fs_temp_prefix(e->base, &prefix) < 0)
                return -ENOMEM;
        reclaim_stale_temps(e, prefix);
        int r = fs_mkdtemp_at(e->parent_fd, prefix, &e->tmp_name);
        if (r < 0)
                return fail(r, e->dest, "cannot create temporary directory");
        e->root_fd = fs_open_beneath(e->parent_fd, e->tmp_name, O_RDONLY | O_DIRECTORY, 0);
        if (e->root_fd < 0)
                return fail(e->root_fd, e->dest, "cannot open temporary directory");
        /* Held until we are done: tells later runs this directory is not stale. */
        if (flock(e->root_fd, LOCK_EX | LOCK_NB) < 0)
                return fail(negative_errno(), e->dest, "cannot lock temporary directory");
        /* Drop a setgid bit inherited from the parent, and any umask effect. */
        if (fchmod(e->root_fd, 0700) < 0)
                return fail(negative_errno(), e->dest, "cannot change mode");
        return 0;
}

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
        e->buf = malloc(WRITE_BUFFER_SIZE);
        if (!e->dest || !e->buf)
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
        } else if ((r = open_dest_parent(e)) < 0 || (r = check_dest(e)) < 0 ||
                   (r = make_temp_root(e)) < 0)
                return r;

        *ret_sink = (ca_sink){
            .node_begin = extract_node_begin,
            .payload = extract_payload,
            .node_end = extract_node_end,
            .finish = extract_finish,
            .userdata = e,
        };
        *ret = TAKE_PTR(e);
        return 0;
}

static int rename_into_place(ca_extract *e)
{
        if (!e->dest_existed) {
                if (renameat2(e->parent_fd, e->tmp_name, e->parent_fd, e->base, RENAME_NOREPLACE) >=
                    0)
                        return 0;
                /* EEXIST: created meanwhile, possibly empty; EINVAL: no RENAME_NOREPLACE
                 * here. A plain rename replaces only an empty directory either way. */
                if (errno != EEXIST && errno != EINVAL)
                        return fail(negative_errno(), e->dest, "cannot rename into place");
        }
        if (renameat(e->parent_fd, e->tmp_name, e->parent_fd, e->base) >= 0)
                return 0;
        int r = negative_errno();
        if (r == -ENOTEMPTY || r == -EEXIST)
                return ca_log_errno(CA_LOG_ERR, r, "%s exists and is not empty; use --in-place",
                                    e->dest);
        if (r == -ENOTDIR)
                return ca_log_errno(CA_LOG_ERR, r, "%s exists and is not a directory", e->dest);
        return fail(r, e->dest, "cannot rename into place");
}

int ca_extract_commit(ca_extract *e)
{
        if (!e->root_done)
                return ca_log_errno(CA_LOG_ERR, -EINVAL, "%s: extraction is incomplete", e->dest);
        if (e->committed)
                return 0;
        if (!e->opts.in_place) {
                int r = rename_into_place(e);
                if (r < 0)
                        return r;
                free(e->tmp_name);
                e->tmp_name = NULL;
        }
        e->committed = true;

        if (e->root_chattr_value != 0) {
                ca_node root = {.name = "", .path = ".", .depth = 0};
                return chattr_merge_checked(e, &root, e->root_fd, e->root_chattr_value,
                                            e->chattr_mask);
        }
        return 0;
}

uint64_t ca_extract_skipped(const ca_extract *e)
{
        return e->n_skipped;
}

/* Appends "N thing(s)" to list, joined by ", " or " and " as the position asks. */
static size_t summary_append(char *list, size_t size, size_t len, size_t k, size_t total,
                             uint64_t count, const char *one, const char *many)
{
        const char *sep = k == 0 ? "" : k + 1 == total ? " and " : ", ";
        len += (size_t)snprintf(list + len, size - len, "%s", sep);
        len = MIN(len, size - 1);
        len += (size_t)snprintf(list + len, size - len, count == 1 ? one : many,
                                (unsigned long long)count);
        return MIN(len, size - 1);
}

/* The one warning of the unprivileged policy: everything that was skipped, counted. */
static void print_summary(const ca_extract *e)
{
        const struct {
                uint64_t count;
                const char *one, *many;
        } parts[] = {
            {e->n_owner, "ownership of %llu entry", "ownership of %llu entries"},
            {e->n_devices, "%llu device node", "%llu device nodes"},
            {e->n_xattrs, "%llu privileged xattr", "%llu privileged xattrs"},
            {e->n_chattr, "%llu immutable/append-only flag", "%llu immutable/append-only flags"},
        };
        char list[256] = "", overlay[128] = "";
        size_t len = 0, k = 0, total = 0;
        uint64_t sum = 0;
        for (size_t i = 0; i < ELEMENTSOF(parts); i++) {
                total += parts[i].count > 0;
                sum += parts[i].count;
        }
        for (size_t i = 0; i < ELEMENTSOF(parts); i++)
                if (parts[i].count > 0)
                        len = summary_append(list, sizeof(list), len, k++, total, parts[i].count,
                                             parts[i].one, parts[i].many);
        if (e->n_overlay > 0)
                snprintf(overlay, sizeof(overlay),
                         "%s%llu overlayfs xattr%s (trusted.overlay.*) never restored",
                         total ? "; " : "", (unsigned long long)e->n_overlay,
                         e->n_overlay == 1 ? "" : "s");
        if (total == 0 && e->n_overlay == 0)
                return;
        if (total == 0)
                ca_log_warning("%s", overlay);
        else
                ca_log_warning("%s: %s %s not restored%s",
                               e->privileged ? "insufficient privileges" : "not running as root",
                               list, total == 1 && sum == 1 ? "was" : "were", overlay);
}

ca_extract *ca_extract_free(ca_extract *e)
{
        if (!e)
                return NULL;

        /* In place, unfinished entries live under temporary names: remove them. */
        if (e->cur_active && e->opts.in_place && e->cur_tmp[0] && e->depth > 0)
                (void)unlinkat(e->stack[e->depth - 1].fd, e->cur_tmp, 0);
        if (e->cur_fd >= 0)
                close(e->cur_fd);
        for (unsigned i = e->depth; i > 0; i--) {
                level *l = &e->stack[i - 1];
                if (l->tmp_name[0] && i >= 2)
                        (void)fs_remove_tree_at(e->stack[i - 2].fd, l->tmp_name);
                if (l->fd >= 0)
                        close(l->fd);
        }
        if (e->root_fd >= 0)
                close(e->root_fd);

        if (e->tmp_name && e->parent_fd >= 0) {
                int r = fs_remove_tree_at(e->parent_fd, e->tmp_name);
                if (r < 0)
                        ca_log_warning("%s: cannot remove temporary directory %s: %s", e->dest,
                                       e->tmp_name, strerror(-r));
        }
        /* After a failure the error says it all; the skipped entries are gone anyway. */
        if (e->committed)
                print_summary(e);

        if (e->parent_fd >= 0)
                close(e->parent_fd);
        free(e->tmp_name);
        free(e->base);
        free(e->dest);
        free(e->buf);
        free(e);
        return NULL;
}
