/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The transfer engine (see acfetch.h). Requests queue under a mutex; the engine thread moves
 * them into the curl multi handle up to max_in_flight, and wakes the waiting caller when a
 * request is finished for good (success, 404, or failure after its last attempt).
 */
#include <curl/curl.h>
#include <openssl/x509_vfy.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "fetcher/transfer/concurrency.h"
#include "fetcher/transfer/registry_auth.h"
#include "fetcher/transfer/transfer.h"

#define BACKOFF_BASE_MS 200
#define BACKOFF_MAX_MS  5000
#define MAX_REDIRECTS   10
/* A host that did not answer at all (no connection, no TLS handshake, no response in time) is
 * tried twice, not max_attempts times: with the default timeouts a dead host fails in well
 * under a minute, where five attempts took minutes. */
#define SILENT_ATTEMPTS_MAX 2

/* One scheme://host:port: the unit whose requests in flight adapt to its link. */
typedef struct transfer_origin {
        char *key;
        concurrency limit;
        unsigned running; /* its requests in the multi handle */
} origin;

/* Origins beyond this many share the last one's limit (a fetch talks to a handful). */
#define ORIGINS_MAX 64

typedef enum method {
        METHOD_GET,
        METHOD_HEAD,
        METHOD_PUT,
        METHOD_POST,
} method;

/* Methods that send a body (and whose answer is 201, 202 or 204 as often as 200). */
static bool uploads(method m)
{
        return m == METHOD_PUT || m == METHOD_POST;
}

/* Header values kept (Location, Content-Type) are cut to this many bytes. */
#define HEADER_VALUE_MAX 8192
/* The start of an error response's body kept for its words (S3's XML, a registry's JSON). */
#define ERROR_DOC_MAX MAX(S3_ERROR_DOC_MAX, REGISTRY_ERROR_DOC_MAX)

typedef struct transfer_request {
        transfer_engine *engine;
        char *url; /* on the wire: https://... for an s3+https:// one */
        method method;
        uint8_t *upload; /* PUT, POST: the body, sent again from its start by each attempt */
        size_t upload_size, upload_offset;
        size_t max_size;
        const char *const *extra_headers; /* the caller's, NULL-terminated */
        const char *auth_header;          /* from auth.d, https only */
        const s3_key *s3_key;             /* signs an s3+ request (auth.d's or the env's) */
        bool s3;
        char *error_doc; /* s3, registry: the start of an error response's body */
        size_t error_doc_size;
        bool registry;             /* TRANSFER_REGISTRY */
        char *registry_header;     /* its Authorization line (a token, credentials), wiped */
        bool registry_credentials; /* that line carries or came from auth.d credentials */
        char *challenge;           /* the WWW-Authenticate value of a registry's 401 */
        bool auth_pending;         /* done with a 401 the caller's thread answers */
        bool auth_answered;        /* sent again with the answer: a 401 now is a failure */
        char *auth_failure;        /* what to say if the 401 cannot be answered */
        unsigned auth_resent;      /* attempts that were that answer, not retries */
        bool https;
        bool quiet;    /* the caller reports failures (TRANSFER_QUIET) */
        bool no_retry; /* one attempt only (TRANSFER_NO_RETRY) */
        bool urgent;   /* queued first (TRANSFER_URGENT) */
        origin *origin;
        uint64_t started;       /* ns: this attempt began, 0 while queued */
        bool running;           /* in the multi handle */
        unsigned epoch;         /* of its origin's limit when this attempt started */
        unsigned started_with;  /* its origin's requests in flight then, itself included */
        bool cancelled;         /* the caller left: the engine frees it */
        pthread_cond_t *waiter; /* the thread waiting for it, if one is (under lock) */

        CURL *easy;
        struct curl_slist *headers;
        char errbuf[CURL_ERROR_SIZE];
        bool over_cap;
        bool paused;
        bool stalled;
        bool too_slow;      /* under the speed floor for a whole period */
        bool past_deadline; /* --max-time ran out */
        bool got_response;  /* a status line arrived in this attempt */
        bool connected;     /* this attempt's connection is up (TLS handshake done) */
        unsigned silent;    /* attempts the host did not answer at all (timed out) */
        curl_off_t last_dlnow;
        uint64_t last_progress;  /* ns, CLOCK_MONOTONIC: when the last body byte came */
        uint64_t window_start;   /* ns: the speed floor's current period began */
        curl_off_t window_dlnow; /* body bytes when it began */
        curl_off_t slow_bytes;   /* bytes received in the period that was under the floor */
        uint64_t deadline;       /* ns: --max-time for a document request, 0 = none */
        uint64_t not_before;     /* ns, CLOCK_MONOTONIC: backoff */
        uint64_t retry_after_ms;
        time_t last_modified; /* this response's Last-Modified and Date, 0 when absent */
        time_t date;

        transfer_response resp;
        size_t cap;
        int error;
        bool done;
        struct transfer_request *next;
} request;

struct transfer_engine {
        transfer_options opts;
        struct curl_slist *connect_to; /* CURLOPT_CONNECT_TO, shared by every request */
        CURLM *multi;
        pthread_t thread;
        bool thread_started;

        pthread_mutex_t lock;
        pthread_condattr_t cond_attr;     /* waits with a deadline count in monotonic time */
        request *queue_head, *queue_tail; /* waiting to start (also: waiting for backoff) */
        bool stopping;
        origin *origins; /* under lock (looked up by submitters, adapted by the engine) */
        unsigned n_origins;
        bool any_cancelled; /* a running request was cancelled: reap it */

        /* engine thread only */
        unsigned running;
        request **active; /* the requests in the multi handle */
        unsigned n_active, n_active_max;
        double tokens;
        uint64_t last_refill;

        _Atomic uint64_t requests, retries, bytes;

        registry_auth *registry_auth; /* its own lock; used by callers' threads only */

        /* engine thread only: what was already said about a host (note_once) */
        struct noted *noted;
        unsigned n_noted;
};

/* "KIND HOST": one message said at the default level, once per engine. */
typedef struct noted {
        struct noted *next;
        char key[];
} noted;
#define NOTED_MAX 256

static uint64_t now_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void transfer_options_init(transfer_options *o)
{
        *o = (transfer_options){
            .max_in_flight = TRANSFER_IN_FLIGHT_MAX,
            /* Name resolution, TCP and the TLS handshake: 10 s is far over any working
             * path's need, and with SILENT_ATTEMPTS_MAX a host that accepts connections but
             * never answers is given up in about 20 s. */
            .connect_timeout = 10,
            /* Also the bound on the time to the first byte of a response. */
            .stall_timeout = 20,
            /* 1 KiB/s over the 20 s period: far under any link worth fetching an image over
             * (a 200 MB image would take over two days), yet a server that trickles a byte or
             * two per second is dropped after one period instead of holding the store forever.
             * curl has no default floor; its --speed-limit is the same measure. */
            .speed_limit = 1024,
            /* Five minutes for a page, an index, a signature or a key: an index of 100,000
             * chunks (several GB of image) is 4 MB, 14 KB/s over that time. */
            .max_time = 300,
            .max_attempts = 5,
            /* Measured (bench/http.sh, fresh file system, 2 cores): over TLS on loopback
                 * HTTP/2 took 2.0 s where HTTP/1.1 took 2.4 s; at 20 ms RTT they tie. */
            .http2 = true,
        };
}

void transfer_response_clear(transfer_response *r)
{
        free(r->body);
        free(r->etag);
        free(r->effective_url);
        free(r->location);
        free(r->content_type);
        *r = (transfer_response){.max_age = -1};
}

const char *transfer_response_url(const transfer_response *r, const char *url)
{
        return r->effective_url ? r->effective_url : url;
}

const char *transfer_redirect_note(const transfer_response *r, const char *url, char *buf,
                                   size_t size)
{
        if (!r->effective_url || size == 0)
                return "";
        snprintf(buf, size, " (redirected from %s)", url);
        return buf;
}

int url_resolve(const char *base, const char *ref, char **ret)
{
        CURLU *u = curl_url();
        if (!u)
                return -ENOMEM;
        char *out = NULL;
        int r = curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
                        curl_url_set(u, CURLUPART_URL, ref, 0) == CURLUE_OK &&
                        curl_url_get(u, CURLUPART_URL, &out, 0) == CURLUE_OK
                    ? 0
                    : -EINVAL;
        curl_url_cleanup(u);
        if (r >= 0) {
                *ret = strdup(out);
                curl_free(out);
                if (!*ret)
                        r = -ENOMEM;
        }
        return r;
}

