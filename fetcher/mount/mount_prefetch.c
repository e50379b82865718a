/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a mount does in the background so that it ends up fully local: the seeds first (they need
 * no network, and what they supply is not downloaded), then threads that fetch every chunk
 * missing from the local stores into the chunk cache: those the access profile names first (what
 * the workload read first last time; up to PROFILE_JOBS threads, since a starting workload waits
 * for them), and once they are all here the rest in index order with a few threads. Reads never
 * wait for any of it; a stop flag cancels it all.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "fetcher/mount/mount.h"

typedef struct prefetch_worker prefetch_worker;

struct mount_prefetch {
        archive_input *in;
        pthread_t *threads;
        prefetch_worker *workers;
        unsigned n_threads;
        unsigned prefetch_jobs;
        pthread_t seeder; /* applies the seeds, then starts the prefetch threads */
        bool has_seeder;
        const seed_list *seeds;
        const char *auto_seed;
        const char *subdir;
        const aci_profile *profile;
        mount_plan plan;        /* items to fetch first (the profile's), then the index in order */
        atomic_bool plan_final; /* nothing more will be planned */
        atomic_bool stop;
        atomic_size_t next_plan;
        atomic_size_t plan_done; /* the profile's chunks fetched (or failed) */
        atomic_size_t next_item;
        atomic_uint running;
        atomic_size_t failed;
        mount_prefetch_done done;
        void *userdata;
};

/* The profile's chunks are few and a starting workload waits for them: many threads fetch them;
 * the rest of the image goes with MOUNT_PREFETCH_JOBS, so reads keep most of the link. */
#define PROFILE_JOBS 32

typedef struct prefetch_worker {
        mount_prefetch *m;
        unsigned index;
} prefetch_worker;

static void pause_briefly(void)
{
        struct timespec ts = {.tv_nsec = 2 * 1000000};
        nanosleep(&ts, NULL);
}

/* The next planned item into *ret, waiting while the plan may still grow; false once it is
 * final and every item is taken (or on stop). */
static bool next_planned(mount_prefetch *m, size_t *ret)
{
        while (!atomic_load(&m->stop)) {
                bool final = atomic_load(&m->plan_final);
                size_t i = atomic_load(&m->next_plan);
                if (i < atomic_load(&m->plan.n)) {
                        if (atomic_compare_exchange_weak(&m->next_plan, &i, i + 1)) {
                                *ret = m->plan.items[i];
                                return true;
                        }
                } else if (final) {
                        return false;
                } else {
                        pause_briefly();
                }
        }
        return false;
}

static void *prefetch_thread(void *userdata)
{
        prefetch_worker *w = userdata;
        mount_prefetch *m = w->m;
        const ca_index *idx = m->in->index;
        ca_digest_type t = ca_digest_type_from_flags(idx->feature_flags);
        uint8_t *buf = NULL;
        size_t cap = 0;

        while (!atomic_load(&m->stop)) {
                size_t i;
                bool planned = next_planned(m, &i);
                if (!planned && w->index >= m->prefetch_jobs)
                        break; /* a profile thread: the profile is done */
                if (!planned)
                        i = atomic_fetch_add(&m->next_item, 1);
                /* The rest waits until the profile's chunks are all here: they come first. */
                while (!planned && atomic_load(&m->plan_done) < atomic_load(&m->plan.n) &&
                       !atomic_load(&m->stop))
                        pause_briefly();
                if (i >= idx->n_items)
                        break;
                const ca_index_item *item = &idx->items[i];
                if (chunk_source_has_local(m->in->source, &item->id) <= 0) {
                        if (cap < item->size) {
                                uint8_t *p = realloc(buf, item->size);
                                if (p) {
                                        buf = p;
                                        cap = item->size;
                                }
                        }
                        /* A failure is logged by the source. */
                        if (cap < item->size || chunk_source_get(m->in->source, item, t, buf) < 0)
                                atomic_fetch_add(&m->failed, 1);
                }
                if (planned)
                        atomic_fetch_add(&m->plan_done, 1);
        }
        free(buf);

        if (atomic_fetch_sub(&m->running, 1) == 1 && !atomic_load(&m->stop)) {
                size_t failed = atomic_load(&m->failed);
                if (failed == 0)
                        ca_log_info("%s: all %zu chunks are local now; the mount no longer needs "
                                    "the network",
                                    m->in->location, idx->n_items);
                else
                        ca_log_warning("%s: prefetch finished; %zu chunks could not be fetched "
                                       "(reads needing them will try again)",
                                       m->in->location, failed);
                if (m->done)
                        m->done(m->userdata, failed == 0 ? 0 : -EIO);
        }
        return NULL;
}

