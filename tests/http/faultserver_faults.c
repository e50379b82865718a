/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* faultserver's fault modes: the table of faults, what the "once" faults remember, and the
 * response each fault gives to a parsed request (the list is in faultserver.c). */
#include "faultserver.h"

#define SEEN_MAX (1u << 20) /* bound on what the "once" faults remember */
#define LAG_MS   3000       /* how long /lag/ holds a body back */

enum fault {
        FAULT_OK,
        FAULT_503ONCE,
        FAULT_429ONCE,
        FAULT_STALL,
        FAULT_TRUNCATE,
        FAULT_CHUNKED_HUGE,
        FAULT_CORRUPT,
        FAULT_CORRUPT_ONCE,
        FAULT_REDIRECT_HTTP,
        FAULT_REDIRECT_HOST,
        FAULT_SLOW,
        FAULT_LAG,
        FAULT_500,
        FAULT_ETAG,
};

static const struct {
        const char *name;
        enum fault fault;
} fault_table[] = {
    {"ok", FAULT_OK},
    {"503once", FAULT_503ONCE},
    {"429once", FAULT_429ONCE},
    {"stall", FAULT_STALL},
    {"truncate", FAULT_TRUNCATE},
    {"chunked-huge", FAULT_CHUNKED_HUGE},
    {"corrupt", FAULT_CORRUPT},
    {"corrupt-once", FAULT_CORRUPT_ONCE},
    {"redirect-http", FAULT_REDIRECT_HTTP},
    {"redirect-host", FAULT_REDIRECT_HOST},
    {"slow", FAULT_SLOW},
    {"lag", FAULT_LAG},
    {"500", FAULT_500},
    {"etag", FAULT_ETAG},
};

/* Set of 64-bit hashes of "fault\0path" already answered with a "once" error. */
static uint64_t *seen;
static size_t seen_size, seen_count;

static uint64_t hash_key(const char *fault, const char *path)
{
        uint64_t h = UINT64_C(0xcbf29ce484222325);

        for (const char *p = fault; *p; p++)
                h = (h ^ (uint8_t)*p) * UINT64_C(0x100000001b3);
        h = (h ^ 0) * UINT64_C(0x100000001b3);
        for (const char *p = path; *p; p++)
                h = (h ^ (uint8_t)*p) * UINT64_C(0x100000001b3);
        return h ? h : 1; /* 0 marks an empty slot */
}

static bool seen_insert_slot(uint64_t *table, size_t size, uint64_t h)
{
        for (size_t i = h & (size - 1);; i = (i + 1) & (size - 1)) {
                if (table[i] == h)
                        return false;
                if (table[i] == 0) {
                        table[i] = h;
                        return true;
                }
        }
}

/* Returns true if the key was new (and remembers it). When the bound is reached every key counts
 * as already seen, so a runaway client gets files rather than endless errors. */
static bool seen_first_time(const char *fault, const char *path)
{
        uint64_t h = hash_key(fault, path);

        if (seen_count * 2 >= seen_size) {
                if (seen_size >= SEEN_MAX * 2)
                        return false;
                size_t n = seen_size ? seen_size * 2 : 1024;
                uint64_t *t = calloc(n, sizeof(uint64_t));
                if (!t)
                        return false;
                for (size_t i = 0; i < seen_size; i++)
                        if (seen[i])
                                seen_insert_slot(t, n, seen[i]);
                free(seen);
                seen = t;
                seen_size = n;
        }
        if (!seen_insert_slot(seen, seen_size, h))
                return false;
        seen_count++;
        return true;
}