bool url_is_plain_http(const char *url)
{
        return strncasecmp(url_transport(url), "http://", 7) == 0 ||
               strncasecmp(url, "oci+http://", 11) == 0;
}

bool url_is_http(const char *url)
{
        return strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0;
}

/* ---------------------------------------------------------------- callbacks (engine thread) */

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
        request *q = userdata;
        transfer_engine *e = q->engine;
        size_t n = size * nmemb;

        if (e->opts.rate_limit) {
                if (e->tokens <= 0) {
                        q->paused = true;
                        return CURL_WRITEFUNC_PAUSE; /* the engine loop resumes it */
                }
                e->tokens -= (double)n;
        }

        /* Only a 200 body is kept; error pages are read and dropped, within the same cap. */
        long status = 0;
        curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &status);

        if (n > q->max_size - MIN(q->resp.size, q->max_size)) {
                q->over_cap = true;
                return 0; /* aborts the transfer: libcurl < 8.4 does not cap chunked bodies */
        }
        if (status != 200) {
                if (q->error_doc && q->error_doc_size < ERROR_DOC_MAX) {
                        size_t k = MIN(n, ERROR_DOC_MAX - q->error_doc_size);
                        memcpy(q->error_doc + q->error_doc_size, data, k);
                        q->error_doc_size += k;
                }
                q->resp.size += n;
                return n;
        }
        if (q->resp.size + n > q->cap) {
                size_t cap = MAX(q->cap * 2, (size_t)16384);
                cap = MAX(cap, q->resp.size + n);
                cap = MIN(cap, q->max_size);
                uint8_t *p = realloc(q->resp.body, cap);
                if (!p)
                        return 0;
                q->resp.body = p;
                q->cap = cap;
        }
        memcpy(q->resp.body + q->resp.size, data, n);
        q->resp.size += n;
        return n;
}

static bool header_is(const char *line, size_t len, const char *name, const char **value,
                      size_t *vlen)
{
        size_t n = strlen(name);
        if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
                return false;
        const char *v = line + n + 1, *end = line + len;
        while (v < end && (*v == ' ' || *v == '\t'))
                v++;
        while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
                end--;
        *value = v;
        *vlen = (size_t)(end - v);
        return true;
}

/* An HTTP date header's value as seconds since the epoch, 0 when it does not parse. */
static time_t http_date(const char *v, size_t vlen)
{
        char buf[64];
        if (vlen >= sizeof(buf))
                return 0;
        memcpy(buf, v, vlen);
        buf[vlen] = 0;
        time_t t = curl_getdate(buf, NULL);
        return t > 0 ? t : 0;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
        request *q = userdata;
        size_t n = size * nmemb;
        const char *v;
        size_t vlen;

        if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
                /* A new response (after a redirect or 100): forget the previous one's headers. */
                free(q->resp.etag);
                q->resp.etag = NULL;
                free(q->resp.location);
                q->resp.location = NULL;
                free(q->resp.content_type);
                q->resp.content_type = NULL;
                q->resp.max_age = -1;
                q->retry_after_ms = 0;
                free(q->challenge);
                q->challenge = NULL;
                q->last_modified = 0;
                q->date = 0;
                q->resp.size = 0;
                q->got_response = true;
        } else if (header_is(data, n, "Last-Modified", &v, &vlen)) {
                q->last_modified = http_date(v, vlen);
        } else if (header_is(data, n, "Date", &v, &vlen)) {
                q->date = http_date(v, vlen);
        } else if (header_is(data, n, "ETag", &v, &vlen)) {
                free(q->resp.etag);
                q->resp.etag = strndup(v, MIN(vlen, (size_t)1024));
        } else if (header_is(data, n, "Location", &v, &vlen)) {
                free(q->resp.location);
                q->resp.location = strndup(v, MIN(vlen, (size_t)HEADER_VALUE_MAX));
        } else if (header_is(data, n, "Content-Type", &v, &vlen)) {
                free(q->resp.content_type);
                q->resp.content_type = strndup(v, MIN(vlen, (size_t)HEADER_VALUE_MAX));
        } else if (q->registry && header_is(data, n, "WWW-Authenticate", &v, &vlen) &&
                   vlen <= REGISTRY_CHALLENGE_MAX) {
                /* The first Bearer challenge, else the first one. */
                if (!q->challenge || (strncasecmp(q->challenge, "Bearer", 6) != 0 && vlen >= 6 &&
                                      strncasecmp(v, "Bearer", 6) == 0)) {
                        free(q->challenge);
                        q->challenge = strndup(v, vlen);
                }
        } else if (header_is(data, n, "Cache-Control", &v, &vlen)) {
                const char *m = memmem(v, vlen, "max-age=", 8);
                if (m) {
                        long long age = strtoll(m + 8, NULL, 10);
                        q->resp.max_age = age >= 0 ? age : -1;
                }
        } else if (header_is(data, n, "Retry-After", &v, &vlen)) {
                unsigned long long s = strtoull(v, NULL, 10);
                q->retry_after_ms = MIN(s * 1000, (unsigned long long)BACKOFF_MAX_MS);
        }
        return n;
}

/* Engine thread: the speed floor's period starts again (a new attempt, or our own pause). */
static void speed_window_restart(request *q, uint64_t t, curl_off_t dlnow)
{
        q->last_dlnow = dlnow;
        q->last_progress = t;
        q->window_start = t;
        q->window_dlnow = dlnow;
}

/*
 * Stall detection, the speed floor and the deadline. libcurl's LOW_SPEED check averages over its
 * last five seconds, so a transfer that stops after sending data is only noticed some six seconds
 * late, and it counts our own rate-limit pauses as slowness; this notices the silence itself,
 * and measures the floor over whole stall_timeout periods in which we did not pause the transfer.
 */
static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
        request *q = userdata;
        const transfer_options *o = &q->engine->opts;
        uint64_t t = now_ns(), period = (uint64_t)o->stall_timeout * 1000000000u;
        (void)dltotal;
        (void)ultotal;
        /* Bytes moved either way: an upload's progress is what it sends. */
        dlnow += ulnow;
        if (q->deadline && t >= q->deadline) {
                q->past_deadline = true;
                return 1; /* CURLE_ABORTED_BY_CALLBACK */
        }
        if (q->paused) {
                speed_window_restart(q, t, dlnow);
                return 0;
        }
        if (!q->connected) {
                /* Until the connection (the TLS handshake included) is up, the time is
                 * --connect-timeout's; the stall clock, which bounds the first byte, starts
                 * then. A reused connection is up at once (curl's pretransfer time). */
                curl_off_t up = 0;
                curl_easy_getinfo(q->easy, CURLINFO_PRETRANSFER_TIME_T, &up);
                speed_window_restart(q, t, dlnow);
                if (up == 0 && dlnow == 0 && !q->got_response)
                        return 0;
                q->connected = true;
        }
        if (dlnow != q->last_dlnow) {
                q->last_dlnow = dlnow;
                q->last_progress = t;
        } else if (t - q->last_progress >= period) {
                q->stalled = true;
                return 1;
        }
        if (o->speed_limit && t - q->window_start >= period) {
                curl_off_t got = dlnow - q->window_dlnow;
                if ((uint64_t)got < o->speed_limit * o->stall_timeout) {
                        q->too_slow = true;
                        q->slow_bytes = got;
                        return 1;
                }
                q->window_start = t;
                q->window_dlnow = dlnow;
        }
        return 0;
}

/* ---------------------------------------------------------------- starting and finishing */

/* Engine thread: true the first time KIND is said about HOST in this engine, so a dead host or a
 * flaky store is named once at the default level; the repeats go to --debug. */
static bool note_once(transfer_engine *e, const char *kind, const char *host)
{
        char key[512];
        snprintf(key, sizeof(key), "%s %s", kind, host);
        for (noted *n = e->noted; n; n = n->next)
                if (strcmp(n->key, key) == 0)
                        return false;
        if (e->n_noted >= NOTED_MAX)
                return true; /* not remembered: said again rather than hidden */
        noted *n = malloc(sizeof(*n) + strlen(key) + 1);
        if (!n)
                return true;
        strcpy(n->key, key);
        n->next = e->noted;
        e->noted = n;
        e->n_noted++;
        return true;
}

/* "host:port" of url (the scheme's port when the URL gives none), or "host" without with_port;
 * url itself if it does not parse. */
