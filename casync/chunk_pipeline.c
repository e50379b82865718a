/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The writing side of a chunk store: stream bytes are cut by the chunker in the caller's thread
 * and copied into a ring of slots; workers hash each slot and, if the store lacks the chunk,
 * compress and store it. The caller reports finished slots in stream order (the index must list
 * chunks in order), so at most `window` chunks are in memory at once.
 */
#include <pthread.h>
#include <string.h>

#include "casync/casync.h"

typedef enum slot_state {
        SLOT_FREE,
        SLOT_QUEUED,
        SLOT_BUSY,
        SLOT_DONE,
} slot_state;

typedef struct slot {
        slot_state state;
        uint8_t *data;
        size_t size, alloc;
        ca_chunk_id id;
        int stored; /* 1: written by us, 0: the store had it, -1: not wanted */
        uint64_t stored_bytes;
} slot;

struct ca_chunk_pipeline {
        ca_chunk_pipeline_options o;
        ca_chunker chunker;

        pthread_mutex_t lock;
        pthread_cond_t work; /* a slot was queued, or stop */
        pthread_cond_t done; /* a slot finished */
        pthread_t *threads;
        unsigned n_threads;
        bool lock_ready, stop;
        int error; /* first worker failure */

        slot *slots;
        size_t window;
        uint64_t next_fill;               /* sequence number of the slot being filled */
        uint64_t next_claim;              /* next queued slot a worker takes */
        uint64_t next_report;             /* oldest slot not yet reported */
        ca_compressor *inline_compressor; /* jobs == 0 */

        ca_chunk_pipeline_stats stats;
};

static int process_slot(ca_chunk_pipeline *p, ca_compressor **z, slot *s)
{
        const void *out;
        size_t out_size;
        int r;

        r = ca_digest_once(p->o.digest, s->data, s->size, &s->id);
        if (r < 0)
                return r;
        s->stored = 0;
        s->stored_bytes = 0;
        if (!p->o.store)
                return 0;

        r = ca_store_has(p->o.store, &s->id);
        if (r < 0) {
                char hex[CA_CHUNK_ID_HEX_SIZE];
                return ca_log_errno(CA_LOG_ERR, r, "store %s: cannot look up chunk %s: %s",
                                    ca_store_path(p->o.store), ca_chunk_id_to_hex(&s->id, hex),
                                    strerror(-r));
        }
        if (r > 0)
                return 0;
        if (p->o.want && !p->o.want(p->o.userdata, &s->id)) {
                s->stored = -1;
                return 0;
        }

        if (!*z) {
                r = ca_compressor_new(p->o.compression, p->o.compression_level, z);
                if (r < 0)
                        return r;
        }
        r = ca_compressor_run(*z, s->data, s->size, &out, &out_size);
        if (r < 0) {
                char hex[CA_CHUNK_ID_HEX_SIZE];
                return ca_log_errno(CA_LOG_ERR, r, "chunk %s: %s compression failed",
                                    ca_chunk_id_to_hex(&s->id, hex),
                                    ca_compression_name(p->o.compression));
        }
        r = ca_store_put_compressed(p->o.store, &s->id, out, out_size);
        if (r < 0)
                return r;
        s->stored = 1;
        s->stored_bytes = out_size;
        return 0;
}

static void *worker(void *userdata)
{
        ca_chunk_pipeline *p = userdata;
        ca_compressor *z = NULL;

        pthread_mutex_lock(&p->lock);
        for (;;) {
                while (!p->stop && p->next_claim == p->next_fill)
                        pthread_cond_wait(&p->work, &p->lock);
                if (p->next_claim == p->next_fill)
                        break; /* stop, and nothing left */

                slot *s = &p->slots[p->next_claim % p->window];
                p->next_claim++;
                s->state = SLOT_BUSY;
                bool skip = p->error != 0;
                pthread_mutex_unlock(&p->lock);

                int r = skip ? 0 : process_slot(p, &z, s);

                pthread_mutex_lock(&p->lock);
                if (r < 0 && p->error == 0)
                        p->error = r;
                s->state = SLOT_DONE;
                pthread_cond_broadcast(&p->done);
        }
        pthread_mutex_unlock(&p->lock);
        ca_compressor_free(z);
        return NULL;
}

int ca_chunk_pipeline_new(const ca_chunk_pipeline_options *o, ca_chunk_pipeline **ret)
{
        _cleanup_(ca_chunk_pipeline_freep) ca_chunk_pipeline *p = NULL;
        int r;

        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->o = *o;
        r = ca_chunker_init(&p->chunker, o->chunk_size_min, o->chunk_size_avg, o->chunk_size_max);
        if (r < 0)
                return r;
        /* Enough to keep every worker busy while the oldest chunk is still being stored. */
        p->window = o->jobs == 0 ? 1 : 2 * (size_t)o->jobs + 2;
        p->slots = calloc(p->window, sizeof(slot));
        if (!p->slots)
                return -ENOMEM;

        if (pthread_mutex_init(&p->lock, NULL) != 0)
                return -ENOMEM;
        if (pthread_cond_init(&p->work, NULL) != 0) {
                pthread_mutex_destroy(&p->lock);
                return -ENOMEM;
        }
        if (pthread_cond_init(&p->done, NULL) != 0) {
                pthread_cond_destroy(&p->work);
                pthread_mutex_destroy(&p->lock);
                return -ENOMEM;
        }
        p->lock_ready = true;

        p->threads = calloc(MAX(o->jobs, 1u), sizeof(pthread_t));
        if (!p->threads)
                return -ENOMEM;
        for (unsigned i = 0; i < o->jobs; i++) {
                r = -pthread_create(&p->threads[i], NULL, worker, p);
                if (r < 0)
                        return ca_log_errno(CA_LOG_ERR, r, "cannot start a chunk worker: %s",
                                            strerror(-r));
                p->n_threads++;
        }
        *ret = TAKE_PTR(p);
        return 0;
}

