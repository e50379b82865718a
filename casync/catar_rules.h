/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * casync's catar reader rules (record kinds and sizes, limits, the ENTRY and each metadata
 * record, what a node's metadata needs as a whole) and the ca_node view of a node's checked
 * metadata records: one copy shared by the streaming decoder (catar_decode.c) and the seeking reader
 * (catar_seek.c), so both accept exactly the same archives. Private to casync/.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "casync/casync.h"

/* All metadata records of one node together (a valid node is far below this). */
#define CA_CATAR_META_BYTES_MAX (UINT64_C(8) << 20)
/* The kernel's bound on a file's xattr name list (XATTR_LIST_MAX): no valid node exceeds it. */
#define CA_CATAR_XATTR_NAMES_MAX 65536
/* Children of one directory, and of all open directories together (24 bytes kept per child). */
#define CA_CATAR_CHILDREN_MAX (UINT64_C(1) << 24)
/* Room for a message saying why a record breaks a rule. */
#define CA_CATAR_WHY_MAX 128
/* Bytes in a file name, without its NUL. */
#define CA_CATAR_FILENAME_LEN_MAX 255

/* What casync's reader accepts of each record type. */
typedef struct ca_catar_record_kind {
        uint64_t type;
        const char *name;
        uint64_t size_min, size_max; /* header included */
        unsigned rank;               /* position in the metadata order (§4.2), 0 if not metadata */
        bool repeat;                 /* may occur several times in a row */
        uint64_t flag;               /* feature flag the record needs, 0 if none */
} ca_catar_record_kind;

/* The metadata order (§4.2). */
enum {
        CA_CATAR_RANK_USER = 1,
        CA_CATAR_RANK_GROUP,
        CA_CATAR_RANK_XATTR,
        CA_CATAR_RANK_ACL_USER,
        CA_CATAR_RANK_ACL_GROUP,
        CA_CATAR_RANK_ACL_GROUP_OBJ,
        CA_CATAR_RANK_ACL_DEFAULT,
        CA_CATAR_RANK_ACL_DEFAULT_USER,
        CA_CATAR_RANK_ACL_DEFAULT_GROUP,
        CA_CATAR_RANK_SELINUX,
        CA_CATAR_RANK_FCAPS,
        CA_CATAR_RANK_QUOTA_PROJID,
};

/* The kind of a record type, NULL for an unknown type. */
const ca_catar_record_kind *ca_catar_record_kind_lookup(uint64_t type);

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
 * The ENTRY record body b (its feature flags already checked) of the node at archive offset
 * off, by casync's rules: the mode's type and permission bits, the entry flags, the owners and
 * the mtime; root: the archive's root, which must be a directory. Fills n (all but name, path
 * and depth; no metadata yet) and returns 0, or -EBADMSG with why[] saying what is wrong.
 */
int ca_catar_entry_parse(const uint8_t *b, uint64_t off, bool root, ca_node *n,
                         char why[CA_CATAR_WHY_MAX]);

/* What one node's metadata records have established so far. */
typedef struct ca_catar_meta_state {
        unsigned rank;                  /* of the last record */
        size_t n_xattrs, xattr_names;   /* XATTR records, and their names' bytes with NULs */
        size_t n_acl[4];                /* ACL user, group, default user, default group */
        size_t last_xattr, last_acl[4]; /* offsets in the node's records of the previous one */
        bool has_user, has_group, has_group_obj;
        uint64_t default_mask; /* of ACL_DEFAULT, CA_FORMAT_ACL_ABSENT without one */
} ca_catar_meta_state;

/* The state before a node's first metadata record. */
void ca_catar_meta_init(ca_catar_meta_state *m);
/*
 * casync's rules for one metadata record of kind k (its size, feature flag and order already
 * checked), body b[0..len), on a node of mode under flags: meta holds the node's earlier
 * records (header and body each) and this one goes (or went) at offset `at`. Updates m; 0, or
 * -EBADMSG with why[] saying what is wrong.
 */
int ca_catar_meta_check(ca_catar_meta_state *m, uint64_t flags, uint64_t mode,
                        const ca_catar_record_kind *k, const uint8_t *meta, size_t at,
                        const uint8_t *b, size_t len, char why[CA_CATAR_WHY_MAX]);
/* The rules that need all of a node's metadata records. */
int ca_catar_meta_finish(const ca_catar_meta_state *m, uint64_t flags, char why[CA_CATAR_WHY_MAX]);

/*
 * Points n's metadata fields into meta[0..meta_size), a run of already checked records (header
 * and body each). xattrs and acls must have room for every XATTR record and for the n_acl[0..3]
 * user, group, default user and default group ACL entries, which are stored in that order.
 */
void ca_catar_node_set_meta(ca_node *n, const uint8_t *meta, size_t meta_size,
                            const size_t n_acl[4], ca_xattr *xattrs, ca_acl_entry *acls);