static void url_host(const char *url, bool with_port, char *buf, size_t size)
{
        CURLU *u = curl_url();
        char *host = NULL, *port = NULL;
        if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
            curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
                if (with_port)
                        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
                snprintf(buf, size, "%s%s%s", host, port ? ":" : "", port ? port : "");
        } else
                snprintf(buf, size, "%s", url);
        curl_free(host);
        curl_free(port);
        curl_url_cleanup(u);
}

static size_t on_upload(char *buf, size_t size, size_t nmemb, void *userdata)
{
        request *q = userdata;
        size_t n = MIN(size * nmemb, q->upload_size - q->upload_offset);
        memcpy(buf, q->upload + q->upload_offset, n);
        q->upload_offset += n;
        return n;
}

/* libcurl rewinds an upload it must send again on the same attempt (a redirect, an auth
 * round). */
static int on_upload_seek(void *userdata, curl_off_t offset, int whence)
{
        request *q = userdata;
        if (whence != SEEK_SET || offset < 0 || (uint64_t)offset > q->upload_size)
                return CURL_SEEKFUNC_FAIL;
        q->upload_offset = (size_t)offset;
        return CURL_SEEKFUNC_OK;
}

static int headers_add(request *q, const char *line)
{
        struct curl_slist *l = curl_slist_append(q->headers, line);
        if (!l)
                return -ENOMEM;
        q->headers = l;
        return 0;
}

/* Method and, for an s3+ URL, the signature: libcurl signs with SigV4 over every header set
 * here, the payload hash included (libcurl 7.88 does not send one, and S3 servers refuse a
 * request without it). */
static int request_setup_method(request *q)
{
        CURL *c = q->easy;
        if (q->method == METHOD_HEAD)
                curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        if (q->method == METHOD_POST) {
                /* POST's body from memory, copied by libcurl (an empty one too). */
                curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->upload_size);
                curl_easy_setopt(c, CURLOPT_COPYPOSTFIELDS, q->upload ? (char *)q->upload : "");
        }
        if (q->method == METHOD_PUT) {
                curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
                curl_easy_setopt(c, CURLOPT_READFUNCTION, on_upload);
                curl_easy_setopt(c, CURLOPT_READDATA, q);
                curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_upload_seek);
                curl_easy_setopt(c, CURLOPT_SEEKDATA, q);
                curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)q->upload_size);
                /* libcurl 7.88 asks "Expect: 100-continue" only over 1 MiB, which chunks are
                 * not; removing it with an empty "Expect:" would break its SigV4 signature. */
        }
        if ((q->s3 || q->registry) && !q->error_doc && !(q->error_doc = malloc(ERROR_DOC_MAX)))
                return -ENOMEM;
        if (!q->s3)
                return 0;
        /* A redirect would have to be signed again for its own host: it is reported instead
         * (S3 answers a wrong region or endpoint with one). */
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
        if (!q->s3_key)
                return 0; /* a public bucket: plain unsigned requests */
        const s3_key *k = q->s3_key;
        char sigv4[256];
        snprintf(sigv4, sizeof(sigv4), "aws:amz:%s:s3", k->region ? k->region : S3_REGION_DEFAULT);
        /* Never CURLOPT_USERPWD: it splits at the first ':', and keys may hold one. */
        curl_easy_setopt(c, CURLOPT_AWS_SIGV4, sigv4);
        curl_easy_setopt(c, CURLOPT_USERNAME, k->access_key_id);
        curl_easy_setopt(c, CURLOPT_PASSWORD, k->secret_access_key);
        _cleanup_(freep) char *payload = NULL;
        int r = s3_payload_header(uploads(q->method) ? q->upload : NULL, q->upload_size, &payload);
        if (r >= 0)
                r = headers_add(q, payload);
        if (r >= 0 && k->session_token) {
                _cleanup_(freep) char *token = NULL;
                if (asprintf(&token, "x-amz-security-token: %s", k->session_token) < 0)
                        return -ENOMEM;
                r = headers_add(q, token);
                explicit_bzero(token, strlen(token));
        }
        return r;
}

static int request_setup(transfer_engine *e, request *q)
{
        const transfer_options *o = &e->opts;
        CURL *c = q->easy = curl_easy_init();
        if (!c)
                return -ENOMEM;
        const char *protocols = o->allow_http ? "http,https" : "https";
        /* Never downgrade: a redirect from https stays https whatever the options say. */
        const char *redir = (!o->allow_http || q->https) ? "https" : "http,https";
        bool ok = curl_easy_setopt(c, CURLOPT_URL, q->url) == CURLE_OK &&
                  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, protocols) == CURLE_OK &&
                  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, redir) == CURLE_OK;
        if (!ok)
                return -EINVAL;
        curl_easy_setopt(c, CURLOPT_PRIVATE, q);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, q);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, q);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, q->errbuf);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(c, CURLOPT_MAXREDIRS, (long)MAX_REDIRECTS);
        curl_easy_setopt(c, CURLOPT_USERAGENT, "acfetch/0.1");
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)o->connect_timeout);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)o->stall_timeout);
        if (q->deadline) {
                /* A backstop for phases without progress calls; the callback names the cause. */
                uint64_t t = now_ns(), left = q->deadline > t ? q->deadline - t : 0;
                curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)MAX(left / 1000000u + 1000, 1U));
        }
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, q);
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)q->max_size);
        curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, o->insecure_tls ? 0L : 1L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, o->insecure_tls ? 0L : 2L);
        /* Said once, when it first matters: every https host is then open to impostors. */
        if (o->insecure_tls && q->https && note_once(e, "insecure", ""))
                ca_log_warning("TLS certificates and host names are not verified "
                               "(--insecure-options=tls)");
        if (o->ca_cert)
                curl_easy_setopt(c, CURLOPT_CAINFO, o->ca_cert);
        if (o->ca_path)
                curl_easy_setopt(c, CURLOPT_CAPATH, o->ca_path);
        if (o->client_cert)
                curl_easy_setopt(c, CURLOPT_SSLCERT, o->client_cert);
        if (o->client_key)
                curl_easy_setopt(c, CURLOPT_SSLKEY, o->client_key);
        curl_easy_setopt(c, CURLOPT_HTTP_VERSION,
                         o->http2 ? (long)CURL_HTTP_VERSION_2TLS : (long)CURL_HTTP_VERSION_1_1);
        curl_easy_setopt(c, CURLOPT_PIPEWAIT, o->http2 ? 1L : 0L);
        if (e->connect_to)
                curl_easy_setopt(c, CURLOPT_CONNECT_TO, e->connect_to);
        /* The default, spelled out: libcurl 7.88 then sends a custom Authorization header only
         * while host, port and scheme are those of the first URL, never after a redirect
         * elsewhere (fetch_auth.sh checks this). */
        curl_easy_setopt(c, CURLOPT_UNRESTRICTED_AUTH, 0L);
        int r = 0;
        for (size_t i = 0; r >= 0 && q->extra_headers && q->extra_headers[i]; i++)
                r = headers_add(q, q->extra_headers[i]);
        if (r >= 0 && q->registry_header)
                r = headers_add(q, q->registry_header);
        else if (r >= 0 && q->auth_header)
                r = headers_add(q, q->auth_header);
        if (r >= 0)
                r = request_setup_method(q);
        if (r < 0)
                return r;
        if (q->headers)
                curl_easy_setopt(c, CURLOPT_HTTPHEADER, q->headers);
        return 0;
}

/* Engine thread: q leaves the multi handle's count (finished, failed or cancelled). */
static void request_stop_running(transfer_engine *e, request *q)
{
        if (!q->running)
                return;
        q->running = false;
        e->running--;
        q->origin->running--;
}

static void request_release_easy(transfer_engine *e, request *q)
{
        for (unsigned i = 0; i < e->n_active; i++)
                if (e->active[i] == q) {
                        e->active[i] = e->active[--e->n_active];
                        break;
                }
        if (q->easy) {
                curl_multi_remove_handle(e->multi, q->easy);
                curl_easy_cleanup(q->easy);
                q->easy = NULL;
        }
        curl_slist_free_all(q->headers);
        q->headers = NULL;
}

static void request_free(request *q)
{
        free(q->resp.body);
        free(q->resp.etag);
        free(q->resp.effective_url);
        free(q->resp.location);
        free(q->resp.content_type);
        free(q->url);
        free(q->upload);
        free(q->error_doc);
        registry_auth_header_free(q->registry_header);
        free(q->challenge);
        free(q->auth_failure);
        if (q->extra_headers)
                for (size_t i = 0; q->extra_headers[i]; i++)
                        free((char *)q->extra_headers[i]);
        free((void *)q->extra_headers);
        free(q);
}

