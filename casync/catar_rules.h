/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The field rules of casync's catar reader, and the ca_node view of a node's checked metadata
 * records: one copy shared by the streaming decoder (catar_decode.c) and the seeking reader
 * (catar_seek.c), so both accept exactly the same archives. Private to casync/.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "casync/casync.h"

/* An owner id as the archive's flags allow it: casync refuses (uid_t)-1 of either width, and
 * 65535 even with 32-bit ids; without ids, only 0. */
bool ca_catar_uid_valid(uint64_t flags, uint64_t u);
/* USER/GROUP and ACL names: [A-Za-z_][A-Za-z0-9_-]*, not "root" (implied by id 0) nor "0". */
bool ca_catar_user_name_valid(const uint8_t *s, size_t len);
/* A NUL-terminated string filling the whole body, without embedded NULs. */
bool ca_catar_c_string_valid(const uint8_t *s, size_t len);
/* ACL permission bits: read, write, execute and nothing else. */
bool ca_catar_acl_permissions_valid(uint64_t p);
/* Only what casync stores as XATTR: "user." and "trusted." names, dot rules of xattr(7). */
bool ca_catar_xattr_name_valid(const char *s, size_t len);
/* ACL entries sort by id, unnamed before named, name, permissions; casync wants them strictly. */
int ca_catar_acl_compare(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);

/*
 * Points n's metadata fields into meta[0..meta_size), a run of already checked records (header
 * and body each). xattrs and acls must have room for every XATTR record and for the n_acl[0..3]
 * user, group, default user and default group ACL entries, which are stored in that order.
 */
void ca_catar_node_set_meta(ca_node *n, const uint8_t *meta, size_t meta_size,
                            const size_t n_acl[4], ca_xattr *xattrs, ca_acl_entry *acls);
