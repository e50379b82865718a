/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* casync's catar field rules and the node view of metadata records (see catar_rules.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "casync/catar_rules.h"

bool ca_catar_uid_valid(uint64_t flags, uint64_t u)
{
        if (flags & CA_FORMAT_WITH_16BIT_UIDS)
                return u < UINT16_MAX;
        if (flags & CA_FORMAT_WITH_32BIT_UIDS)
                return u < UINT32_MAX && u != UINT16_MAX;
        return u == 0;
}

static const ca_catar_record_kind kinds[] = {
    {CA_FORMAT_ENTRY, "ENTRY", CA_FORMAT_ENTRY_SIZE, CA_FORMAT_ENTRY_SIZE, 0, false, 0},
    {CA_FORMAT_USER, "USER", 18, CA_FORMAT_USER_SIZE_MAX, CA_CATAR_RANK_USER, false,
     CA_FORMAT_WITH_USER_NAMES},
    {CA_FORMAT_GROUP, "GROUP", 18, CA_FORMAT_GROUP_SIZE_MAX, CA_CATAR_RANK_GROUP, false,
     CA_FORMAT_WITH_USER_NAMES},
    {CA_FORMAT_XATTR, "XATTR", 20, CA_FORMAT_XATTR_SIZE_MAX, CA_CATAR_RANK_XATTR, true,
     CA_FORMAT_WITH_XATTRS},
    {CA_FORMAT_ACL_USER, "ACL_USER", 32, CA_FORMAT_ACL_USER_SIZE_MAX, CA_CATAR_RANK_ACL_USER, true,
     CA_FORMAT_WITH_ACL},
    {CA_FORMAT_ACL_GROUP, "ACL_GROUP", 32, CA_FORMAT_ACL_GROUP_SIZE_MAX, CA_CATAR_RANK_ACL_GROUP,
     true, CA_FORMAT_WITH_ACL},
    {CA_FORMAT_ACL_GROUP_OBJ, "ACL_GROUP_OBJ", CA_FORMAT_ACL_GROUP_OBJ_SIZE,
     CA_FORMAT_ACL_GROUP_OBJ_SIZE, CA_CATAR_RANK_ACL_GROUP_OBJ, false, CA_FORMAT_WITH_ACL},
    {CA_FORMAT_ACL_DEFAULT, "ACL_DEFAULT", CA_FORMAT_ACL_DEFAULT_SIZE, CA_FORMAT_ACL_DEFAULT_SIZE,
     CA_CATAR_RANK_ACL_DEFAULT, false, CA_FORMAT_WITH_ACL},
    {CA_FORMAT_ACL_DEFAULT_USER, "ACL_DEFAULT_USER", 32, CA_FORMAT_ACL_USER_SIZE_MAX,
     CA_CATAR_RANK_ACL_DEFAULT_USER, true, CA_FORMAT_WITH_ACL},
    {CA_FORMAT_ACL_DEFAULT_GROUP, "ACL_DEFAULT_GROUP", 32, CA_FORMAT_ACL_GROUP_SIZE_MAX,
     CA_CATAR_RANK_ACL_DEFAULT_GROUP, true, CA_FORMAT_WITH_ACL},
    {CA_FORMAT_SELINUX, "SELINUX", 18, CA_FORMAT_SELINUX_SIZE_MAX, CA_CATAR_RANK_SELINUX, false,
     CA_FORMAT_WITH_SELINUX},
    {CA_FORMAT_FCAPS, "FCAPS", 17, CA_FORMAT_FCAPS_SIZE_MAX, CA_CATAR_RANK_FCAPS, false,
     CA_FORMAT_WITH_FCAPS},
    {CA_FORMAT_QUOTA_PROJID, "QUOTA_PROJID", CA_FORMAT_QUOTA_PROJID_SIZE,
     CA_FORMAT_QUOTA_PROJID_SIZE, CA_CATAR_RANK_QUOTA_PROJID, false, CA_FORMAT_WITH_QUOTA_PROJID},
    {CA_FORMAT_SYMLINK, "SYMLINK", 18, CA_FORMAT_SYMLINK_SIZE_MAX, 0, false,
     CA_FORMAT_WITH_SYMLINKS},
    {CA_FORMAT_DEVICE, "DEVICE", CA_FORMAT_DEVICE_SIZE, CA_FORMAT_DEVICE_SIZE, 0, false,
     CA_FORMAT_WITH_DEVICE_NODES},
    {CA_FORMAT_PAYLOAD, "PAYLOAD", CA_FORMAT_HEADER_SIZE, UINT64_MAX - 1, 0, false, 0},
    {CA_FORMAT_FILENAME, "FILENAME", 18, CA_FORMAT_FILENAME_SIZE_MAX, 0, false, 0},
    {CA_FORMAT_GOODBYE, "GOODBYE", 16 + CA_FORMAT_GOODBYE_TAIL_SIZE, UINT64_MAX - 1, 0, false, 0},
};