/* Engine thread, lock held. A cancelled request has no waiter left: it is freed here. */
static void request_complete(transfer_engine *e, request *q, int error)
{
        if (q->cancelled) {
                request_free(q);
                return;
        }
        q->error = error;
        q->done = true;
        /* Only its waiter: a broadcast would wake every worker for every chunk. */
        if (q->waiter)
                pthread_cond_signal(q->waiter);
}

/* Lock held: takes q, which follows prev (NULL: q is the head), out of the queue. */
static void queue_unlink(transfer_engine *e, request *prev, request *q)
{
        if (prev)
                prev->next = q->next;
        else
                e->queue_head = q->next;
        if (e->queue_tail == q)
                e->queue_tail = prev;
        q->next = NULL;
}

/* Lock held: q joins the queue at the end. */
static void queue_append(transfer_engine *e, request *q)
{
        q->next = NULL;
        if (e->queue_tail)
                e->queue_tail->next = q;
        else
                e->queue_head = q;
        e->queue_tail = q;
}

static void request_start(transfer_engine *e, request *q)
{
        q->over_cap = false;
        q->paused = false;
        q->stalled = false;
        q->too_slow = false;
        q->past_deadline = false;
        q->got_response = false;
        q->connected = false;
        speed_window_restart(q, now_ns(), 0);
        q->errbuf[0] = 0;
        q->resp.size = 0;
        q->resp.status = 0;
        q->upload_offset = 0;
        q->error_doc_size = 0;
        int r = -ENOMEM;
        if (e->n_active >= e->n_active_max) {
                unsigned n = MAX(e->n_active_max * 2, 64U);
                request **p = realloc(e->active, n * sizeof(*p));
                if (p) {
                        e->active = p;
                        e->n_active_max = n;
                }
        }
        if (e->n_active < e->n_active_max)
                r = request_setup(e, q);
        if (r >= 0 && curl_multi_add_handle(e->multi, q->easy) != CURLM_OK)
                r = -ENOMEM;
        if (r < 0) {
                ca_log_error("%s: cannot start request: %s", q->url, strerror(-r));
                request_release_easy(e, q);
                pthread_mutex_lock(&e->lock);
                request_complete(e, q, r);
                pthread_mutex_unlock(&e->lock);
                return;
        }
        e->active[e->n_active++] = q;
        q->resp.attempts++;
        e->requests++;
        if (q->resp.attempts > 1 + q->auth_resent)
                e->retries++;
        q->started = now_ns();
        q->running = true;
        e->running++;
        q->origin->running++;
        pthread_mutex_lock(&e->lock);
        q->started_with = q->origin->running;
        q->epoch = concurrency_started(&q->origin->limit, q->started, q->origin->running);
        pthread_mutex_unlock(&e->lock);
}

static bool retryable_curl(CURLcode c)
{
        switch (c) {
        case CURLE_COULDNT_CONNECT:
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_PARTIAL_FILE:
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
        case CURLE_SSL_CONNECT_ERROR:
                return true;
        default:
                return false;
        }
}

static bool retryable_status(long s)
{
        return s == 408 || s == 429 || (s >= 500 && s <= 599);
}

static uint64_t backoff_ms(unsigned attempt, uint64_t retry_after_ms)
{
        uint64_t ms = (uint64_t)BACKOFF_BASE_MS << MIN(attempt - 1, 8U);
        ms = MIN(ms, (uint64_t)BACKOFF_MAX_MS);
        /* Full jitter on half the delay keeps many clients from retrying in lockstep. */
        ms = ms / 2 + (uint64_t)rand() % (ms / 2 + 1);
        return MAX(ms, retry_after_ms);
}

/* Why an attempt failed, in words. A host failure is the host's, not the URL's (it cannot be
 * resolved, reached, trusted, or it does not answer): it is said once per host, naming it. */
typedef struct failure {
        char reason[CURL_ERROR_SIZE + 256];
        char host[512];   /* host failures: "host" or "host:port" */
        const char *kind; /* host failures: the cause, for note_once */
        int error;
        bool retry;
        bool silent; /* the host did not answer in time: retried once only */
} failure;

/* A timeout before any response (stalled with nothing, or curl's connect timeout): the phase
 * that got no answer. */
static void describe_silence(request *q, const char *url, const char *option, unsigned seconds,
                             failure *f)
{
        /* libcurl 7.88 leaves CONNECT_TIME at 0 until the TLS handshake is done; the local
         * port is known once TCP connected. */
        long connected = 0;
        curl_off_t handshaken = 0;
        curl_easy_getinfo(q->easy, CURLINFO_LOCAL_PORT, &connected);
        curl_easy_getinfo(q->easy, CURLINFO_APPCONNECT_TIME_T, &handshaken);
        f->error = -ETIMEDOUT;
        f->retry = true;
        f->silent = true;
        f->kind = "timeout";
        url_host(url, true, f->host, sizeof(f->host));
        if (connected == 0)
                snprintf(f->reason, sizeof(f->reason), "timed out: no connection within %u s (%s)",
                         seconds, option);
        else if (q->https && handshaken == 0)
                snprintf(f->reason, sizeof(f->reason),
                         "timed out: no answer to the TLS handshake within %u s (%s)", seconds,
                         option);
        else
                snprintf(f->reason, sizeof(f->reason), "timed out: no response within %u s (%s)",
                         seconds, option);
}

static void describe_tls(const transfer_engine *e, request *q, const char *url, failure *f)
{
        long verify = 0;
        curl_easy_getinfo(q->easy, CURLINFO_SSL_VERIFYRESULT, &verify);
        f->error = -EPERM;
        url_host(url, true, f->host, sizeof(f->host));
        f->kind = "tls";
        /* libcurl checks the name itself once OpenSSL accepted the chain, and says so only in
         * its error text ("... subject name ... match ... target host name"). */
        if (verify == X509_V_ERR_HOSTNAME_MISMATCH ||
            ((verify == X509_V_OK || verify == X509_V_ERR_UNSPECIFIED) &&
             strstr(q->errbuf, "match"))) {
                char name[256];
                url_host(url, false, name, sizeof(name));
                snprintf(f->reason, sizeof(f->reason),
                         "TLS certificate does not match the name %s (name mismatch)", name);
                return;
        }
        switch (verify) {
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
        case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
                snprintf(f->reason, sizeof(f->reason),
                         "TLS certificate not trusted: its issuer is not among the trusted CAs "
                         "(%s); for a private CA, pass --ca-cert=FILE",
                         e->opts.ca_cert   ? e->opts.ca_cert
                         : e->opts.ca_path ? e->opts.ca_path
                                           : "the system's");
                break;
        case X509_V_ERR_CERT_HAS_EXPIRED:
                snprintf(f->reason, sizeof(f->reason), "TLS certificate has expired");
                break;
        case X509_V_ERR_CERT_NOT_YET_VALID:
                snprintf(f->reason, sizeof(f->reason),
                         "TLS certificate is not valid yet (is this machine's clock right?)");
                break;
        default:
                snprintf(f->reason, sizeof(f->reason),
                         "TLS certificate verification failed (OpenSSL verify result %ld)", verify);
                break;
        }
}

