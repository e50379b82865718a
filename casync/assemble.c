/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Turns an index into its byte stream: worker threads obtain chunks (read, decompress, verify:
 * the expensive part) up to a bounded window ahead, while the calling thread consumes them
 * strictly in index order. Memory is the window, never the image.
 */
#include <pthread.h>
#include <string.h>

#include "casync/casync.h"

/* The window holds at most this many bytes of chunks (but always the next one to write),
 * counted by their actual sizes, however many workers there are: with a compressed copy of each
 * chunk being fetched, memory stays under twice this. */
#define WINDOW_BYTES     (UINT64_C(24) << 20)
#define WINDOW_SLOTS_MAX 1024
#define JOBS_MAX         256

enum { SLOT_FREE, SLOT_BUSY, SLOT_READY };

typedef struct slot {
        uint8_t *buf;
        size_t cap;
        int state;
        int result;
} slot;

typedef struct assembler {
        const ca_index *index;
        ca_digest_type digest;
        ca_chunk_getter get;
        void *get_userdata;

        pthread_mutex_t lock;
        pthread_cond_t room;  /* workers wait for the window to move */
        pthread_cond_t ready; /* the consumer waits for its slot */
        slot *slots;
        size_t n_slots;
        size_t next_claim;     /* next item a worker takes */
        size_t next_consume;   /* next item the consumer writes */
        uint64_t window_bytes; /* sizes of the items claimed and not yet written */
        bool abort;
} assembler;

static int slot_fill(assembler *a, slot *s, size_t i)
{
        const ca_index_item *item = &a->index->items[i];
        if (s->cap < item->size) {
                uint8_t *p = realloc(s->buf, item->size);
                if (!p)
                        return -ENOMEM;
                s->buf = p;
                s->cap = item->size;
        }
        return a->get(a->get_userdata, item, a->digest, s->buf);
}

/* Lock held: may a worker claim the next item? Always the one the consumer waits for. */
static bool window_has_room(const assembler *a)
{
        if (a->next_claim == a->next_consume)
                return true;
        if (a->next_claim - a->next_consume >= a->n_slots)
                return false;
        return a->window_bytes + a->index->items[a->next_claim].size <= WINDOW_BYTES;
}

static void *worker(void *userdata)
{
        assembler *a = userdata;

        pthread_mutex_lock(&a->lock);
        for (;;) {
                while (!a->abort && a->next_claim < a->index->n_items && !window_has_room(a))
                        pthread_cond_wait(&a->room, &a->lock);
                if (a->abort || a->next_claim >= a->index->n_items)
                        break;

                size_t i = a->next_claim++;
                slot *s = &a->slots[i % a->n_slots];
                s->state = SLOT_BUSY;
                a->window_bytes += a->index->items[i].size;
                /* Waiters are woken one at a time (a broadcast per chunk woke hundreds of
                 * workers to find room for one): pass it on while there is more room. */
                if (a->next_claim < a->index->n_items && window_has_room(a))
                        pthread_cond_signal(&a->room);
                pthread_mutex_unlock(&a->lock);

                int r = slot_fill(a, s, i);

                pthread_mutex_lock(&a->lock);
                s->result = r;
                s->state = SLOT_READY;
                /*
                 * The stream cannot be completed without this chunk: claim no more. Every item
                 * before next_claim is claimed, so the consumer still finds all it waits for
                 * up to (at most) this one.
                 */
                if (r < 0) {
                        a->abort = true;
                        pthread_cond_broadcast(&a->room);
                }
                if (i == a->next_consume) /* the one the consumer waits for */
                        pthread_cond_signal(&a->ready);
        }
        pthread_mutex_unlock(&a->lock);
        return NULL;
}

/* Enough slots that every worker can be busy while finished chunks wait for the consumer. */
static size_t window_slots(const ca_index *index, unsigned jobs)
{
        uint64_t n = MAX((uint64_t)jobs * 2, UINT64_C(2));
        n = MIN(n, (uint64_t)WINDOW_SLOTS_MAX);
        return (size_t)MIN(n, (uint64_t)MAX(index->n_items, (size_t)1));
}

