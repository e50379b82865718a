/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Where chunks come from, in order: the local chunk cache, local stores, then remote stores.
 * Remote chunks are verified before they are used or cached; a chunk wanted by several workers
 * at once is downloaded once, and so is one wanted by several processes filling the same cache
 * (chunk claims, aci/chunk_claim.c). Several remote stores (mirrors) share the downloads: each
 * goes to the store expected to answer first, so each gets work in proportion to what it
 * delivers; one that takes longer than nearly all recent downloads is asked of a second store
 * too, and the first verified copy wins.
 */
#include <pthread.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "fetcher/source/source.h"

/* Downloads of one chunk from one store before its copy there counts as corrupt: a body mangled
 * on the way (a flaky proxy, a truncated chunked response) is usually right the next time. */
#define CORRUPT_ATTEMPTS 3
/* How often a claim held by another process is looked at again, at most. */
#define CLAIM_POLL_MAX_MS 100
/* Download times kept to judge what "far slower than its peers" is. */
#define LATENCY_SAMPLES 128
/* No hedging before this many: the threshold would be luck. */
#define HEDGE_SAMPLES_MIN 16
/* At most one download in this many is hedged (plus a few): a store that is slow throughout
 * must not double the traffic, the routing steers away from it instead. */
#define HEDGE_SHARE 10
/* Never hedge sooner: on a fast link a few milliseconds are noise, not a slow store. */
#define HEDGE_AFTER_MIN_NS (UINT64_C(20) * 1000000)
/* How soon a due hedge that found every other store busy looks again. */
#define HEDGE_RETRY_NS (UINT64_C(5) * 1000000)

typedef struct remote_store {
        char *base; /* URL without query and trailing '/' */
        /* A registry (oci://): the published image whose manifest maps chunk IDs to blobs. */
        registry_ref *registry;
        registry_image image;
        const transfer_origin *origin; /* its server's request limit, in the engine */
        unsigned outstanding;          /* its downloads submitted and not finished (lock) */
        unsigned waiting;              /* workers waiting for a request slot at it (lock) */
        uint64_t latency; /* ns, smoothed over its verified downloads; 0: none yet (lock) */
        double failing;   /* smoothed share of its downloads that failed (lock) */
} remote_store;

typedef struct inflight {
        ca_chunk_id id;
        bool used;
} inflight;

struct chunk_source {
        ca_store *cache; /* may be NULL */
        ca_store **locals;
        size_t n_locals;
        remote_store *remotes;
        size_t n_remotes;
        transfer_engine *engine;

        pthread_mutex_t lock;
        pthread_cond_t changed;
        pthread_cond_t slot_free; /* a remote download finished */
        inflight *inflight;
        size_t n_inflight;

        int claims_fd;          /* the cache's claims directory, -1: no claims */
        unsigned claim_timeout; /* seconds to wait for another process's download */

        /* Hedging (lock): recent download times over all stores, and the threshold. */
        uint64_t latencies[LATENCY_SAMPLES];
        size_t n_latencies, next_latency, since_threshold;
        uint64_t hedge_after; /* ns; 0 until there are enough samples */
        uint64_t downloads;   /* first tries submitted */

        chunk_source_stats stats;
};

int chunk_source_new(ca_store *cache, transfer_engine *engine, unsigned jobs, chunk_source **ret)
{
        chunk_source *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->cache = cache;
        s->engine = engine;
        s->claims_fd = -1;
        /* At most one download per worker is in flight, so the table never fills. */
        s->n_inflight = (size_t)MAX(jobs, 1U) + 1;
        s->inflight = calloc(s->n_inflight, sizeof(inflight));
        if (!s->inflight) {
                free(s);
                return -ENOMEM;
        }
        pthread_mutex_init(&s->lock, NULL);
        pthread_cond_init(&s->changed, NULL);
        pthread_cond_init(&s->slot_free, NULL);
        *ret = s;
        return 0;
}

