/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What casync stores about one node, collected with the same system calls casync makes (so the
 * same kernel answers give the same archive): chattr and FAT flags, btrfs subvolume bits, the
 * SELinux label, user.* and trusted.* xattrs, file capabilities, POSIX ACLs (read from their
 * xattrs, in the kernel's format), owner names, the quota project ID. encode_entry.c turns it
 * into records.
 */
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <linux/btrfs.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <linux/msdos_fs.h>
#include <pwd.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "casync/acl_xattr.h"
#include "casync/encode.h"
#include "casync/fs_safe.h"

/* Virtual API file systems whose contents casync never reads (caencoder.c's list). */
static const long api_fs_magics[] = {
    BINFMTFS_MAGIC,        CGROUP2_SUPER_MAGIC,
    CGROUP_SUPER_MAGIC,    0x62656570 /* configfs */,
    DEBUGFS_MAGIC,         DEVPTS_SUPER_MAGIC,
    EFIVARFS_MAGIC,        0x65735543 /* fusectl */,
    HUGETLBFS_MAGIC,       0x19800202 /* mqueue */,
    0x6e667364 /* nfsd */, PROC_SUPER_MAGIC,
    PSTOREFS_MAGIC,        0x67596969 /* rpc_pipefs */,
    SECURITYFS_MAGIC,      SELINUX_MAGIC,
    SMACK_MAGIC,           SYSFS_MAGIC,
};

#define XATTR_SELINUX "security.selinux"
#define XATTR_FCAPS   "security.capability"

static bool errno_is_unsupported(int e)
{
        /* What casync reads as "this file system or node has no such attribute". */
        return e == ENOTTY || e == ENOSYS || e == EBADF || e == EOPNOTSUPP || e == EINVAL;
}

static bool is_dir_or_reg(const ca_enc_node *n)
{
        return S_ISDIR(n->st.st_mode) || S_ISREG(n->st.st_mode);
}

static int fail(const ca_enc_node *n, int r, const char *what)
{
        return ca_log_errno(CA_LOG_ERR, r, "%s: cannot read %s: %s", n->path, what, strerror(-r));
}

void ca_enc_node_init(ca_enc_node *n)
{
        *n = (ca_enc_node){
            .fd = -1,
            .parent_fd = -1,
            .mnt_id = -1,
            .acl_group_obj = UINT64_MAX,
            .acl_default_user_obj = UINT64_MAX,
            .acl_default_group_obj = UINT64_MAX,
            .acl_default_other = UINT64_MAX,
            .acl_default_mask = UINT64_MAX,
        };
}

static void acl_list_clear(ca_enc_acl_list *l)
{
        for (size_t i = 0; i < l->n; i++)
                free(l->entries[i].name);
        free(l->entries);
        *l = (ca_enc_acl_list){0};
}

void ca_enc_node_clear(ca_enc_node *n)
{
        if (n->fd >= 0)
                close(n->fd);
        free(n->selinux);
        for (size_t i = 0; i < n->n_xattrs; i++) {
                free(n->xattrs[i].name);
                free(n->xattrs[i].value);
        }
        free(n->xattrs);
        free(n->fcaps);
        acl_list_clear(&n->acl_user);
        acl_list_clear(&n->acl_group);
        acl_list_clear(&n->acl_default_user);
        acl_list_clear(&n->acl_default_group);
        free(n->symlink_target);
        ca_enc_node_init(n);
}

void ca_enc_names_clear(ca_enc_names *c)
{
        free(c->user);
        free(c->group);
        *c = (ca_enc_names){0};
}

bool ca_enc_node_enumerate(const ca_enc_node *n)
{
        if (!is_dir_or_reg(n))
                return false;
        for (size_t i = 0; i < ELEMENTSOF(api_fs_magics); i++)
                if (n->magic == api_fs_magics[i])
                        return false;
        return true;
}

int ca_enc_node_read_chattr(uint64_t flags, ca_enc_node *n)
{
        int v;

        if (n->chattr_valid || n->fd < 0 || !is_dir_or_reg(n))
                return 0;
        if (!(flags & (CA_FORMAT_WITH_CHATTR | CA_FORMAT_EXCLUDE_NODUMP)))
                return 0;
        if (ioctl(n->fd, FS_IOC_GETFLAGS, &v) < 0) {
                if (!errno_is_unsupported(errno))
                        return fail(n, negative_errno(), "file attributes");
                v = 0;
        }
        n->chattr = (unsigned)v;
        n->chattr_valid = true;
        return 0;
}

int ca_enc_node_read_mnt_id(ca_enc_node *n)
{
        struct statx sx;

        if (n->mnt_id >= 0 || n->fd < 0)
                return 0;
        if (statx(n->fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &sx) < 0)
                return fail(n, negative_errno(), "mount ID");
        if (!(sx.stx_mask & STATX_MNT_ID))
                return fail(n, -EOPNOTSUPP, "mount ID");
        n->mnt_id = (int)sx.stx_mnt_id;
        return 0;
}

static int read_fat_attrs(uint64_t flags, ca_enc_node *n)
{
        uint32_t v = 0;

        if (n->fd < 0 || !is_dir_or_reg(n) || !(flags & CA_FORMAT_WITH_FAT_ATTRS))
                return 0;
        if (n->magic == MSDOS_SUPER_MAGIC || n->magic == FUSE_SUPER_MAGIC) {
                if (ioctl(n->fd, FAT_IOCTL_GET_ATTRIBUTES, &v) < 0) {
                        if (!errno_is_unsupported(errno))
                                return fail(n, negative_errno(), "FAT attributes");
                        v = 0;
                }
        }
        n->fat_attrs = v;
        return 0;
}

static int read_subvolume(uint64_t flags, ca_enc_node *n)
{
        uint64_t v;

        if (n->fd < 0 || !S_ISDIR(n->st.st_mode) || !(flags & CA_FORMAT_WITH_SUBVOLUME))
                return 0;
        if (n->magic != (long)BTRFS_SUPER_MAGIC || n->st.st_ino != 256)
                return 0;
        if (ioctl(n->fd, BTRFS_IOC_SUBVOL_GETFLAGS, &v) < 0)
                return fail(n, negative_errno(), "btrfs subvolume flags");
        n->subvolume = true;
        n->subvolume_ro = v & BTRFS_SUBVOL_RDONLY;
        return 0;
}

static int read_quota_projid(uint64_t flags, ca_enc_node *n)
{
        struct fsxattr fa;

        if (n->fd < 0 || !is_dir_or_reg(n) || !(flags & CA_FORMAT_WITH_QUOTA_PROJID))
                return 0;
        if (n->magic != EXT4_SUPER_MAGIC && n->magic != XFS_SUPER_MAGIC &&
            n->magic != FUSE_SUPER_MAGIC)
                return 0;
        if (ioctl(n->fd, FS_IOC_FSGETXATTR, &fa) < 0) {
                if (!errno_is_unsupported(errno))
                        return fail(n, negative_errno(), "quota project ID");
                return 0;
        }
        n->quota_projid = fa.fsx_projid;
        return 0;
}

/* One xattr value by fd (f*xattr) or by path (l*xattr / *xattr): *ret malloc'ed. -ENODATA when
 * absent. */
static int get_xattr(int fd, const char *path, bool follow, const char *name, uint8_t **ret,
                     size_t *ret_size)
{
        size_t space = 256;

        for (;;) {
                _cleanup_(freep) uint8_t *buf = malloc(space);
                ssize_t l;

                if (!buf)
                        return -ENOMEM;
                if (fd >= 0)
                        l = fgetxattr(fd, name, buf, space);
                else if (follow)
                        l = getxattr(path, name, buf, space);
                else
                        l = lgetxattr(path, name, buf, space);
                if (l >= 0) {
                        *ret = TAKE_PTR(buf);
                        *ret_size = (size_t)l;
                        return 0;
                }
                if (errno != ERANGE || space >= 1024 * 1024)
                        return negative_errno();
                space *= 2;
        }
}

static int read_selinux(uint64_t flags, ca_enc_node *n)
{
        char path[FS_PROC_FD_PATH_MAX + FS_NAME_MAX + 1];
        _cleanup_(freep) uint8_t *v = NULL;
        size_t size;
        int r;

        if (!(flags & CA_FORMAT_WITH_SELINUX) || n->synthetic)
                return 0;
        if (n->fd >= 0)
                r = get_xattr(n->fd, NULL, false, XATTR_SELINUX, &v, &size);
        else {
                /* libselinux's lgetfilecon on the entry, as casync reaches it. */
                snprintf(path, sizeof(path), "/proc/self/fd/%i/%s", n->parent_fd, n->name);
                r = get_xattr(-1, path, false, XATTR_SELINUX, &v, &size);
        }
        /* An empty label counts as none (libselinux maps it to ENOTSUP). */
        if (r == -ENODATA || r == -EOPNOTSUPP || (r == 0 && size == 0))
                return 0;
        if (r < 0)
                return fail(n, r, "SELinux label");
        n->selinux = strndup((const char *)v, size);
        return n->selinux ? 0 : -ENOMEM;
}

static bool xattr_name_stored(const char *name)
{
        const char *dot = strchr(name, '.');

        if (!dot || dot == name || dot[1] == 0 || strlen(name) > 255)
                return false;
        return strncmp(name, "user.", 5) == 0 || strncmp(name, "trusted.", 8) == 0;
}

static int compare_xattr(const void *a, const void *b)
{
        return strcmp(((const ca_enc_xattr *)a)->name, ((const ca_enc_xattr *)b)->name);
}

/* A descriptor for a node casync reaches without opening it (O_PATH, never followed). */
static int open_path_fd(const ca_enc_node *n)
{
        int fd;

        if (n->parent_fd < 0)
                return -EBADF;
        fd = openat(n->parent_fd, n->name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 ? negative_errno() : fd;
}

static int read_xattrs(uint64_t flags, ca_enc_node *n)
{
        _cleanup_(closep) int path_fd = -1;
        _cleanup_(freep) char *list = NULL;
        size_t space = 256;
        ssize_t len;
        int fd = n->fd;

        if (!(flags & (CA_FORMAT_WITH_XATTRS | CA_FORMAT_WITH_FCAPS)) || n->synthetic ||
            S_ISLNK(n->st.st_mode))
                return 0;
        if (fd < 0) {
                path_fd = open_path_fd(n);
                if (path_fd < 0)
                        return fail(n, path_fd, "extended attributes");
                fd = path_fd;
        }

        for (;;) {
                free(list);
                list = malloc(space);
                if (!list)
                        return -ENOMEM;
                len = flistxattr(fd, list, space);
                if (len >= 0)
                        break;
                if (errno == EOPNOTSUPP || errno == EBADF)
                        return 0; /* none on this file system or node */
                if (errno != ERANGE || space >= 16 * 1024 * 1024)
                        return fail(n, negative_errno(), "extended attribute names");
                space *= 2;
        }

        for (ssize_t off = 0; off < len;) {
                const char *name = list + off;
                bool fcaps = strcmp(name, XATTR_FCAPS) == 0 && S_ISREG(n->st.st_mode);
                uint8_t *value;
                size_t size;
                int r;

                off += (ssize_t)strnlen(name, (size_t)(len - off)) + 1;
                if (!fcaps && !xattr_name_stored(name))
                        continue;
                r = get_xattr(fd, NULL, false, name, &value, &size);
                if (r == -ENODATA)
                        continue; /* removed meanwhile */
                if (r < 0)
                        return ca_log_errno(CA_LOG_ERR, r, "%s: cannot read xattr %s: %s", n->path,
                                            name, strerror(-r));
                if (fcaps) {
                        free(n->fcaps);
                        n->fcaps = value;
                        n->fcaps_size = size;
                        n->has_fcaps = true;
                        continue;
                }
                ca_enc_xattr *x = realloc(n->xattrs, (n->n_xattrs + 1) * sizeof(*x));
                if (!x) {
                        free(value);
                        return -ENOMEM;
                }
                n->xattrs = x;
                x[n->n_xattrs] = (ca_enc_xattr){strdup(name), value, size};
                if (!x[n->n_xattrs].name) {
                        free(value);
                        return -ENOMEM;
                }
                n->n_xattrs++;
        }
        if (n->n_xattrs > 1)
                qsort(n->xattrs, n->n_xattrs, sizeof(ca_enc_xattr), compare_xattr);
        return 0;
}

/* casync's name for an owner: none for 0; unresolvable ones are decimal unless uids are stored
 * (then none). user picks passwd or group. */
static int id_to_name(uint64_t flags, bool user, uint32_t id, char **ret)
{
        long bufsize = sysconf(user ? _SC_GETPW_R_SIZE_MAX : _SC_GETGR_R_SIZE_MAX);

        *ret = NULL;
        if (!ca_enc_id_is_valid(id))
                return -EINVAL;
        if (id == 0)
                return 0;
        if (bufsize <= 0)
                bufsize = 4096;
        for (;;) {
                _cleanup_(freep) char *buf = malloc((size_t)bufsize);
                const char *found = NULL;
                int r;

                if (!buf)
                        return -ENOMEM;
                if (user) {
                        struct passwd pw, *p = NULL;
                        r = getpwuid_r(id, &pw, buf, (size_t)bufsize, &p);
                        if (r == 0 && p)
                                found = p->pw_name;
                } else {
                        struct group gr, *g = NULL;
                        r = getgrgid_r(id, &gr, buf, (size_t)bufsize, &g);
                        if (r == 0 && g)
                                found = g->gr_name;
                }
                if (found) {
                        *ret = strdup(found);
                        return *ret ? 0 : -ENOMEM;
                }
                if (r != ERANGE) {
                        if (flags & CA_FORMAT_WITH_UID_MASK)
                                return 0;
                        return asprintf(ret, "%" PRIu32, id) < 0 ? -ENOMEM : 0;
                }
                bufsize *= 2;
        }
}

static int read_names(uint64_t flags, ca_enc_names *c, ca_enc_node *n)
{
        int r;

        if (!(flags & CA_FORMAT_WITH_USER_NAMES))
                return 0;
        if (!c->uid_valid || c->uid != n->st.st_uid) {
                free(c->user);
                c->uid_valid = false;
                r = id_to_name(flags, true, n->st.st_uid, &c->user);
                if (r < 0)
                        return ca_log_errno(CA_LOG_ERR, r, "%s: cannot name owner %u: %s", n->path,
                                            (unsigned)n->st.st_uid, strerror(-r));
                c->uid = n->st.st_uid;
                c->uid_valid = true;
        }
        if (!c->gid_valid || c->gid != n->st.st_gid) {
                free(c->group);
                c->gid_valid = false;
                r = id_to_name(flags, false, n->st.st_gid, &c->group);
                if (r < 0)
                        return ca_log_errno(CA_LOG_ERR, r, "%s: cannot name group %u: %s", n->path,
                                            (unsigned)n->st.st_gid, strerror(-r));
                c->gid = n->st.st_gid;
                c->gid_valid = true;
        }
        n->user_name = c->user;
        n->group_name = c->group;
        return 0;
}

static int compare_acl_entry(const void *a, const void *b)
{
        const ca_enc_acl_entry *x = a, *y = b;

        if (x->id != y->id)
                return x->id < y->id ? -1 : 1;
        if (!x->name != !y->name)
                return x->name ? 1 : -1;
        if (x->name) {
                int k = strcmp(x->name, y->name);
                if (k != 0)
                        return k;
        }
        if (x->permissions != y->permissions)
                return x->permissions < y->permissions ? -1 : 1;
        return 0;
}

static int acl_list_add(uint64_t flags, ca_enc_acl_list *l, bool user, uint32_t id,
                        uint64_t permissions)
{
        ca_enc_acl_entry *e;
        char *name = NULL;
        int r;

        if (!ca_enc_id_is_valid(id))
                return -EINVAL;
        if ((flags & CA_FORMAT_WITH_16BIT_UIDS) && id > UINT16_MAX)
                return -EPROTONOSUPPORT;
        if (flags & CA_FORMAT_WITH_USER_NAMES) {
                r = id_to_name(flags, user, id, &name);
                if (r < 0)
                        return r;
        }
        e = realloc(l->entries, (l->n + 1) * sizeof(*e));
        if (!e) {
                free(name);
                return -ENOMEM;
        }
        l->entries = e;
        e[l->n++] = (ca_enc_acl_entry){
            .id = (flags & CA_FORMAT_WITH_UID_MASK) ? id : 0,
            .permissions = permissions,
            .name = name,
        };
        return 0;
}

/* Parses a system.posix_acl_* value the way libacl hands it to casync. */
static int parse_acl(uint64_t flags, ca_enc_node *n, bool is_default, const uint8_t *v, size_t size)
{
        uint64_t user_obj = UINT64_MAX, group_obj = UINT64_MAX, other = UINT64_MAX,
                 mask = UINT64_MAX;
        ca_enc_acl_list *users = is_default ? &n->acl_default_user : &n->acl_user;
        ca_enc_acl_list *groups = is_default ? &n->acl_default_group : &n->acl_group;
        int r;

        if (size < CA_ACL_XATTR_HEADER_SIZE ||
            (size - CA_ACL_XATTR_HEADER_SIZE) % CA_ACL_XATTR_ENTRY_SIZE != 0 ||
            (uint32_t)(v[0] | v[1] << 8 | v[2] << 16 | (uint32_t)v[3] << 24) !=
                CA_ACL_XATTR_VERSION)
                return -EBADMSG;
        for (size_t off = CA_ACL_XATTR_HEADER_SIZE; off < size; off += CA_ACL_XATTR_ENTRY_SIZE) {
                unsigned tag = v[off] | v[off + 1] << 8;
                uint64_t perm = (v[off + 2] | v[off + 3] << 8) & 7;
                uint32_t id =
                    v[off + 4] | v[off + 5] << 8 | v[off + 6] << 16 | (uint32_t)v[off + 7] << 24;

                switch (tag) {
                case CA_ACL_TAG_USER_OBJ:
                        user_obj = perm;
                        break;
                case CA_ACL_TAG_GROUP_OBJ:
                        group_obj = perm;
                        break;
                case CA_ACL_TAG_OTHER:
                        other = perm;
                        break;
                case CA_ACL_TAG_MASK:
                        mask = perm;
                        break;
                case CA_ACL_TAG_USER:
                case CA_ACL_TAG_GROUP:
                        r = acl_list_add(flags, tag == CA_ACL_TAG_USER ? users : groups,
                                         tag == CA_ACL_TAG_USER, id, perm);
                        if (r < 0)
                                return r;
                        break;
                default:
                        return -EBADMSG;
                }
        }
        if (users->n > 1)
                qsort(users->entries, users->n, sizeof(ca_enc_acl_entry), compare_acl_entry);
        if (groups->n > 1)
                qsort(groups->entries, groups->n, sizeof(ca_enc_acl_entry), compare_acl_entry);

        if (!is_default) {
                /* With a mask, the mode's group bits are the mask: the owning group is kept
                 * apart. */
                if (group_obj != UINT64_MAX && mask != UINT64_MAX)
                        n->acl_group_obj = group_obj;
        } else {
                n->acl_default_user_obj = user_obj;
                n->acl_default_group_obj = group_obj;
                n->acl_default_other = other;
                n->acl_default_mask = mask;
        }
        return 0;
}

static int read_acl(uint64_t flags, ca_enc_node *n)
{
        _cleanup_(closep) int path_fd = -1;
        char path[FS_PROC_FD_PATH_MAX];
        int fd = n->fd;

        if (!(flags & CA_FORMAT_WITH_ACL) || n->synthetic || S_ISLNK(n->st.st_mode))
                return 0;
        if (fd < 0) {
                /* libacl's acl_get_file on /proc/self/fd/N, as casync calls it: for a node
                 * held by an O_PATH descriptor, the path reaches the inode on any kernel. */
                path_fd = open_path_fd(n);
                if (path_fd < 0)
                        return fail(n, path_fd, "ACL");
                fs_proc_fd_path(path_fd, path);
        }

        for (int k = 0; k < 2; k++) {
                bool is_default = k == 1;
                _cleanup_(freep) uint8_t *v = NULL;
                size_t size;
                int r;

                if (is_default && !S_ISDIR(n->st.st_mode))
                        break;
                /* An open file or directory: the same inode, without a walk through /proc. */
                r = get_xattr(fd, path, true,
                              is_default ? CA_ACL_XATTR_DEFAULT : CA_ACL_XATTR_ACCESS, &v, &size);
                if (r == -ENODATA || r == -EOPNOTSUPP || r == -EBADF || (r == 0 && size == 0))
                        continue; /* no ACL beyond the mode */
                if (r >= 0)
                        r = parse_acl(flags, n, is_default, v, size);
                if (r < 0)
                        return ca_log_errno(CA_LOG_ERR, r, "%s: cannot read %s ACL: %s", n->path,
                                            is_default ? "default" : "access", strerror(-r));
        }
        return 0;
}

int ca_enc_node_read_meta(uint64_t flags, ca_enc_names *names, ca_enc_node *n)
{
        int r;

        if ((r = ca_enc_node_read_chattr(flags, n)) < 0 || (r = read_fat_attrs(flags, n)) < 0 ||
            (r = read_subvolume(flags, n)) < 0 || (r = read_selinux(flags, n)) < 0 ||
            (r = read_xattrs(flags, n)) < 0 || (r = read_acl(flags, n)) < 0 ||
            (r = read_names(flags, names, n)) < 0 || (r = read_quota_projid(flags, n)) < 0)
                return r;
        return 0;
}
