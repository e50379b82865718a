/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The transfer engine (fetcher/transfer/transfer.c) over plain http against the fault server:
 * bodies, 404, body caps, retries and their limit, stalls, the speed floor and the deadline,
 * redirects named in errors, conditional requests, header refusals, and many callers in many
 * threads.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "fetcher/transfer/transfer.h"
#include "tests/fetcher/fault.h"
#include "tests/test.h"

#define BIG_SIZE 100001
#define N_SMALL  10

static char root[] = "/tmp/test_transfer.XXXXXX";
static char www[600];
static fault_server fs;
static uint8_t big[BIG_SIZE];
static uint8_t *small[N_SMALL];
static size_t small_size[N_SMALL];

static void fill_random(uint8_t *p, size_t n, unsigned seed)
{
        uint64_t x = 0x9e3779b97f4a7c15u * (seed + 1);
        for (size_t i = 0; i < n; i++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                p[i] = (uint8_t)x;
        }
}

static void write_file(const char *name, const void *data, size_t size)
{
        char p[800];
        snprintf(p, sizeof(p), "%s/%s", www, name);
        FILE *f = fopen(p, "w");
        CHECK(f);
        CHECK(fwrite(data, 1, size, f) == size);
        CHECK(fclose(f) == 0);
}

/* The options of these tests: plain http allowed, HTTP/1.1, a 1 s stall timeout. */
static transfer_options test_options(unsigned max_attempts, unsigned max_in_flight, bool http)
{
        transfer_options o;
        transfer_options_init(&o);
        o.allow_http = http;
        o.http2 = false;
        o.stall_timeout = 1;
        o.connect_timeout = 5;
        o.max_attempts = max_attempts;
        o.max_in_flight = max_in_flight;
        return o;
}

static transfer_engine *engine_of(const transfer_options *o)
{
        transfer_engine *e = NULL;
        CHECK(transfer_engine_new(o, &e) == 0);
        CHECK(e);
        return e;
}

static transfer_engine *engine_new(unsigned max_attempts, unsigned max_in_flight, bool http)
{
        transfer_options o = test_options(max_attempts, max_in_flight, http);
        return engine_of(&o);
}

static int get_flags(transfer_engine *e, const char *path, size_t max, const char *const *headers,
                     unsigned flags, transfer_response *resp)
{
        char url[1024];
        snprintf(url, sizeof(url), "%s%s", fs.url, path);
        return transfer_get_flags(e, url, max, headers, flags, resp);
}

static int get(transfer_engine *e, const char *path, size_t max, const char *const *headers,
               transfer_response *resp)
{
        return get_flags(e, path, max, headers, 0, resp);
}

static unsigned logged(const char *line)
{
        return fault_count(&fs, line);
}

static transfer_stats stats(transfer_engine *e)
{
        transfer_stats s;
        transfer_engine_stats(e, &s);
        return s;
}

static double now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void check_big(const transfer_response *r)
{
        CHECK_EQ_INT(r->status, 200);
        CHECK_EQ_INT(r->size, BIG_SIZE);
        CHECK(r->body);
        CHECK(memcmp(r->body, big, BIG_SIZE) == 0);
}

/* A failed transfer leaves no body behind. */
static void check_empty(const transfer_response *r)
{
        CHECK(!r->body);
        CHECK_EQ_INT(r->size, 0);
        CHECK(!r->etag);
}

