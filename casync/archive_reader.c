/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Random access into the stream an index describes: an offset is mapped to its chunk by binary
 * search over the index items, chunks come from a ca_chunk_getter, and the most recently used
 * decompressed chunks are kept in a small cache. Any number of threads may read at once; a chunk
 * missing from the cache is obtained outside the lock, so one slow download never blocks reads
 * of chunks already at hand.
 */
#include <inttypes.h>
#include <pthread.h>
#include <string.h>

#include "casync/casync.h"

typedef struct cache_slot {
        size_t item; /* index item held, SIZE_MAX when empty */
        uint8_t *data;
        uint64_t used; /* tick of the last use, for LRU eviction */
} cache_slot;

struct ca_archive_reader {
        const ca_index *index;
        ca_digest_type digest;
        ca_chunk_getter get;
        void *userdata;
        char *what;

        pthread_mutex_t lock;
        cache_slot *slots;
        size_t n_slots;
        uint64_t tick;
        uint64_t hits, misses;
};

int ca_archive_reader_new(const ca_index *index, ca_chunk_getter get, void *userdata,
                          size_t cache_chunks, const char *what, ca_archive_reader **ret)
{
        if (!index || !get || cache_chunks == 0)
                return -EINVAL;
        ca_archive_reader *r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->index = index;
        r->digest = ca_digest_type_from_flags(index->feature_flags);
        r->get = get;
        r->userdata = userdata;
        r->what = strdup(what ? what : "archive");
        r->slots = calloc(cache_chunks, sizeof(cache_slot));
        if (!r->what || !r->slots) {
                free(r->what);
                free(r->slots);
                free(r);
                return -ENOMEM;
        }
        r->n_slots = cache_chunks;
        for (size_t i = 0; i < cache_chunks; i++)
                r->slots[i].item = SIZE_MAX;
        pthread_mutex_init(&r->lock, NULL);
        *ret = r;
        return 0;
}

ca_archive_reader *ca_archive_reader_free(ca_archive_reader *r)
{
        if (!r)
                return NULL;
        for (size_t i = 0; i < r->n_slots; i++)
                free(r->slots[i].data);
        free(r->slots);
        free(r->what);
        pthread_mutex_destroy(&r->lock);
        free(r);
        return NULL;
}

uint64_t ca_archive_reader_size(const ca_archive_reader *r)
{
        return r->index->total_size;
}

const char *ca_archive_reader_what(const ca_archive_reader *r)
{
        return r->what;
}

void ca_archive_reader_stats(ca_archive_reader *r, uint64_t *hits, uint64_t *misses)
{
        pthread_mutex_lock(&r->lock);
        *hits = r->hits;
        *misses = r->misses;
        pthread_mutex_unlock(&r->lock);
}

/* The item whose chunk holds offset (offset < total_size): items tile the stream in order. */
static size_t find_item(const ca_index *index, uint64_t offset)
{
        size_t lo = 0, hi = index->n_items;
        while (hi - lo > 1) {
                size_t mid = lo + (hi - lo) / 2;
                if (index->items[mid].offset <= offset)
                        lo = mid;
                else
                        hi = mid;
        }
        return lo;
}

/* Copies from the cached chunk `item` if present; caller holds the lock. */
static bool cache_copy(ca_archive_reader *r, size_t item, uint64_t within, void *buf, size_t n)
{
        for (size_t i = 0; i < r->n_slots; i++) {
                cache_slot *s = &r->slots[i];
                if (s->item != item)
                        continue;
                memcpy(buf, s->data + within, n);
                s->used = ++r->tick;
                return true;
        }
        return false;
}

/* Puts a chunk in the least recently used slot, taking ownership of data. Lock held. */
static void cache_insert(ca_archive_reader *r, size_t item, uint8_t *data)
{
        cache_slot *victim = &r->slots[0];
        for (size_t i = 0; i < r->n_slots; i++) {
                cache_slot *s = &r->slots[i];
                if (s->item == item) { /* another thread got it meanwhile */
                        free(data);
                        s->used = ++r->tick;
                        return;
                }
                if (s->used < victim->used)
                        victim = s;
        }
        free(victim->data);
        *victim = (cache_slot){.item = item, .data = data, .used = ++r->tick};
}