/* A failure of curl's (not a status, not one of ours). */
static void describe_curl(const transfer_engine *e, request *q, CURLcode code, const char *url,
                          failure *f)
{
        long os = 0;
        f->error = -EIO;
        f->retry = retryable_curl(code);
        switch (code) {
        case CURLE_UNSUPPORTED_PROTOCOL:
                snprintf(f->reason, sizeof(f->reason),
                         "refused protocol (redirects from https never go to http; plain http "
                         "needs --insecure-options=http)");
                f->error = -EPROTO;
                return;
        case CURLE_COULDNT_RESOLVE_HOST:
                url_host(url, false, f->host, sizeof(f->host));
                snprintf(f->reason, sizeof(f->reason), "cannot resolve host name");
                f->kind = "resolve";
                f->error = -EADDRNOTAVAIL;
                return;
        case CURLE_COULDNT_CONNECT:
                curl_easy_getinfo(q->easy, CURLINFO_OS_ERRNO, &os);
                if (os == ETIMEDOUT)
                        break; /* the kernel's SYN retries ran out: silence */
                url_host(url, true, f->host, sizeof(f->host));
                f->kind = "connect";
                if (os == ECONNREFUSED || os == 0) {
                        snprintf(f->reason, sizeof(f->reason), "connection refused");
                        f->error = -ECONNREFUSED;
                } else {
                        snprintf(f->reason, sizeof(f->reason), "cannot connect: %s",
                                 strerror((int)os));
                        f->error = -EHOSTUNREACH;
                }
                return;
        case CURLE_OPERATION_TIMEDOUT:
                break;
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_ISSUER_ERROR:
                describe_tls(e, q, url, f);
                return;
        case CURLE_SSL_CACERT_BADFILE:
                snprintf(f->reason, sizeof(f->reason), "cannot read CA certificates from %s",
                         e->opts.ca_cert ? e->opts.ca_cert : "the system's store");
                f->kind = "cafile";
                f->error = -EPERM;
                return;
        case CURLE_SSL_CERTPROBLEM:
                snprintf(f->reason, sizeof(f->reason),
                         "cannot use the client certificate or key (--client-cert, --client-key)");
                f->kind = "clientcert";
                f->error = -EPERM;
                return;
        case CURLE_SSL_CONNECT_ERROR:
                url_host(url, true, f->host, sizeof(f->host));
                snprintf(f->reason, sizeof(f->reason), "TLS handshake failed");
                f->kind = "handshake";
                return;
        case CURLE_PARTIAL_FILE:
                snprintf(f->reason, sizeof(f->reason),
                         "the connection closed before the whole response arrived");
                return;
        case CURLE_GOT_NOTHING:
                snprintf(f->reason, sizeof(f->reason),
                         "the server closed the connection without a response");
                return;
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
                snprintf(f->reason, sizeof(f->reason), "the connection broke while %s",
                         code == CURLE_RECV_ERROR ? "receiving" : "sending");
                return;
        default:
                snprintf(f->reason, sizeof(f->reason), "%s", curl_easy_strerror(code));
                return;
        }
        /* A timeout: curl's connect timeout, or its overall backstop for --max-time. */
        if (!q->got_response) {
                describe_silence(q, url, "--connect-timeout", e->opts.connect_timeout, f);
                return;
        }
        snprintf(f->reason, sizeof(f->reason), "timed out");
        f->error = -ETIMEDOUT;
}

/* Engine thread: one transfer ended; decide done, retry or fail. */
static void request_finished(transfer_engine *e, request *q, CURLcode code)
{
        long status = 0, redirects = 0;
        char *effective = NULL;
        curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(q->easy, CURLINFO_EFFECTIVE_URL, &effective);
        curl_easy_getinfo(q->easy, CURLINFO_REDIRECT_COUNT, &redirects);
        q->resp.status = status;
        /* A file rewritten within the second its response was made can keep its Last-Modified,
         * and servers such as nginx build the ETag from that and the size: such an ETag may stay
         * the same when the content changes (RFC 9110 8.8.2.2). It is dropped, so the next
         * request asks for the whole document instead of trusting a 304. */
        if (q->resp.etag && q->last_modified && q->date && q->date - q->last_modified < 1) {
                ca_log_debug("%s: its ETag is not kept: the document changed in the second of the "
                             "response",
                             q->url);
                free(q->resp.etag);
                q->resp.etag = NULL;
        }
        e->bytes += q->resp.size;
        bool downgraded = q->https && effective && strncasecmp(effective, "https://", 8) != 0;
        uint64_t finished = now_ns();
        q->resp.latency_ns = finished - q->started;
        /* The limit is measured on what requests take once connected: a new connection's
         * handshake (a round trip, more with TLS) is paid once, but it made every step of
         * slow start look like no gain, measured again one round trip later. */
        curl_off_t setup_us = 0;
        curl_easy_getinfo(q->easy, CURLINFO_PRETRANSFER_TIME_T, &setup_us);
        uint64_t setup = setup_us > 0 ? (uint64_t)setup_us * 1000 : 0;
        uint64_t served = q->resp.latency_ns > setup ? q->resp.latency_ns - setup : 1;
        request_stop_running(e, q);

        /* Messages name the URL that answered: after a redirect elsewhere, not the one asked
         * (a refused downgrade names the one asked, and its target in the reason). */
        free(q->resp.effective_url);
        q->resp.effective_url =
            !downgraded && redirects > 0 && effective && strcmp(effective, q->url) != 0
                ? strdup(effective)
                : NULL;
        const char *where = transfer_response_url(&q->resp, q->url);
        char note_buf[1024];
        const char *note = transfer_redirect_note(&q->resp, q->url, note_buf, sizeof(note_buf));
        /* curl's own words, for --debug: the messages below say it for users. */
        if (code != CURLE_OK)
                ca_log_debug("%s: curl: %s", where,
                             q->errbuf[0] ? q->errbuf : curl_easy_strerror(code));

        failure f = {};
        /* The kind of a message said once per host and kind, when it is not a host failure. */
        const char *kind = NULL;
        char status_kind[32];

        if (downgraded) {
                snprintf(f.reason, sizeof(f.reason), "redirected away from https to %s", effective);
                f.error = -EPROTO;
        } else if (q->over_cap || code == CURLE_FILESIZE_EXCEEDED) {
                snprintf(f.reason, sizeof(f.reason), "response body exceeds %zu bytes",
                         q->max_size);
                f.error = -EFBIG;
        } else if (q->past_deadline) {
                snprintf(f.reason, sizeof(f.reason),
                         "no complete response within %u s (--max-time)", e->opts.max_time);
                f.error = -ETIMEDOUT;
        } else if (q->stalled && !q->got_response) {
                describe_silence(q, where, "--stall-timeout", e->opts.stall_timeout, &f);
        } else if (q->stalled) {
                snprintf(f.reason, sizeof(f.reason), "stalled: no data for %u s",
                         e->opts.stall_timeout);
                f.error = -ETIMEDOUT;
                f.retry = true;
                kind = "stalled";
        } else if (q->too_slow) {
                snprintf(f.reason, sizeof(f.reason),
                         "too slow: %lld bytes in %u s, under the floor of %llu bytes/s "
                         "(--speed-limit)",
                         (long long)q->slow_bytes, e->opts.stall_timeout,
                         (unsigned long long)e->opts.speed_limit);
                f.error = -ETIMEDOUT;
                f.retry = true;
                kind = "slow";
        } else if (code == CURLE_OK &&
                   (status == 200 || (status == 304 && q->method == METHOD_GET) ||
                    (uploads(q->method) && (status == 201 || status == 202 || status == 204)))) {
                f.error = 0;
        } else if (code == CURLE_OK && (status == 404 || status == 410) && !uploads(q->method)) {
                f.error = -ENOENT;
        } else if (code == CURLE_OK) {
                if (q->s3)
                        s3_describe_error(status, q->error_doc, q->error_doc_size, f.reason,
                                          sizeof(f.reason));
                else if (q->registry) {
                        char rhost[512];
                        url_host(where, true, rhost, sizeof(rhost));
                        registry_describe_error(status, rhost, q->registry_credentials,
                                                q->error_doc, q->error_doc_size, f.reason,
                                                sizeof(f.reason));
                } else
                        snprintf(f.reason, sizeof(f.reason), "HTTP status %ld", status);
                f.error = status == 401 || status == 403 ? -EACCES : -EIO;
                f.retry = retryable_status(status);
                snprintf(status_kind, sizeof(status_kind), "status-%ld", status);
                kind = status_kind;
        } else {
                describe_curl(e, q, code, where, &f);
        }
        int error = f.error;
        bool retry = f.retry;
        if (code == CURLE_TOO_MANY_REDIRECTS)
                retry = false;

        /* What the origin's link and server did with this attempt. */
        pthread_mutex_lock(&e->lock);
        concurrency *limit = &q->origin->limit;
        unsigned before = limit->limit;
        if (error >= 0 || error == -ENOENT)
                concurrency_delivered(limit, finished,
                                      uploads(q->method) ? q->upload_size : q->resp.size, served,
                                      q->epoch, q->started_with);
        else if (code == CURLE_OK && (status == 429 || status == 503))
                concurrency_overloaded(limit, q->started_with);
        else if (retry)
                concurrency_failed(limit);
        unsigned after = limit->limit;
        pthread_mutex_unlock(&e->lock);
        if (after != before)
                ca_log_debug("%s: %u requests in flight at most (was %u%s)", q->origin->key, after,
                             before,
                             code == CURLE_OK && (status == 429 || status == 503)
                                 ? ", the server refused one for load"
                                 : "");
        if (f.silent && ++q->silent >= SILENT_ATTEMPTS_MAX)
                retry = false;
        uint64_t ms = backoff_ms(q->resp.attempts, q->retry_after_ms);
        if (error < 0 && error != -ENOENT && q->deadline &&
            now_ns() + ms * 1000000u >= q->deadline) {
                /* No time left for another attempt: the deadline is what failed. */
                if (!q->past_deadline) {
                        size_t n = strlen(f.reason);
                        snprintf(f.reason + n, sizeof(f.reason) - n,
                                 "; no time left within %u s (--max-time)", e->opts.max_time);
                }
                error = -ETIMEDOUT;
                retry = false;
        }

        request_release_easy(e, q);

        /* Host failures name the host first, then the URL that met them. */
        char subject[2048];
        if (f.kind && f.host[0])
                snprintf(subject, sizeof(subject), "%s: %s (fetching %s", f.host, f.reason, where);
        else if (f.kind)
                snprintf(subject, sizeof(subject), "%s (fetching %s", f.reason, where);
        else
                snprintf(subject, sizeof(subject), "%s: %s", where, f.reason);
        const char *close = f.kind ? ")" : "";
        char host[512];
        if (f.kind)
                snprintf(host, sizeof(host), "%s", f.host);
        else
                url_host(where, true, host, sizeof(host));

        if (q->registry && code == CURLE_OK && status == 401 && q->challenge && !q->auth_answered) {
                /* The registry asks for a token or credentials: no failure yet. The caller's
                 * thread answers (transfer_request_finish), since getting a token takes a
                 * request of its own; what to say if it cannot is kept. */
                ca_log_debug("%s: HTTP status 401, the registry asks for %s", where,
                             strncasecmp(q->challenge, "Bearer", 6) == 0 ? "a token"
                                                                         : "credentials");
                free(q->auth_failure);
                if (asprintf(&q->auth_failure, "%s%s", subject, note) < 0)
                        q->auth_failure = NULL;
                q->auth_pending = true;
                free(q->resp.body);
                q->resp.body = NULL;
                q->resp.size = 0;
                pthread_mutex_lock(&e->lock);
                request_complete(e, q, -EACCES);
                pthread_mutex_unlock(&e->lock);
                return;
        }

        if (error < 0 && error != -ENOENT && retry && !q->no_retry &&
            q->resp.attempts - q->auth_resent < e->opts.max_attempts) {
                /* One line per host and cause at the default level: a silent host or a flaky
                 * store is noticed, without a line for each of a thousand chunks. */
                char retry_kind[64];
                snprintf(retry_kind, sizeof(retry_kind), "retry-%s", f.kind ?: kind ?: "other");
                ca_log(note_once(e, retry_kind, host) ? CA_LOG_INFO : CA_LOG_DEBUG,
                       "%s%s%s; retrying in %.1f s (attempt %u of %u)", subject, close, note,
                       (double)ms / 1000, q->resp.attempts - q->auth_resent + 1,
                       f.silent ? MIN(e->opts.max_attempts, (unsigned)SILENT_ATTEMPTS_MAX)
                                : e->opts.max_attempts);
                q->not_before = now_ns() + ms * 1000000u;
                q->started = 0;
                pthread_mutex_lock(&e->lock);
                if (q->cancelled)
                        request_free(q);
                else
                        queue_append(e, q);
                pthread_mutex_unlock(&e->lock);
                return;
        }

        if (error < 0 && error != -ENOENT) {
                int level = q->quiet ? CA_LOG_DEBUG : CA_LOG_ERR;
                /* A host failure is said once, even for a quiet caller (the discovery walk):
                 * it is no URL that need not exist. Not when a fallback follows. */
                if (f.kind)
                        level = (q->quiet && q->no_retry) || !note_once(e, f.kind, host)
                                    ? CA_LOG_DEBUG
                                    : CA_LOG_ERR;
                /* A registry request sent again with a token was not retried. */
                unsigned tries = q->resp.attempts - q->auth_resent;
                const char *retried = tries <= 1 ? ""
                                      : f.kind   ? ", after retries"
                                                 : " (after retries)";
                ca_log(level, "%s%s%s%s", subject, retried, close, note);
        }
        if (error < 0 || (status != 200 && !uploads(q->method))) {
                free(q->resp.body);
                q->resp.body = NULL;
                q->resp.size = 0;
        }
        pthread_mutex_lock(&e->lock);
        request_complete(e, q, error);
        pthread_mutex_unlock(&e->lock);
}