/* jobs == 0: everything in the calling thread, one chunk buffer. */
static int assemble_inline(assembler *a, ca_stream_writer write, void *write_userdata,
                           ca_assemble_stats *stats)
{
        slot s = {};
        int r = 0;
        for (size_t i = 0; i < a->index->n_items; i++) {
                r = slot_fill(a, &s, i);
                if (r < 0)
                        break;
                r = write(write_userdata, s.buf, a->index->items[i].size);
                if (r < 0)
                        break;
                stats->chunks++;
                stats->bytes += a->index->items[i].size;
        }
        free(s.buf);
        return r;
}

int ca_assemble(const ca_index *index, unsigned jobs, ca_chunk_getter get, void *get_userdata,
                ca_stream_writer write, void *write_userdata, ca_assemble_stats *stats)
{
        ca_assemble_stats dummy = {};
        if (!stats)
                stats = &dummy;
        *stats = (ca_assemble_stats){};

        assembler a = {
            .index = index,
            .digest = ca_digest_type_from_flags(index->feature_flags),
            .get = get,
            .get_userdata = get_userdata,
        };
        if (jobs == 0 || index->n_items <= 1)
                return assemble_inline(&a, write, write_userdata, stats);

        jobs = MIN(jobs, (unsigned)JOBS_MAX);
        a.n_slots = window_slots(index, jobs);
        a.slots = calloc(a.n_slots, sizeof(slot));
        pthread_t *threads = calloc(jobs, sizeof(pthread_t));
        if (!a.slots || !threads) {
                free(a.slots);
                free(threads);
                return -ENOMEM;
        }
        pthread_mutex_init(&a.lock, NULL);
        pthread_cond_init(&a.room, NULL);
        pthread_cond_init(&a.ready, NULL);

        int r = 0;
        unsigned started = 0;
        /* Fewer threads than asked for still work; none at all means doing it inline. */
        while (started < jobs && pthread_create(&threads[started], NULL, worker, &a) == 0)
                started++;
        if (started == 0) {
                free(a.slots);
                free(threads);
                pthread_mutex_destroy(&a.lock);
                pthread_cond_destroy(&a.room);
                pthread_cond_destroy(&a.ready);
                return assemble_inline(&a, write, write_userdata, stats);
        }

        for (size_t i = 0; r >= 0 && i < index->n_items; i++) {
                slot *s = &a.slots[i % a.n_slots];

                pthread_mutex_lock(&a.lock);
                while (s->state != SLOT_READY)
                        pthread_cond_wait(&a.ready, &a.lock);
                pthread_mutex_unlock(&a.lock);

                r = s->result;
                if (r >= 0)
                        r = write(write_userdata, s->buf, index->items[i].size);
                if (r >= 0) {
                        stats->chunks++;
                        stats->bytes += index->items[i].size;
                }

                free(s->buf);
                s->buf = NULL;
                s->cap = 0;
                pthread_mutex_lock(&a.lock);
                s->state = SLOT_FREE;
                a.window_bytes -= index->items[i].size;
                a.next_consume = i + 1;
                pthread_cond_signal(&a.room);
                pthread_mutex_unlock(&a.lock);
        }

        pthread_mutex_lock(&a.lock);
        a.abort = true;
        pthread_cond_broadcast(&a.room);
        pthread_mutex_unlock(&a.lock);
        for (unsigned t = 0; t < started; t++)
                pthread_join(threads[t], NULL);

        for (size_t k = 0; k < a.n_slots; k++)
                free(a.slots[k].buf);
        free(a.slots);
        free(threads);
        pthread_mutex_destroy(&a.lock);
        pthread_cond_destroy(&a.room);
        pthread_cond_destroy(&a.ready);
        return r;
}

unsigned ca_default_jobs(void)
{
        /* Reading chunk files from a cold cache waits on the disk: keep a few reads in flight
         * even on small machines (measured: 4 workers beat 2 on 2 cores, 8 gain nothing). */
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        return (unsigned)MAX(MIN(n, 16L), 4L);
}

int ca_stream_fd(int fd, const char *what, ca_stream_writer write, void *userdata)
{
        const size_t bufsize = 1 << 20;
        _cleanup_(freep) uint8_t *buf = malloc(bufsize);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t n = read(fd, buf, bufsize);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return ca_log_errno(CA_LOG_ERR, negative_errno(), "%s: read: %m", what);
                }
                if (n == 0)
                        return 0;
                int r = write(userdata, buf, (size_t)n);
                if (r < 0)
                        return r;
        }
}