const ca_catar_record_kind *ca_catar_record_kind_lookup(uint64_t type)
{
        for (size_t i = 0; i < ELEMENTSOF(kinds); i++)
                if (kinds[i].type == type)
                        return &kinds[i];
        return NULL;
}

static int why_bad(char why[CA_CATAR_WHY_MAX], const char *fmt, ...) _printf_(2, 3);
static int why_bad(char why[CA_CATAR_WHY_MAX], const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, CA_CATAR_WHY_MAX, fmt, ap);
        va_end(ap);
        return -EBADMSG;
}

/* The file type, and the permission bits an archive without permissions can hold. */
static int check_mode(uint64_t f, uint64_t mode, uint64_t entry_flags, char *why)
{
        uint64_t perm = mode & 07777;

        if (mode & ~(uint64_t)(S_IFMT | 07777))
                return why_bad(why, "mode 0%" PRIo64 " has unknown bits", mode);

        switch (mode & S_IFMT) {
        case S_IFREG:
        case S_IFDIR:
                break;
        case S_IFLNK:
                if (!(f & CA_FORMAT_WITH_SYMLINKS))
                        return why_bad(why, "symlink in an archive without symlinks");
                if (perm != 0777)
                        return why_bad(why, "symlink with mode %04" PRIo64, perm);
                break;
        case S_IFBLK:
        case S_IFCHR:
                if (!(f & CA_FORMAT_WITH_DEVICE_NODES))
                        return why_bad(why, "device node in an archive without device nodes");
                break;
        case S_IFIFO:
                if (!(f & CA_FORMAT_WITH_FIFOS))
                        return why_bad(why, "fifo in an archive without fifos");
                break;
        case S_IFSOCK:
                if (!(f & CA_FORMAT_WITH_SOCKETS))
                        return why_bad(why, "socket in an archive without sockets");
                break;
        default:
                return why_bad(why, "mode 0%" PRIo64 " has an unknown file type", mode);
        }

        if (!S_ISDIR(mode) && (entry_flags & CA_FORMAT_WITH_SUBVOLUME))
                return why_bad(why, "subvolume flag on a non-directory");

        /* Without permission bits in the archive, casync writes only these fixed modes. */
        if (S_ISLNK(mode) || (f & (CA_FORMAT_WITH_PERMISSIONS | CA_FORMAT_WITH_ACL)))
                return 0;
        if (perm == (S_ISDIR(mode) ? 0777u : 0666u))
                return 0;
        if ((f & CA_FORMAT_WITH_READ_ONLY) && perm == (S_ISDIR(mode) ? 0555u : 0444u))
                return 0;
        return why_bad(why, "mode %04" PRIo64 " not possible in an archive without permissions",
                       perm);
}