/* ---------------------------------------------------------------- rate limit */

static void rate_refill(transfer_engine *e)
{
        if (!e->opts.rate_limit)
                return;
        uint64_t t = now_ns();
        double add = (double)(t - e->last_refill) / 1e9 * (double)e->opts.rate_limit;
        e->last_refill = t;
        /* A burst of at most a quarter second keeps the average honest. */
        e->tokens = MIN(e->tokens + add, (double)e->opts.rate_limit / 4 + 16384);
}

static void rate_resume(transfer_engine *e)
{
        if (!e->opts.rate_limit || e->tokens <= 0)
                return;
        for (unsigned i = 0; i < e->n_active; i++) {
                request *q = e->active[i];
                if (q->paused) {
                        q->paused = false;
                        /* The pause was ours: neither a stall nor slowness. */
                        speed_window_restart(q, now_ns(), q->last_dlnow);
                        curl_easy_pause(q->easy, CURLPAUSE_CONT);
                }
        }
}

/* ---------------------------------------------------------------- engine thread */

/* Lock held: the first request in queue order whose backoff has passed and whose origin has
 * room, unlinked; NULL if none. */
static request *queue_take_startable(transfer_engine *e, uint64_t t)
{
        request *prev = NULL, *q = e->queue_head;
        while (q && (q->not_before > t ||
                     (!q->urgent && !concurrency_admits(&q->origin->limit, q->origin->running)))) {
                prev = q;
                q = q->next;
        }
        if (q)
                queue_unlink(e, prev, q);
        return q;
}

static void engine_start_queued(transfer_engine *e)
{
        uint64_t t = now_ns();
        for (;;) {
                pthread_mutex_lock(&e->lock);
                request *q = queue_take_startable(e, t);
                pthread_mutex_unlock(&e->lock);
                if (!q)
                        return;
                request_start(e, q);
        }
}

/* Engine thread: requests whose caller gave up (a hedged duplicate that lost) leave the multi
 * handle and are freed. */
static void engine_reap_cancelled(transfer_engine *e)
{
        pthread_mutex_lock(&e->lock);
        bool any = e->any_cancelled;
        e->any_cancelled = false;
        pthread_mutex_unlock(&e->lock);
        if (!any)
                return;
        for (unsigned i = 0; i < e->n_active;) {
                request *q = e->active[i];
                pthread_mutex_lock(&e->lock);
                bool cancelled = q->cancelled;
                pthread_mutex_unlock(&e->lock);
                if (!cancelled) {
                        i++;
                        continue;
                }
                request_stop_running(e, q);
                request_release_easy(e, q); /* moves the last active one to i */
                pthread_mutex_lock(&e->lock);
                request_free(q);
                pthread_mutex_unlock(&e->lock);
        }
}

static long engine_poll_timeout_ms(transfer_engine *e)
{
        long ms = 1000;
        uint64_t t = now_ns();
        pthread_mutex_lock(&e->lock);
        for (request *q = e->queue_head; q; q = q->next) {
                if (q->not_before <= t) {
                        if (q->urgent || concurrency_admits(&q->origin->limit, q->origin->running))
                                ms = 0;
                        continue;
                }
                ms = MIN(ms, (long)((q->not_before - t) / 1000000u) + 1);
        }
        pthread_mutex_unlock(&e->lock);
        return ms;
}

