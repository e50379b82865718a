/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Registry authentication (see transfer.h, "registries"): the WWW-Authenticate challenge, the
 * token service's answer, the registry's error document in words, and the engine's token cache
 * (registry_auth.h). Tokens and credentials never reach a log line: messages name hosts,
 * repositories and scopes only.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "fetcher/transfer/registry_auth.h"

/* ---------------------------------------------------------------- the challenge */

static bool is_tchar(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               (c && strchr("!#$%&'*+-.^_`|~", c));
}

static const char *skip_ws(const char *p, const char *end)
{
        while (p < end && (*p == ' ' || *p == '\t'))
                p++;
        return p;
}

/* A token or quoted-string value at p into out (cut: -EBADMSG, never truncated); *pp after it. */
static int read_value(const char **pp, const char *end, char *out, size_t n)
{
        const char *p = *pp;
        size_t k = 0;
        if (p < end && *p == '"') {
                for (p++;; p++) {
                        if (p >= end)
                                return -EBADMSG; /* unterminated */
                        if (*p == '"')
                                break;
                        if (*p == '\\' && ++p >= end)
                                return -EBADMSG;
                        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
                                return -EBADMSG;
                        if (k + 1 >= n)
                                return -EBADMSG;
                        out[k++] = *p;
                }
                p++;
        } else {
                /* token68 characters too ('/', '='), as some servers leave values unquoted. */
                while (p < end && (is_tchar(*p) || *p == '/' || *p == '=' || *p == ':')) {
                        if (k + 1 >= n)
                                return -EBADMSG;
                        out[k++] = *p++;
                }
        }
        out[k] = 0;
        *pp = p;
        return 0;
}

int registry_challenge_parse(const char *value, size_t size, registry_challenge *ret)
{
        *ret = (registry_challenge){};
        if (!value || size > REGISTRY_CHALLENGE_MAX)
                return -EBADMSG;
        const char *p = value, *end = value + size;
        registry_challenge cur = {}, basic = {};
        bool in_challenge = false;
        while (p < end) {
                p = skip_ws(p, end);
                if (p < end && *p == ',') {
                        p++;
                        continue;
                }
                if (p >= end)
                        break;
                const char *name = p;
                while (p < end && is_tchar(*p))
                        p++;
                size_t nlen = (size_t)(p - name);
                if (nlen == 0)
                        return -EBADMSG;
                const char *after = skip_ws(p, end);
                if (after < end && *after == '=' && in_challenge &&
                    !(after + 1 < end && after[1] == '=')) {
                        /* name=value, a parameter of the current challenge */
                        p = skip_ws(after + 1, end);
                        char *dst = NULL, scratch[REGISTRY_CHALLENGE_MAX];
                        size_t dn = sizeof(scratch);
                        if (nlen == 5 && strncasecmp(name, "realm", 5) == 0)
                                dst = cur.realm, dn = sizeof(cur.realm);
                        else if (nlen == 7 && strncasecmp(name, "service", 7) == 0)
                                dst = cur.service, dn = sizeof(cur.service);
                        else if (nlen == 5 && strncasecmp(name, "scope", 5) == 0)
                                dst = cur.scope, dn = sizeof(cur.scope);
                        else
                                dst = scratch;
                        int r = read_value(&p, end, dst, dn);
                        if (r < 0)
                                return r;
                        continue;
                }
                /* A scheme: the previous challenge ends. */
                if (cur.scheme == REGISTRY_CHALLENGE_BEARER && cur.realm[0]) {
                        *ret = cur;
                        return 0;
                }
                if (cur.scheme == REGISTRY_CHALLENGE_BASIC && !basic.scheme)
                        basic = cur;
                cur = (registry_challenge){};
                if (nlen == 6 && strncasecmp(name, "Bearer", 6) == 0)
                        cur.scheme = REGISTRY_CHALLENGE_BEARER;
                else if (nlen == 5 && strncasecmp(name, "Basic", 5) == 0)
                        cur.scheme = REGISTRY_CHALLENGE_BASIC;
                else
                        cur.scheme = REGISTRY_CHALLENGE_NONE;
                in_challenge = true;
                p = after;
                /* A token68 (a scheme's single value, as "Negotiate abc=="): skipped. */
                if (p < end && *p != ',' && !is_tchar(*p)) {
                        char scratch[REGISTRY_CHALLENGE_MAX];
                        int r = read_value(&p, end, scratch, sizeof(scratch));
                        if (r < 0)
                                return r;
                }
        }
        if (cur.scheme == REGISTRY_CHALLENGE_BEARER && cur.realm[0]) {
                *ret = cur;
                return 0;
        }
        if (cur.scheme == REGISTRY_CHALLENGE_BASIC && !basic.scheme)
                basic = cur;
        if (basic.scheme) {
                *ret = basic;
                return 0;
        }
        return -EBADMSG;
}