chunk_source *chunk_source_free(chunk_source *s)
{
        if (!s)
                return NULL;
        for (size_t i = 0; i < s->n_locals; i++)
                ca_store_free(s->locals[i]);
        free(s->locals);
        for (size_t i = 0; i < s->n_remotes; i++) {
                free(s->remotes[i].base);
                if (s->remotes[i].registry) {
                        registry_ref_clear(s->remotes[i].registry);
                        free(s->remotes[i].registry);
                        registry_image_clear(&s->remotes[i].image);
                }
        }
        free(s->remotes);
        free(s->inflight);
        if (s->stats.hedged > 0)
                ca_log_debug("%llu slow downloads were asked of a second store too; it answered "
                             "first %llu times",
                             (unsigned long long)s->stats.hedged,
                             (unsigned long long)s->stats.hedge_wins);
        if (s->claims_fd >= 0)
                close(s->claims_fd);
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->changed);
        pthread_cond_destroy(&s->slot_free);
        free(s);
        return NULL;
}

/* As casync: everything from the first '?' or ';' is dropped, and trailing slashes. */
char *store_url_base(const char *url)
{
        size_t n = strcspn(url, "?;#");
        while (n > 0 && url[n - 1] == '/')
                n--;
        return strndup(url, n);
}

/* A new remote store (its base URL taken), or NULL when out of memory. */
static remote_store *remote_add(chunk_source *s, char *base)
{
        remote_store *p = base ? realloc(s->remotes, (s->n_remotes + 1) * sizeof(*p)) : NULL;
        if (!p) {
                free(base);
                return NULL;
        }
        s->remotes = p;
        p[s->n_remotes] = (remote_store){.base = base};
        p[s->n_remotes].origin = transfer_origin_of(s->engine, base);
        if (!p[s->n_remotes].origin) {
                free(base);
                return NULL;
        }
        return &p[s->n_remotes++];
}

int chunk_source_add_registry(chunk_source *s, const char *location, const ca_index *index)
{
        if (!s->engine)
                return -EINVAL;
        _cleanup_(registry_ref_clear) registry_ref ref = {};
        int r = registry_ref_parse(location, &ref);
        if (r < 0)
                return r;
        /* Without a tag, the image whose index is this one. */
        char tag[REGISTRY_INDEX_TAG_SIZE];
        const char *reference = ref.reference;
        if (!reference) {
                r = registry_index_tag(index, tag);
                if (r < 0)
                        return r;
                reference = tag;
        }
        registry_image image;
        r = registry_image_load(s->engine, &ref, reference, &image);
        if (r == -ENOENT)
                return ca_log_errno(CA_LOG_ERR, r,
                                    "%s: the registry has no image %s%s (publish it there with "
                                    "acfetch publish --to)",
                                    location, ref.reference ? "tagged " : "with this index, tag ",
                                    reference);
        if (r < 0)
                return r;
        remote_store *st = remote_add(s, strdup(ref.api));
        registry_ref *kept = st ? malloc(sizeof(*kept)) : NULL;
        if (!kept) {
                registry_image_clear(&image);
                return -ENOMEM;
        }
        *kept = ref;
        ref = (registry_ref){};
        st->registry = kept;
        st->image = image;
        ca_log_debug("%s: %zu chunks in the image's manifest", location, image.n_chunks);
        return 0;
}

int chunk_source_add(chunk_source *s, const char *location)
{
        if (url_is_oci(location))
                return ca_log_errno(CA_LOG_ERR, -EINVAL,
                                    "%s: a registry store needs the index it serves", location);
        if (url_is_remote(location)) {
                if (!s->engine)
                        return -EINVAL;
                return remote_add(s, store_url_base(location)) ? 0 : -ENOMEM;
        }
        if (strstr(location, "://") && strncasecmp(location, "file://", 7) != 0)
                return ca_log_errno(
                    CA_LOG_ERR, -EPROTONOSUPPORT,
                    "%s: unsupported store URL (https, http, s3+https, s3+http, file "
                    "or a directory)",
                    location);
        if (strncasecmp(location, "file://", 7) == 0)
                location += 7;

        ca_store **p = realloc(s->locals, (s->n_locals + 1) * sizeof(*p));
        if (!p)
                return -ENOMEM;
        s->locals = p;
        int r = ca_store_open(location, CA_STORE_READ_ONLY, &p[s->n_locals]);
        if (r < 0)
                return r;
        s->n_locals++;
        return 0;
}

