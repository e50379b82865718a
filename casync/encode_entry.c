/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One node's ENTRY record and the metadata records that follow it, in casync's order (spec §4.2,
 * §4.6, §4.8), from what encode_meta.c collected.
 */
#include <linux/fs.h>
#include <linux/msdos_fs.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "casync/encode.h"

typedef struct outbuf {
        uint8_t *data;
        size_t size, alloc;
} outbuf;

static uint8_t *out_grow(outbuf *o, size_t n)
{
        if (o->size + n > o->alloc) {
                size_t a = MAX(o->alloc * 2, o->size + n + 256);
                uint8_t *d = realloc(o->data, a);
                if (!d)
                        return NULL;
                o->data = d;
                o->alloc = a;
        }
        o->size += n;
        return o->data + o->size - n;
}

static int out_u64s(outbuf *o, size_t n, const uint64_t *v)
{
        uint8_t *p = out_grow(o, 8 * n);

        if (!p)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                write_le64(p + 8 * i, v[i]);
        return 0;
}

static int out_bytes(outbuf *o, const void *data, size_t n)
{
        uint8_t *p = out_grow(o, n);

        if (!p)
                return -ENOMEM;
        if (n > 0)
                memcpy(p, data, n);
        return 0;
}

/* A record holding a NUL-terminated string. */
static int out_string_record(outbuf *o, uint64_t type, const char *s)
{
        size_t l = strlen(s) + 1;
        int r = out_u64s(o, 2, (const uint64_t[]){CA_FORMAT_HEADER_SIZE + l, type});

        return r < 0 ? r : out_bytes(o, s, l);
}

static int out_acl_list(outbuf *o, uint64_t type, const ca_enc_acl_list *l)
{
        for (size_t i = 0; i < l->n; i++) {
                const ca_enc_acl_entry *e = &l->entries[i];
                size_t extra = e->name ? strlen(e->name) + 1 : 0;
                int r = out_u64s(o, 4, (const uint64_t[]){32 + extra, type, e->id, e->permissions});
                if (r < 0 || (extra && (r = out_bytes(o, e->name, extra)) < 0))
                        return r;
        }
        return 0;
}

static uint64_t flags_from_chattr(unsigned chattr)
{
        static const struct {
                unsigned fs;
                uint64_t flag;
        } map[] = {
            {FS_APPEND_FL, CA_FORMAT_WITH_FLAG_APPEND},
            {FS_NOATIME_FL, CA_FORMAT_WITH_FLAG_NOATIME},
            {FS_COMPR_FL, CA_FORMAT_WITH_FLAG_COMPR},
            {FS_NOCOW_FL, CA_FORMAT_WITH_FLAG_NOCOW},
            {FS_NODUMP_FL, CA_FORMAT_WITH_FLAG_NODUMP},
            {FS_DIRSYNC_FL, CA_FORMAT_WITH_FLAG_DIRSYNC},
            {FS_IMMUTABLE_FL, CA_FORMAT_WITH_FLAG_IMMUTABLE},
            {FS_SYNC_FL, CA_FORMAT_WITH_FLAG_SYNC},
            {FS_NOCOMP_FL, CA_FORMAT_WITH_FLAG_NOCOMP},
            {FS_PROJINHERIT_FL, CA_FORMAT_WITH_FLAG_PROJINHERIT},
        };
        uint64_t f = 0;

        for (size_t i = 0; i < ELEMENTSOF(map); i++)
                if (chattr & map[i].fs)
                        f |= map[i].flag;
        return f;
}

static uint64_t flags_from_fat(uint32_t fat)
{
        return ((fat & ATTR_HIDDEN) ? CA_FORMAT_WITH_FLAG_HIDDEN : 0) |
               ((fat & ATTR_SYS) ? CA_FORMAT_WITH_FLAG_SYSTEM : 0) |
               ((fat & ATTR_ARCH) ? CA_FORMAT_WITH_FLAG_ARCHIVE : 0);
}

