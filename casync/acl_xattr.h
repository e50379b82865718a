/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * POSIX ACLs in the kernel's xattr format (system.posix_acl_access and system.posix_acl_default),
 * so no libacl is needed: the format, which the encoder parses, and the values the extract sink
 * and the mount build from a decoded node.
 */
#pragma once

#include <stddef.h>

#include "casync/casync.h"

#define CA_ACL_XATTR_ACCESS  "system.posix_acl_access"
#define CA_ACL_XATTR_DEFAULT "system.posix_acl_default"

/* The kernel's layout (include/uapi/linux/posix_acl_xattr.h): a little-endian u32 version, then
 * entries of u16 tag, u16 permissions, u32 id. */
#define CA_ACL_XATTR_VERSION     2
#define CA_ACL_XATTR_HEADER_SIZE 4
#define CA_ACL_XATTR_ENTRY_SIZE  8
#define CA_ACL_UNDEFINED_ID      UINT32_MAX

enum {
        CA_ACL_TAG_USER_OBJ = 0x01,
        CA_ACL_TAG_USER = 0x02,
        CA_ACL_TAG_GROUP_OBJ = 0x04,
        CA_ACL_TAG_GROUP = 0x08,
        CA_ACL_TAG_MASK = 0x10,
        CA_ACL_TAG_OTHER = 0x20,
};

/*
 * The access ACL of n, rebuilt as casync does: user_obj and other from the mode; with an
 * ACL_GROUP_OBJ record the mode's group bits are the mask and the record is the owning group,
 * else the mode's group bits are the owning group and there is no mask; then the named users and
 * groups. *ret is NULL and *ret_size 0 when the ACL would only repeat the mode. `what` names the
 * node in messages; bad records give -EBADMSG (logged).
 */
int ca_acl_access_xattr(const ca_node *n, const char *what, void **ret, size_t *ret_size);

/* The default ACL of a directory node; NULL/0 when the archive has none. */
int ca_acl_default_xattr(const ca_node *n, const char *what, void **ret, size_t *ret_size);
