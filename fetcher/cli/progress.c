/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The progress line: one line on a terminal (stderr) saying what a transfer is doing, redrawn in
 * place. It never gets wider than the terminal less one column (a line that wraps would scroll
 * the screen at every redraw), follows the terminal's width as it changes, and steps aside for
 * messages: every ca_log line goes through it and clears it first. It also knows what the
 * download in progress needs on disk, for the one message about a full file system.
 *
 * Figures are in bytes on the wire: downloaded so far of the estimated total to download (the
 * index gives the chunks' uncompressed sizes; the compression ratio seen so far gives the
 * rest), a rate over the last seconds and the time left at that rate.
 */
#include <pthread.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/statvfs.h>
#include <time.h>

#include "fetcher/cli/cli.h"

#define TICK_MS        100
#define RATE_WINDOW_S  5.0
#define SAMPLES        64
#define LINE_MAX_BYTES 512

typedef struct sample {
        double t;
        uint64_t wire;
} sample;

struct progress {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        pthread_t thread;
        bool drawing; /* stderr is a terminal: the thread runs */
        bool stop;

        /* what the line says */
        char name[256];
        const char *what;                     /* NULL: no line */
        const archive_input *in;              /* downloading: its chunk source's figures */
        uint64_t needed_chunks, needed_bytes; /* not in a local store at the start */
        sample samples[SAMPLES];
        unsigned n_samples, next_sample;

        /* on the terminal */
        bool shown;
        size_t shown_len; /* its columns */
        unsigned width;   /* the terminal's when it was drawn */

        /* for a full file system */
        char *dir;              /* where the writes go */
        uint64_t free_at_start; /* of the current phase; UINT64_MAX: unknown */
        uint64_t tree_bytes;    /* to write besides chunks */
        bool phase_downloads;
};

static double now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned terminal_width(void)
{
        struct winsize ws;
        if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) < 0 || ws.ws_col == 0)
                return 80;
        return ws.ws_col;
}

/* The chunks no local store holds: what the download must bring. */
static void plan(const archive_input *in, uint64_t *ret_chunks, uint64_t *ret_bytes)
{
        *ret_chunks = *ret_bytes = 0;
        const ca_index *idx = in->index;
        if (!idx || !in->source || !chunk_source_is_remote(in->source))
                return;
        _cleanup_(ca_chunk_set_freep) ca_chunk_set *set = NULL;
        if (ca_chunk_set_new(&set) < 0 || ca_chunk_set_add_index(set, idx) < 0)
                return;
        ca_chunk_set_sort(set);
        _cleanup_(freep) bool *seen = calloc(MAX(ca_chunk_set_count(set), 1), sizeof(bool));
        if (!seen)
                return;
        for (size_t i = 0; i < idx->n_items; i++) {
                ssize_t at = ca_chunk_set_find(set, &idx->items[i].id);
                if (at < 0 || seen[at])
                        continue;
                seen[at] = true;
                if (!chunk_source_has_local(in->source, &idx->items[i].id)) {
                        (*ret_chunks)++;
                        *ret_bytes += idx->items[i].size;
                }
        }
}

/* Bytes on the wire this download will take: exact once done, else the uncompressed rest at
 * the compression ratio seen so far. */
static uint64_t wire_total(const progress *p, const chunk_source_stats *s, bool *estimate)
{
        uint64_t wire = s->wire_bytes, plain = s->remote_bytes;
        *estimate = plain < p->needed_bytes;
        if (!*estimate)
                return wire;
        double ratio = plain > 0 ? (double)wire / (double)plain : 1.0;
        return wire + (uint64_t)((double)(p->needed_bytes - plain) * ratio);
}

static void format_duration(double s, char buf[32])
{
        unsigned long v = (unsigned long)(s + 0.5);
        if (v < 60)
                snprintf(buf, 32, "%lus", v);
        else if (v < 3600)
                snprintf(buf, 32, "%lu:%02lu", v / 60, v % 60);
        else
                snprintf(buf, 32, "%lu:%02lu:%02lu", v / 3600, v / 60 % 60, v % 60);
}

/* The figures after the phase's name, while downloading: the amounts, the rate and the time
 * left, each with its leading separator, or empty. */
