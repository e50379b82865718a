/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the user sees of a transfer: a progress bar on a terminal (stderr), one summary line at
 * the end, and with --json the same figures as an object on stdout for programs.
 */
#include <jansson.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "fetcher/cli/cli.h"

struct report {
        const archive_input *in;
        const char *dest;
        bool json;
        uint64_t needed_chunks, needed_bytes; /* not in any local store when we started */
        uint64_t seeded;                      /* of those, stored by seeds before extracting */
        double start;

        bool bar;
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t stop_cond;
        bool stop;
};

static double now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Counts the distinct chunks no local store holds: what the fetch must download. */
static int plan(report *r)
{
        const ca_index *idx = r->in->index;
        if (!idx || !r->in->source || !chunk_source_is_remote(r->in->source))
                return 0;
        _cleanup_(ca_chunk_set_freep) ca_chunk_set *set = NULL;
        int k = ca_chunk_set_new(&set);
        if (k >= 0)
                k = ca_chunk_set_add_index(set, idx);
        if (k < 0)
                return k;
        ca_chunk_set_sort(set);
        _cleanup_(freep) bool *seen = calloc(MAX(ca_chunk_set_count(set), 1), sizeof(bool));
        if (!seen)
                return -ENOMEM;
        for (size_t i = 0; i < idx->n_items; i++) {
                ssize_t at = ca_chunk_set_find(set, &idx->items[i].id);
                if (at < 0 || seen[at])
                        continue;
                seen[at] = true;
                if (!chunk_source_has_local(r->in->source, &idx->items[i].id)) {
                        r->needed_chunks++;
                        r->needed_bytes += idx->items[i].size;
                }
        }
        return 0;
}

static void human(uint64_t v, char buf[32])
{
        if (v >= 10u * 1024 * 1024)
                snprintf(buf, 32, "%.1f MiB", (double)v / (1024.0 * 1024.0));
        else if (v >= 10u * 1024)
                snprintf(buf, 32, "%.1f KiB", (double)v / 1024.0);
        else
                snprintf(buf, 32, "%llu B", (unsigned long long)v);
}

static void draw(report *r)
{
        const chunk_source_stats *s = chunk_source_get_stats(r->in->source);
        uint64_t done = s->remote_bytes, wire = s->wire_bytes;
        double t = now() - r->start, rate = t > 0 ? (double)wire / t : 0;
        double frac = r->needed_bytes ? (double)done / (double)r->needed_bytes : 1.0;
        frac = frac > 1 ? 1 : frac;
        char got[32], need[32], speed[32], eta[32] = "--";
        human(done, got);
        human(r->needed_bytes, need);
        human((uint64_t)rate, speed);
        if (done > 0 && r->needed_bytes > done && t > 0) {
                double left = (double)(r->needed_bytes - done) / ((double)done / t);
                snprintf(eta, sizeof(eta), "%.0fs", left);
        }
        int width = 24, filled = (int)(frac * width);
        char bar[32];
        for (int i = 0; i < width; i++)
                bar[i] = i < filled ? '#' : '-';
        bar[width] = 0;
        uint64_t total = r->in->index->n_items;
        fprintf(stderr, "\r\033[K[%s] %s/%s  %llu/%llu chunks  %s/s  ETA %s  local %.0f%%", bar,
                got, need, (unsigned long long)(s->local_chunks + s->remote_chunks),
                (unsigned long long)total, speed, eta,
                total ? 100.0 * (double)s->local_chunks / (double)total : 0.0);
        fflush(stderr);
}

static void *bar_thread(void *userdata)
{
        report *r = userdata;
        pthread_mutex_lock(&r->lock);
        while (!r->stop) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += 250 * 1000 * 1000;
                if (ts.tv_nsec >= 1000000000) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000;
                }
                pthread_cond_timedwait(&r->stop_cond, &r->lock, &ts);
                if (!r->stop)
                        draw(r);
        }
        pthread_mutex_unlock(&r->lock);
        fprintf(stderr, "\r\033[K");
        fflush(stderr);
        return NULL;
}

