/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libtransfer: HTTP(S) transfers and the credentials that go with them (rkt's auth.d). One
 * thread drives libcurl's multi interface with many requests in flight over reused connections;
 * any thread submits a GET and waits for its body. Retries, timeouts, body caps, TLS policy, the
 * rate limit and Authorization headers live here so no caller can forget them. Knows nothing of
 * chunks, indexes or images.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "casync/casync.h"

/* rkt's --insecure-options words, as every engine library takes them. */
enum {
        INSECURE_HTTP = 1 << 0,
        INSECURE_TLS = 1 << 1,
        INSECURE_IMAGE = 1 << 2,
        INSECURE_PUBKEY = 1 << 3,
        INSECURE_ONDISK = 1 << 4,
};

/* --system-config and --local-config: where auth.d and the trust store live. */
typedef struct config_dirs {
        const char *system; /* default /usr/lib/acfetch */
        const char *local;  /* default /etc/acfetch */
} config_dirs;

/* An S3 key pair (AWS Signature Version 4). */
typedef struct s3_key {
        const char *access_key_id;
        const char *secret_access_key;
        const char *session_token; /* NULL: none */
        const char *region;        /* NULL: S3_REGION_DEFAULT */
} s3_key;
#define S3_REGION_DEFAULT "us-east-1"

/* ---------------------------------------------------------------- transfers (transfer.c) */
/* The cap of the adaptive limit: at 20 ms RTT, 128 requests carry 6,400 chunks a second. */
#define TRANSFER_IN_FLIGHT_MAX 128

typedef struct transfer_options {
        /* Requests in flight per origin (scheme, host and port): the number itself with
         * fixed_in_flight (--jobs), else the cap of a limit that adapts to the link: it starts
         * low and grows while throughput rises, shrinks when it falls or on errors, and stays
         * under what a server that refuses for load (429, 503) admitted. */
        unsigned max_in_flight;
        bool fixed_in_flight;
        bool allow_http;          /* --insecure-options=http */
        bool insecure_tls;        /* --insecure-options=tls: no peer or host verification (a
                                   * warning, once, at the first https request) */
        const char *ca_cert;      /* PEM bundle replacing the system CAs */
        const char *ca_path;      /* directory of hashed PEM CAs (c_rehash), as curl's CAPATH */
        const char *client_cert;  /* PEM client certificate */
        const char *client_key;   /* PEM client key */
        uint64_t rate_limit;      /* bytes per second over all transfers, 0 = none */
        unsigned connect_timeout; /* seconds for name resolution, TCP and the TLS handshake */
        unsigned stall_timeout;   /* seconds without a byte (the first one too) before a
                                   * transfer is dropped */
        /* --speed-limit: a transfer that receives fewer than speed_limit bytes per second over
         * a whole stall_timeout period is dropped (and retried), so a trickling server cannot
         * hold a fetch forever. 0 = no floor. */
        uint64_t speed_limit;
        /* --max-time: seconds a document request (a page, an index, a signature, a key) may
         * take in all, retries included; chunks (TRANSFER_NO_DEADLINE) have none. 0 = none. */
        unsigned max_time;
        unsigned max_attempts; /* per request, first try included */
        bool http2;            /* offer HTTP/2 over TLS (multiplexed) */
        /* auth.d credentials: each https request to a listed host[:port] gets its
         * Authorization header (never plain http; libcurl drops it on a redirect to another
         * host, port or scheme). NULL for none; must outlive the engine. */
        const struct auth_config *auth;
        /* --connect-to entries, curl's HOST:PORT:CONNECT-HOST:CONNECT-PORT (not copied: they
         * must outlive transfer_engine_new, which builds its own list). */
        const char *const *connect_to;
        size_t n_connect_to;
        /* The key for s3+ URLs whose endpoint has none in auth.d: AWS_ACCESS_KEY_ID,
         * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN and AWS_REGION, as the command line read
         * them (access_key_id NULL: none; such requests go unsigned, for public buckets). */
        s3_key s3_env;
} transfer_options;

void transfer_options_init(transfer_options *o);

typedef struct transfer_engine transfer_engine;

typedef struct transfer_response {
        long status;   /* HTTP status of the last attempt, 0 if none */
        uint8_t *body; /* malloc'ed, NULL when empty */
        size_t size;
        char *etag;      /* ETag header, if any */
        int64_t max_age; /* Cache-Control max-age, -1 when absent */
        unsigned attempts;
        uint64_t latency_ns; /* how long the last attempt took, from its start (not queued) */
        /* Where redirects led when that is not the URL asked for, else NULL; kept on failure
         * too, so a message can name the URL that failed (transfer_response_url). */
        char *effective_url;
        /* Location and Content-Type headers of the last response, as sent (NULL: none); a
         * relative Location is resolved with url_resolve. Kept for successes only. */
        char *location;
        char *content_type;
} transfer_response;

void transfer_response_clear(transfer_response *r);
/* For messages about r: the URL that answered (url itself without a redirect elsewhere). */
const char *transfer_response_url(const transfer_response *r, const char *url);
/* " (redirected from URL)" after such a message when a redirect led elsewhere, else "". The
 * result lives in buf (cut to its size). */
const char *transfer_redirect_note(const transfer_response *r, const char *url, char *buf,
                                   size_t size);

int transfer_engine_new(const transfer_options *o, transfer_engine **ret);
void transfer_engine_free(transfer_engine *e);

/*
 * GETs url (http/https) and waits. Returns 0 with status 200 and the body; -ENOENT for 404/410
 * (not logged: "not in this store" is normal); other failures are logged once, naming the URL
 * (the one redirects led to, and where they came from), after retries: -EFBIG (body over
 * max_size), -EPROTO (refused redirect, bad protocol), -EPERM (TLS verification failed),
 * -ETIMEDOUT (no answer in time, stalled, under the speed floor, past --max-time),
 * -ECONNREFUSED, -EHOSTUNREACH (cannot connect), -EADDRNOTAVAIL (name not resolved), -EIO (other
 * HTTP status, network errors). A failure of the host rather than the URL (not resolved, refused,
 * unreachable, not trusted, not answering) names the host and the cause in words, once per host
 * and cause for the engine's life; later ones go to --debug. A retry is announced at info level
 * with its reason, once per host and cause; curl's own error text is at --debug. A host that
 * does not answer at all (connection, TLS handshake or first byte timed out) is tried twice at
 * most. A failed request's response keeps status, attempts and effective_url; the caller clears
 * it with transfer_response_clear.
 * headers, if set, is a NULL-terminated array of "Name: value" lines (e.g. If-None-Match; a 304
 * then returns 0 with status 304 and no body); a line with CR or LF is refused (-EINVAL). An
 * https URL whose host[:port] has auth.d credentials gets their Authorization header unless
 * headers has one; an http URL only gets one passed in headers.
 */
int transfer_get(transfer_engine *e, const char *url, size_t max_size, const char *const *headers,
                 transfer_response *ret);
/* TRANSFER_QUIET: failures after retries are logged at debug level only, for callers that
 * expect some (the discovery walk tries URLs that need not exist); a host failure is still said
 * once, unless TRANSFER_NO_RETRY marks a fallback to follow. TRANSFER_NO_RETRY: one attempt,
 * for a request with a fallback (discovery's https attempt when http may follow).
 * TRANSFER_NO_DEADLINE: no --max-time, for chunks, whose size is bounded and whose time is not
 * (a large chunk over a slow link), and that the speed floor keeps moving. */
enum {
        TRANSFER_QUIET = 1 << 0,
        TRANSFER_NO_RETRY = 1 << 1,
        TRANSFER_NO_DEADLINE = 1 << 2,
        /* A read someone waits for: queued before the others, and started even when its
         * server's limit is reached (such reads are few; background work waits). */
        TRANSFER_URGENT = 1 << 3,
        /* A request to a registry's API (registry.c): the engine answers its authentication
         * (Bearer tokens, Basic: see "registry authentication" below) and words its errors from
         * the registry's error document. Nothing else is asked of the caller. */
        TRANSFER_REGISTRY = 1 << 4,
};
int transfer_get_flags(transfer_engine *e, const char *url, size_t max_size,
                       const char *const *headers, unsigned flags, transfer_response *ret);

/*
 * The same request without waiting: transfer_get_flags is submit, then finish. A submitted
 * request is either finished (which waits for it) or cancelled, never both. Several may be
 * waited for at once (a hedged duplicate from another store); url and headers are copied.
 */
typedef struct transfer_request transfer_request;
int transfer_submit(transfer_engine *e, const char *url, size_t max_size,
                    const char *const *headers, unsigned flags, transfer_request **ret);
/* 1 once q is finished for good, 0 if deadline (ns, CLOCK_MONOTONIC; 0: none) came first. */
int transfer_request_wait(transfer_request *q, uint64_t deadline);
/* The index of one finished request of reqs (all of one engine), or -ETIMEDOUT at deadline. */
int transfer_request_wait_any(transfer_request *const *reqs, size_t n, uint64_t deadline);
/* When the current attempt started (ns, CLOCK_MONOTONIC), 0 while it waits for its turn. */
uint64_t transfer_request_started(transfer_request *q);
/* Waits for q, frees it, and returns as transfer_get_flags does. */
int transfer_request_finish(transfer_request *q, transfer_response *ret);
/* Abandons q, queued or running (NULL: nothing); the engine drops it. Nothing is logged. */
void transfer_request_cancel(transfer_request *q);
static inline void transfer_request_cancelp(transfer_request **q)
{
        transfer_request_cancel(*q);
}
/* url's origin (scheme, host, port), for asking its limit again and again without parsing the
 * URL each time; it lives as long as the engine. NULL when out of memory. */
typedef struct transfer_origin transfer_origin;
transfer_origin *transfer_origin_of(transfer_engine *e, const char *url);
/* How many requests the origin may have in flight now. */
unsigned transfer_origin_limit(transfer_engine *e, const transfer_origin *o);

typedef struct transfer_stats {
        uint64_t requests; /* attempts sent */
        uint64_t retries;  /* attempts that were retries */
        uint64_t bytes;    /* body bytes received */
} transfer_stats;

void transfer_engine_stats(transfer_engine *e, transfer_stats *ret);

/*
 * PUT and POST (the body is copied; 200, 201, 202 and 204 succeed; the response's body is kept
 * whatever the status) and HEAD (0 with status 200, -ENOENT for
 * 404/410), with the same retries, limits, credentials and messages as transfer_get_flags. For
 * an s3+ URL a PUT is signed over the body's SHA-256.
 */
int transfer_put(transfer_engine *e, const char *url, const void *body, size_t size,
                 const char *const *headers, unsigned flags, transfer_response *ret);
int transfer_post(transfer_engine *e, const char *url, const void *body, size_t size,
                  const char *const *headers, unsigned flags, transfer_response *ret);
int transfer_head(transfer_engine *e, const char *url, const char *const *headers, unsigned flags,
                  transfer_response *ret);
/* ref (absolute, or relative as a Location header may be) resolved against base, malloc'ed;
 * -EINVAL when either does not parse. */
int url_resolve(const char *base, const char *ref, char **ret);

/* true for the URLs that go over plain http, which need --insecure-options=http: http://,
 * s3+http:// and oci+http://. */
bool url_is_plain_http(const char *url);
/* true for http:// and https:// URLs (case-insensitive scheme). */
bool url_is_http(const char *url);
/* true for s3+https:// and s3+http:// URLs: an S3 endpoint, bucket and key, path-style. */
bool url_is_s3(const char *url);
/* What the engine fetches: http(s) and s3+http(s) URLs. */
bool url_is_remote(const char *url);
/* The URL on the wire: "https://..." for "s3+https://...", url itself for the others. */
const char *url_transport(const char *url);

/* ---------------------------------------------------------------- S3 (s3.c) */
/*
 * Requests to s3+https://ENDPOINT/BUCKET/KEY go to https://ENDPOINT/BUCKET/KEY signed with
 * SigV4 (libcurl's CURLOPT_AWS_SIGV4) when a key is known for the endpoint: auth.d's "s3" entry
 * for its host[:port], else the environment's (transfer_options.s3_env); unsigned otherwise.
 */
/* The key for url (an s3+ URL), or NULL: auth.d first, then env (either may be NULL). */
const s3_key *s3_key_for(const struct auth_config *auth, const s3_key *env, const char *url);
/* "x-amz-content-sha256: ..." for a body (NULL: UNSIGNED-PAYLOAD, for GET and HEAD). */
int s3_payload_header(const void *body, size_t size, char **ret);
/* An S3 error response in words, into buf: "HTTP status 403 (S3 SignatureDoesNotMatch): the
 * secret key does not match the access key ID" from status and the XML error document (any
 * bytes; at most the first S3_ERROR_DOC_MAX are looked at). */
#define S3_ERROR_DOC_MAX 4096
void s3_describe_error(long status, const char *doc, size_t size, char *buf, size_t n);

/* ---------------------------------------------------------------- registries (registry.c) */
/*
 * The OCI distribution API: oci://HOST[:PORT]/NAME[:TAG|@sha256:HEX] names a repository of a
 * registry over https (oci+http:// over plain http, with --insecure-options=http), and
 * perhaps a manifest in it. Every request carries TRANSFER_REGISTRY.
 */
#define REGISTRY_MEDIA_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define REGISTRY_MEDIA_INDEX    "application/vnd.oci.image.index.v1+json"
/* The largest manifest read: registries refuse larger ones (distribution: 4 MiB). */
#define REGISTRY_MANIFEST_MAX ((size_t)4 << 20)
#define REGISTRY_TAG_MAX      128
#define REGISTRY_NAME_MAX     255
/* "sha256:" and 64 hex digits, and the NUL. */
#define REGISTRY_DIGEST_SIZE (7 + 64 + 1)

bool url_is_oci(const char *url);

typedef struct registry_ref {
        char *api;       /* "https://HOST[:PORT]/v2/NAME" */
        char *host;      /* "host[:port]", lower case */
        char *name;      /* the repository */
        char *reference; /* the tag or digest given, NULL for none */
} registry_ref;

/* Parses (and checks) an oci:// URL; -EINVAL, logged, when it is not one. */
int registry_ref_parse(const char *url, registry_ref *ret);
void registry_ref_clear(registry_ref *r);
bool registry_tag_valid(const char *tag);
bool registry_digest_valid(const char *digest);
/* "sha256:HEX" of data. */
void registry_digest(const void *data, size_t size, char ret[REGISTRY_DIGEST_SIZE]);
/* API/blobs/DIGEST, malloc'ed. */
char *registry_blob_url(const registry_ref *r, const char *digest);
/* GETs the manifest or image index `reference` (a tag, or a digest then checked against the
 * body); returns as transfer_get_flags. */
int registry_get_manifest(transfer_engine *e, const registry_ref *r, const char *reference,
                          unsigned flags, transfer_response *ret);
int registry_put_manifest(transfer_engine *e, const registry_ref *r, const char *reference,
                          const char *media_type, const void *body, size_t size);
/* GETs a blob, at most max bytes, and checks its digest (-EBADMSG, logged, when it differs). */
int registry_get_blob(transfer_engine *e, const registry_ref *r, const char *digest, size_t max,
                      unsigned flags, transfer_response *ret);
/* 1 when the repository has the blob, 0 when not (HEAD), or a negative errno (logged). */
int registry_has_blob(transfer_engine *e, const registry_ref *r, const char *digest);
/* Pushes a blob in one piece (POST an upload, PUT it with its digest). Errors are logged. */
int registry_push_blob(transfer_engine *e, const registry_ref *r, const char *digest,
                       const void *body, size_t size);

/* ------------------------------------------------- registry authentication (registry_auth.c) */
/*
 * A TRANSFER_REGISTRY request is authenticated as Docker clients do (the distribution spec and
 * Docker's token authentication), by transfer_request_finish (so transfer_get_flags,
 * transfer_put, transfer_post and transfer_head too), in the caller's thread, never the
 * engine's:
 * - a 401 with "WWW-Authenticate: Bearer realm=...,service=...,scope=..." makes it GET the realm
 *   (https, or http with --insecure-options=http) with service and each scope as parameters,
 *   with the registry host's credentials (auth_config_registry_header_for; never over plain
 *   http) or anonymously, and send the request again with "Authorization: Bearer TOKEN". Tokens
 *   are kept per registry host:port, repository (NAME of /v2/NAME/...) and scope for the engine's
 *   life: later requests to that repository send the newest one at once, a token is renewed by
 *   one thread when a quarter of its life is left (expires_in, default 60 s) while the others
 *   go on with it, and the threads that meet a 401 together wait for one fetch. A 401 despite a
 *   token (one without push, say) fetches one for the challenge's scope, once per request.
 * - a 401 with "WWW-Authenticate: Basic" makes it send the credentials, over https only; the
 *   host then gets them at once on later requests (they go only where they were asked for).
 * That first 401 is no failure and is said at --debug only. What then fails returns as the
 * engine's other failures do: -EACCES with status 401 or 403 in the response (no body), logged
 * once in words: the registry's error document read by registry_describe_error, or, when the
 * token service refuses, "registry HOST: the credentials were refused by the token service at
 * REALM-HOST ...". Tokens and credentials are never logged, --debug included.
 */
/* A WWW-Authenticate value: the first Bearer challenge with a realm, else the first Basic one. */
#define REGISTRY_CHALLENGE_MAX 4096
enum { REGISTRY_CHALLENGE_NONE, REGISTRY_CHALLENGE_BASIC, REGISTRY_CHALLENGE_BEARER };
typedef struct registry_challenge {
        int scheme;
        char realm[2048];
        char service[512];
        char scope[1024]; /* as sent: one or more scopes separated by spaces */
} registry_challenge;
/* 0, or -EBADMSG when value (any bytes, at most REGISTRY_CHALLENGE_MAX) has neither or a value
 * does not fit its field. */
int registry_challenge_parse(const char *value, size_t size, registry_challenge *ret);
/* A token service's JSON answer (at most REGISTRY_TOKEN_RESPONSE_MAX bytes): "token", else
 * "access_token" (printable, no spaces, at most REGISTRY_TOKEN_MAX bytes; malloc'ed) and
 * "expires_in" (seconds, default REGISTRY_TOKEN_LIFETIME_DEFAULT, at most a day). -EBADMSG. */
#define REGISTRY_TOKEN_RESPONSE_MAX     (256 * 1024)
#define REGISTRY_TOKEN_MAX              (64 * 1024)
#define REGISTRY_TOKEN_LIFETIME_DEFAULT 60
int registry_token_parse(const char *body, size_t size, char **ret_token, unsigned *ret_expires_in);
/* A registry's error response in words, into buf: "HTTP status 401 (registry UNAUTHORIZED):
 * the registry wants credentials for HOST: add a dockerAuth entry to auth.d" from status, the
 * registry's host:port, whether auth.d credentials were used, and its error document
 * {"errors":[{"code":...,"message":...}]} (any bytes; at most the first REGISTRY_ERROR_DOC_MAX
 * are looked at). An unknown code gives the registry's own message. */
#define REGISTRY_ERROR_DOC_MAX 4096
void registry_describe_error(long status, const char *host, bool credentials, const char *doc,
                             size_t size, char *buf, size_t n);

/* ---------------------------------------------------------------- auth.d (auth.c) */
/* rkt's auth.d credentials. *.json files (not recursing; the names do not matter)
 * in <system-config>/auth.d, then <local-config>/auth.d; the later directory replaces the
 * earlier one's credentials per domain, while the same domain twice in one directory is an
 * error. Files: {"rktKind":"auth","rktVersion":"v1","domains":["host[:port]",...],
 * "type":"basic","credentials":{"user":U,"password":P}}, "type":"oauth" with "credentials":{"token":T}, or
 * "type":"s3" (rkt's "aws" too) with "credentials":{"accessKeyID":K,"secretAccessKey":S} and
 * optional "sessionToken" and "region", for s3+ URLs. rktKind "dockerAuth" ({"rktKind":
 * "dockerAuth","rktVersion":"v1","registries":["host[:port]",...],"credentials":{"user":U,
 * "password":P}}) gives a registry's credentials, for TRANSFER_REGISTRY requests only: the same
 * rules, in a namespace of its own (a host may have both kinds). Anything else malformed, a
 * symlink or a non-regular file is an error naming the file. Credentials are never logged.
 */
typedef struct auth_config auth_config;

/* Either directory may be NULL (skipped); a missing auth.d is fine. Errors are logged. */
int auth_config_load(const char *system_config, const char *local_config, auth_config **ret);
auth_config *auth_config_free(auth_config *a);
static inline void auth_config_freep(auth_config **a)
{
        auth_config_free(*a);
}
/* The "Authorization: ..." header line for the URL's host[:port] (lower case; the port only when
 * the URL gives one), or NULL. Any scheme: callers decide whether it may go over plain http. */
const char *auth_config_header_for(const auth_config *a, const char *url);
/* The registry credentials for the URL's host[:port] as a Basic "Authorization: ..." line, or
 * NULL: its dockerAuth entry's, else an "auth" entry's of type basic (dockerAuth wins). */
const char *auth_config_registry_header_for(const auth_config *a, const char *url);
/* The S3 key pair ("type": "s3", or rkt's "aws") for the URL's host[:port], or NULL. */
const s3_key *auth_config_s3_for(const auth_config *a, const char *url);