static void figures(progress *p, char amounts[80], char rate[48], char left[48])
{
        amounts[0] = rate[0] = left[0] = 0;
        if (!p->in || !p->in->source)
                return;
        const chunk_source_stats *s = chunk_source_get_stats(p->in->source);
        double t = now();
        uint64_t wire = s->wire_bytes;
        p->samples[p->next_sample] = (sample){t, wire};
        p->next_sample = (p->next_sample + 1) % SAMPLES;
        p->n_samples = MIN(p->n_samples + 1, SAMPLES);
        /* The oldest sample within the window. */
        const sample *old = NULL;
        for (unsigned i = 1; i <= p->n_samples; i++) {
                const sample *c = &p->samples[(p->next_sample + SAMPLES - i) % SAMPLES];
                if (t - c->t > RATE_WINDOW_S)
                        break;
                old = c;
        }
        bool estimate;
        uint64_t total = wire_total(p, s, &estimate);
        char got[32], all[32];
        ca_format_bytes(wire, got);
        ca_format_bytes(total, all);
        snprintf(amounts, 80, " %s of %s%s", got, estimate ? "~" : "", all);
        if (old && t - old->t >= 0.5) {
                double r = (double)(wire - old->wire) / (t - old->t);
                char speed[32];
                ca_format_bytes((uint64_t)r, speed);
                snprintf(rate, 48, ", %s/s", speed);
                if (r > 0 && total > wire) {
                        char d[32];
                        format_duration((double)(total - wire) / r, d);
                        snprintf(left, 48, ", %s left", d);
                }
        }
}

/* The rows a rewrapping terminal moved the shown line's end to, when it narrowed, are erased. */
static void unwrap(progress *p, unsigned width)
{
        if (!p->shown || width >= p->width || p->shown_len <= width)
                return;
        fputs("\r\0337", stderr);
        for (size_t rows = (p->shown_len + width - 1) / width; rows > 1; rows--)
                fputs("\033[B\033[2K", stderr);
        fputs("\0338", stderr);
}

/*
 * Draws the line, cut to the width less one column, with the cursor left at its start. A
 * terminal that rewraps lines when it narrows keeps the cursor on the first row of what was the
 * line: the rows the rest went to are erased (with the cursor saved and restored, so that
 * nothing above moves where a terminal did not rewrap). Erasing to the end of the screen
 * instead would do, but tmux moves the screen into its history when that starts at the top
 * left corner.
 */
static void draw(progress *p)
{
        if (!p->what)
                return;
        unsigned width = terminal_width();
        size_t max = width > 1 ? width - 1 : 1;
        char amounts[80], rate[48], left[48];
        figures(p, amounts, rate, left);
        char line[LINE_MAX_BYTES], tail[256];
        max = MIN(max, sizeof(line) - 1);
        size_t nl = strlen(p->name), n = 0;
        /* The rate and the time left go first when it is narrow, then the name's start (its end
         * tells images apart), then whatever does not fit. */
        for (int drop = 0; drop < 3 && n == 0; drop++) {
                size_t tl = (size_t)snprintf(tail, sizeof(tail), ": %s%s%s%s", p->what, amounts,
                                             drop < 2 ? rate : "", drop < 1 ? left : "");
                tl = MIN(tl, sizeof(tail) - 1);
                if (nl + tl <= max)
                        n = (size_t)snprintf(line, sizeof(line), "%s%s", p->name, tail);
                else if (tl + 3 + 12 <= max)
                        n = (size_t)snprintf(line, sizeof(line), "...%s%s",
                                             p->name + nl - (max - tl - 3), tail);
        }
        if (n == 0)
                n = (size_t)snprintf(line, sizeof(line), "%s", tail + 2);
        n = MIN(n, max);
        for (size_t i = 0; i < n; i++) /* one column per byte, nothing that moves the cursor */
                if ((unsigned char)line[i] < 0x20 || (unsigned char)line[i] >= 0x7f)
                        line[i] = '?';
        unwrap(p, width);
        fprintf(stderr, "\r%.*s\033[K\r", (int)n, line);
        p->shown_len = n;
        fflush(stderr);
        p->shown = true;
        p->width = width;
}

static void erase(progress *p)
{
        if (!p->shown)
                return;
        unwrap(p, terminal_width());
        fputs("\r\033[K", stderr);
        fflush(stderr);
        p->shown = false;
}

static void *line_thread(void *userdata)
{
        progress *p = userdata;
        pthread_mutex_lock(&p->lock);
        while (!p->stop) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += TICK_MS * 1000 * 1000;
                if (ts.tv_nsec >= 1000000000) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000;
                }
                pthread_cond_timedwait(&p->cond, &p->lock, &ts);
                if (!p->stop)
                        draw(p);
        }
        erase(p);
        pthread_mutex_unlock(&p->lock);
        return NULL;
}

static void log_write(void *userdata, const char *line, size_t size)
{
        progress *p = userdata;
        pthread_mutex_lock(&p->lock);
        erase(p);
        fwrite(line, 1, size, stderr);
        fflush(stderr);
        pthread_mutex_unlock(&p->lock);
}