int ca_catar_entry_parse(const uint8_t *b, uint64_t off, bool root, ca_node *n,
                         char why[CA_CATAR_WHY_MAX])
{
        uint64_t f = read_le64(b), mode = read_le64(b + 8), eflags = read_le64(b + 16);
        uint64_t uid = read_le64(b + 24), gid = read_le64(b + 32), mtime = read_le64(b + 40);
        int r = check_mode(f, mode, eflags, why);
        if (r < 0)
                return r;
        if (root && !S_ISDIR(mode))
                return why_bad(why, "the archive's root is not a directory");

        uint64_t allowed =
            f & (CA_FORMAT_WITH_FAT_ATTRS | CA_FORMAT_WITH_CHATTR | CA_FORMAT_WITH_SUBVOLUME_MASK);
        if (eflags & ~allowed)
                return why_bad(why, "entry flags 0x%" PRIx64 " outside the archive's 0x%" PRIx64,
                               eflags, allowed);
        if (eflags != 0 && !S_ISREG(mode) && !S_ISDIR(mode))
                return why_bad(why, "entry flags on a node that is neither file nor directory");
        if (!ca_catar_uid_valid(f, uid))
                return why_bad(why, "uid %" PRIu64 " invalid for the archive's uid format", uid);
        if (!ca_catar_uid_valid(f, gid))
                return why_bad(why, "gid %" PRIu64 " invalid for the archive's uid format", gid);

        uint64_t g = ca_feature_flags_time_granularity(f);
        if (g == 0 && mtime != 0)
                return why_bad(why, "mtime %" PRIu64 " set in an archive that stores no times",
                               mtime);
        if (g != 0 && (mtime == UINT64_MAX || mtime % g != 0))
                return why_bad(why, "mtime %" PRIu64 " not a multiple of the archive's granularity",
                               mtime);

        *n = (ca_node){
            .entry_offset = off,
            .feature_flags = f,
            .mode = mode,
            .flags = eflags,
            .uid = uid,
            .gid = gid,
            .mtime = mtime,
            .acl_default_user_obj = CA_FORMAT_ACL_ABSENT,
            .acl_default_group_obj = CA_FORMAT_ACL_ABSENT,
            .acl_default_other = CA_FORMAT_ACL_ABSENT,
            .acl_default_mask = CA_FORMAT_ACL_ABSENT,
        };
        return 0;
}

void ca_catar_meta_init(ca_catar_meta_state *m)
{
        *m = (ca_catar_meta_state){.default_mask = CA_FORMAT_ACL_ABSENT};
}

/* An ACL_USER, ACL_GROUP or default one of them: list 0 to 3. */
static int check_acl_entry(ca_catar_meta_state *m, uint64_t flags, uint64_t mode, unsigned list,
                           const char *what, const uint8_t *meta, size_t at, const uint8_t *b,
                           size_t len, char *why)
{
        uint64_t id = read_le64(b), perm = read_le64(b + 8);

        if (S_ISLNK(mode))
                return why_bad(why, "%s record on a symlink", what);
        if (list >= 2 && !S_ISDIR(mode))
                return why_bad(why, "default ACL on a non-directory");
        if (len > 16) {
                if (!(flags & CA_FORMAT_WITH_USER_NAMES))
                        return why_bad(why, "%s record with a name in an archive without names",
                                       what);
                if (!ca_catar_user_name_valid(b + 16, len - 16))
                        return why_bad(why, "%s record with an invalid name", what);
        }
        if (!ca_catar_uid_valid(flags, id))
                return why_bad(why, "%s record with invalid id %" PRIu64, what, id);
        if (!ca_catar_acl_permissions_valid(perm))
                return why_bad(why, "%s record with invalid permissions 0x%" PRIx64, what, perm);
        if (m->n_acl[list] > 0) {
                const uint8_t *prev = meta + m->last_acl[list];
                size_t plen = (size_t)read_le64(prev) - CA_FORMAT_HEADER_SIZE;
                if (ca_catar_acl_compare(prev + CA_FORMAT_HEADER_SIZE, plen, b, len) >= 0)
                        return why_bad(why, "%s records not in strictly increasing order", what);
        }
        m->last_acl[list] = at;
        m->n_acl[list]++;
        return 0;
}