int report_start(const archive_input *in, const char *dest, bool json, report **ret)
{
        report *r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        *r = (report){.in = in, .dest = dest, .json = json, .start = now()};
        int k = plan(r);
        if (k < 0) {
                free(r);
                return k;
        }
        pthread_mutex_init(&r->lock, NULL);
        pthread_cond_init(&r->stop_cond, NULL);
        if (in->index && in->source && chunk_source_is_remote(in->source) &&
            isatty(STDERR_FILENO) && ca_log_get_max_level() >= CA_LOG_INFO)
                r->bar = pthread_create(&r->thread, NULL, bar_thread, r) == 0;
        *ret = r;
        return 0;
}

static int print_json(report *r, int result, double seconds)
{
        const archive_input *in = r->in;
        json_t *o = json_object();
        if (!o)
                return -ENOMEM;
        json_object_set_new(o, "source", json_string(in->location));
        json_object_set_new(o, "destination", json_string(r->dest));
        json_object_set_new(o, "ok", json_boolean(result >= 0));
        json_object_set_new(o, "seconds", json_real(seconds));
        if (in->index) {
                const chunk_source_stats *s = chunk_source_get_stats(in->source);
                json_object_set_new(o, "chunks", json_integer((json_int_t)in->index->n_items));
                json_object_set_new(o, "image_bytes",
                                    json_integer((json_int_t)in->index->total_size));
                json_object_set_new(o, "chunks_local", json_integer((json_int_t)s->local_chunks));
                json_object_set_new(o, "chunks_downloaded",
                                    json_integer((json_int_t)s->remote_chunks));
                json_object_set_new(o, "bytes_downloaded", json_integer((json_int_t)s->wire_bytes));
                json_object_set_new(o, "bytes_downloaded_uncompressed",
                                    json_integer((json_int_t)s->remote_bytes));
                json_object_set_new(o, "chunks_needed", json_integer((json_int_t)r->needed_chunks));
                json_object_set_new(o, "chunks_seeded", json_integer((json_int_t)r->seeded));
                json_object_set_new(o, "chunks_rejected",
                                    json_integer((json_int_t)s->corrupt_chunks));
        }
        if (in->engine) {
                transfer_stats t;
                transfer_engine_stats(in->engine, &t);
                json_object_set_new(o, "http_requests", json_integer((json_int_t)t.requests));
                json_object_set_new(o, "http_retries", json_integer((json_int_t)t.retries));
        }
        int k = json_dumpf(o, stdout, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(o);
        if (k < 0 || fputc('\n', stdout) == EOF || fflush(stdout) != 0)
                return ca_log_errno(CA_LOG_ERR, -EIO, "writing to stdout failed");
        return 0;
}

void report_set_seeded(report *r, uint64_t n)
{
        if (r)
                r->seeded = n;
}

int report_finish(report *r, int result)
{
        if (!r)
                return result;
        if (r->bar) {
                pthread_mutex_lock(&r->lock);
                r->stop = true;
                pthread_cond_signal(&r->stop_cond);
                pthread_mutex_unlock(&r->lock);
                pthread_join(r->thread, NULL);
        }
        double seconds = now() - r->start;
        const archive_input *in = r->in;
        if (result >= 0 && in->index) {
                const chunk_source_stats *s = chunk_source_get_stats(in->source);
                char wire[32], image[32];
                human(s->wire_bytes, wire);
                human(in->index->total_size, image);
                ca_log_info("%s: %zu chunks: %llu served locally, %llu downloaded (%s for "
                            "a %s image) in %.2fs",
                            in->location, in->index->n_items, (unsigned long long)s->local_chunks,
                            (unsigned long long)s->remote_chunks, wire, image, seconds);
        }
        if (r->json) {
                int k = print_json(r, result, seconds);
                if (result >= 0)
                        result = k;
        }
        pthread_mutex_destroy(&r->lock);
        pthread_cond_destroy(&r->stop_cond);
        free(r);
        return result;
}

static int progress_start(void *userdata, const archive_input *in, const char *what, void **ret)
{
        return report_start(in, what, false, (report **)ret);
}

static int progress_finish(void *handle, int result)
{
        return report_finish(handle, result);
}

const fetch_progress report_fetch_progress = {
    .start = progress_start,
    .finish = progress_finish,
};