static void space_note(void *userdata, char *buf, size_t size)
{
        progress *p = userdata;
        pthread_mutex_lock(&p->lock);
        uint64_t chunks = 0;
        if (p->phase_downloads && p->in && p->in->source) {
                const chunk_source_stats *s = chunk_source_get_stats(p->in->source);
                bool estimate;
                uint64_t wire = wire_total(p, s, &estimate);
                /* A chunk file fills half a block more than its bytes, on average. */
                struct statvfs v;
                uint64_t slack = p->dir && statvfs(p->dir, &v) >= 0 ? v.f_frsize / 2 : 0;
                chunks = wire + p->needed_chunks * slack;
        }
        uint64_t need = chunks + p->tree_bytes;
        if (need > 0 && p->free_at_start != UINT64_MAX) {
                char n[32], c[32], t[32], f[32], more[32];
                ca_format_bytes(need, n);
                ca_format_bytes(chunks, c);
                ca_format_bytes(p->tree_bytes, t);
                ca_format_bytes(p->free_at_start, f);
                char parts[96] = "";
                if (chunks && p->tree_bytes)
                        snprintf(parts, sizeof(parts), " (%s of chunks, a %s tree)", c, t);
                if (need > p->free_at_start) {
                        ca_format_bytes(need - p->free_at_start, more);
                        snprintf(buf, size,
                                 "; %s needed about %s%s, %s more than the %s free when it began",
                                 p->name, n, parts, more, f);
                } else
                        snprintf(buf, size,
                                 "; %s needed about %s%s, and %s were free when it began", p->name,
                                 n, parts, f);
        }
        pthread_mutex_unlock(&p->lock);
}

int progress_new(const char *dir, progress **ret)
{
        progress *p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->free_at_start = UINT64_MAX;
        if (dir && !(p->dir = strdup(dir))) {
                free(p);
                return -ENOMEM;
        }
        pthread_mutex_init(&p->lock, NULL);
        pthread_cond_init(&p->cond, NULL);
        if (isatty(STDERR_FILENO) && ca_log_get_max_level() >= CA_LOG_INFO)
                p->drawing = pthread_create(&p->thread, NULL, line_thread, p) == 0;
        if (p->drawing)
                ca_log_set_writer(log_write, p);
        ca_log_set_space_note(space_note, p);
        *ret = p;
        return 0;
}

progress *progress_free(progress *p)
{
        if (!p)
                return NULL;
        ca_log_set_space_note(NULL, NULL);
        if (p->drawing) {
                pthread_mutex_lock(&p->lock);
                p->stop = true;
                pthread_cond_signal(&p->cond);
                pthread_mutex_unlock(&p->lock);
                pthread_join(p->thread, NULL);
                ca_log_set_writer(NULL, NULL);
        }
        pthread_mutex_destroy(&p->lock);
        pthread_cond_destroy(&p->cond);
        free(p->dir);
        free(p);
        return NULL;
}

void progress_set(progress *p, const char *name, const char *what, const archive_input *in,
                  uint64_t tree_bytes)
{
        if (!p)
                return;
        uint64_t chunks = 0, bytes = 0, free_now = UINT64_MAX;
        if (in)
                plan(in, &chunks, &bytes);
        struct statvfs v;
        if ((in || tree_bytes) && p->dir && statvfs(p->dir, &v) >= 0)
                free_now = (uint64_t)v.f_bavail * v.f_frsize;
        pthread_mutex_lock(&p->lock);
        snprintf(p->name, sizeof(p->name), "%s", name);
        p->what = what;
        p->in = in;
        p->n_samples = p->next_sample = 0;
        if (in) {
                p->needed_chunks = chunks;
                p->needed_bytes = bytes;
        }
        p->phase_downloads = in != NULL;
        p->tree_bytes = tree_bytes;
        if (in || tree_bytes)
                p->free_at_start = free_now;
        if (p->drawing)
                draw(p);
        pthread_mutex_unlock(&p->lock);
}

void progress_clear(progress *p)
{
        if (!p)
                return;
        pthread_mutex_lock(&p->lock);
        p->what = NULL;
        p->in = NULL;
        p->phase_downloads = false;
        if (p->drawing)
                erase(p);
        pthread_mutex_unlock(&p->lock);
}

uint64_t progress_needed_chunks(progress *p)
{
        pthread_mutex_lock(&p->lock);
        uint64_t n = p->needed_chunks;
        pthread_mutex_unlock(&p->lock);
        return n;
}