int chunk_source_set_claims(chunk_source *s, aci_store *store, unsigned timeout)
{
        int fd = aci_store_claims_open(store);
        if (fd < 0)
                return ca_log_errno(CA_LOG_ERR, fd, "%s/locks: %s", aci_store_path(store),
                                    strerror(-fd));
        if (s->claims_fd >= 0)
                close(s->claims_fd);
        s->claims_fd = fd;
        s->claim_timeout = MAX(timeout, 1U);
        return 0;
}

size_t chunk_source_n_stores(const chunk_source *s)
{
        return s->n_locals + s->n_remotes;
}

const chunk_source_stats *chunk_source_get_stats(const chunk_source *s)
{
        return &s->stats;
}

int chunk_source_has_local(chunk_source *s, const ca_chunk_id *id)
{
        if (s->cache && ca_store_has(s->cache, id) > 0)
                return 1;
        for (size_t i = 0; i < s->n_locals; i++)
                if (ca_store_has(s->locals[i], id) > 0)
                        return 1;
        return 0;
}

bool chunk_source_is_remote(const chunk_source *s)
{
        return s->n_remotes > 0;
}

/* 0 and a filled buf if some local store has it, -ENOENT if none, other errors as they are. */
static int get_local(chunk_source *s, const ca_index_item *item, ca_digest_type t, void *buf)
{
        int r = -ENOENT;
        if (s->cache)
                r = ca_store_get(s->cache, &item->id, item->size, t, buf);
        for (size_t i = 0; r == -ENOENT && i < s->n_locals; i++)
                r = ca_store_get(s->locals[i], &item->id, item->size, t, buf);
        if (r >= 0) {
                s->stats.local_chunks++;
                s->stats.local_bytes += item->size;
        }
        return r;
}

/* Claims the right to download id; false when another worker already is. */
static bool inflight_claim(chunk_source *s, const ca_chunk_id *id)
{
        size_t free_slot = SIZE_MAX;
        for (size_t i = 0; i < s->n_inflight; i++) {
                if (!s->inflight[i].used) {
                        if (free_slot == SIZE_MAX)
                                free_slot = i;
                } else if (memcmp(&s->inflight[i].id, id, sizeof(*id)) == 0) {
                        return false;
                }
        }
        if (free_slot == SIZE_MAX) /* more workers than planned: download anyway */
                return true;
        s->inflight[free_slot] = (inflight){.id = *id, .used = true};
        return true;
}

static bool inflight_busy(chunk_source *s, const ca_chunk_id *id)
{
        for (size_t i = 0; i < s->n_inflight; i++)
                if (s->inflight[i].used && memcmp(&s->inflight[i].id, id, sizeof(*id)) == 0)
                        return true;
        return false;
}

static void inflight_release(chunk_source *s, const ca_chunk_id *id)
{
        pthread_mutex_lock(&s->lock);
        for (size_t i = 0; i < s->n_inflight; i++)
                if (s->inflight[i].used && memcmp(&s->inflight[i].id, id, sizeof(*id)) == 0)
                        s->inflight[i].used = false;
        pthread_cond_broadcast(&s->changed);
        pthread_mutex_unlock(&s->lock);
}

static uint64_t now_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int compare_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
}

/* Lock held: a download from store i failed (not found, corrupt, an error). */
static void note_failure(chunk_source *s, size_t i)
{
        s->remotes[i].failing = s->remotes[i].failing * 0.9 + 0.1;
}