/* Chunks of one read fetched at once, at most: a read spans a few chunks (the kernel asks for
 * 128 KiB and more), and each missing one is a round trip when the chunks are remote. */
#define RANGE_FETCH_MAX 8

typedef struct range_fetch {
        ca_archive_reader *r;
        size_t item;
        pthread_t thread;
        bool started;
} range_fetch;

static void *range_fetch_thread(void *userdata)
{
        range_fetch *f = userdata;
        ca_archive_reader *r = f->r;
        const ca_index_item *item = &r->index->items[f->item];
        uint8_t *data = malloc(item->size);
        /* A failure is left to the read itself, which asks again and reports it. */
        if (data && r->get(r->userdata, item, r->digest, data) >= 0) {
                pthread_mutex_lock(&r->lock);
                cache_insert(r, f->item, data);
                pthread_mutex_unlock(&r->lock);
        } else {
                free(data);
        }
        return NULL;
}

/* Lock held: true if the chunk `item` is cached. */
static bool cache_has(const ca_archive_reader *r, size_t item)
{
        for (size_t i = 0; i < r->n_slots; i++)
                if (r->slots[i].data && r->slots[i].item == item)
                        return true;
        return false;
}

/*
 * The chunks of [offset, end) past the first that are not cached are fetched in parallel, while
 * the calling thread fetches the first: a read over k missing remote chunks then costs one round
 * trip, not k. Only as many as the cache holds, so none pushes out another before it is used.
 */
static size_t range_fetch_start(ca_archive_reader *r, uint64_t offset, uint64_t end, range_fetch *f)
{
        size_t first = find_item(r->index, offset), last = find_item(r->index, end - 1), n = 0;
        size_t max = MIN((size_t)RANGE_FETCH_MAX, r->n_slots / 2);
        pthread_mutex_lock(&r->lock);
        for (size_t k = first + 1; k <= last && n < max; k++)
                if (!cache_has(r, k))
                        f[n++] = (range_fetch){.r = r, .item = k};
        pthread_mutex_unlock(&r->lock);
        for (size_t i = 0; i < n; i++)
                f[i].started = pthread_create(&f[i].thread, NULL, range_fetch_thread, &f[i]) == 0;
        return n;
}

static void range_fetch_join(range_fetch *f, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (f[i].started)
                        pthread_join(f[i].thread, NULL);
}

int ca_archive_reader_read(ca_archive_reader *r, uint64_t offset, void *buf, size_t size)
{
        uint64_t end;
        if (ADD_OVERFLOW(offset, (uint64_t)size, &end) || end > r->index->total_size)
                return ca_bad("%s: read of %zu bytes at offset %" PRIu64
                              " past the end of the stream (%" PRIu64 " bytes)",
                              r->what, size, offset, r->index->total_size);
        uint8_t *out = buf;
        range_fetch fetches[RANGE_FETCH_MAX];
        size_t n_fetches = size > 0 ? range_fetch_start(r, offset, end, fetches) : 0;
        int result = 0;
        while (size > 0) {
                size_t k = find_item(r->index, offset);
                const ca_index_item *item = &r->index->items[k];
                uint64_t within = offset - item->offset;
                size_t n = (size_t)MIN((uint64_t)size, item->size - within);

                pthread_mutex_lock(&r->lock);
                bool hit = cache_copy(r, k, within, out, n);
                if (hit)
                        r->hits++;
                else
                        r->misses++;
                pthread_mutex_unlock(&r->lock);

                if (!hit) {
                        uint8_t *data = malloc(item->size);
                        if (!data) {
                                result = -ENOMEM;
                                break;
                        }
                        int q = r->get(r->userdata, item, r->digest, data);
                        if (q < 0) {
                                /* The getter logged it; "missing" must not read as "no such
                                 * file" to callers that look names up. */
                                free(data);
                                result = q == -ENOMEM ? q : -EIO;
                                break;
                        }
                        memcpy(out, data + within, n);
                        pthread_mutex_lock(&r->lock);
                        cache_insert(r, k, data);
                        pthread_mutex_unlock(&r->lock);
                }
                out += n;
                offset += n;
                size -= n;
        }
        range_fetch_join(fetches, n_fetches);
        return result;
}