static void *engine_thread(void *userdata)
{
        transfer_engine *e = userdata;
        for (;;) {
                pthread_mutex_lock(&e->lock);
                bool stop = e->stopping && !e->queue_head;
                pthread_mutex_unlock(&e->lock);
                if (stop && e->running == 0)
                        break;

                engine_reap_cancelled(e);

                /* What arrived is read before more requests start: a response that came while
                 * this thread waited for a CPU would otherwise still count as in flight when
                 * they start, and that count is what proves how many a server took at once (a
                 * limit doubled from a count too high drew 19 refusals from a server admitting
                 * 12). Requests added here are sent by the next pass: curl's timer for them
                 * ends the poll at once. */
                int still = 0;
                curl_multi_perform(e->multi, &still);
                CURLMsg *m;
                int left;
                while ((m = curl_multi_info_read(e->multi, &left))) {
                        if (m->msg != CURLMSG_DONE)
                                continue;
                        request *q = NULL;
                        CURLcode code = m->data.result;
                        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&q);
                        request_finished(e, q, code);
                }
                engine_start_queued(e);
                rate_refill(e);
                rate_resume(e);
                long timeout = engine_poll_timeout_ms(e);
                if (e->opts.rate_limit && e->tokens <= 0)
                        timeout = MIN(timeout, 20L);
                if (timeout > 0)
                        curl_multi_poll(e->multi, NULL, 0, (int)timeout, NULL);
        }
        return NULL;
}

/* ---------------------------------------------------------------- public side */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result = CURLE_OK;

static void curl_init_once(void)
{
        curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int transfer_engine_new(const transfer_options *o, transfer_engine **ret)
{
        pthread_once(&curl_once, curl_init_once);
        if (curl_init_result != CURLE_OK)
                return ca_log_errno(CA_LOG_ERR, -EIO, "libcurl initialization failed");

        transfer_engine *e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        e->opts = *o;
        e->opts.connect_to = NULL; /* the caller's array need not outlive this call */
        e->opts.n_connect_to = 0;
        for (size_t i = 0; i < o->n_connect_to; i++) {
                struct curl_slist *l = curl_slist_append(e->connect_to, o->connect_to[i]);
                if (!l) {
                        transfer_engine_free(e);
                        return -ENOMEM;
                }
                e->connect_to = l;
        }
        e->opts.max_in_flight = MAX(e->opts.max_in_flight, 1U);
        e->opts.max_attempts = MAX(e->opts.max_attempts, 1U);
        e->origins = calloc(ORIGINS_MAX, sizeof(origin));
        e->multi = curl_multi_init();
        if (!e->origins || !e->multi) {
                transfer_engine_free(e);
                return -ENOMEM;
        }
        /* HTTP/1.1 needs a connection per request in flight: as many as the cap, no more.
         * HTTP/2 multiplexes them over few (PIPEWAIT). */
        curl_multi_setopt(e->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)e->opts.max_in_flight);
        curl_multi_setopt(e->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
        e->last_refill = now_ns();
        e->tokens = e->opts.rate_limit ? 16384 : 0;
        if (registry_auth_new(e, e->opts.auth, e->opts.allow_http, &e->registry_auth) < 0) {
                transfer_engine_free(e);
                return -ENOMEM;
        }
        pthread_mutex_init(&e->lock, NULL);
        pthread_condattr_init(&e->cond_attr);
        pthread_condattr_setclock(&e->cond_attr, CLOCK_MONOTONIC);
        int k = pthread_create(&e->thread, NULL, engine_thread, e);
        if (k != 0) {
                transfer_engine_free(e);
                return -k;
        }
        e->thread_started = true;
        *ret = e;
        return 0;
}

void transfer_engine_free(transfer_engine *e)
{
        if (!e)
                return;
        if (e->thread_started) {
                pthread_mutex_lock(&e->lock);
                e->stopping = true;
                pthread_mutex_unlock(&e->lock);
                curl_multi_wakeup(e->multi);
                pthread_join(e->thread, NULL);
                pthread_mutex_destroy(&e->lock);
                pthread_condattr_destroy(&e->cond_attr);
        }
        if (e->multi)
                curl_multi_cleanup(e->multi);
        curl_slist_free_all(e->connect_to);
        registry_auth_free(e->registry_auth);
        while (e->noted) {
                noted *n = e->noted;
                e->noted = n->next;
                free(n);
        }
        for (unsigned i = 0; e->origins && i < e->n_origins; i++) {
                if (e->origins[i].limit.peak > 0)
                        ca_log_debug("%s: at most %u requests were in flight (%u refused for "
                                     "load)",
                                     e->origins[i].key, e->origins[i].limit.peak,
                                     e->origins[i].limit.overloads);
                free(e->origins[i].key);
        }
        free(e->origins);
        free(e->active);
        free(e);
}

/* true if line is "Name:..." for name (case-insensitive). */
static bool header_line_is(const char *line, const char *name)
{
        size_t n = strlen(name);
        return strncasecmp(line, name, n) == 0 && line[n] == ':';
}

int transfer_get(transfer_engine *e, const char *url, size_t max_size, const char *const *headers,
                 transfer_response *ret)
{
        return transfer_get_flags(e, url, max_size, headers, 0, ret);
}

/* Lock held: the origin of url ("scheme://host:port"), added on first use. */
static origin *origin_for(transfer_engine *e, const char *url)
{
        char key[600], host[512];
        url_host(url, false, host, sizeof(host));
        const char *scheme = strncasecmp(url, "https://", 8) == 0 ? "https" : "http";
        _cleanup_(freep) char *port = NULL;
        CURLU *u = curl_url();
        if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK)
                curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
        curl_url_cleanup(u);
        snprintf(key, sizeof(key), "%s://%s:%s", scheme, host, port ? port : "");
        for (unsigned i = 0; i < e->n_origins; i++)
                if (strcmp(e->origins[i].key, key) == 0)
                        return &e->origins[i];
        if (e->n_origins >= ORIGINS_MAX)
                return &e->origins[ORIGINS_MAX - 1];
        origin *o = &e->origins[e->n_origins];
        o->key = strdup(key);
        if (!o->key)
                return NULL;
        concurrency_init(&o->limit, e->opts.max_in_flight, e->opts.fixed_in_flight);
        e->n_origins++;
        return o;
}

transfer_origin *transfer_origin_of(transfer_engine *e, const char *url)
{
        pthread_mutex_lock(&e->lock);
        origin *o = origin_for(e, url);
        pthread_mutex_unlock(&e->lock);
        return o;
}

unsigned transfer_origin_limit(transfer_engine *e, const transfer_origin *o)
{
        pthread_mutex_lock(&e->lock);
        unsigned n = o->limit.limit;
        pthread_mutex_unlock(&e->lock);
        return n;
}

static int submit(transfer_engine *e, method m, const char *url, const void *body, size_t size,
                  size_t max_size, const char *const *headers, unsigned flags,
                  transfer_request **ret)
{
        if (!url_is_remote(url))
                return ca_log_errno(CA_LOG_ERR, -EPROTONOSUPPORT, "%s: not an http(s) or s3 URL",
                                    url);
        bool s3 = url_is_s3(url);
        const char *wire = url_transport(url);
        bool https = strncasecmp(wire, "https://", 8) == 0;
        if (!https && !e->opts.allow_http)
                return ca_log_errno(CA_LOG_ERR, -EPROTO,
                                    "%s: plain http needs --insecure-options=http", url);
        bool has_auth = false;
        size_t n_headers = 0;
        for (size_t i = 0; headers && headers[i]; i++) {
                /* Never the value: it may be a credential. */
                if (strpbrk(headers[i], "\r\n"))
                        return ca_log_errno(CA_LOG_ERR, -EINVAL,
                                            "%s: request header with a line break refused", url);
                has_auth = has_auth || header_line_is(headers[i], "Authorization");
                n_headers++;
        }

        /* The request may outlive the caller's strings (a cancelled one runs on a while). */
        request *q = calloc(1, sizeof(*q));
        if (!q)
                return -ENOMEM;
        *q = (request){
            .engine = e,
            .url = strdup(wire),
            .method = m,
            .upload_size = size,
            .s3 = s3,
            .max_size = max_size,
            .https = https,
            .quiet = flags & TRANSFER_QUIET,
            .no_retry = flags & TRANSFER_NO_RETRY,
            .urgent = flags & TRANSFER_URGENT,
            .registry = flags & TRANSFER_REGISTRY,
            .resp = {.max_age = -1},
        };
        const char **h = calloc(n_headers + 1, sizeof(*h));
        q->extra_headers = h;
        if (uploads(m) && size > 0 && (q->upload = malloc(size)))
                memcpy(q->upload, body, size);
        bool oom = !q->url || !h || (uploads(m) && size > 0 && !q->upload);
        for (size_t i = 0; !oom && i < n_headers; i++)
                oom = !(h[i] = strdup(headers[i]));
        if (oom) {
                request_free(q);
                return -ENOMEM;
        }
        if (e->opts.max_time && !(flags & TRANSFER_NO_DEADLINE))
                q->deadline = now_ns() + (uint64_t)e->opts.max_time * 1000000000u;
        /* auth.d credentials only over TLS; the caller decides for plain http. An S3 request
         * is signed instead, over http too (--insecure-options=http allowed it): the secret
         * itself never goes on the wire. */
        const s3_key *host_key = s3 ? NULL : auth_config_s3_for(e->opts.auth, wire);
        if (s3)
                q->s3_key = s3_key_for(e->opts.auth, &e->opts.s3_env, url);
        else if (host_key) {
                /* auth.d gave this host an S3 key: every request to it is signed (a discovery
                 * page or an index in a private bucket, asked for by its https URL). */
                q->s3 = true;
                q->s3_key = host_key;
        } else if (https && !has_auth)
                q->auth_header = auth_config_header_for(e->opts.auth, url);
        /* A registry's token (or credentials where it asked for Basic) for this repository,
         * sent at once: thousands of chunk requests must not each meet a 401 first. A caller's
         * own Authorization header is left alone: its 401 is its failure. */
        q->auth_answered = has_auth;
        if (q->registry && !has_auth && !s3) {
                int k = registry_auth_header(e->registry_auth, wire, &q->registry_header,
                                             &q->registry_credentials);
                if (k < 0) {
                        request_free(q);
                        return k;
                }
        }

        pthread_mutex_lock(&e->lock);
        q->origin = origin_for(e, wire);
        if (!q->origin) {
                pthread_mutex_unlock(&e->lock);
                request_free(q);
                return -ENOMEM;
        }
        if (q->urgent) {
                q->next = e->queue_head;
                e->queue_head = q;
                if (!e->queue_tail)
                        e->queue_tail = q;
        } else {
                queue_append(e, q);
        }
        pthread_mutex_unlock(&e->lock);
        curl_multi_wakeup(e->multi);
        *ret = q;
        return 0;
}

