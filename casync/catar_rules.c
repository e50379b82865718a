/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* casync's catar field rules and the node view of metadata records (see catar_rules.h). */
#include <string.h>

#include "casync/catar_rules.h"

bool ca_catar_uid_valid(uint64_t flags, uint64_t u)
{
        if (flags & CA_FORMAT_WITH_16BIT_UIDS)
                return u < UINT16_MAX;
        if (flags & CA_FORMAT_WITH_32BIT_UIDS)
                return u < UINT32_MAX && u != UINT16_MAX;
        return u == 0;
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
        n->acl_user = acls;
        n->n_acl_user = n_acl[0];
        n->acl_group = acls + n_acl[0];
        n->n_acl_group = n_acl[1];
        n->acl_default_user = n->acl_group + n_acl[1];
        n->n_acl_default_user = n_acl[2];
        n->acl_default_group = n->acl_default_user + n_acl[2];
        n->n_acl_default_group = n_acl[3];
}