/* Lock held: a verified download from store i took ns. */
static void note_latency(chunk_source *s, size_t i, uint64_t ns)
{
        remote_store *st = &s->remotes[i];
        st->failing *= 0.9;
        st->latency = st->latency ? (st->latency * 7 + ns) / 8 : ns;
        s->latencies[s->next_latency] = ns;
        s->next_latency = (s->next_latency + 1) % LATENCY_SAMPLES;
        s->n_latencies = MIN(s->n_latencies + 1, (size_t)LATENCY_SAMPLES);
        if (s->n_latencies < HEDGE_SAMPLES_MIN || ++s->since_threshold < HEDGE_SAMPLES_MIN)
                return;
        /* "Far slower than its peers": over the 95th percentile of recent downloads, and at
         * least twice the median. Recomputed every few samples, not for every chunk. */
        s->since_threshold = 0;
        uint64_t v[LATENCY_SAMPLES];
        memcpy(v, s->latencies, s->n_latencies * sizeof(*v));
        qsort(v, s->n_latencies, sizeof(*v), compare_u64);
        uint64_t p95 = v[s->n_latencies * 95 / 100], p50 = v[s->n_latencies / 2];
        s->hedge_after = MAX(MAX(p95, 2 * p50), HEDGE_AFTER_MIN_NS);
}

/* Lock held: the hedging threshold now, 0 when a download is not to be hedged. */
static uint64_t hedge_threshold(const chunk_source *s)
{
        if (s->n_remotes < 2 || s->n_latencies < HEDGE_SAMPLES_MIN)
                return 0;
        if (s->stats.hedged >= s->downloads / HEDGE_SHARE + 4)
                return 0;
        return s->hedge_after;
}

/* Lock held: the store a new download should go to, the one expected to answer first: its
 * typical download time, stretched by how many of its downloads wait for a request slot and by
 * how often it fails. A store with no verified download yet counts as fast as the fastest
 * (so each gets tried), and the first added wins ties. SIZE_MAX when every store is in skip. */
static size_t pick_store(chunk_source *s, const bool *skip)
{
        uint64_t fastest = 0;
        for (size_t i = 0; i < s->n_remotes; i++)
                if (s->remotes[i].latency && (!fastest || s->remotes[i].latency < fastest))
                        fastest = s->remotes[i].latency;
        size_t best = SIZE_MAX;
        double best_time = 0;
        for (size_t i = 0; i < s->n_remotes; i++) {
                if (skip[i])
                        continue;
                const remote_store *st = &s->remotes[i];
                unsigned limit = MAX(transfer_origin_limit(s->engine, st->origin), 1U);
                /* Nothing known at all: only the queues decide. */
                double base = st->latency ? (double)st->latency : fastest ? (double)fastest : 1.0;
                double t = base * (1.0 + (double)(st->outstanding + st->waiting) / limit) *
                           (1.0 + 10 * st->failing);
                if (best == SIZE_MAX || t < best_time) {
                        best = i;
                        best_time = t;
                }
        }
        return best;
}

/* How long a worker waiting for a request slot sleeps at most before it looks again. */
#define SLOT_WAIT_MS 100

/* Set while this thread gets a chunk for a blocked reader (chunk_source_get_urgent). */
static _Thread_local bool urgent;

/*
 * A request slot for a download: at store `only` (SIZE_MAX: the best one not in skip, see
 * pick_store) once it has fewer downloads out than its origin's limit. A download is bound to a
 * store only when it can start, so none waits in a slow store's queue while another could serve
 * it. With `wait` false, SIZE_MAX when there is no room now. Returns the store, counted in its
 * outstanding downloads, or SIZE_MAX when every store is in skip.
 */
static size_t slot_acquire(chunk_source *s, const bool *skip, size_t only, bool wait)
{
        size_t waiting_at = SIZE_MAX, got = SIZE_MAX;
        pthread_mutex_lock(&s->lock);
        for (;;) {
                size_t i = only != SIZE_MAX ? only : pick_store(s, skip);
                if (i == SIZE_MAX)
                        break;
                remote_store *st = &s->remotes[i];
                if (urgent || st->outstanding < transfer_origin_limit(s->engine, st->origin)) {
                        st->outstanding++;
                        got = i;
                        break;
                }
                if (!wait)
                        break;
                if (waiting_at != i) {
                        if (waiting_at != SIZE_MAX)
                                s->remotes[waiting_at].waiting--;
                        st->waiting++;
                        waiting_at = i;
                }
                /* Woken when a download ends (slot_release), which is also when a limit
                 * grows; the timeout is only a safety net, since hundreds of workers polling
                 * cost more CPU than the downloads' own work. */
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += SLOT_WAIT_MS * 1000000;
                if (ts.tv_nsec >= 1000000000) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000;
                }
                pthread_cond_timedwait(&s->slot_free, &s->lock, &ts);
        }
        if (waiting_at != SIZE_MAX)
                s->remotes[waiting_at].waiting--;
        pthread_mutex_unlock(&s->lock);
        return got;
}

