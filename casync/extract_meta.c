/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The extract sink's metadata appliers: owner, xattrs, ACLs, file capabilities, SELinux label,
 * mode, mtime and chattr flags, in the order and under the policy sink_extract.c describes.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "casync/acl_xattr.h"
#include "casync/extract.h"

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

unsigned extract_chattr_from_flags(uint64_t flags)
{
        unsigned f = 0;
        for (size_t i = 0; i < ELEMENTSOF(chattr_map); i++)
                if (flags & chattr_map[i].feature)
                        f |= chattr_map[i].fs_flag;
        return f;
}

void extract_target_done(target *t)
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
int extract_remove_stale_xattrs(ca_extract *e, const ca_node *n, int fd)
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
void extract_strip_acls(int fd)
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

/* A set-id bit is a grant by the archive's owner: it stays only on a file that owner (user
 * for setuid, group for setgid) still owns, as GNU tar and bsdtar do; else --no-same-owner as
 * root would turn a user's setuid file into a setuid-root one. The file itself is asked, since
 * a refused chown or a setgid parent decide its ids too. */
static mode_t drop_unowned_setid(ca_extract *e, const ca_node *n, target *t, mode_t m)
{
        if (!(m & (S_ISUID | S_ISGID)) || S_ISDIR(n->mode))
                return m; /* a setgid directory only passes its group on; it grants nothing */
        struct stat st;
        bool known = (e->feature_flags & CA_FORMAT_WITH_UID_MASK) &&
                     (t->fd >= 0 ? fstat(t->fd, &st)
                                 : fstatat(t->dir_fd, t->name, &st, AT_SYMLINK_NOFOLLOW)) == 0;
        mode_t keep = m;
        if (!known || st.st_uid != (uid_t)n->uid)
                keep &= ~(mode_t)S_ISUID;
        if (!known || st.st_gid != (gid_t)n->gid)
                keep &= ~(mode_t)S_ISGID;
        if (keep != m)
                e->n_setid++;
        return keep;
}

static int apply_mode(ca_extract *e, const ca_node *n, target *t)
{
        if (S_ISLNK(n->mode))
                return 0; /* Linux symlinks have no mode of their own */
        mode_t m = drop_unowned_setid(e, n, t, final_mode(e, n));
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

int extract_chattr_merge(ca_extract *e, const ca_node *n, int fd, unsigned value, unsigned mask)
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

unsigned extract_node_chattr(const ca_extract *e, const ca_node *n)
{
        return extract_chattr_from_flags(n->flags & e->feature_flags & CA_FORMAT_WITH_CHATTR);
}

/* What has to happen on a regular file or directory while it is still empty. */
int extract_apply_early(ca_extract *e, const ca_node *n, int fd)
{
        unsigned early = extract_node_chattr(e, n) & EARLY_FS_FL;
        if (early != 0) {
                int r = extract_chattr_merge(e, n, fd, early, e->chattr_mask & EARLY_FS_FL);
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
int extract_apply_metadata(ca_extract *e, const ca_node *n, target *t)
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