static uint64_t entry_mode(uint64_t flags, mode_t m)
{
        bool dir = S_ISDIR(m);

        if (S_ISLNK(m))
                return S_IFLNK | 0777;
        if (flags & (CA_FORMAT_WITH_PERMISSIONS | CA_FORMAT_WITH_ACL))
                return m & (S_IFMT | 07777);
        if (flags & CA_FORMAT_WITH_READ_ONLY)
                return (m & S_IFMT) | ((m & 0222) ? (dir ? 0777 : 0666) : (dir ? 0555 : 0444));
        return (m & S_IFMT) | (dir ? 0777 : 0666);
}

static int entry_checks(uint64_t flags, const ca_enc_node *n)
{
        mode_t m = n->st.st_mode;

        if (flags & CA_FORMAT_WITH_UID_MASK) {
                if (!ca_enc_id_is_valid(n->st.st_uid) || !ca_enc_id_is_valid(n->st.st_gid))
                        return ca_log_errno(CA_LOG_ERR, -EINVAL,
                                            "%s: owner %u:%u cannot be archived", n->path,
                                            (unsigned)n->st.st_uid, (unsigned)n->st.st_gid);
                if ((flags & CA_FORMAT_WITH_16BIT_UIDS) &&
                    (n->st.st_uid > UINT16_MAX || n->st.st_gid > UINT16_MAX))
                        return ca_log_errno(CA_LOG_ERR, -EPROTONOSUPPORT,
                                            "%s: owner %u:%u does not fit 16-bit ids", n->path,
                                            (unsigned)n->st.st_uid, (unsigned)n->st.st_gid);
        }
        if ((S_ISLNK(m) && !(flags & CA_FORMAT_WITH_SYMLINKS)) ||
            ((S_ISBLK(m) || S_ISCHR(m)) && !(flags & CA_FORMAT_WITH_DEVICE_NODES)) ||
            (S_ISFIFO(m) && !(flags & CA_FORMAT_WITH_FIFOS)) ||
            (S_ISSOCK(m) && !(flags & CA_FORMAT_WITH_SOCKETS)))
                return ca_log_errno(CA_LOG_ERR, -EPROTONOSUPPORT,
                                    "%s: its file type is not enabled in the feature flags",
                                    n->path);
        return 0;
}