/* Lock held: a download at store i ended (or never started). One waiter takes the slot; all
 * are woken when the limit grew past it or when they may wait for different stores. */
static void slot_release(chunk_source *s, size_t i)
{
        remote_store *st = &s->remotes[i];
        st->outstanding--;
        if (s->n_remotes > 1 || transfer_origin_limit(s->engine, st->origin) > st->outstanding + 1)
                pthread_cond_broadcast(&s->slot_free);
        else
                pthread_cond_signal(&s->slot_free);
}

/* One download of a chunk from one store. */
typedef struct download {
        size_t store;
        char *url;
        transfer_request *q;
} download;

static void download_done(download *d)
{
        free(d->url);
        d->url = NULL;
}

/* Starts a download from store i, whose slot the caller acquired: it is released when the
 * download ends, or here if it cannot start. */
static int download_submit(chunk_source *s, size_t i, const ca_index_item *item, unsigned attempt,
                           download *d)
{
        char hex[CA_CHUNK_ID_HEX_SIZE];
        ca_chunk_id_to_hex(&item->id, hex);
        *d = (download){.store = i};
        const remote_store *st = &s->remotes[i];
        const registry_chunk *blob = NULL;
        int r = 0;
        if (st->registry && !(blob = registry_image_chunk(&st->image, &item->id)))
                r = -ENOENT; /* not in this image: no request */
        else if (blob)
                r = (d->url = registry_blob_url(st->registry, blob->blob.digest)) ? 0 : -ENOMEM;
        else if (asprintf(&d->url, "%s/%.4s/%s.cacnk", st->base, hex, hex) < 0) {
                d->url = NULL;
                r = -ENOMEM;
        }
        /* A cache on the way may hold the bad copy: ask it to revalidate. */
        const char *headers[] = {attempt > 1 ? "Cache-Control: no-cache" : NULL, NULL};
        /* Chunks have no --max-time: their size is bounded, the speed floor does the rest. */
        if (r >= 0)
                r = transfer_submit(s->engine, d->url,
                                    (size_t)ca_chunk_compressed_size_max(item->size), headers,
                                    TRANSFER_NO_DEADLINE | (urgent ? TRANSFER_URGENT : 0) |
                                        (st->registry ? TRANSFER_REGISTRY : 0),
                                    &d->q);
        pthread_mutex_lock(&s->lock);
        if (r < 0)
                slot_release(s, i);
        else if (attempt == 1)
                s->downloads++;
        pthread_mutex_unlock(&s->lock);
        if (r < 0)
                download_done(d);
        return r;
}

static void download_cancel(chunk_source *s, download *d)
{
        transfer_request_cancel(d->q);
        pthread_mutex_lock(&s->lock);
        slot_release(s, d->store);
        pthread_mutex_unlock(&s->lock);
        download_done(d);
}

/*
 * Waits for d and judges its copy. 0: buf holds the chunk, verified, and the cache has it;
 * -EBADMSG: the copy was corrupt (warned); other errors as the transfer gives them, or, with
 * *not_kept set, as the local store gave them when it could not keep a good chunk (it said why).
 */
