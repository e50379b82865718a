/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internals of the catar encoder (catar_encode.c): the per-node metadata casync stores
 * (encode_meta.c) and .caexclude rules (exclude.c). Private to libcasync.
 */
#pragma once

#include <sys/stat.h>

#include "casync/casync.h"

/* ---------------------------------------------------------------- .caexclude (exclude.c) */
/*
 * One line of a .caexclude file: '!' negates, a '/' anywhere anchors it to the directory holding
 * the file, a trailing '/' matches directories only; each component is an fnmatch(FNM_PERIOD)
 * pattern. Unanchored one-component rules apply in every directory below.
 */
typedef struct ca_exclude_rule {
        bool negative, anchored, dir_only;
        size_t n_components;
        char **components;
} ca_exclude_rule;

typedef struct ca_exclude_file {
        ca_exclude_rule *rules;
        size_t n_rules;
} ca_exclude_file;

/* A rule, and which of its components the next name below must match. */
typedef struct ca_exclude_ref {
        const ca_exclude_rule *rule;
        size_t pos;
} ca_exclude_ref;

/* The rules that apply to the children of one directory (referencing ancestors' files). */
typedef struct ca_exclude_set {
        ca_exclude_ref *refs;
        size_t n, alloc;
} ca_exclude_set;

/* Loads dir_fd/.caexclude (never through a symlink); `what` names it in messages. *ret is NULL
 * when it holds no rules. */
int ca_exclude_file_load(int dir_fd, const char *what, ca_exclude_file **ret);
ca_exclude_file *ca_exclude_file_free(ca_exclude_file *f);
static inline void ca_exclude_file_freep(ca_exclude_file **f)
{
        ca_exclude_file_free(*f);
}
int ca_exclude_set_add_file(ca_exclude_set *s, const ca_exclude_file *f);
void ca_exclude_set_clear(ca_exclude_set *s);
/* 1 if name is excluded, 0 if not (-EINVAL for a bad pattern). below (may be NULL) receives the
 * rules that apply inside name when it is a directory. */
int ca_exclude_test(const ca_exclude_set *s, const char *name, bool is_dir, ca_exclude_set *below);

/* ---------------------------------------------------------------- read-ahead (prefetch.c) */
/* A thread that starts the kernel reading the regular files below dir_fd, in the encoder's
 * order, at most budget bytes ahead of what ca_prefetch_consumed reported. */
typedef struct ca_prefetch ca_prefetch;
int ca_prefetch_start(int dir_fd, uint64_t budget, ca_prefetch **ret);
void ca_prefetch_consumed(ca_prefetch *p, uint64_t bytes);
/* Stops and joins the thread; NULL is fine. */
ca_prefetch *ca_prefetch_stop(ca_prefetch *p);

/* ---------------------------------------------------------------- node metadata (encode_meta.c) */
typedef struct ca_enc_xattr {
        char *name;
        uint8_t *value;
        size_t size;
} ca_enc_xattr;

typedef struct ca_enc_acl_entry {
        uint32_t id; /* as stored: 0 without uid flags */
        uint64_t permissions;
        char *name;
} ca_enc_acl_entry;

typedef struct ca_enc_acl_list {
        ca_enc_acl_entry *entries;
        size_t n;
} ca_enc_acl_list;

typedef struct ca_enc_node {
        int fd;           /* open directory or regular file, or -1 */
        int parent_fd;    /* directory holding it, -1 for roots and synthetic nodes */
        const char *name; /* its name there (or what names it in messages) */
        const char *path; /* for messages */
        bool synthetic;   /* metadata given by the caller, nothing read from a file system */
        const void *data; /* synthetic regular file contents */
        struct stat st;
        long magic; /* statfs f_type */

        unsigned chattr;
        bool chattr_valid;
        uint32_t fat_attrs;
        bool subvolume, subvolume_ro;
        uint32_t quota_projid;
        int mnt_id;
        char *selinux;
        ca_enc_xattr *xattrs;
        size_t n_xattrs;
        uint8_t *fcaps;
        size_t fcaps_size;
        bool has_fcaps;
        ca_enc_acl_list acl_user, acl_group, acl_default_user, acl_default_group;
        uint64_t acl_group_obj;
        uint64_t acl_default_user_obj, acl_default_group_obj, acl_default_other, acl_default_mask;
        const char *user_name, *group_name; /* borrowed from the name cache */
        char *symlink_target;
} ca_enc_node;

/* Caches the last uid/gid name lookups, as consecutive files mostly share owners. */
typedef struct ca_enc_names {
        bool uid_valid, gid_valid;
        uid_t uid;
        gid_t gid;
        char *user, *group;
} ca_enc_names;

void ca_enc_node_init(ca_enc_node *n);
void ca_enc_node_clear(ca_enc_node *n);
/* chattr flags of a directory or regular file, when the flags need them. */
int ca_enc_node_read_chattr(uint64_t flags, ca_enc_node *n);
/* The mount a directory or regular file is on, for EXCLUDE_SUBMOUNTS. */
int ca_enc_node_read_mnt_id(ca_enc_node *n);
/* Everything the ENTRY and its metadata records need, as casync collects it. */
int ca_enc_node_read_meta(uint64_t flags, ca_enc_names *names, ca_enc_node *n);
/* true when casync writes a directory's children or a file's contents (not on API file systems
 * such as proc or sysfs). */
bool ca_enc_node_enumerate(const ca_enc_node *n);
/* systemd's uid_is_valid: (uid_t)-1 and the 16-bit (uid_t)-1 are never real ids. */
static inline bool ca_enc_id_is_valid(uint32_t id)
{
        return id != UINT32_MAX && id != 0xffff;
}
/* Serializes ENTRY, the metadata records, and the PAYLOAD header (size included) / SYMLINK /
 * DEVICE record into *ret (malloc'ed). */
int ca_enc_node_entry(uint64_t flags, const ca_enc_node *n, uint8_t **ret, size_t *ret_size);
void ca_enc_names_clear(ca_enc_names *c);
