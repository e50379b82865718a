/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The lazily fetched FUSE view of an archive index (mount_fs.c), used by `acfetch mount`. */
#pragma once

#define FUSE_USE_VERSION 35
#include <fuse_lowlevel.h>

#include "fetcher/acfetch.h"

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