void fault_respond(struct conn *c, const struct request *rq)
{
        const char *method = rq->method, *target = rq->target;
        const char *fault_name = rq->fault_name, *path = rq->path;
        const char *if_none_match = rq->if_none_match;
        bool want_close = rq->want_close, is_head = rq->is_head, has_inm = rq->has_inm;
        enum fault fault = FAULT_OK;
        bool found = false;
        struct stat st;
        int fd;

        for (size_t i = 0; i < ELEMENTSOF(fault_table); i++)
                if (strcmp(fault_table[i].name, fault_name) == 0) {
                        fault = fault_table[i].fault;
                        found = true;
                }
        if (!found || !path_is_safe(path)) {
                simple_response(c, method, target, 404, want_close, NULL);
                return;
        }

        if (fault == FAULT_REDIRECT_HTTP || fault == FAULT_REDIRECT_HOST) {
                /* redirect-host: another host name for this server; P keeps its own fault. */
                bool host = fault == FAULT_REDIRECT_HOST;
                char location[IN_MAX + 64];
                snprintf(location, sizeof(location), "Location: http://%s:%u/%s%s",
                         host ? "localhost" : "127.0.0.1", (unsigned)own_port, host ? "" : "ok/",
                         path);
                simple_response(c, method, target, host ? 302 : 301, want_close, location);
                return;
        }
        if (fault == FAULT_503ONCE && seen_first_time(fault_name, path)) {
                simple_response(c, method, target, 503, want_close, NULL);
                return;
        }
        if (fault == FAULT_429ONCE && seen_first_time(fault_name, path)) {
                simple_response(c, method, target, 429, want_close, "Retry-After: 0");
                return;
        }
        if (fault == FAULT_500) {
                simple_response(c, method, target, 500, want_close, NULL);
                return;
        }
        if (fault == FAULT_CHUNKED_HUGE) {
                begin_response(c, method, target, 200, want_close);
                out_append(c, "Content-Type: application/octet-stream\r\n"
                              "Transfer-Encoding: chunked\r\n\r\n");
                if (!is_head)
                        c->body = BODY_ZERO_CHUNKS;
                return;
        }

        fd = openat(root_fd, path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0) {
                simple_response(c, method, target, errno == ENOENT || errno == ENOTDIR ? 404 : 500,
                                want_close, NULL);
                return;
        }
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                close(fd);
                simple_response(c, method, target, 404, want_close, NULL);
                return;
        }

        if (fault == FAULT_ETAG) {
                char etag[64];
                snprintf(etag, sizeof(etag), "\"%" PRIx64 "-%" PRIx64 "\"", (uint64_t)st.st_size,
                         (uint64_t)st.st_mtim.tv_sec);
                if (has_inm && (strstr(if_none_match, etag) || strcmp(if_none_match, "*") == 0)) {
                        close(fd);
                        begin_response(c, method, target, 304, want_close);
                        out_append(c, "ETag: %s\r\nCache-Control: max-age=60\r\n\r\n", etag);
                        return;
                }
                begin_response(c, method, target, 200, want_close);
                out_append(c, "ETag: %s\r\nCache-Control: max-age=60\r\n", etag);
        } else {
                begin_response(c, method, target, 200, want_close);
        }
        out_append(c,
                   "Content-Type: application/octet-stream\r\nContent-Length: %" PRIu64 "\r\n\r\n",
                   (uint64_t)st.st_size);
        if (is_head) {
                close(fd);
                return;
        }
        c->file_fd = fd;
        c->body = BODY_FILE;
        c->body_off = 0;
        c->body_end = (uint64_t)st.st_size;
        switch (fault) {
        case FAULT_STALL:
                c->body_end /= 2;
                c->after = AFTER_STALL;
                break;
        case FAULT_TRUNCATE:
                c->body_end /= 2;
                c->after = AFTER_CLOSE;
                break;
        case FAULT_CORRUPT:
                if (st.st_size > 0)
                        c->flip_at = (uint64_t)st.st_size / 2;
                break;
        case FAULT_CORRUPT_ONCE:
                if (st.st_size > 0 && seen_first_time(fault_name, path))
                        c->flip_at = (uint64_t)st.st_size / 2;
                break;
        case FAULT_SLOW:
                c->slow = true;
                c->next_ms = 0;
                break;
        case FAULT_LAG:
                if (hash_key("lag", path) % 4 == 0) {
                        struct timespec ts;
                        clock_gettime(CLOCK_MONOTONIC, &ts);
                        c->slow = c->hold = true;
                        c->next_ms =
                            (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 + LAG_MS;
                }
                break;
        default:
                break;
        }
}

void faults_free(void)
{
        free(seen);
}