/* Reports the finished slot `s` (the oldest) to the caller and frees it. */
static int report(ca_chunk_pipeline *p, slot *s)
{
        uint64_t size = s->size;

        p->stats.chunks++;
        p->stats.bytes += size;
        if (p->o.store) {
                if (s->stored > 0) {
                        p->stats.stored++;
                        p->stats.stored_bytes += s->stored_bytes;
                } else if (s->stored < 0)
                        p->stats.unwanted++;
                else
                        p->stats.present++;
        }
        pthread_mutex_lock(&p->lock);
        s->size = 0;
        s->state = SLOT_FREE;
        p->next_report++;
        pthread_mutex_unlock(&p->lock);
        return p->o.chunk ? p->o.chunk(p->o.userdata, size, &s->id) : 0;
}

/* Reports finished slots in order; with wait, blocks until at least the oldest one is done. */
static int drain(ca_chunk_pipeline *p, bool wait)
{
        for (;;) {
                slot *s;
                int r;

                pthread_mutex_lock(&p->lock);
                if (p->next_report == p->next_fill) {
                        pthread_mutex_unlock(&p->lock);
                        return 0;
                }
                s = &p->slots[p->next_report % p->window];
                while (wait && s->state != SLOT_DONE && p->error == 0)
                        pthread_cond_wait(&p->done, &p->lock);
                r = p->error;
                bool ready = s->state == SLOT_DONE;
                pthread_mutex_unlock(&p->lock);
                if (r < 0)
                        return r;
                if (!ready)
                        return 0;
                r = report(p, s);
                if (r < 0)
                        return r;
                wait = false;
        }
}

/* The slot being filled is complete: hand it over (or process it here without workers). */
static int submit(ca_chunk_pipeline *p)
{
        slot *s = &p->slots[p->next_fill % p->window];
        int r;

        if (p->o.jobs == 0) {
                s->state = SLOT_DONE;
                p->next_fill++;
                r = process_slot(p, &p->inline_compressor, s);
                if (r < 0)
                        return r;
                return report(p, s);
        }

        pthread_mutex_lock(&p->lock);
        s->state = SLOT_QUEUED;
        p->next_fill++;
        pthread_cond_signal(&p->work);
        pthread_mutex_unlock(&p->lock);

        r = drain(p, false);
        if (r < 0)
                return r;
        /* The next slot to fill must be free: wait for the oldest when the ring is full. */
        while (p->next_fill - p->next_report >= p->window) {
                r = drain(p, true);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int append(ca_chunk_pipeline *p, const uint8_t *data, size_t size)
{
        slot *s = &p->slots[p->next_fill % p->window];

        if (s->size + size > s->alloc) {
                size_t want =
                    MAX(s->size + size, MIN((size_t)p->o.chunk_size_max, (size_t)1 << 16));
                uint8_t *d;

                want = MAX(want, MIN(2 * s->alloc, (size_t)p->o.chunk_size_max));
                d = realloc(s->data, want);
                if (!d)
                        return -ENOMEM;
                s->data = d;
                s->alloc = want;
        }
        memcpy(s->data + s->size, data, size);
        s->size += size;
        return 0;
}

int ca_chunk_pipeline_write(void *userdata, const void *data, size_t size)
{
        ca_chunk_pipeline *p = userdata;
        const uint8_t *d = data;
        int r;

        while (size > 0) {
                size_t k = ca_chunker_scan(&p->chunker, d, size);
                bool cut = k != SIZE_MAX;

                if (!cut)
                        k = size;
                r = append(p, d, k);
                if (r < 0)
                        return r;
                if (cut && (r = submit(p)) < 0)
                        return r;
                d += k;
                size -= k;
        }
        return 0;
}

int ca_chunk_pipeline_write_cut(ca_chunk_pipeline *p, const void *data, size_t size, bool end)
{
        int r = size > 0 ? append(p, data, size) : 0;
        if (r < 0)
                return r;
        if (!end)
                return 0;
        if (p->slots[p->next_fill % p->window].size == 0)
                return -EINVAL; /* an empty chunk */
        return submit(p);
}

int ca_chunk_pipeline_finish(ca_chunk_pipeline *p, ca_chunk_pipeline_stats *ret)
{
        int r;

        if (p->slots[p->next_fill % p->window].size > 0 && (r = submit(p)) < 0)
                return r;
        while (p->next_report != p->next_fill)
                if ((r = drain(p, true)) < 0)
                        return r;
        if (ret)
                *ret = p->stats;
        return 0;
}

ca_chunk_pipeline *ca_chunk_pipeline_free(ca_chunk_pipeline *p)
{
        if (!p)
                return NULL;
        if (p->lock_ready) {
                pthread_mutex_lock(&p->lock);
                p->stop = true;
                /* Queued work is dropped, not done: only a failed run frees with work left. */
                if (p->error == 0)
                        p->error = -ECANCELED;
                pthread_cond_broadcast(&p->work);
                pthread_mutex_unlock(&p->lock);
                for (unsigned i = 0; i < p->n_threads; i++)
                        pthread_join(p->threads[i], NULL);
                pthread_cond_destroy(&p->done);
                pthread_cond_destroy(&p->work);
                pthread_mutex_destroy(&p->lock);
        }
        for (size_t i = 0; p->slots && i < p->window; i++)
                free(p->slots[i].data);
        free(p->slots);
        free(p->threads);
        ca_compressor_free(p->inline_compressor);
        free(p);
        return NULL;
}