int ca_catar_meta_check(ca_catar_meta_state *m, uint64_t flags, uint64_t mode,
                        const ca_catar_record_kind *k, const uint8_t *meta, size_t at,
                        const uint8_t *b, size_t len, char why[CA_CATAR_WHY_MAX])
{
        switch (k->type) {
        case CA_FORMAT_USER:
        case CA_FORMAT_GROUP:
                if (!ca_catar_user_name_valid(b, len))
                        return why_bad(why, "%s record with an invalid name", k->name);
                if (k->type == CA_FORMAT_USER)
                        m->has_user = true;
                else
                        m->has_group = true;
                return 0;

        case CA_FORMAT_XATTR: {
                const uint8_t *nul = memchr(b, 0, MIN(len, (size_t)256));
                if (!nul || !ca_catar_xattr_name_valid((const char *)b, (size_t)(nul - b)))
                        return why_bad(why, "XATTR record with an invalid name");
                if (S_ISLNK(mode))
                        return why_bad(why, "XATTR record on a symlink");
                if (m->n_xattrs > 0 &&
                    strcmp((const char *)meta + m->last_xattr + CA_FORMAT_HEADER_SIZE,
                           (const char *)b) >= 0)
                        return why_bad(why, "XATTR names not in strictly increasing order");
                m->xattr_names += (size_t)(nul - b) + 1;
                if (m->xattr_names > CA_CATAR_XATTR_NAMES_MAX)
                        return why_bad(why, "xattr names longer than %d bytes in total",
                                       CA_CATAR_XATTR_NAMES_MAX);
                m->last_xattr = at;
                m->n_xattrs++;
                return 0;
        }

        case CA_FORMAT_ACL_USER:
                return check_acl_entry(m, flags, mode, 0, k->name, meta, at, b, len, why);
        case CA_FORMAT_ACL_GROUP:
                return check_acl_entry(m, flags, mode, 1, k->name, meta, at, b, len, why);
        case CA_FORMAT_ACL_DEFAULT_USER:
                return check_acl_entry(m, flags, mode, 2, k->name, meta, at, b, len, why);
        case CA_FORMAT_ACL_DEFAULT_GROUP:
                return check_acl_entry(m, flags, mode, 3, k->name, meta, at, b, len, why);

        case CA_FORMAT_ACL_GROUP_OBJ:
                if (S_ISLNK(mode))
                        return why_bad(why, "ACL_GROUP_OBJ record on a symlink");
                if (!ca_catar_acl_permissions_valid(read_le64(b)))
                        return why_bad(why, "ACL_GROUP_OBJ record with invalid permissions");
                m->has_group_obj = true;
                return 0;

        case CA_FORMAT_ACL_DEFAULT:
                if (!S_ISDIR(mode))
                        return why_bad(why, "default ACL on a non-directory");
                /* user_obj, group_obj and other make a valid ACL; only the mask is optional */
                for (unsigned i = 0; i < 4; i++) {
                        uint64_t p = read_le64(b + 8 * i);
                        if (!ca_catar_acl_permissions_valid(p) &&
                            !(i == 3 && p == CA_FORMAT_ACL_ABSENT))
                                return why_bad(why, "ACL_DEFAULT record with invalid permissions");
                }
                m->default_mask = read_le64(b + 24);
                return 0;

        case CA_FORMAT_SELINUX:
                if (!ca_catar_c_string_valid(b, len))
                        return why_bad(why, "SELINUX record with an invalid label");
                return 0;

        case CA_FORMAT_FCAPS:
                if (!S_ISREG(mode))
                        return why_bad(why, "FCAPS record on a non-regular file");
                return 0;

        case CA_FORMAT_QUOTA_PROJID: {
                uint64_t id = read_le64(b);
                if (!S_ISREG(mode) && !S_ISDIR(mode))
                        return why_bad(why, "QUOTA_PROJID record on a node that is neither file "
                                            "nor directory");
                if (id == 0 || id > UINT32_MAX)
                        return why_bad(why, "QUOTA_PROJID record with invalid id %" PRIu64, id);
                return 0;
        }
        }
        return why_bad(why, "unexpected %s record", k->name);
}

int ca_catar_meta_finish(const ca_catar_meta_state *m, uint64_t flags, char why[CA_CATAR_WHY_MAX])
{
        if ((flags & CA_FORMAT_WITH_USER_NAMES) && !(flags & CA_FORMAT_WITH_UID_MASK) &&
            (!m->has_user || !m->has_group))
                return why_bad(why, "USER and GROUP records are required by the archive's flags");
        if ((m->n_acl[0] || m->n_acl[1]) && !m->has_group_obj)
                return why_bad(why, "ACL user/group entries without ACL_GROUP_OBJ");
        if ((m->n_acl[2] || m->n_acl[3]) && m->default_mask == CA_FORMAT_ACL_ABSENT)
                return why_bad(why, "default ACL user/group entries without a default mask");
        return 0;
}

bool ca_catar_user_name_valid(const uint8_t *s, size_t len)
{
        if (len < 2 || len > 256 || s[len - 1] != 0)
                return false;
        for (size_t i = 0; i < len - 1; i++) {
                uint8_t c = s[i];
                bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
                if (!alpha && (i == 0 || !((c >= '0' && c <= '9') || c == '-')))
                        return false;
        }
        return strcmp((const char *)s, "root") != 0 && strcmp((const char *)s, "0") != 0;
}

bool ca_catar_c_string_valid(const uint8_t *s, size_t len)
{
        return len >= 2 && s[len - 1] == 0 && !memchr(s, 0, len - 1);
}