/* ---------------------------------------------------------------- the token */

/* Printable ASCII without spaces: it goes into a header line as it is. */
static bool token_chars_valid(const char *t)
{
        for (const unsigned char *p = (const unsigned char *)t; *p; p++)
                if (*p <= 0x20 || *p >= 0x7f)
                        return false;
        return *t != 0;
}

int registry_token_parse(const char *body, size_t size, char **ret_token, unsigned *ret_expires_in)
{
        *ret_token = NULL;
        if (!body || size > REGISTRY_TOKEN_RESPONSE_MAX)
                return -EBADMSG;
        json_error_t err;
        json_t *root = json_loadb(body, size, 0, &err);
        if (!root)
                return -EBADMSG;
        int r = -EBADMSG;
        json_t *t = json_object_get(root, "token");
        if (!json_is_string(t) || json_string_length(t) == 0)
                t = json_object_get(root, "access_token");
        if (!json_is_object(root) || !json_is_string(t))
                goto out;
        const char *s = json_string_value(t);
        if (json_string_length(t) > REGISTRY_TOKEN_MAX || strlen(s) != json_string_length(t) ||
            !token_chars_valid(s))
                goto out;
        /* The token auth spec's default; a lifetime is kept within a day. */
        unsigned expires = REGISTRY_TOKEN_LIFETIME_DEFAULT;
        json_t *x = json_object_get(root, "expires_in");
        if (json_is_integer(x) && json_integer_value(x) > 0)
                expires = (unsigned)MIN(json_integer_value(x), (json_int_t)86400);
        if (!(*ret_token = strdup(s))) {
                r = -ENOMEM;
                goto out;
        }
        *ret_expires_in = expires;
        r = 0;
out:
        json_decref(root);
        return r;
}

/* ---------------------------------------------------------------- errors in words */

/* What the distribution spec's error codes mean for the user; %s is the registry's host. */
static const struct {
        const char *code;
        const char *anonymous;   /* without credentials */
        const char *credentials; /* with them (NULL: as anonymous) */
} registry_errors[] = {
    {"UNAUTHORIZED", "the registry wants credentials for %s: add a dockerAuth entry to auth.d",
     "the credentials for %s (auth.d) do not give access to this"},
    {"DENIED",
     "the registry denies this without credentials for %s: add a dockerAuth entry to auth.d",
     "the credentials for %s (auth.d) may not do this (no pull or push access to the "
     "repository)"},
    {"NAME_UNKNOWN", "the registry at %s has no such repository", NULL},
    {"NAME_INVALID", "the registry at %s refused the repository name as invalid", NULL},
    {"MANIFEST_UNKNOWN", "the registry at %s has no such manifest (tag or digest)", NULL},
    {"MANIFEST_INVALID", "the registry at %s refused the manifest as invalid", NULL},
    {"MANIFEST_BLOB_UNKNOWN",
     "the manifest refers to a blob the registry at %s does not have (push the blobs first)", NULL},
    {"MANIFEST_UNVERIFIED", "the registry at %s could not verify the manifest's signature", NULL},
    {"TAG_INVALID", "the registry at %s refused the manifest's tag", NULL},
    {"BLOB_UNKNOWN", "the registry at %s has no such blob", NULL},
    {"BLOB_UPLOAD_INVALID", "the registry at %s refused the blob upload", NULL},
    {"BLOB_UPLOAD_UNKNOWN", "the registry at %s knows no such upload (it may have expired)", NULL},
    {"DIGEST_INVALID", "the content sent to %s does not match its digest", NULL},
    {"SIZE_INVALID", "the content sent to %s does not match its declared size", NULL},
    {"UNSUPPORTED", "the registry at %s does not support this operation", NULL},
    {"TOOMANYREQUESTS", "the registry at %s asks to slow down (too many requests)", NULL},
};

