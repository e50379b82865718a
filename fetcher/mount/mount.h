/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libmount: an archive index as a read-only FUSE file system, fetched lazily (mount_fs.c), and the
 * FUSE session that serves it (mount_serve.c). Reads fetch the chunks they need at once; seeds
 * and a background prefetch fill the image store's chunk cache meanwhile.
 */
#pragma once

#define FUSE_USE_VERSION 35
#include <fuse_lowlevel.h>

#include "fetcher/source/source.h"

typedef struct mount_fs mount_fs;

/*
 * A read-only view of in->index (a .caidx; in->source supplies chunks), rooted at the archive's
 * root or, with subdir, at that top-level directory (an ACI's "rootfs"). The root is read and
 * checked here, so a broken archive fails before anything is mounted. in must outlive the view.
 */
int mount_fs_new(archive_input *in, const char *subdir, mount_fs **ret);
mount_fs *mount_fs_free(mount_fs *m);
const struct fuse_lowlevel_ops *mount_fs_ops(void);

/*
 * Starts the background work: the seeds first (--seed values, then auto_seed unless
 * --no-auto-seed), in one thread, then `jobs` threads (0: none) that walk the
 * index in order and bring every chunk missing from the local stores into the chunk cache, so
 * the mount ends up fully local (logged once it is). Reads never wait for either: a read needing
 * a missing chunk fetches it at once. auto_seed must outlive the mount.
 */
int mount_fs_prefetch_start(mount_fs *m, unsigned jobs, const seed_list *seeds,
                            const char *auto_seed);
/* Stops and joins the prefetch threads (a download in progress finishes first). */
void mount_fs_prefetch_stop(mount_fs *m);

/* Prefetch threads: few, so reads that need a chunk always find a free transfer slot. */
#define MOUNT_PREFETCH_JOBS 4

typedef struct mount_options {
        bool allow_other;     /* -o allow_other,default_permissions */
        bool no_prefetch;     /* fetch only what reads need */
        const char *log;      /* where messages go once mounted (append), or NULL */
        const seed_list *seeds;
        const char *auto_seed; /* may be NULL */
} mount_options;

/*
 * Mounts in (its archive's root, or the top-level directory subdir) read-only at mountpoint and
 * serves it until SIGTERM, SIGINT, SIGHUP or an unmount. With notify_fd >= 0 (a daemon), once
 * mounted: standard input and output go to /dev/null, stderr to o->log or /dev/null, and 'y' is
 * written to notify_fd, which is closed. Otherwise stderr goes to o->log when given. The
 * index is pinned in in->store (if any) and the store lock dropped: gc keeps the mount's chunks
 * for as long as it runs, and does not wait for it.
 */
int mount_serve(archive_input *in, const char *subdir, const char *mountpoint,
                const mount_options *o, int notify_fd);