static int start_prefetch(mount_prefetch *m)
{
        unsigned jobs = m->prefetch_jobs;
        if (m->profile)
                jobs = MAX(jobs, PROFILE_JOBS);
        m->threads = calloc(jobs, sizeof(pthread_t));
        m->workers = calloc(jobs, sizeof(prefetch_worker));
        if (!m->threads || !m->workers)
                return -ENOMEM;
        atomic_store(&m->running, jobs);
        for (unsigned i = 0; i < jobs; i++) {
                m->workers[i] = (prefetch_worker){.m = m, .index = i};
                int r = pthread_create(&m->threads[i], NULL, prefetch_thread, &m->workers[i]);
                if (r != 0) {
                        atomic_fetch_sub(&m->running, jobs - i);
                        return -r;
                }
                m->n_threads++;
        }
        return 0;
}

/* Seeds first (they need no network, and whatever they supply is not downloaded), then the
 * profile's chunks are found, then the prefetch; the stop flag cancels all. */
static void *seed_thread(void *userdata)
{
        mount_prefetch *m = userdata;
        seed_target t = {
            .index = m->in->index,
            .store = m->in->store,
            .source = m->in->source,
            .cancel = &m->stop,
        };
        int r = 0;
        if (m->seeds->n > 0 || m->auto_seed)
                r = seed_apply_list(&t, m->seeds, m->auto_seed);
        if (r < 0 && r != -ECANCELED)
                ca_log_warning("%s: a seed failed; its chunks will be downloaded", m->in->location);
        if (atomic_load(&m->stop) || m->prefetch_jobs == 0) {
                atomic_store(&m->plan_final, true);
                return NULL;
        }
        /* A profile is a hint: when it cannot be followed, the prefetch goes in index order.
         * Its chunks are planned at once (no reads), so the prefetch starts with them; its files
         * are then looked up, reading metadata those chunks hold, while the prefetch runs. */
        if (m->profile && mount_profile_plan_chunks(m->in, m->profile, &m->plan) < 0)
                ca_log_debug("%s: the access profile's chunks cannot be planned", m->in->location);
        r = start_prefetch(m);
        if (r < 0)
                ca_log_warning("%s: cannot start the prefetch: %s; reads still fetch what they "
                               "need",
                               m->in->location, strerror(-r));
        if (r >= 0 && m->profile &&
            mount_profile_plan_files(m->in, m->subdir, m->profile, &m->stop, &m->plan) < 0)
                ca_log_debug("%s: the access profile's files cannot be looked up; the rest is "
                             "prefetched in archive order",
                             m->in->location);
        atomic_store(&m->plan_final, true);
        return NULL;
}

int mount_prefetch_start(archive_input *in, unsigned jobs, const seed_list *seeds,
                         const char *auto_seed, const char *subdir, const aci_profile *profile,
                         mount_prefetch_done done, void *userdata, mount_prefetch **ret)
{
        *ret = NULL;
        if (!in->cache) {
                if (!chunk_source_is_remote(in->source))
                        ca_log_info("%s: every chunk is local", in->location);
                return 0; /* nowhere to keep prefetched chunks */
        }
        mount_prefetch *m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        *ret = m;
        m->in = in;
        m->prefetch_jobs = jobs;
        m->seeds = seeds;
        m->auto_seed = auto_seed;
        m->subdir = subdir;
        m->profile = profile && (profile->n > 0 || profile->n_chunks > 0) ? profile : NULL;
        m->done = done;
        m->userdata = userdata;
        int r = mount_plan_init(&m->plan, in->index);
        if (r < 0)
                return r;
        if (seeds->n == 0 && !auto_seed && (!m->profile || jobs == 0)) {
                atomic_store(&m->plan_final, true);
                return jobs > 0 ? start_prefetch(m) : 0;
        }
        r = pthread_create(&m->seeder, NULL, seed_thread, m);
        if (r != 0)
                return -r;
        m->has_seeder = true;
        return 0;
}

void mount_prefetch_stop(mount_prefetch *m)
{
        if (!m)
                return;
        atomic_store(&m->stop, true);
        /* The seeder starts the prefetch threads: joined first, it has started all it will. */
        if (m->has_seeder)
                pthread_join(m->seeder, NULL);
        m->has_seeder = false;
        for (unsigned i = 0; i < m->n_threads; i++)
                pthread_join(m->threads[i], NULL);
        m->n_threads = 0;
        free(m->threads);
        free(m->workers);
        m->threads = NULL;
        mount_plan_done(&m->plan);
        free(m);
}