bool ca_catar_acl_permissions_valid(uint64_t p)
{
        return (p & ~(uint64_t)(CA_FORMAT_ACL_PERMISSION_READ | CA_FORMAT_ACL_PERMISSION_WRITE |
                                CA_FORMAT_ACL_PERMISSION_EXECUTE)) == 0;
}

bool ca_catar_xattr_name_valid(const char *s, size_t len)
{
        if (len == 0 || len > 255)
                return false;
        if (strncmp(s, "user.", 5) != 0 && strncmp(s, "trusted.", 8) != 0)
                return false;
        return strchr(s, '.')[1] != 0;
}

int ca_catar_acl_compare(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
        uint64_t ia = read_le64(a), ib = read_le64(b);
        if (ia != ib)
                return ia < ib ? -1 : 1;
        bool an = alen > 16, bn = blen > 16;
        if (an != bn)
                return an ? 1 : -1;
        if (an) {
                int c = strcmp((const char *)a + 16, (const char *)b + 16);
                if (c != 0)
                        return c;
        }
        uint64_t pa = read_le64(a + 8), pb = read_le64(b + 8);
        return pa < pb ? -1 : pa > pb ? 1 : 0;
}

/* The n entries of acls from start, or NULL when n is 0: the decoder passes a NULL acls to a
 * node without ACLs, and even `NULL + 0` is undefined behaviour in C. */
static const ca_acl_entry *acl_slice(const ca_acl_entry *acls, size_t start, size_t n)
{
        return n > 0 ? acls + start : NULL;
}

void ca_catar_node_set_meta(ca_node *n, const uint8_t *meta, size_t meta_size,
                            const size_t n_acl[4], ca_xattr *xattrs, ca_acl_entry *acls)
{
        size_t nx = 0, na = 0;
        for (size_t o = 0; o < meta_size;) {
                uint64_t size = read_le64(meta + o), type = read_le64(meta + o + 8);
                const uint8_t *b = meta + o + CA_FORMAT_HEADER_SIZE;
                size_t len = (size_t)size - CA_FORMAT_HEADER_SIZE;
                switch (type) {
                case CA_FORMAT_USER:
                        n->user_name = (const char *)b;
                        break;
                case CA_FORMAT_GROUP:
                        n->group_name = (const char *)b;
                        break;
                case CA_FORMAT_XATTR: {
                        size_t nl = strlen((const char *)b) + 1;
                        xattrs[nx++] = (ca_xattr){(const char *)b, b + nl, len - nl};
                        break;
                }
                case CA_FORMAT_ACL_USER:
                case CA_FORMAT_ACL_GROUP:
                case CA_FORMAT_ACL_DEFAULT_USER:
                case CA_FORMAT_ACL_DEFAULT_GROUP:
                        acls[na++] = (ca_acl_entry){read_le64(b), read_le64(b + 8),
                                                    len > 16 ? (const char *)b + 16 : NULL};
                        break;
                case CA_FORMAT_ACL_GROUP_OBJ:
                        n->has_acl_group_obj = true;
                        n->acl_group_obj = read_le64(b);
                        break;
                case CA_FORMAT_ACL_DEFAULT:
                        n->has_acl_default = true;
                        n->acl_default_user_obj = read_le64(b);
                        n->acl_default_group_obj = read_le64(b + 8);
                        n->acl_default_other = read_le64(b + 16);
                        n->acl_default_mask = read_le64(b + 24);
                        break;
                case CA_FORMAT_SELINUX:
                        n->selinux_label = (const char *)b;
                        break;
                case CA_FORMAT_FCAPS:
                        n->fcaps = b;
                        n->fcaps_size = len;
                        break;
                case CA_FORMAT_QUOTA_PROJID:
                        n->quota_projid = read_le64(b);
                        break;
                case CA_FORMAT_SYMLINK:
                        n->symlink_target = (const char *)b;
                        break;
                }
                o += (size_t)size;
        }
        n->xattrs = xattrs;
        n->n_xattrs = nx;
        n->acl_user = acl_slice(acls, 0, n_acl[0]);
        n->n_acl_user = n_acl[0];
        n->acl_group = acl_slice(acls, n_acl[0], n_acl[1]);
        n->n_acl_group = n_acl[1];
        n->acl_default_user = acl_slice(acls, n_acl[0] + n_acl[1], n_acl[2]);
        n->n_acl_default_user = n_acl[2];
        n->acl_default_group = acl_slice(acls, n_acl[0] + n_acl[1] + n_acl[2], n_acl[3]);
        n->n_acl_default_group = n_acl[3];
}