static int download_finish(chunk_source *s, download *d, const ca_index_item *item,
                           ca_digest_type t, void *buf, bool *not_kept)
{
        transfer_response resp = {};
        int r = transfer_request_finish(d->q, &resp);
        d->q = NULL;
        pthread_mutex_lock(&s->lock);
        slot_release(s, d->store);
        if (r < 0)
                note_failure(s, d->store);
        pthread_mutex_unlock(&s->lock);
        if (r < 0) {
                if (r == -ENOENT)
                        ca_log_debug("%s: not in this store", d->url);
                transfer_response_clear(&resp);
                return r;
        }
        s->stats.wire_bytes += resp.size;

        /* A bad copy is not yet an error: another attempt or store may give a good one. */
        r = ca_chunk_decompress_log(CA_LOG_WARNING, resp.body, resp.size, buf, item->size, d->url);
        if (r >= 0)
                r = ca_chunk_verify_log(CA_LOG_WARNING, d->url, t, &item->id, buf, item->size);
        if (r < 0) {
                transfer_response_clear(&resp);
                s->stats.corrupt_chunks++;
                pthread_mutex_lock(&s->lock);
                note_failure(s, d->store);
                pthread_mutex_unlock(&s->lock);
                return -EBADMSG;
        }
        pthread_mutex_lock(&s->lock);
        note_latency(s, d->store, resp.latency_ns);
        pthread_mutex_unlock(&s->lock);
        /* Only verified chunks count as downloaded (rejected: corrupt_chunks). */
        s->stats.remote_chunks++;
        s->stats.remote_bytes += item->size;
        /* A chunk the store cannot keep ends the run (the store said why): it is where the tree
         * and the next fetch read from. */
        if (s->cache)
                r = ca_store_put_compressed(s->cache, &item->id, resp.body, resp.size);
        transfer_response_clear(&resp);
        *not_kept = r < 0;
        return r < 0 ? r : 0;
}

/*
 * Downloads one chunk from store i, retrying a corrupt copy up to CORRUPT_ATTEMPTS times; first,
 * if set, is the first try, submitted already. Returns as download_finish, -EBADMSG once every
 * copy was corrupt (warned).
 */
static int get_from_store(chunk_source *s, size_t i, const ca_index_item *item, ca_digest_type t,
                          void *buf, bool *not_kept, download *first)
{
        for (unsigned attempt = 1;; attempt++) {
                download d;
                int r = 0;
                if (attempt == 1 && first) {
                        d = *first;
                } else {
                        slot_acquire(s, NULL, i, true);
                        r = download_submit(s, i, item, attempt, &d);
                }
                if (r < 0)
                        return r;
                r = download_finish(s, &d, item, t, buf, not_kept);
                if (r != -EBADMSG) {
                        download_done(&d);
                        return r;
                }
                if (attempt >= CORRUPT_ATTEMPTS) {
                        ca_log_warning("%s: rejected: the chunk was corrupt in %u downloads", d.url,
                                       attempt);
                        download_done(&d);
                        return -EBADMSG;
                }
                ca_log_warning("%s: the chunk is corrupt; downloading it again (attempt %u of %u)",
                               d.url, attempt + 1, CORRUPT_ATTEMPTS);
                download_done(&d);
        }
}

/* How the stores tried for one chunk failed, for the one message at the end. */
typedef struct failures {
        int last;
        bool corrupt;
} failures;

static void failures_add(failures *f, int r)
{
        f->corrupt = f->corrupt || r == -EBADMSG;
        f->last = r;
}

/*
 * The first try for a chunk, at store i: while it runs longer than the hedging threshold, the
 * same chunk is asked of the store expected to answer first among the others, and the first
 * verified copy wins; the other request is dropped, so a chunk is kept once. The stores used are
 * marked in tried.
 */
