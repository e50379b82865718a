/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Where chunks come from, in order: the local chunk cache, local stores, then remote stores.
 * Remote chunks are verified before they are used or cached; a chunk wanted by several workers
 * at once is downloaded once, and so is one wanted by several processes filling the same cache
 * (chunk claims, aci/chunk_claim.c).
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

typedef struct remote_store {
        char *base; /* URL without query and trailing '/' */
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
        inflight *inflight;
        size_t n_inflight;

        int claims_fd;          /* the cache's claims directory, -1: no claims */
        unsigned claim_timeout; /* seconds to wait for another process's download */

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
        for (size_t i = 0; i < s->n_remotes; i++)
                free(s->remotes[i].base);
        free(s->remotes);
        free(s->inflight);
        if (s->claims_fd >= 0)
                close(s->claims_fd);
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->changed);
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

int chunk_source_add(chunk_source *s, const char *location)
{
        if (url_is_http(location)) {
                if (!s->engine)
                        return -EINVAL;
                remote_store *p = realloc(s->remotes, (s->n_remotes + 1) * sizeof(*p));
                if (!p)
                        return -ENOMEM;
                s->remotes = p;
                p[s->n_remotes].base = store_url_base(location);
                if (!p[s->n_remotes].base)
                        return -ENOMEM;
                s->n_remotes++;
                return 0;
        }
        if (strstr(location, "://") && strncasecmp(location, "file://", 7) != 0)
                return ca_log_errno(CA_LOG_ERR, -EPROTONOSUPPORT,
                                    "%s: unsupported store URL (http, https, file or a directory)",
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

/*
 * Downloads one chunk from one store, retrying a corrupt copy up to CORRUPT_ATTEMPTS times.
 * 0: buf holds it, verified, and the cache has it; -EBADMSG: every copy was corrupt (warned);
 * other errors as the transfer gives them, or, with *not_kept set, as the local store gave them
 * when it could not keep a good chunk (it said why).
 */
static int get_from_store(chunk_source *s, const char *url, const ca_index_item *item,
                          ca_digest_type t, void *buf, bool *not_kept)
{
        uint64_t cap = ca_chunk_compressed_size_max(item->size);
        for (unsigned attempt = 1;; attempt++) {
                /* A cache on the way may hold the bad copy: ask it to revalidate. */
                const char *headers[] = {attempt > 1 ? "Cache-Control: no-cache" : NULL, NULL};
                transfer_response resp = {};
                /* Chunks have no --max-time: their size is bounded, the speed floor does the
                 * rest. */
                int r = transfer_get_flags(s->engine, url, (size_t)cap, headers,
                                           TRANSFER_NO_DEADLINE, &resp);
                if (r < 0) {
                        transfer_response_clear(&resp);
                        return r;
                }
                s->stats.wire_bytes += resp.size;

                /* A bad copy is not yet an error: another attempt or store may give a good one. */
                r = ca_chunk_decompress_log(CA_LOG_WARNING, resp.body, resp.size, buf, item->size,
                                            url);
                if (r >= 0)
                        r = ca_chunk_verify_log(CA_LOG_WARNING, url, t, &item->id, buf, item->size);
                if (r >= 0) {
                        /* Only verified chunks count as downloaded (rejected: corrupt_chunks). */
                        s->stats.remote_chunks++;
                        s->stats.remote_bytes += item->size;
                        /* A chunk the store cannot keep ends the run (the store said why):
                         * it is where the tree and the next fetch read from. */
                        if (s->cache)
                                r = ca_store_put_compressed(s->cache, &item->id, resp.body,
                                                            resp.size);
                        transfer_response_clear(&resp);
                        *not_kept = r < 0;
                        return r < 0 ? r : 0;
                }
                transfer_response_clear(&resp);
                s->stats.corrupt_chunks++;
                if (attempt >= CORRUPT_ATTEMPTS) {
                        ca_log_warning("%s: rejected: the chunk was corrupt in %u downloads", url,
                                       attempt);
                        return -EBADMSG;
                }
                ca_log_warning("%s: the chunk is corrupt; downloading it again (attempt %u of %u)",
                               url, attempt + 1, CORRUPT_ATTEMPTS);
        }
}

/* Tries the remote stores in order; the first verified copy wins and is cached. */
static int get_remote(chunk_source *s, const ca_index_item *item, ca_digest_type t, void *buf)
{
        char hex[CA_CHUNK_ID_HEX_SIZE];
        ca_chunk_id_to_hex(&item->id, hex);
        int last = -ENOENT;
        bool corrupt = false;

        for (size_t i = 0; i < s->n_remotes; i++) {
                _cleanup_(freep) char *url = NULL;
                if (asprintf(&url, "%s/%.4s/%s.cacnk", s->remotes[i].base, hex, hex) < 0)
                        return -ENOMEM;
                bool not_kept = false;
                int r = get_from_store(s, url, item, t, buf, &not_kept);
                if (r >= 0)
                        return 0;
                if (not_kept)
                        return r; /* no other store can help: ours is the one failing */
                if (r == -ENOENT)
                        ca_log_debug("%s: not in this store", url);
                corrupt = corrupt || r == -EBADMSG;
                last = r;
        }
        if (last == -ENOENT || corrupt)
                ca_log_error("chunk %s: %s", hex,
                             corrupt ? "no store has an intact copy" : "not found in any store");
        else
                ca_log_error("chunk %s: could not be downloaded from any store", hex);
        return corrupt ? -EBADMSG : last;
}

static uint64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
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
        uint64_t start = now_ms(), delay = 1;
        for (;;) {
                int r = aci_chunk_claim_try(s->claims_fd, id, ret_fd);
                if (r != 0) {
                        if (r < 0)
                                ca_log_debug("chunk claim: %s", strerror(-r));
                        return;
                }
                if (ca_store_has(s->cache, id) > 0)
                        return;
                if (now_ms() - start >= (uint64_t)s->claim_timeout * 1000u) {
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
