/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internals of the extract sink (sink_extract.c: events and nodes; extract_meta.c: metadata;
 * extract_dest.c: the destination, commit and cleanup). Private to those files; the design is
 * described at the top of sink_extract.c.
 */
#pragma once

#include <linux/fs.h>
#include <string.h>
#include <time.h>

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

        char *dest;      /* as given, for messages */
        char *dest_name; /* opts.dest_name or dest: what "no space left" names */
        int parent_fd;   /* dest's parent (not in place) */
        char *base;      /* dest's last component */
        char *tmp_name;  /* the temporary root under parent_fd, until committed */
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
        uint64_t n_setid;   /* files whose setuid/setgid bits went with their ownership */
        uint64_t n_overlay; /* trusted.overlay.* xattrs, never restored */
        unsigned warned;

        uint64_t n_skipped; /* by merge or the filter */
};

/* How messages name a node: the destination for the root, else its path in the tree. */
static inline const char *node_what(const ca_extract *e, const ca_node *n)
{
        return n->depth == 0 ? e->dest : n->path;
}

/* A full file system is left to extract_dest_error, which names DEST (the destination is full,
 * whichever entry noticed). */
static inline int fail(int r, const char *what, const char *action)
{
        if (ca_errno_is_no_space(r))
                return r;
        return ca_log_errno(CA_LOG_ERR, r, "%s: %s: %s", what, action, strerror(-r));
}

static inline bool errno_is_unsupported(int r)
{
        return r == -EOPNOTSUPP || r == -ENOTTY || r == -ENOSYS;
}

static inline void warn_once(ca_extract *e, unsigned kind, const char *what, const char *msg, int r)
{
        if (e->warned & kind)
                return;
        e->warned |= kind;
        if (r < 0)
                ca_log_warning("%s: %s (%s); not restored for any entry", what, msg, strerror(-r));
        else
                ca_log_warning("%s: %s", what, msg);
}

/* ---------------------------------------------------------------- metadata (extract_meta.c) */
/* The entry a metadata call addresses: an fd of its own, or a name under dir_fd. */
typedef struct target {
        int fd;     /* regular files and directories; -1 otherwise */
        int dir_fd; /* the parent, for symlinks and special files */
        const char *name;
        int path_fd; /* O_PATH fd, opened on demand for xattrs on special files */
} target;

void extract_target_done(target *t);
/* The chattr bits the feature flags stand for. */
unsigned extract_chattr_from_flags(uint64_t flags);
/* The node's chattr flags, limited to what the archive stores. */
unsigned extract_node_chattr(const ca_extract *e, const ca_node *n);
/* Sets the bits of mask to value on fd; what the kernel or file system refuses is counted or
 * warned about as the unprivileged policy says. */
int extract_chattr_merge(ca_extract *e, const ca_node *n, int fd, unsigned value, unsigned mask);
/* What has to happen on a regular file or directory while it is still empty. */
int extract_apply_early(ca_extract *e, const ca_node *n, int fd);
/* Everything but the chattr flags, which come last (after any rename). */
int extract_apply_metadata(ca_extract *e, const ca_node *n, target *t);
/* In place: xattrs and ACLs of a reused entry that the archive does not list. */
int extract_remove_stale_xattrs(ca_extract *e, const ca_node *n, int fd);
void extract_strip_acls(int fd);

/* ---------------------------------------------------------------- destination (extract_dest.c) */
/* Not in place: opens dest's parent, checks dest, reclaims the temporary roots of killed runs,
 * creates and locks its own. */
int extract_prepare_dest(ca_extract *e);
/* Returns r, after saying "DEST: no space left on device" when it is that (fail() does not). */
int extract_dest_error(const ca_extract *e, int r);