static void test_ok(transfer_engine *e)
{
        transfer_stats s0 = stats(e);
        transfer_response r = {0};
        CHECK_EQ_INT(get(e, "/ok/big.bin", 1 << 20, NULL, &r), 0);
        check_big(&r);
        CHECK_EQ_INT(r.attempts, 1);
        CHECK(!r.etag);
        CHECK_EQ_INT(r.max_age, -1);
        transfer_response_clear(&r);
        transfer_stats s1 = stats(e);
        CHECK_EQ_INT(s1.requests - s0.requests, 1);
        CHECK_EQ_INT(s1.retries - s0.retries, 0);
        CHECK_EQ_INT(s1.bytes - s0.bytes, BIG_SIZE);
        CHECK_EQ_INT(logged("GET /ok/big.bin 200"), 1);

        /* A body of exactly max_size bytes is fine. */
        CHECK_EQ_INT(get(e, "/ok/big.bin", BIG_SIZE, NULL, &r), 0);
        check_big(&r);
        transfer_response_clear(&r);

        /* An empty body: status 200, no buffer. */
        CHECK_EQ_INT(get(e, "/ok/empty", 100, NULL, &r), 0);
        CHECK_EQ_INT(r.status, 200);
        CHECK_EQ_INT(r.size, 0);
        transfer_response_clear(&r);

        /* A redirect to plain http is followed when plain http is allowed. */
        CHECK_EQ_INT(get(e, "/redirect-http/big.bin", 1 << 20, NULL, &r), 0);
        check_big(&r);
        transfer_response_clear(&r);
        CHECK_EQ_INT(logged("GET /redirect-http/big.bin 301"), 1);
}

static void test_not_found(transfer_engine *e)
{
        transfer_stats s0 = stats(e);
        transfer_response r = {0};
        CHECK_EQ_INT(get(e, "/ok/none.bin", 1 << 20, NULL, &r), -ENOENT);
        CHECK_EQ_INT(r.status, 404);
        CHECK_EQ_INT(r.attempts, 1);
        check_empty(&r);
        /* An unknown fault is a 404 too; neither is retried. */
        CHECK_EQ_INT(get(e, "/nosuch/big.bin", 1 << 20, NULL, &r), -ENOENT);
        CHECK_EQ_INT(r.attempts, 1);
        transfer_stats s1 = stats(e);
        CHECK_EQ_INT(s1.requests - s0.requests, 2);
        CHECK_EQ_INT(s1.retries - s0.retries, 0);
        CHECK_EQ_INT(logged("GET /ok/none.bin 404"), 1);
}

static void test_too_big(transfer_engine *e)
{
        transfer_stats s0 = stats(e);
        transfer_response r = {0};
        /* Content-Length over the cap. */
        CHECK_EQ_INT(get(e, "/ok/big.bin", BIG_SIZE - 1, NULL, &r), -EFBIG);
        check_empty(&r);
        CHECK_EQ_INT(r.attempts, 1);
        CHECK_EQ_INT(get(e, "/ok/big.bin", 1000, NULL, &r), -EFBIG);
        check_empty(&r);
        /* An endless chunked body has no length to check: the cap stops it as it arrives. */
        double t0 = now_s();
        CHECK_EQ_INT(get(e, "/chunked-huge/x", 1 << 20, NULL, &r), -EFBIG);
        check_empty(&r);
        CHECK_EQ_INT(r.attempts, 1);
        CHECK(now_s() - t0 < 10);
        transfer_stats s1 = stats(e);
        CHECK_EQ_INT(s1.retries - s0.retries, 0);
        CHECK_EQ_INT(logged("GET /chunked-huge/x 200"), 1);
}

static void test_retried_once(transfer_engine *e)
{
        transfer_stats s0 = stats(e);
        transfer_response r = {0};
        CHECK_EQ_INT(get(e, "/503once/big.bin", 1 << 20, NULL, &r), 0);
        check_big(&r);
        CHECK_EQ_INT(r.attempts, 2);
        transfer_response_clear(&r);
        CHECK_EQ_INT(get(e, "/429once/big.bin", 1 << 20, NULL, &r), 0);
        check_big(&r);
        CHECK_EQ_INT(r.attempts, 2);
        transfer_response_clear(&r);
        transfer_stats s1 = stats(e);
        CHECK_EQ_INT(s1.requests - s0.requests, 4);
        CHECK_EQ_INT(s1.retries - s0.retries, 2);
        /* Only the 200 bodies count; the error pages are dropped. */
        CHECK_EQ_INT(logged("GET /503once/big.bin 503"), 1);
        CHECK_EQ_INT(logged("GET /503once/big.bin 200"), 1);
        CHECK_EQ_INT(logged("GET /429once/big.bin 429"), 1);
}

