/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libmount: an archive index as a read-only FUSE file system, fetched lazily (mount_fs.c), the
 * background work that makes it local (mount_prefetch.c: seeds, then a prefetch into the image
 * store's chunk cache), and the FUSE session that serves both (mount_serve.c). Reads fetch the
 * chunks they need at once and never wait for the background work.
 */
#pragma once

#define FUSE_USE_VERSION 35
#include <fuse_lowlevel.h>

#include <stdatomic.h>

#include "fetcher/source/source.h"

typedef struct mount_fs mount_fs;
typedef struct mount_recorder mount_recorder;

/*
 * A read-only view of in->index (a .caidx; in->source supplies chunks), rooted at the archive's
 * root or, with subdir, at that top-level directory (an ACI's "rootfs"). The root is read and
 * checked here, so a broken archive fails before anything is mounted. in must outlive the view.
 * With rec (else NULL; it must outlive the view), the chunks every read needs, from the root's
 * here on, and each file's first reads (paths relative to the view's root) are recorded.
 */
int mount_fs_new(archive_input *in, const char *subdir, mount_recorder *rec, mount_fs **ret);
mount_fs *mount_fs_free(mount_fs *m);
const struct fuse_lowlevel_ops *mount_fs_ops(void);

/* ---------------------------------------------------------------- access profiles (mount_profile.c) */
/* While it changes, a recorded profile is saved this often (so a killed mount leaves one). */
#define MOUNT_PROFILE_SAVE_SECONDS 5

/*
 * Records which files are read first and their first ranges (aci_profile), for the store's
 * profile of name (store and name both set) and/or the file out. *ret is NULL when there is
 * nowhere to save. Saved (whole, through a temp file) every MOUNT_PROFILE_SAVE_SECONDS while it
 * changes once started, and when freed; nothing is saved until something was read.
 */
int mount_recorder_new(aci_store *store, const char *name, const char *out, mount_recorder **ret);
int mount_recorder_start(mount_recorder *r);
mount_recorder *mount_recorder_free(mount_recorder *r);
/* A file read for the first time: its slot for mount_recorder_read; -E2BIG once full. */
int mount_recorder_file(mount_recorder *r, const char *path, uint32_t *ret_slot);
void mount_recorder_read(mount_recorder *r, uint32_t slot, uint64_t offset, uint64_t length);
/* A chunk of the archive a read needed (listed the first time only). */
void mount_recorder_chunk(mount_recorder *r, const ca_chunk_id *id);
/*
 * A prefetch plan: index items, each once, appended by one planning thread while prefetch
 * threads take them (n is what they may read; items is sized for the whole index).
 */
typedef struct mount_plan {
        size_t *items;
        atomic_size_t n;
        uint8_t *taken; /* a bit per index item */
} mount_plan;
int mount_plan_init(mount_plan *plan, const ca_index *idx);
void mount_plan_done(mount_plan *plan);
/* Appends the items of in->index with p's chunk IDs, in p's order (local work: no reads). */
int mount_profile_plan_chunks(const archive_input *in, const aci_profile *p, mount_plan *plan);
/*
 * Appends the items of in->index that hold p's ranges, in p's order: each path is looked up in
 * in's archive (below the top-level directory subdir when not NULL); paths it lacks, or that are
 * not regular files there, are skipped. Reads what the lookups need through in->source. cancel
 * stops it early.
 */
int mount_profile_plan_files(archive_input *in, const char *subdir, const aci_profile *p,
                             const atomic_bool *cancel, mount_plan *plan);

/* ---------------------------------------------------------------- background work (mount_prefetch.c) */
typedef struct mount_prefetch mount_prefetch;
/* Called once, from the prefetch's last thread, when its walk ends without being stopped: result
 * 0 when every chunk is local, -EIO when some could not be fetched (logged). */
typedef void (*mount_prefetch_done)(void *userdata, int result);

/*
 * Starts the background work over in: the seeds first (seeds values, then auto_seed unless
 * seeds->no_auto), in one thread, then `jobs` threads (0: none) that bring every chunk missing
 * from the local stores into the chunk cache, so the mount ends up fully local (logged once it
 * is): with a profile, its chunks and those holding its ranges first (mount_profile_plan_*,
 * under subdir), then the index in order. Reads never wait for any of it: a read needing a missing chunk
 * fetches it at once. *ret is NULL when there is nothing to do (no chunk cache); on failure it
 * may be set and must still be stopped. auto_seed, subdir and profile must outlive the work.
 * done (may be NULL) is called with userdata when the prefetch ends (never without one: jobs 0
 * or no chunk cache); mount_prefetch_stop waits for it to return.
 */
int mount_prefetch_start(archive_input *in, unsigned jobs, const seed_list *seeds,
                         const char *auto_seed, const char *subdir, const aci_profile *profile,
                         mount_prefetch_done done, void *userdata, mount_prefetch **ret);
/* Stops and joins the threads (a download in progress finishes first) and frees p (NULL: no-op). */
void mount_prefetch_stop(mount_prefetch *p);

/* ---------------------------------------------------------------- serving (mount_serve.c) */
/* Prefetch threads: few, so reads that need a chunk always find a free transfer slot. */
#define MOUNT_PREFETCH_JOBS 4

typedef struct mount_options {
        bool allow_other; /* -o allow_other,default_permissions */
        bool no_prefetch; /* fetch only what reads need */
        const char *log;  /* where messages go once mounted (append), or NULL */
        const seed_list *seeds;
        const char *auto_seed; /* may be NULL */
        /* The image mounted, when it is one (else NULL): its appc name and the URL its index
         * came from, for messages and for what is kept per image. */
        const char *image_name;
        const char *index_url;
        /* Once mounted, before stdio is redirected (the mount is up): e.g. print the image ID.
         * May be NULL. */
        void (*mounted)(void *userdata);
        /* The prefetch ended (see mount_prefetch_done); may be NULL. */
        mount_prefetch_done prefetched;
        void *userdata;
        /* The access profile: prefetched first (NULL: archive order); recorded into the
         * store's profile of image_name when record_profile, and into profile_out (NULL:
         * not). */
        const aci_profile *profile;
        bool record_profile;
        const char *profile_out;
} mount_options;

/*
 * Mounts in (its archive's root, or the top-level directory subdir) read-only at mountpoint and
 * serves it until SIGTERM, SIGINT, SIGHUP or an unmount. With notify_fd >= 0 (a daemon), once
 * mounted: o->mounted is called, standard input and output go to /dev/null, stderr to o->log or
 * /dev/null, and 'y' is written to notify_fd, which is closed. Otherwise o->mounted is called
 * and stderr goes to o->log when given (stdout stays). The
 * index is pinned in in->store (if any) and the store lock dropped: gc keeps the mount's chunks
 * for as long as it runs, and does not wait for it.
 */
int mount_serve(archive_input *in, const char *subdir, const char *mountpoint,
                const mount_options *o, int notify_fd);

/* ---------------------------------------------------------------- the mount point (mount_point.c) */
/* -EBUSY (logged, naming what is mounted and how to unmount it) when acfetch is mounted at
 * mountpoint already, live or dead (/proc/self/mountinfo); 0 otherwise. */
int mount_point_check(const char *mountpoint);