/* s cut to n-1 bytes of printable ASCII. */
static void printable(const char *s, char *out, size_t n)
{
        size_t k = 0;
        for (; *s && k + 1 < n; s++)
                if (*s >= 0x20 && *s < 0x7f)
                        out[k++] = *s;
        out[k] = 0;
}

/* code's words (show: with "(registry CODE)"), else the registry's own message. */
static void describe_code(long status, const char *code, bool show, const char *host,
                          bool credentials, const char *message, char *buf, size_t n)
{
        char words[512], label[96] = "";
        if (show)
                snprintf(label, sizeof(label), " (registry %s)", code);
        for (size_t i = 0; i < ELEMENTSOF(registry_errors); i++)
                if (strcmp(code, registry_errors[i].code) == 0) {
                        const char *fmt = credentials && registry_errors[i].credentials
                                              ? registry_errors[i].credentials
                                              : registry_errors[i].anonymous;
                        snprintf(words, sizeof(words), fmt, host);
                        snprintf(buf, n, "HTTP status %ld%s: %s", status, label, words);
                        return;
                }
        /* A code this list lacks: the registry's own message says what it is. */
        if (message && *message)
                snprintf(buf, n, "HTTP status %ld%s: %s", status, label, message);
        else
                snprintf(buf, n, "HTTP status %ld%s", status, label);
}