int ca_enc_node_entry(uint64_t flags, const ca_enc_node *n, uint8_t **ret, size_t *ret_size)
{
        outbuf o = {0};
        uint64_t g = ca_feature_flags_time_granularity(flags), eflags = 0, mtime = 0;
        uint64_t ns =
            (uint64_t)n->st.st_mtim.tv_sec * UINT64_C(1000000000) + (uint64_t)n->st.st_mtim.tv_nsec;
        mode_t m = n->st.st_mode;
        int r;

        r = entry_checks(flags, n);
        if (r < 0)
                return r;
        if (g != 0)
                mtime = ns / g * g;
        if (S_ISDIR(m) || S_ISREG(m)) {
                if (flags & CA_FORMAT_WITH_CHATTR)
                        eflags |= flags_from_chattr(n->chattr) & flags;
                if (flags & CA_FORMAT_WITH_FAT_ATTRS)
                        eflags |= flags_from_fat(n->fat_attrs) & flags;
        }
        if (S_ISDIR(m) && (flags & CA_FORMAT_WITH_SUBVOLUME))
                eflags |= ((n->subvolume ? CA_FORMAT_WITH_SUBVOLUME : 0) |
                           (n->subvolume_ro ? CA_FORMAT_WITH_SUBVOLUME_RO : 0)) &
                          flags;

        bool uids = flags & CA_FORMAT_WITH_UID_MASK;
        r = out_u64s(&o, 8,
                     (const uint64_t[]){CA_FORMAT_ENTRY_SIZE, CA_FORMAT_ENTRY, flags,
                                        entry_mode(flags, m), eflags,
                                        uids ? (uint64_t)n->st.st_uid : 0,
                                        uids ? (uint64_t)n->st.st_gid : 0, mtime});
        if (r < 0)
                goto fail;
        if (n->user_name && (r = out_string_record(&o, CA_FORMAT_USER, n->user_name)) < 0)
                goto fail;
        if (n->group_name && (r = out_string_record(&o, CA_FORMAT_GROUP, n->group_name)) < 0)
                goto fail;
        for (size_t i = 0; (flags & CA_FORMAT_WITH_XATTRS) && i < n->n_xattrs; i++) {
                const ca_enc_xattr *x = &n->xattrs[i];
                size_t nl = strlen(x->name) + 1;

                if ((r = out_u64s(&o, 2,
                                  (const uint64_t[]){CA_FORMAT_HEADER_SIZE + nl + x->size,
                                                     CA_FORMAT_XATTR})) < 0 ||
                    (r = out_bytes(&o, x->name, nl)) < 0 ||
                    (r = out_bytes(&o, x->value, x->size)) < 0)
                        goto fail;
        }
        if ((r = out_acl_list(&o, CA_FORMAT_ACL_USER, &n->acl_user)) < 0 ||
            (r = out_acl_list(&o, CA_FORMAT_ACL_GROUP, &n->acl_group)) < 0)
                goto fail;
        if (n->acl_group_obj != UINT64_MAX &&
            (r = out_u64s(&o, 3,
                          (const uint64_t[]){CA_FORMAT_ACL_GROUP_OBJ_SIZE, CA_FORMAT_ACL_GROUP_OBJ,
                                             n->acl_group_obj})) < 0)
                goto fail;
        if ((n->acl_default_user_obj != UINT64_MAX || n->acl_default_group_obj != UINT64_MAX ||
             n->acl_default_other != UINT64_MAX || n->acl_default_mask != UINT64_MAX) &&
            (r = out_u64s(&o, 6,
                          (const uint64_t[]){CA_FORMAT_ACL_DEFAULT_SIZE, CA_FORMAT_ACL_DEFAULT,
                                             n->acl_default_user_obj, n->acl_default_group_obj,
                                             n->acl_default_other, n->acl_default_mask})) < 0)
                goto fail;
        if ((r = out_acl_list(&o, CA_FORMAT_ACL_DEFAULT_USER, &n->acl_default_user)) < 0 ||
            (r = out_acl_list(&o, CA_FORMAT_ACL_DEFAULT_GROUP, &n->acl_default_group)) < 0)
                goto fail;
        if (n->selinux && (r = out_string_record(&o, CA_FORMAT_SELINUX, n->selinux)) < 0)
                goto fail;
        if (n->has_fcaps && (flags & CA_FORMAT_WITH_FCAPS) &&
            ((r = out_u64s(&o, 2,
                           (const uint64_t[]){CA_FORMAT_HEADER_SIZE + n->fcaps_size,
                                              CA_FORMAT_FCAPS})) < 0 ||
             (r = out_bytes(&o, n->fcaps, n->fcaps_size)) < 0))
                goto fail;
        if (n->quota_projid != 0 &&
            (r = out_u64s(&o, 3,
                          (const uint64_t[]){CA_FORMAT_QUOTA_PROJID_SIZE, CA_FORMAT_QUOTA_PROJID,
                                             n->quota_projid})) < 0)
                goto fail;

        if (S_ISREG(m)) {
                uint64_t size = ca_enc_node_enumerate(n) ? (uint64_t)n->st.st_size : 0;
                r = out_u64s(&o, 2,
                             (const uint64_t[]){CA_FORMAT_HEADER_SIZE + size, CA_FORMAT_PAYLOAD});
        } else if (S_ISLNK(m))
                r = out_string_record(&o, CA_FORMAT_SYMLINK, n->symlink_target);
        else if (S_ISBLK(m) || S_ISCHR(m))
                r = out_u64s(&o, 4,
                             (const uint64_t[]){CA_FORMAT_DEVICE_SIZE, CA_FORMAT_DEVICE,
                                                major(n->st.st_rdev), minor(n->st.st_rdev)});
        if (r < 0)
                goto fail;

        *ret = o.data;
        *ret_size = o.size;
        return 0;
fail:
        free(o.data);
        return r;
}