/* A loopback port nothing listens on (bound, then closed). */
static unsigned closed_port(void)
{
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(sa);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        CHECK(fd >= 0);
        CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
        CHECK(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
        close(fd);
        return ntohs(sa.sin_port);
}

/* e has max_attempts == 3. */
static void test_retries_exhausted(transfer_engine *e)
{
        transfer_stats s0 = stats(e);
        transfer_response r = {0};

        /* A 5xx that never goes away: three attempts, then -EIO. */
        CHECK_EQ_INT(get(e, "/500/big.bin", 1 << 20, NULL, &r), -EIO);
        CHECK_EQ_INT(r.status, 500);
        CHECK_EQ_INT(r.attempts, 3);
        check_empty(&r);
        CHECK_EQ_INT(logged("GET /500/big.bin 500"), 3);
        transfer_stats s1 = stats(e);
        CHECK_EQ_INT(s1.requests - s0.requests, 3);
        CHECK_EQ_INT(s1.retries - s0.retries, 2);

        /* TRANSFER_NO_RETRY: one attempt. */
        CHECK_EQ_INT(get_flags(e, "/500/once.bin", 1 << 20, NULL, TRANSFER_NO_RETRY, &r), -EIO);
        CHECK_EQ_INT(r.attempts, 1);
        CHECK_EQ_INT(logged("GET /500/once.bin 500"), 1);

        /* The connection drops in the middle of every body. */
        CHECK_EQ_INT(get(e, "/truncate/big.bin", 1 << 20, NULL, &r), -EIO);
        CHECK_EQ_INT(r.attempts, 3);
        check_empty(&r);
        CHECK_EQ_INT(logged("GET /truncate/big.bin 200"), 3);
        transfer_stats s2 = stats(e);
        CHECK_EQ_INT(s2.retries - s1.retries, 2);

        /* Nobody listens. */
        char url[128];
        snprintf(url, sizeof(url), "http://127.0.0.1:%u/ok/big.bin", closed_port());
        CHECK_EQ_INT(transfer_get(e, url, 1 << 20, NULL, &r), -ECONNREFUSED);
        CHECK_EQ_INT(r.attempts, 3);
        CHECK_EQ_INT(r.status, 0);
        transfer_stats s3 = stats(e);
        CHECK_EQ_INT(s3.retries - s2.retries, 2);
}

static void test_stall(void)
{
        transfer_engine *e = engine_new(2, 4, true);
        transfer_response r = {0};
        double t0 = now_s();
        /* Half the body, then silence: dropped after stall_timeout (1 s), retried once. */
        CHECK_EQ_INT(get(e, "/stall/big.bin", 1 << 20, NULL, &r), -ETIMEDOUT);
        double t = now_s() - t0;
        fprintf(stderr, "stalled twice in %.2f s\n", t);
        CHECK_EQ_INT(r.attempts, 2);
        check_empty(&r);
        CHECK_EQ_INT(logged("GET /stall/big.bin 200"), 2);
        CHECK(t >= 2.0);
        CHECK(t < 15.0);
        transfer_stats s = stats(e);
        CHECK_EQ_INT(s.retries, 1);
        CHECK_EQ_INT(s.requests, 2);

        /* A slow body that keeps moving (a byte per 100 ms) is no stall. */
        CHECK_EQ_INT(get(e, "/slow/tiny", 100, NULL, &r), 0);
        CHECK_EQ_INT(r.size, 5);
        CHECK(memcmp(r.body, "tiny\n", 5) == 0);
        CHECK_EQ_INT(r.attempts, 1);
        transfer_response_clear(&r);
        transfer_engine_free(e);
}

/* Runs fn with stderr going to a file; returns what it wrote (malloc'ed). */
static char *stderr_of(int (*fn)(void *), void *userdata, int *ret)
{
        char path[700];
        snprintf(path, sizeof(path), "%s/stderr", root);
        fflush(stderr);
        int saved = dup(2), fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        CHECK(saved >= 0 && fd >= 0);
        CHECK(dup2(fd, 2) == 2);
        *ret = fn(userdata);
        fflush(stderr);
        CHECK(dup2(saved, 2) == 2);
        close(saved);
        close(fd);
        FILE *f = fopen(path, "re");
        CHECK(f);
        char *text = calloc(1, 8192);
        CHECK(text);
        size_t n = fread(text, 1, 8191, f);
        text[n] = 0;
        fclose(f);
        fputs(text, stderr); /* still in the test's log */
        return text;
}

typedef struct slow_get {
        transfer_engine *e;
        const char *path;
        unsigned flags;
        transfer_response r;
        double seconds; /* how long the get took */
} slow_get;

static int slow_get_run(void *userdata)
{
        slow_get *g = userdata;
        double t0 = now_s();
        int r = get_flags(g->e, g->path, 1 << 20, NULL, g->flags, &g->r);
        g->seconds = now_s() - t0;
        return r;
}

/*
 * A server trickling 10 bytes/s (/slow/, a byte per 100 ms) never goes silent, so the stall
 * check alone lets it hold a transfer for as long as the body lasts (slow.bin: 300 bytes, 30 s).
 * Under a 100 bytes/s floor measured over the 1 s stall period, each attempt ends after a period.
 */
static void test_speed_floor(void)
{
        transfer_options o = test_options(2, 4, true);
        o.speed_limit = 100;
        transfer_engine *e = engine_of(&o);

        slow_get g = {.e = e, .path = "/slow/slow.bin"};
        int r;
        char *err = stderr_of(slow_get_run, &g, &r);
        fprintf(stderr, "under the speed floor twice in %.2f s\n", g.seconds);
        CHECK_EQ_INT(r, -ETIMEDOUT);
        CHECK_EQ_INT(g.r.attempts, 2);
        check_empty(&g.r);
        CHECK(g.seconds >= 2.0 && g.seconds < 8.0);
        CHECK_EQ_INT(logged("GET /slow/slow.bin 200"), 2);
        /* The byte count depends on timing: compare around it. */
        char want[1200];
        snprintf(want, sizeof(want), "%s/slow/slow.bin: too slow: ", fs.url);
        char *at = strstr(err, want);
        CHECK(at);
        CHECK(strstr(at, " bytes in 1 s, under the floor of 100 bytes/s (--speed-limit) (after "
                         "retries)\n"));
        free(err);
        transfer_response_clear(&g.r);

        /* 0 turns the floor off: the trickle is only too slow, never silent. */
        transfer_engine_free(e);
        o.speed_limit = 0;
        e = engine_of(&o);
        CHECK_EQ_INT(get(e, "/slow/tiny", 100, NULL, &g.r), 0);
        CHECK_EQ_INT(g.r.size, 5);
        transfer_response_clear(&g.r);
        transfer_engine_free(e);
}

/* --max-time bounds a document whatever its pace, retries included; a chunk has no deadline. */
static void test_deadline(void)
{
        transfer_options o = test_options(3, 4, true);
        o.stall_timeout = 30;
        o.speed_limit = 0;
        o.max_time = 2;
        transfer_engine *e = engine_of(&o);

        /* forty.bin at 10 bytes/s takes 4 s. */
        slow_get g = {.e = e, .path = "/slow/forty.bin"};
        int r;
        char *err = stderr_of(slow_get_run, &g, &r);
        fprintf(stderr, "past the deadline in %.2f s\n", g.seconds);
        CHECK_EQ_INT(r, -ETIMEDOUT);
        CHECK_EQ_INT(g.r.attempts, 1);
        CHECK(g.seconds >= 1.9 && g.seconds < 3.5);
        char want[1200];
        snprintf(want, sizeof(want),
                 "%s/slow/forty.bin: no complete response within 2 s (--max-time)\n", fs.url);
        CHECK(strstr(err, want));
        free(err);
        transfer_response_clear(&g.r);

        CHECK_EQ_INT(get_flags(e, "/slow/forty.bin", 100, NULL, TRANSFER_NO_DEADLINE, &g.r), 0);
        CHECK_EQ_INT(g.r.size, 40);
        transfer_response_clear(&g.r);
        transfer_engine_free(e);
}

/* After a redirect to another host, the response and the error name the URL that failed. */
static void test_redirect_named(transfer_engine *e)
{
        char orig[1024], effective[1024], note[1200];
        transfer_response r = {0};
        CHECK_EQ_INT(get(e, "/redirect-host/ok/missing", 100, NULL, &r), -ENOENT);
        snprintf(orig, sizeof(orig), "%s/redirect-host/ok/missing", fs.url);
        snprintf(effective, sizeof(effective), "http://localhost:%u/ok/missing", fs.port);
        CHECK_EQ_INT(r.status, 404);
        CHECK(r.effective_url);
        CHECK_STREQ(transfer_response_url(&r, orig), effective);
        char want[1200];
        snprintf(want, sizeof(want), " (redirected from %s)", orig);
        CHECK_STREQ(transfer_redirect_note(&r, orig, note, sizeof(note)), want);
        transfer_response_clear(&r);

        /* Without a redirect: the URL asked for, and no note. */
        CHECK_EQ_INT(get(e, "/ok/missing", 100, NULL, &r), -ENOENT);
        CHECK(!r.effective_url);
        CHECK_STREQ(transfer_response_url(&r, orig), orig);
        CHECK_STREQ(transfer_redirect_note(&r, orig, note, sizeof(note)), "");
        transfer_response_clear(&r);

        slow_get g = {.e = e, .path = "/redirect-host/500/x", .flags = TRANSFER_NO_RETRY};
        int k;
        char *err = stderr_of(slow_get_run, &g, &k);
        CHECK_EQ_INT(k, -EIO);
        snprintf(want, sizeof(want),
                 "http://localhost:%u/500/x: HTTP status 500 (redirected from %s/redirect-host/"
                 "500/x)\n",
                 fs.port, fs.url);
        CHECK(strstr(err, want));
        free(err);
        transfer_response_clear(&g.r);
}

static void test_conditional(transfer_engine *e)
{
        transfer_response r = {0};
        CHECK_EQ_INT(get(e, "/etag/big.bin", 1 << 20, NULL, &r), 0);
        check_big(&r);
        CHECK(r.etag);
        CHECK(r.etag[0] == '"');
        CHECK_EQ_INT(r.max_age, 60);
        char *etag = strdup(r.etag);
        CHECK(etag);
        transfer_response_clear(&r);

        char inm[256];
        snprintf(inm, sizeof(inm), "If-None-Match: %s", etag);
        const char *const h[] = {"X-Test: 1", inm, NULL};
        CHECK_EQ_INT(get(e, "/etag/big.bin", 1 << 20, h, &r), 0);
        CHECK_EQ_INT(r.status, 304);
        CHECK(!r.body);
        CHECK_EQ_INT(r.size, 0);
        CHECK(r.etag);
        CHECK_STREQ(r.etag, etag);
        CHECK_EQ_INT(r.max_age, 60);
        CHECK_EQ_INT(r.attempts, 1);
        transfer_response_clear(&r);
        CHECK_EQ_INT(logged("GET /etag/big.bin 304"), 1);

        /* Another tag: the whole body again. */
        const char *const other[] = {"If-None-Match: \"nope\"", NULL};
        CHECK_EQ_INT(get(e, "/etag/big.bin", 1 << 20, other, &r), 0);
        check_big(&r);
        transfer_response_clear(&r);
        CHECK_EQ_INT(logged("GET /etag/big.bin 200"), 2);
        free(etag);
}

static void test_refused(transfer_engine *e)
{
        transfer_stats s0 = stats(e);
        unsigned n0 = fault_total(&fs);
        transfer_response r = {.status = 7};
        static const char *const crlf[] = {"If-None-Match: \"a\"\r\nX-Evil: 1", NULL};
        static const char *const lf[] = {"X-Ok: 1", "X-Evil: a\nb", NULL};
        static const char *const cr[] = {"X-Evil: a\rb", NULL};
        static const char *const trailing[] = {"X-Evil: a\n", NULL};
        CHECK_EQ_INT(get(e, "/ok/big.bin", 1 << 20, crlf, &r), -EINVAL);
        CHECK_EQ_INT(get(e, "/ok/big.bin", 1 << 20, lf, &r), -EINVAL);
        CHECK_EQ_INT(get(e, "/ok/big.bin", 1 << 20, cr, &r), -EINVAL);
        CHECK_EQ_INT(get(e, "/ok/big.bin", 1 << 20, trailing, &r), -EINVAL);

        /* Not http(s). */
        CHECK_EQ_INT(transfer_get(e, "ftp://127.0.0.1/x", 100, NULL, &r), -EPROTONOSUPPORT);
        /* Plain http without allow_http. */
        transfer_engine *tls_only = engine_new(3, 4, false);
        CHECK_EQ_INT(get(tls_only, "/ok/big.bin", 1 << 20, NULL, &r), -EPROTO);
        transfer_stats st = stats(tls_only);
        CHECK_EQ_INT(st.requests, 0);
        transfer_engine_free(tls_only);

        /* Nothing was sent. */
        transfer_stats s1 = stats(e);
        CHECK_EQ_INT(s1.requests - s0.requests, 0);
        CHECK_EQ_INT(fault_total(&fs), n0);
}

typedef struct url_get {
        transfer_engine *e;
        const char *url;
        transfer_response r;
        double seconds;
} url_get;

static int url_get_run(void *userdata)
{
        url_get *g = userdata;
        double t0 = now_s();
        int r = transfer_get(g->e, g->url, 1 << 20, NULL, &g->r);
        g->seconds = now_s() - t0;
        return r;
}

/*
 * A host that accepts connections and never answers (a listener that never calls accept: the
 * kernel completes the handshakes): the time to the first byte is bounded by the stall timeout,
 * it is tried twice whatever max_attempts says, the retry is announced at the default level
 * with its reason, and the failure is said once per host: a second request to it is quiet.
 */
static void test_silent_host(void)
{
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        CHECK(fd >= 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t alen = sizeof(a);
        CHECK(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
        CHECK(listen(fd, 16) == 0);
        CHECK(getsockname(fd, (struct sockaddr *)&a, &alen) == 0);
        unsigned port = ntohs(a.sin_port);

        transfer_engine *e = engine_new(5, 4, true);
        char url[128], host[64], want[512];
        snprintf(url, sizeof(url), "http://127.0.0.1:%u/x", port);
        snprintf(host, sizeof(host), "127.0.0.1:%u", port);
        url_get g = {.e = e, .url = url};
        int rc;
        _cleanup_(freep) char *text = stderr_of(url_get_run, &g, &rc);
        CHECK_EQ_INT(rc, -ETIMEDOUT);
        CHECK_EQ_INT(g.r.attempts, 2);
        CHECK_EQ_INT(g.r.status, 0);
        CHECK(g.seconds >= 2.0);
        CHECK(g.seconds < 15.0);
        snprintf(want, sizeof(want),
                 "acfetch: %s: timed out: no response within 1 s (--stall-timeout) (fetching %s); "
                 "retrying in ",
                 host, url);
        CHECK(strstr(text, want));
        snprintf(want, sizeof(want),
                 "acfetch: error: %s: timed out: no response within 1 s (--stall-timeout) "
                 "(fetching %s, after retries)\n",
                 host, url);
        CHECK(strstr(text, want));
        transfer_response_clear(&g.r);

        /* The same host again: the same failure, not said again at the default level. */
        _cleanup_(freep) char *again = stderr_of(url_get_run, &g, &rc);
        CHECK_EQ_INT(rc, -ETIMEDOUT);
        CHECK(!strstr(again, "acfetch: error:"));
        CHECK(!strstr(again, "retrying"));
        transfer_response_clear(&g.r);
        transfer_engine_free(e);
        close(fd);
}

/* ---------------------------------------------------------------- many callers at once */

#define N_THREADS 6
#define N_PER     20

typedef struct worker {
        transfer_engine *e;
        unsigned n;
        int failures;
} worker;

static void *worker_run(void *userdata)
{
        worker *w = userdata;
        for (unsigned i = 0; i < N_PER; i++) {
                unsigned k = (w->n * 7 + i) % N_SMALL;
                char path[64];
                /* The first request of each thread meets a 503 once. */
                if (i == 0)
                        snprintf(path, sizeof(path), "/503once/s%u", w->n);
                else
                        snprintf(path, sizeof(path), "/ok/s%u", k);
                if (i == 0)
                        k = w->n;
                transfer_response r = {0};
                int rc = get(w->e, path, 1 << 20, NULL, &r);
                if (rc != 0 || r.status != 200 || r.size != small_size[k] ||
                    (r.size && memcmp(r.body, small[k], r.size) != 0)) {
                        fprintf(stderr, "thread %u: %s: rc %d status %ld size %zu\n", w->n, path,
                                rc, r.status, r.size);
                        w->failures++;
                }
                transfer_response_clear(&r);
        }
        return NULL;
}

static void test_concurrent(void)
{
        /* Fewer requests in flight than callers: the queue is exercised too. */
        transfer_engine *e = engine_new(3, 4, true);
        pthread_t t[N_THREADS];
        worker w[N_THREADS];
        for (unsigned i = 0; i < N_THREADS; i++) {
                w[i] = (worker){.e = e, .n = i};
                CHECK(pthread_create(&t[i], NULL, worker_run, &w[i]) == 0);
        }
        for (unsigned i = 0; i < N_THREADS; i++) {
                CHECK(pthread_join(t[i], NULL) == 0);
                CHECK_EQ_INT(w[i].failures, 0);
        }
        transfer_stats s = stats(e);
        CHECK_EQ_INT(s.requests, N_THREADS * N_PER + N_THREADS);
        CHECK_EQ_INT(s.retries, N_THREADS);
        uint64_t bytes = 0;
        for (unsigned i = 0; i < N_THREADS; i++)
                for (unsigned j = 0; j < N_PER; j++)
                        bytes += small_size[j == 0 ? i : (i * 7 + j) % N_SMALL];
        /* Every body received counts, the 503 pages ("Service Unavailable\n") too. */
        CHECK_EQ_INT(s.bytes, bytes + N_THREADS * strlen("Service Unavailable\n"));
        transfer_engine_free(e);
}

int main(void)
{
        CHECK(mkdtemp(root));
        snprintf(www, sizeof(www), "%s/www", root);
        CHECK(mkdir(www, 0755) == 0);
        fill_random(big, BIG_SIZE, 1);
        write_file("big.bin", big, BIG_SIZE);
        write_file("empty", "", 0);
        write_file("tiny", "tiny\n", 5);
        write_file("slow.bin", big, 300);
        write_file("forty.bin", big, 40);
        for (unsigned i = 0; i < N_SMALL; i++) {
                char name[16];
                small_size[i] = 1 + (size_t)i * 29989;
                small[i] = malloc(small_size[i]);
                CHECK(small[i]);
                fill_random(small[i], small_size[i], 100 + i);
                snprintf(name, sizeof(name), "s%u", i);
                write_file(name, small[i], small_size[i]);
        }
        fault_start(www, root, &fs);

        transfer_engine *e = engine_new(3, 4, true);
        test_ok(e);
        test_not_found(e);
        test_too_big(e);
        test_retried_once(e);
        test_retries_exhausted(e);
        test_conditional(e);
        test_refused(e);
        test_redirect_named(e);
        transfer_engine_free(e);
        test_stall();
        test_speed_floor();
        test_deadline();
        test_silent_host();
        test_concurrent();

        fault_stop(&fs);
        for (unsigned i = 0; i < N_SMALL; i++)
                free(small[i]);
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
        CHECK(system(cmd) == 0);
        return 0;
}