static int get_hedged(chunk_source *s, size_t i, const ca_index_item *item, ca_digest_type t,
                      void *buf, bool *not_kept, bool *tried, failures *f)
{
        download d[2];
        int r = download_submit(s, i, item, 1, &d[0]);
        if (r < 0)
                return r;
        bool hedged = false;
        while (s->n_remotes > 1) {
                pthread_mutex_lock(&s->lock);
                uint64_t after = hedge_threshold(s);
                pthread_mutex_unlock(&s->lock);
                /* Time waiting for a request slot is not the store's slowness. */
                uint64_t started = transfer_request_started(d[0].q), now = now_ns();
                if (after && started && now - started >= after) {
                        /* Only a store with a free slot: one that would queue it helps no one
                         * (look again later). */
                        size_t j = slot_acquire(s, tried, SIZE_MAX, false);
                        if (j != SIZE_MAX) {
                                if (download_submit(s, j, item, 1, &d[1]) < 0)
                                        break;
                                s->stats.hedged++;
                                tried[j] = true;
                                hedged = true;
                                ca_log_debug("%s: no answer after %llu ms; asking %s too", d[0].url,
                                             (unsigned long long)((now - started) / 1000000),
                                             s->remotes[j].base);
                                break;
                        }
                }
                /* No threshold yet (too few samples, or the hedging budget is spent): look
                 * again in a while, a slow first answer must not hold this chunk for long. */
                uint64_t deadline = !after    ? now + HEDGE_AFTER_MIN_NS
                                    : started ? started + after
                                              : now + after / 2;
                /* A hedge that is due but finds no free slot looks again shortly, not at once. */
                deadline = MAX(deadline, now + HEDGE_RETRY_NS);
                if (transfer_request_wait(d[0].q, deadline))
                        break;
        }
        if (!hedged) {
                r = get_from_store(s, i, item, t, buf, not_kept, &d[0]);
                if (r < 0)
                        failures_add(f, r);
                return r;
        }

        transfer_request *q[2] = {d[0].q, d[1].q};
        int k = transfer_request_wait_any(q, 2, 0);
        k = k == 1 ? 1 : 0;
        r = download_finish(s, &d[k], item, t, buf, not_kept);
        download_done(&d[k]);
        if (r >= 0 || *not_kept) {
                download_cancel(s, &d[1 - k]);
                if (r >= 0 && k == 1)
                        s->stats.hedge_wins++;
                return r;
        }
        failures_add(f, r);
        /* The first answer was no good: the other one decides, with its store's retries. */
        r = get_from_store(s, d[1 - k].store, item, t, buf, not_kept, &d[1 - k]);
        if (r >= 0 && k == 0)
                s->stats.hedge_wins++;
        if (r < 0)
                failures_add(f, r);
        return r;
}

/* Tries the remote stores, the one expected to answer first first; the first verified copy wins
 * and is cached. */
static int get_remote(chunk_source *s, const ca_index_item *item, ca_digest_type t, void *buf)
{
        char hex[CA_CHUNK_ID_HEX_SIZE];
        ca_chunk_id_to_hex(&item->id, hex);
        bool tried_small[8] = {}, *tried = tried_small;
        _cleanup_(freep) bool *tried_big = NULL;
        if (s->n_remotes > ELEMENTSOF(tried_small)) {
                tried = tried_big = calloc(s->n_remotes, sizeof(bool));
                if (!tried)
                        return -ENOMEM;
        }
        failures f = {.last = -ENOENT};
        bool not_kept = false;

        size_t i = slot_acquire(s, tried, SIZE_MAX, true);
        tried[i] = true;
        int r = get_hedged(s, i, item, t, buf, &not_kept, tried, &f);
        /* Then the others, as long as the failure is the store's copy, not ours. */
        while (r < 0 && !not_kept) {
                i = slot_acquire(s, tried, SIZE_MAX, true);
                if (i == SIZE_MAX)
                        break;
                tried[i] = true;
                download d;
                r = download_submit(s, i, item, 1, &d);
                if (r >= 0)
                        r = get_from_store(s, i, item, t, buf, &not_kept, &d);
                if (r < 0)
                        failures_add(&f, r);
        }
        if (r >= 0 || not_kept)
                return r; /* not kept: no other store can help, ours is the one failing */
        if (f.last == -ENOENT || f.corrupt)
                ca_log_error("chunk %s: %s", hex,
                             f.corrupt ? "no store has an intact copy" : "not found in any store");
        else
                ca_log_error("chunk %s: could not be downloaded from any store", hex);
        return f.corrupt ? -EBADMSG : f.last;
}