int transfer_submit(transfer_engine *e, const char *url, size_t max_size,
                    const char *const *headers, unsigned flags, transfer_request **ret)
{
        return submit(e, METHOD_GET, url, NULL, 0, max_size, headers, flags, ret);
}

int transfer_request_wait(transfer_request *q, uint64_t deadline)
{
        return transfer_request_wait_any(&q, 1, deadline) >= 0 ? 1 : 0;
}

int transfer_request_wait_any(transfer_request *const *reqs, size_t n, uint64_t deadline)
{
        if (n == 0)
                return -EINVAL;
        transfer_engine *e = reqs[0]->engine;
        struct timespec ts = {.tv_sec = (time_t)(deadline / 1000000000u),
                              .tv_nsec = (long)(deadline % 1000000000u)};
        pthread_cond_t cond;
        pthread_cond_init(&cond, &e->cond_attr);
        int found = -ETIMEDOUT;
        pthread_mutex_lock(&e->lock);
        for (size_t i = 0; i < n; i++)
                reqs[i]->waiter = &cond;
        for (;;) {
                for (size_t i = 0; i < n && found < 0; i++)
                        if (reqs[i]->done)
                                found = (int)i;
                if (found >= 0)
                        break;
                if (!deadline)
                        pthread_cond_wait(&cond, &e->lock);
                else if (pthread_cond_timedwait(&cond, &e->lock, &ts) == ETIMEDOUT)
                        break;
        }
        for (size_t i = 0; i < n; i++)
                reqs[i]->waiter = NULL;
        pthread_mutex_unlock(&e->lock);
        pthread_cond_destroy(&cond);
        return found;
}

uint64_t transfer_request_started(transfer_request *q)
{
        pthread_mutex_lock(&q->engine->lock);
        uint64_t t = q->started;
        pthread_mutex_unlock(&q->engine->lock);
        return t;
}

/* The caller's thread: q ended with a registry's 401 (auth_pending). Asks for a token (or takes
 * the credentials) and sends q again once, or says the 401 and leaves q failed. */
static void request_answer_registry(request *q)
{
        transfer_engine *e = q->engine;
        q->auth_pending = false;
        q->auth_answered = true;
        char *h = NULL;
        bool credentials = false;
        int r = registry_auth_answer(e->registry_auth, q->url, q->challenge,
                                     q->registry_header ? q->registry_header : q->auth_header, &h,
                                     &credentials);
        if (r == -ENOKEY) {
                /* Nothing better to send: the 401 is the failure, said as the engine would. */
                if (q->auth_failure)
                        ca_log(q->quiet ? CA_LOG_DEBUG : CA_LOG_ERR, "%s", q->auth_failure);
                return;
        }
        if (r < 0) {
                q->error = r; /* said by registry_auth_answer */
                return;
        }
        registry_auth_header_free(q->registry_header);
        q->registry_header = h;
        q->registry_credentials = credentials;
        q->auth_header = NULL;
        pthread_mutex_lock(&e->lock);
        q->done = false;
        q->error = 0;
        q->auth_resent++;
        q->not_before = 0;
        q->started = 0;
        q->resp.status = 0;
        free(q->resp.effective_url);
        q->resp.effective_url = NULL;
        /* It waited once already: ahead of the queue. */
        q->next = e->queue_head;
        e->queue_head = q;
        if (!e->queue_tail)
                e->queue_tail = q;
        pthread_mutex_unlock(&e->lock);
        curl_multi_wakeup(e->multi);
        transfer_request_wait(q, 0);
}

int transfer_request_finish(transfer_request *q, transfer_response *ret)
{
        transfer_request_wait(q, 0);
        if (q->auth_pending)
                request_answer_registry(q);
        int error = q->error;
        *ret = q->resp;
        q->resp = (transfer_response){};
        if (error < 0) {
                free(ret->body);
                free(ret->etag);
                free(ret->location);
                free(ret->content_type);
                *ret = (transfer_response){.status = ret->status,
                                           .max_age = -1,
                                           .attempts = ret->attempts,
                                           .latency_ns = ret->latency_ns,
                                           .effective_url = ret->effective_url};
        }
        request_free(q);
        return error;
}

void transfer_request_cancel(transfer_request *q)
{
        if (!q)
                return;
        transfer_engine *e = q->engine;
        pthread_mutex_lock(&e->lock);
        if (q->done) {
                request_free(q);
        } else {
                /* Still queued (also: waiting for its backoff): unlink it here. */
                request *prev = NULL, *p = e->queue_head;
                while (p && p != q) {
                        prev = p;
                        p = p->next;
                }
                if (p) {
                        queue_unlink(e, prev, q);
                        request_free(q);
                } else {
                        /* In the multi handle: the engine thread drops and frees it. */
                        q->cancelled = true;
                        e->any_cancelled = true;
                }
        }
        pthread_mutex_unlock(&e->lock);
        curl_multi_wakeup(e->multi);
}

int transfer_get_flags(transfer_engine *e, const char *url, size_t max_size,
                       const char *const *headers, unsigned flags, transfer_response *ret)
{
        transfer_request *q;
        *ret = (transfer_response){.max_age = -1};
        int r = transfer_submit(e, url, max_size, headers, flags, &q);
        if (r < 0)
                return r;
        return transfer_request_finish(q, ret);
}

void transfer_engine_stats(transfer_engine *e, transfer_stats *ret)
{
        *ret = (transfer_stats){
            .requests = e->requests,
            .retries = e->retries,
            .bytes = e->bytes,
        };
}

/* A request whose answer is a short document (or an error's), waited for: a small cap. */
static int send_and_wait(transfer_engine *e, method m, const char *url, const void *body,
                         size_t size, const char *const *headers, unsigned flags,
                         transfer_response *ret)
{
        transfer_request *q;
        *ret = (transfer_response){.max_age = -1};
        int r = submit(e, m, url, body, size, 1024 * 1024, headers, flags, &q);
        if (r < 0)
                return r;
        return transfer_request_finish(q, ret);
}

int transfer_put(transfer_engine *e, const char *url, const void *body, size_t size,
                 const char *const *headers, unsigned flags, transfer_response *ret)
{
        return send_and_wait(e, METHOD_PUT, url, body, size, headers, flags, ret);
}

int transfer_post(transfer_engine *e, const char *url, const void *body, size_t size,
                  const char *const *headers, unsigned flags, transfer_response *ret)
{
        return send_and_wait(e, METHOD_POST, url, body, size, headers, flags, ret);
}

int transfer_head(transfer_engine *e, const char *url, const char *const *headers, unsigned flags,
                  transfer_response *ret)
{
        return send_and_wait(e, METHOD_HEAD, url, NULL, 0, headers, flags, ret);
}
