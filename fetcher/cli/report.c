/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the user sees of a transfer: the progress line on a terminal (progress.c), one summary
 * line at the end, and with --json the same figures as an object on stdout for programs.
 */
#include <jansson.h>
#include <string.h>
#include <time.h>

#include "fetcher/cli/cli.h"

struct report {
        const archive_input *in;
        const char *dest;
        bool json;
        uint64_t seeded; /* of the chunks needed, stored by seeds before extracting */
        double start;
        progress *line;
};

static double now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *report_plural(uint64_t n, const char *one, const char *many)
{
        return n == 1 ? one : many;
}

int report_start(const archive_input *in, const char *dest, bool json, report **ret)
{
        report *r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        *r = (report){.in = in, .dest = dest, .json = json, .start = now()};
        int k = progress_new(NULL, &r->line);
        if (k < 0) {
                free(r);
                return k;
        }
        if (in->index && in->source && chunk_source_is_remote(in->source))
                progress_set(r->line, in->location, "downloading", in, 0);
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
                json_object_set_new(o, "chunks_needed",
                                    json_integer((json_int_t)progress_needed_chunks(r->line)));
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
        progress_clear(r->line);
        double seconds = now() - r->start;
        const archive_input *in = r->in;
        if (result >= 0 && in->index) {
                const chunk_source_stats *s = chunk_source_get_stats(in->source);
                char wire[32], image[32];
                ca_format_bytes(s->wire_bytes, wire);
                ca_format_bytes(in->index->total_size, image);
                ca_log_info("%s: %zu %s: %llu served locally, %llu downloaded (%s for a %s "
                            "image) in %.2fs",
                            in->location, in->index->n_items,
                            report_plural(in->index->n_items, "chunk", "chunks"),
                            (unsigned long long)s->local_chunks,
                            (unsigned long long)s->remote_chunks, wire, image, seconds);
        }
        if (r->json) {
                int k = print_json(r, result, seconds);
                if (result >= 0)
                        result = k;
        }
        progress_free(r->line);
        free(r);
        return result;
}

/* ---------------------------------------------------------------- acfetch fetch */

static const char *const phase_names[] = {
    [FETCH_DISCOVERING] = "discovering", [FETCH_VERIFYING] = "verifying signature",
    [FETCH_SEEDING] = "reading seeds",   [FETCH_DOWNLOADING] = "downloading",
    [FETCH_RENDERING] = "rendering",     [FETCH_STORING] = "storing",
};

static void fetch_phase_begins(void *userdata, const char *name, fetch_phase phase,
                               const archive_input *in, uint64_t tree_bytes)
{
        progress_set(userdata, name, phase_names[phase], in, tree_bytes);
}

/* One line per image, after everything else said about it ("signature verified" included). */
static void fetch_done(void *userdata, const char *name, int result, fetch_outcome how,
                       const aci_image_record *rec, const fetch_stats *s, double seconds)
{
        progress_clear(userdata);
        if (result < 0)
                return;
        char wire[32], size[32], here[128] = "";
        ca_format_bytes(s->bytes_downloaded, wire);
        ca_format_bytes(rec->size, size);
        uint64_t local = s->chunks_local;
        if (local > 0 && s->chunks_seeded > 0)
                snprintf(here, sizeof(here), "; %llu %s here already, %llu from seeds",
                         (unsigned long long)local, report_plural(local, "was", "were"),
                         (unsigned long long)s->chunks_seeded);
        else if (local > 0)
                snprintf(here, sizeof(here), "; %llu %s here already", (unsigned long long)local,
                         report_plural(local, "was", "were"));
        switch (how) {
        case FETCH_NEW:
                if (s->chunks_downloaded == 0)
                        ca_log_info("%s: nothing to download, all %llu %s here already; a %s "
                                    "image in %.2fs",
                                    name, (unsigned long long)s->chunks,
                                    report_plural(s->chunks, "chunk was", "chunks were"), size,
                                    seconds);
                else
                        ca_log_info("%s: downloaded %s in %.2fs: %llu of %llu %s%s; a %s image",
                                    name, wire, seconds, (unsigned long long)s->chunks_downloaded,
                                    (unsigned long long)s->chunks,
                                    report_plural(s->chunks, "chunk", "chunks"), here, size);
                return;
        case FETCH_NOT_MODIFIED:
        case FETCH_FRESH:
        case FETCH_FROM_STORE: {
                const char *why = how == FETCH_NOT_MODIFIED ? "not modified since the last fetch"
                                  : how == FETCH_FRESH      ? "the stored index is still fresh"
                                                            : "found in the store";
                if (s->chunks_downloaded > 0)
                        ca_log_info("%s: %s; downloaded %s in %.2fs: %llu missing %s", name, why,
                                    wire, seconds, (unsigned long long)s->chunks_downloaded,
                                    report_plural(s->chunks_downloaded, "chunk", "chunks"));
                else
                        ca_log_info("%s: %s, nothing downloaded (%.2fs)", name, why, seconds);
                return;
        }
        }
}

fetch_progress report_fetch_progress(progress *p)
{
        return (fetch_progress){
            .phase = fetch_phase_begins,
            .done = fetch_done,
            .userdata = p,
        };
}