void registry_describe_error(long status, const char *host, bool credentials, const char *doc,
                             size_t size, char *buf, size_t n)
{
        if (n == 0)
                return;
        char h[256];
        printable(host ? host : "", h, sizeof(h));
        size = MIN(size, (size_t)REGISTRY_ERROR_DOC_MAX);
        json_error_t err;
        json_t *root = doc && size > 0 ? json_loadb(doc, size, 0, &err) : NULL;
        json_t *first = json_array_get(json_object_get(root, "errors"), 0);
        json_t *c = json_object_get(first, "code"), *m = json_object_get(first, "message");
        char code[64] = "", message[160] = "";
        if (json_is_string(c)) {
                size_t k = 0;
                for (const char *s = json_string_value(c); *s && k + 1 < sizeof(code); s++)
                        if ((*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_')
                                code[k++] = *s;
                code[k] = 0;
        }
        if (json_is_string(m))
                printable(json_string_value(m), message, sizeof(message));
        json_decref(root);
        if (code[0])
                describe_code(status, code, true, h, credentials, message, buf, n);
        else if (status == 401 || status == 403)
                /* No error document (a proxy's, or a HEAD's): what the status means. */
                describe_code(status, status == 401 ? "UNAUTHORIZED" : "DENIED", false, h,
                              credentials, NULL, buf, n);
        else
                snprintf(buf, n, "HTTP status %ld", status);
}

/* ---------------------------------------------------------------- the engine's tokens */

/* Entries kept: hosts, repositories and scopes a process talks to are few. */
#define TOKENS_MAX 256
/* A token is sent while it has this long left, and renewed when a quarter of its life and this
 * margin remain. */
#define TOKEN_MARGIN_NS (5 * 1000000000ull)
/* A refusal is answered from memory this long: the requests of one wave fail together, with
 * one message and one request to the token service. */
#define FAILURE_MEMORY_NS (5 * 1000000000ull)

typedef struct token_entry {
        struct token_entry *next;
        char *host;    /* host:port of the registry */
        char *repo;    /* NAME of /v2/NAME/...; "" when none */
        char *scope;   /* the challenge's scope ("" none); for Basic: "" */
        bool basic;    /* the host asked for Basic: header holds the credentials */
        char *realm;   /* the token service, to renew the token */
        char *service; /* "" none */
        char *header;  /* "Authorization: ...", NULL: none yet */
        bool credentials;
        uint64_t obtained, expires; /* ns, CLOCK_MONOTONIC */
        uint64_t serial;            /* newer entries have larger ones */
        bool fetching;              /* a thread asks the token service now */
        unsigned users;             /* threads waiting on it (it is not evicted then) */
        int error;                  /* the last fetch's, logged then */
        uint64_t failed_at;
        uint64_t renew_failed_at; /* a renewal failed then (tried again after a pause) */
} token_entry;

struct registry_auth {
        transfer_engine *engine;
        const auth_config *auth;
        bool allow_http;
        pthread_mutex_t lock;
        pthread_cond_t changed; /* a fetch ended */
        token_entry *entries;
        unsigned n;
        uint64_t serial;
};

static uint64_t now_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void registry_auth_header_free(char *h)
{
        if (!h)
                return;
        explicit_bzero(h, strlen(h));
        free(h);
}

static void entry_free(token_entry *t)
{
        free(t->host);
        free(t->repo);
        free(t->scope);
        free(t->realm);
        free(t->service);
        registry_auth_header_free(t->header);
        free(t);
}

int registry_auth_new(transfer_engine *e, const auth_config *auth, bool allow_http,
                      registry_auth **ret)
{
        registry_auth *ra = calloc(1, sizeof(*ra));
        if (!ra)
                return -ENOMEM;
        ra->engine = e;
        ra->auth = auth;
        ra->allow_http = allow_http;
        pthread_mutex_init(&ra->lock, NULL);
        pthread_cond_init(&ra->changed, NULL);
        *ret = ra;
        return 0;
}

void registry_auth_free(registry_auth *ra)
{
        if (!ra)
                return;
        while (ra->entries) {
                token_entry *t = ra->entries;
                ra->entries = t->next;
                entry_free(t);
        }
        pthread_mutex_destroy(&ra->lock);
        pthread_cond_destroy(&ra->changed);
        free(ra);
}

/* host:port (the scheme's port when none is written) of url, and the repository NAME of its
 * /v2/NAME/{blobs,manifests,tags}/... path ("" when it has none). */
static int url_registry_parts(const char *url, char **ret_host, char **ret_repo)
{
        CURLU *u = curl_url();
        char *host = NULL, *port = NULL, *path = NULL;
        int r = -EINVAL;
        if (!u)
                return -ENOMEM;
        if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK)
                goto out;
        const char *name = strncmp(path, "/v2/", 4) == 0 ? path + 4 : "", *cut = NULL;
        /* The last of these: a repository's own path may hold such a component. */
        static const char *const kinds[] = {"/blobs/", "/manifests/", "/tags/"};
        for (const char *p = name; *p; p++)
                for (size_t i = 0; i < ELEMENTSOF(kinds); i++)
                        if (strncmp(p, kinds[i], strlen(kinds[i])) == 0)
                                cut = p;
        r = -ENOMEM;
        if (asprintf(ret_host, "%s:%s", host, port) < 0)
                goto out;
        *ret_repo = cut ? strndup(name, (size_t)(cut - name)) : strdup("");
        if (!*ret_repo) {
                free(*ret_host);
                goto out;
        }
        for (char *p = *ret_host; *p; p++)
                if (*p >= 'A' && *p <= 'Z')
                        *p = (char)(*p - 'A' + 'a');
        r = 0;
out:
        curl_free(host);
        curl_free(port);
        curl_free(path);
        curl_url_cleanup(u);
        return r;
}

/* Lock held: the entry for the key, or a new one (NULL: out of memory). */
static token_entry *entry_get(registry_auth *ra, const char *host, const char *repo,
                              const char *scope, bool basic)
{
        for (token_entry *t = ra->entries; t; t = t->next)
                if (t->basic == basic && strcmp(t->host, host) == 0 && strcmp(t->repo, repo) == 0 &&
                    strcmp(t->scope, scope) == 0)
                        return t;
        if (ra->n >= TOKENS_MAX) {
                /* The oldest one nobody uses goes. */
                token_entry **victim = NULL;
                for (token_entry **p = &ra->entries; *p; p = &(*p)->next)
                        if (!(*p)->fetching && (*p)->users == 0 &&
                            (!victim || (*p)->serial < (*victim)->serial))
                                victim = p;
                if (victim) {
                        token_entry *t = *victim;
                        *victim = t->next;
                        entry_free(t);
                        ra->n--;
                }
        }
        token_entry *t = calloc(1, sizeof(*t));
        if (!t)
                return NULL;
        *t = (token_entry){.host = strdup(host),
                           .repo = strdup(repo),
                           .scope = strdup(scope),
                           .basic = basic,
                           .realm = strdup(""),
                           .service = strdup("")};
        if (!t->host || !t->repo || !t->scope || !t->realm || !t->service) {
                entry_free(t);
                return NULL;
        }
        t->next = ra->entries;
        ra->entries = t;
        ra->n++;
        return t;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* scope with each scope's actions sorted ("repository:a:push,pull" and
 * "repository:a:pull,push" are the same access, which a registry spells either way), into out
 * (as large as scope's buffer). */
static void scope_normalize(const char *scope, char *out, size_t n)
{
        size_t k = 0;
        out[0] = 0;
        for (const char *p = scope; *p;) {
                size_t len = strcspn(p, " ");
                char one[sizeof(((registry_challenge *)0)->scope)];
                snprintf(one, sizeof(one), "%.*s", (int)len, p);
                p += len;
                p += strspn(p, " ");
                if (!one[0])
                        continue;
                char *colon = strrchr(one, ':');
                const char *actions[32];
                size_t na = 0;
                char sorted[sizeof(one)] = "";
                if (colon) {
                        *colon = 0;
                        for (char *save = NULL, *a = strtok_r(colon + 1, ",", &save);
                             a && na < ELEMENTSOF(actions); a = strtok_r(NULL, ",", &save))
                                actions[na++] = a;
                        qsort(actions, na, sizeof(*actions), cmp_str);
                        size_t m = 0;
                        for (size_t i = 0; i < na && m < sizeof(sorted); i++)
                                m += (size_t)snprintf(sorted + m, sizeof(sorted) - m, "%s%s",
                                                      i ? "," : "", actions[i]);
                }
                int w = snprintf(out + k, n - k, "%s%s%s%s", k ? " " : "", one, colon ? ":" : "",
                                 sorted);
                if (w < 0 || (size_t)w >= n - k)
                        return; /* cut: still a key, if a poorer one */
                k += (size_t)w;
        }
}

static bool entry_valid(const token_entry *t, uint64_t now)
{
        return t->header && (t->basic || t->expires > now + TOKEN_MARGIN_NS);
}

/* The realm's host[:port], for messages. */
static void realm_host(const char *realm, char *buf, size_t n)
{
        CURLU *u = curl_url();
        char *host = NULL, *port = NULL;
        if (u && curl_url_set(u, CURLUPART_URL, realm, 0) == CURLUE_OK &&
            curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
                curl_url_get(u, CURLUPART_PORT, &port, 0);
                snprintf(buf, n, "%s%s%s", host, port ? ":" : "", port ? port : "");
        } else
                snprintf(buf, n, "%s", "(unreadable URL)");
        curl_free(host);
        curl_free(port);
        curl_url_cleanup(u);
}

static int url_append_query(CURLU *u, const char *name, const char *value)
{
        _cleanup_(freep) char *q = NULL;
        if (asprintf(&q, "%s=%s", name, value) < 0)
                return -ENOMEM;
        return curl_url_set(u, CURLUPART_QUERY, q, CURLU_APPENDQUERY | CURLU_URLENCODE) == CURLUE_OK
                   ? 0
                   : -EINVAL;
}

/* GETs a token for t (realm, service, scope set) with the registry's credentials creds (a
 * Basic line, NULL: anonymous), into t. Failures are logged at level (renewals that can wait
 * say theirs at --debug). No lock held. */
static int token_fetch(registry_auth *ra, token_entry *t, const char *creds, int level)
{
        char rhost[300];
        realm_host(t->realm, rhost, sizeof(rhost));
        bool https = strncasecmp(t->realm, "https://", 8) == 0;
        if (!https && strncasecmp(t->realm, "http://", 7) != 0)
                return ca_log_errno(level, -EPROTO,
                                    "registry %s: its token service is not an http(s) URL",
                                    t->host);
        if (!https && !ra->allow_http)
                return ca_log_errno(level, -EPROTO,
                                    "registry %s: its token service at %s is plain http, which "
                                    "needs --insecure-options=http",
                                    t->host, rhost);
        /* Credentials never go over plain http. */
        if (!https)
                creds = NULL;
        CURLU *u = curl_url();
        if (!u)
                return -ENOMEM;
        int r = curl_url_set(u, CURLUPART_URL, t->realm, 0) == CURLUE_OK ? 0 : -EINVAL;
        if (r >= 0 && t->service[0])
                r = url_append_query(u, "service", t->service);
        /* Each scope the challenge names is a parameter of its own. */
        for (const char *p = t->scope; r >= 0 && *p;) {
                size_t len = strcspn(p, " ");
                if (len > 0) {
                        _cleanup_(freep) char *one = strndup(p, len);
                        r = one ? url_append_query(u, "scope", one) : -ENOMEM;
                }
                p += len;
                p += strspn(p, " ");
        }
        char *url = NULL;
        if (r >= 0 && curl_url_get(u, CURLUPART_URL, &url, 0) != CURLUE_OK)
                r = -EINVAL;
        curl_url_cleanup(u);
        if (r < 0) {
                curl_free(url);
                return r == -EINVAL ? ca_log_errno(level, r,
                                                   "registry %s: its token service's URL does "
                                                   "not parse",
                                                   t->host)
                                    : r;
        }
        const char *headers[] = {creds, NULL};
        transfer_response resp;
        ca_log_debug("registry %s: asking the token service at %s for %s%s%s", t->host, rhost,
                     t->scope[0] ? t->scope : "a token", creds ? ", with credentials" : "",
                     t->repo[0] ? "" : " (no repository)");
        r = transfer_get_flags(ra->engine, url, REGISTRY_TOKEN_RESPONSE_MAX, headers,
                               TRANSFER_QUIET | TRANSFER_URGENT, &resp);
        curl_free(url);
        if (r == -EACCES) {
                if (creds)
                        r = ca_log_errno(level, r,
                                         "registry %s: the credentials were refused by the token "
                                         "service at %s (HTTP status %ld): check the dockerAuth "
                                         "entry for %s in auth.d",
                                         t->host, rhost, resp.status, t->host);
                else
                        r = ca_log_errno(level, r,
                                         "registry %s: the token service at %s wants credentials "
                                         "(HTTP status %ld): add a dockerAuth entry for %s to "
                                         "auth.d",
                                         t->host, rhost, resp.status, t->host);
        } else if (r < 0) {
                char why[64];
                if (resp.status > 0 && r == -EIO)
                        snprintf(why, sizeof(why), "HTTP status %ld", resp.status);
                else
                        snprintf(why, sizeof(why), "%s", strerror(r == -ENOENT ? ENOENT : -r));
                r = ca_log_errno(level, r == -ENOENT ? -EACCES : r,
                                 "registry %s: no token from the token service at %s: %s", t->host,
                                 rhost, why);
        }
        if (r < 0) {
                transfer_response_clear(&resp);
                return r;
        }
        char *token = NULL;
        unsigned expires_in = 0;
        r = registry_token_parse((const char *)resp.body, resp.size, &token, &expires_in);
        if (resp.body)
                explicit_bzero(resp.body, resp.size);
        transfer_response_clear(&resp);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return ca_log_errno(level, -EACCES,
                                    "registry %s: the token service at %s sent no usable token",
                                    t->host, rhost);
        char *header = NULL;
        if (asprintf(&header, "Authorization: Bearer %s", token) < 0)
                header = NULL;
        registry_auth_header_free(token);
        if (!header)
                return -ENOMEM;
        pthread_mutex_lock(&ra->lock);
        registry_auth_header_free(t->header);
        t->header = header;
        t->credentials = creds != NULL;
        t->obtained = now_ns();
        t->expires = t->obtained + (uint64_t)expires_in * 1000000000u;
        t->serial = ++ra->serial;
        t->error = 0;
        pthread_mutex_unlock(&ra->lock);
        ca_log_debug("registry %s: a token for %s, valid %u s", t->host,
                     t->scope[0] ? t->scope : "its requests", expires_in);
        return 0;
}

/* Lock held, t->fetching set by the caller: fetches, then wakes the waiters. A renewal's
 * failure (at --debug, while the old token still serves) is not remembered as a refusal. */
static int entry_fetch_locked(registry_auth *ra, token_entry *t, const char *creds, int level)
{
        bool renewal = level == CA_LOG_DEBUG;
        t->users++;
        pthread_mutex_unlock(&ra->lock);
        int r = token_fetch(ra, t, creds, level);
        pthread_mutex_lock(&ra->lock);
        t->users--;
        t->fetching = false;
        if (r < 0 && renewal)
                t->renew_failed_at = now_ns();
        else if (r < 0) {
                t->error = r;
                t->failed_at = now_ns();
        }
        pthread_cond_broadcast(&ra->changed);
        return r;
}

static int header_copy(const token_entry *t, char **ret, bool *ret_credentials)
{
        if (!(*ret = strdup(t->header)))
                return -ENOMEM;
        *ret_credentials = t->credentials;
        return 0;
}

int registry_auth_header(registry_auth *ra, const char *url, char **ret, bool *ret_credentials)
{
        *ret = NULL;
        *ret_credentials = false;
        _cleanup_(freep) char *host = NULL, *repo = NULL;
        int r = url_registry_parts(url, &host, &repo);
        if (r < 0)
                return r == -ENOMEM ? r : 0; /* the engine says what is wrong with the URL */
        bool https = strncasecmp(url, "https://", 8) == 0;
        pthread_mutex_lock(&ra->lock);
        uint64_t now = now_ns();
        token_entry *best = NULL;
        for (token_entry *t = ra->entries; t; t = t->next) {
                if (strcmp(t->host, host) != 0 || !entry_valid(t, now))
                        continue;
                if (t->basic) {
                        /* Credentials never over plain http. */
                        if (https) {
                                r = header_copy(t, ret, ret_credentials);
                                pthread_mutex_unlock(&ra->lock);
                                return r;
                        }
                        continue;
                }
                if (strcmp(t->repo, repo) == 0 && (!best || t->serial > best->serial))
                        best = t;
        }
        if (!best) {
                pthread_mutex_unlock(&ra->lock);
                return 0;
        }
        /* Renewed before its end by this thread; the others meanwhile send the old one. */
        uint64_t life = best->expires - best->obtained;
        if (!best->fetching && best->expires - now < life / 4 + TOKEN_MARGIN_NS &&
            (!best->renew_failed_at || now - best->renew_failed_at >= FAILURE_MEMORY_NS)) {
                const char *creds =
                    best->credentials ? auth_config_registry_header_for(ra->auth, url) : NULL;
                best->fetching = true;
                entry_fetch_locked(ra, best, creds, CA_LOG_DEBUG);
                now = now_ns();
        }
        r = entry_valid(best, now) ? header_copy(best, ret, ret_credentials) : 0;
        pthread_mutex_unlock(&ra->lock);
        return r;
}

int registry_auth_answer(registry_auth *ra, const char *url, const char *challenge,
                         const char *sent, char **ret, bool *ret_credentials)
{
        *ret = NULL;
        *ret_credentials = false;
        registry_challenge c;
        if (!challenge || registry_challenge_parse(challenge, strlen(challenge), &c) < 0) {
                ca_log_debug("%s: the registry's WWW-Authenticate challenge is not Basic or "
                             "Bearer with a realm",
                             url);
                return -ENOKEY;
        }
        _cleanup_(freep) char *host = NULL, *repo = NULL;
        int r = url_registry_parts(url, &host, &repo);
        if (r < 0)
                return r == -ENOMEM ? r : -ENOKEY;
        const char *creds = auth_config_registry_header_for(ra->auth, url);
        bool https = strncasecmp(url, "https://", 8) == 0;

        if (c.scheme == REGISTRY_CHALLENGE_BASIC) {
                /* The credentials themselves, over TLS only, unless they were what failed. */
                if (creds && !https)
                        return ca_log_errno(CA_LOG_ERR, -EACCES,
                                            "registry %s asks for credentials over plain http: "
                                            "auth.d credentials are only sent over https",
                                            host);
                if (!creds || (sent && strcmp(sent, creds) == 0))
                        return -ENOKEY;
                pthread_mutex_lock(&ra->lock);
                token_entry *t = entry_get(ra, host, "", "", true);
                if (t && !t->header) {
                        t->header = strdup(creds);
                        t->credentials = true;
                        t->serial = ++ra->serial;
                }
                r = t && t->header ? header_copy(t, ret, ret_credentials) : -ENOMEM;
                pthread_mutex_unlock(&ra->lock);
                return r;
        }

        char scope[sizeof(c.scope)];
        scope_normalize(c.scope, scope, sizeof(scope));
        pthread_mutex_lock(&ra->lock);
        token_entry *t = entry_get(ra, host, repo, scope, false);
        if (!t) {
                pthread_mutex_unlock(&ra->lock);
                return -ENOMEM;
        }
        t->users++;
        for (;;) {
                uint64_t now = now_ns();
                /* Another thread's token, newer than the one refused: that one. */
                if (entry_valid(t, now) && (!sent || strcmp(t->header, sent) != 0)) {
                        r = header_copy(t, ret, ret_credentials);
                        break;
                }
                if (t->fetching) {
                        pthread_cond_wait(&ra->changed, &ra->lock);
                        continue;
                }
                if (t->error && now - t->failed_at < FAILURE_MEMORY_NS) {
                        r = t->error; /* said by the thread that met it */
                        break;
                }
                /* This thread asks; the realm and service of this challenge are kept to renew
                 * the token later. */
                char *realm = strdup(c.realm), *service = strdup(c.service);
                if (!realm || !service) {
                        free(realm);
                        free(service);
                        r = -ENOMEM;
                        break;
                }
                free(t->realm);
                free(t->service);
                t->realm = realm;
                t->service = service;
                t->fetching = true;
                r = entry_fetch_locked(ra, t, creds, CA_LOG_ERR);
                if (r >= 0)
                        r = t->header ? header_copy(t, ret, ret_credentials) : -EACCES;
                break;
        }
        t->users--;
        pthread_mutex_unlock(&ra->lock);
        return r;
}