/*
 * Claims id against the other processes filling the cache; *ret_fd is the claim, or -1 when
 * there is none to release. While another process holds it, waits (this worker only: the others
 * go on with their chunks) until it lets go, the chunk reaches the cache, or claim_timeout
 * passes (a live but stuck owner: then this one downloads it too). A claim that cannot be made
 * at all only costs the saving.
 */
static void claim_across_processes(chunk_source *s, const ca_chunk_id *id, int *ret_fd)
{
        *ret_fd = -1;
        if (s->claims_fd < 0)
                return;
        uint64_t start = now_ns(), delay = 1;
        for (;;) {
                int r = aci_chunk_claim_try(s->claims_fd, id, ret_fd);
                if (r != 0) {
                        if (r < 0)
                                ca_log_debug("chunk claim: %s", strerror(-r));
                        return;
                }
                if (ca_store_has(s->cache, id) > 0)
                        return;
                if (now_ns() - start >= (uint64_t)s->claim_timeout * 1000000000u) {
                        char hex[CA_CHUNK_ID_HEX_SIZE];
                        ca_log_debug("chunk %s: another process has been downloading it for %u s; "
                                     "downloading it here too",
                                     ca_chunk_id_to_hex(id, hex), s->claim_timeout);
                        return;
                }
                struct timespec ts = {.tv_nsec = (long)delay * 1000000};
                nanosleep(&ts, NULL);
                delay = MIN(delay * 2, (uint64_t)CLAIM_POLL_MAX_MS);
        }
}

int chunk_source_get(void *userdata, const ca_index_item *item, ca_digest_type t, void *buf)
{
        chunk_source *s = userdata;
        for (;;) {
                int r = get_local(s, item, t, buf);
                if (r != -ENOENT)
                        return r;
                if (s->n_remotes == 0) {
                        char hex[CA_CHUNK_ID_HEX_SIZE];
                        return ca_log_errno(CA_LOG_ERR, -ENOENT, "chunk %s: not found in any store",
                                            ca_chunk_id_to_hex(&item->id, hex));
                }

                pthread_mutex_lock(&s->lock);
                bool mine = inflight_claim(s, &item->id);
                if (!mine) {
                        /* Someone else is downloading it: wait, then read it from the cache. */
                        while (inflight_busy(s, &item->id))
                                pthread_cond_wait(&s->changed, &s->lock);
                        pthread_mutex_unlock(&s->lock);
                        if (!s->cache)
                                continue; /* nothing to read it back from: loop downloads it */
                        r = s->cache ? ca_store_get(s->cache, &item->id, item->size, t, buf)
                                     : -ENOENT;
                        if (r != -ENOENT) {
                                if (r >= 0) {
                                        s->stats.local_chunks++;
                                        s->stats.dedup_chunks++;
                                        s->stats.local_bytes += item->size;
                                }
                                return r;
                        }
                        continue; /* the other download failed: try it ourselves */
                }
                pthread_mutex_unlock(&s->lock);

                int claim_fd;
                claim_across_processes(s, &item->id, &claim_fd);

                /*
                 * A download of this chunk, here or by another process, may have finished (and
                 * released its claim) between our look at the cache above and the claims: look
                 * again before downloading.
                 */
                r = s->cache && ca_store_has(s->cache, &item->id) > 0
                        ? ca_store_get(s->cache, &item->id, item->size, t, buf)
                        : -ENOENT;
                if (r != -ENOENT) {
                        aci_chunk_claim_release(s->claims_fd, &item->id, claim_fd);
                        inflight_release(s, &item->id);
                        if (r >= 0) {
                                s->stats.local_chunks++;
                                s->stats.dedup_chunks++;
                                s->stats.local_bytes += item->size;
                        }
                        return r;
                }
                r = get_remote(s, item, t, buf);
                /* After the chunk is in the cache: a waiting process finds it there. */
                aci_chunk_claim_release(s->claims_fd, &item->id, claim_fd);
                inflight_release(s, &item->id);
                return r;
        }
}

int chunk_source_get_urgent(void *userdata, const ca_index_item *item, ca_digest_type t, void *buf)
{
        urgent = true;
        int r = chunk_source_get(userdata, item, t, buf);
        urgent = false;
        return r;
}
