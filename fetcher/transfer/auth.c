/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * rkt's auth.d (see acfetch.h): credentials per host[:port], from *.json files in
 * <system-config>/auth.d and then <local-config>/auth.d, the later directory winning per domain.
 * Nothing here logs a credential: error messages name the file and the field, never a value,
 * and jansson's " near '...'" context (which may quote the file) is cut off.
 */
#include <curl/curl.h>
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "casync/fs_safe.h"
#include "fetcher/transfer/transfer.h"

#define AUTH_FILE_MAX         (64 * 1024)
#define AUTH_FILES_MAX        1024 /* *.json files per directory */
#define AUTH_DOMAINS_PER_FILE 256
#define AUTH_DOMAINS_MAX      4096 /* per directory */
#define AUTH_DOMAIN_MAX       300  /* "[v6]:port" or a DNS name and a port */

typedef struct auth_entry {
        char *domain; /* lower case host[:port] */
        char *header; /* "Authorization: ..."; NULL for an S3 key */
        s3_key s3;    /* "type": "s3" (or rkt's "aws"): the strings are owned */
        char *file;   /* where it came from (for messages) */
        bool docker;  /* rktKind "dockerAuth": a registry's credentials, a namespace of its own */
} auth_entry;

struct auth_config {
        auth_entry *entries;
        size_t n, n_alloc;
};

static void wipe_free(char *s)
{
        if (!s)
                return;
        explicit_bzero(s, strlen(s));
        free(s);
}

static void s3_key_clear(s3_key *k)
{
        wipe_free((char *)k->access_key_id);
        wipe_free((char *)k->secret_access_key);
        wipe_free((char *)k->session_token);
        free((char *)k->region);
        *k = (s3_key){};
}

static int s3_key_copy(const s3_key *from, s3_key *to)
{
        *to = (s3_key){
            .access_key_id = strdup(from->access_key_id),
            .secret_access_key = strdup(from->secret_access_key),
            .session_token = from->session_token ? strdup(from->session_token) : NULL,
            .region = from->region ? strdup(from->region) : NULL,
        };
        if (!to->access_key_id || !to->secret_access_key ||
            (from->session_token && !to->session_token) || (from->region && !to->region)) {
                s3_key_clear(to);
                return -ENOMEM;
        }
        return 0;
}

static void entry_clear(auth_entry *e)
{
        free(e->domain);
        wipe_free(e->header);
        s3_key_clear(&e->s3);
        free(e->file);
        *e = (auth_entry){};
}

auth_config *auth_config_free(auth_config *a)
{
        if (!a)
                return NULL;
        for (size_t i = 0; i < a->n; i++)
                entry_clear(&a->entries[i]);
        free(a->entries);
        free(a);
        return NULL;
}

static auth_entry *config_find(const auth_config *a, const char *domain, bool docker)
{
        for (size_t i = 0; i < a->n; i++)
                if (a->entries[i].docker == docker && strcmp(a->entries[i].domain, domain) == 0)
                        return &a->entries[i];
        return NULL;
}

static int config_grow(auth_config *a)
{
        if (a->n < a->n_alloc)
                return 0;
        size_t n = MAX(a->n_alloc * 2, (size_t)8);
        auth_entry *p = reallocarray(a->entries, n, sizeof(*p));
        if (!p)
                return -ENOMEM;
        a->entries = p;
        a->n_alloc = n;
        return 0;
}

/* ---------------------------------------------------------------- building headers */

static char *base64(const uint8_t *in, size_t n)
{
        static const char tab[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        char *out = malloc((n + 2) / 3 * 4 + 1), *p = out;
        if (!out)
                return NULL;
        for (size_t i = 0; i < n; i += 3) {
                uint32_t v = (uint32_t)in[i] << 16;
                if (i + 1 < n)
                        v |= (uint32_t)in[i + 1] << 8;
                if (i + 2 < n)
                        v |= in[i + 2];
                *p++ = tab[(v >> 18) & 63];
                *p++ = tab[(v >> 12) & 63];
                *p++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
                *p++ = i + 2 < n ? tab[v & 63] : '=';
        }
        *p = 0;
        return out;
}

static char *basic_header(const char *user, const char *password)
{
        size_t lu = strlen(user), lp = strlen(password), n = lu + 1 + lp;
        uint8_t *raw = malloc(n);
        if (!raw)
                return NULL;
        memcpy(raw, user, lu);
        raw[lu] = ':';
        memcpy(raw + lu + 1, password, lp);
        char *b = base64(raw, n);
        explicit_bzero(raw, n);
        free(raw);
        if (!b)
                return NULL;
        char *h = NULL;
        if (asprintf(&h, "Authorization: Basic %s", b) < 0)
                h = NULL;
        wipe_free(b);
        return h;
}

/* A token goes into the header as it is: printable ASCII without spaces (RFC 6750's b64token
 * is narrower still), so it can never end the header line or start another. */
static bool token_valid(const char *t)
{
        for (const unsigned char *p = (const unsigned char *)t; *p; p++)
                if (*p <= 0x20 || *p >= 0x7f)
                        return false;
        return *t != 0;
}

/* host[:port]: a DNS name or IPv4 address, or [IPv6], then optionally :1-65535. */
static bool domain_valid(const char *d)
{
        size_t n = strlen(d);
        if (n == 0 || n > AUTH_DOMAIN_MAX)
                return false;
        const char *p = d;
        if (*p == '[') {
                const char *close = strchr(p, ']');
                if (!close || close == p + 1)
                        return false;
                for (const char *q = p + 1; q < close; q++)
                        if (!(*q >= 'a' && *q <= 'z') && !(*q >= '0' && *q <= '9') &&
                            !strchr(":.%-_", *q))
                                return false;
                p = close + 1;
        } else {
                const char *start = p;
                while (*p && *p != ':') {
                        if (!(*p >= 'a' && *p <= 'z') && !(*p >= '0' && *p <= '9') &&
                            !strchr("-._~", *p))
                                return false;
                        p++;
                }
                if (p == start)
                        return false;
        }
        if (*p == 0)
                return true;
        if (*p != ':' || p[1] == 0 || strlen(p + 1) > 5)
                return false;
        unsigned long port = 0;
        for (const char *q = p + 1; *q; q++) {
                if (*q < '0' || *q > '9')
                        return false;
                port = port * 10 + (unsigned long)(*q - '0');
        }
        return p[1] != '0' && port >= 1 && port <= 65535;
}

static void ascii_lower(char *s)
{
        for (; *s; s++)
                if (*s >= 'A' && *s <= 'Z')
                        *s = (char)(*s - 'A' + 'a');
}

/* ---------------------------------------------------------------- one file */

/* jansson's messages may quote the text near the error, which may be a secret: keep the rest. */
static void json_error_text(const json_error_t *err, char *buf, size_t size)
{
        snprintf(buf, size, "%s", err->text);
        char *near = strstr(buf, " near '");
        if (near)
                *near = 0;
}

static int read_file(int dir_fd, const char *name, const char *path, char **ret, size_t *ret_size)
{
        _cleanup_(closep) int fd =
            openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                if (errno == ELOOP)
                        return ca_log_errno(CA_LOG_ERR, -ELOOP,
                                            "%s: is a symbolic link; auth.d files must be "
                                            "regular files",
                                            path);
                int k = negative_errno();
                return ca_log_errno(CA_LOG_ERR, k, "%s: cannot open: %s", path, strerror(-k));
        }
        struct stat st;
        if (fstat(fd, &st) < 0) {
                int k = negative_errno();
                return ca_log_errno(CA_LOG_ERR, k, "%s: cannot stat: %s", path, strerror(-k));
        }
        if (!S_ISREG(st.st_mode))
                return ca_log_errno(CA_LOG_ERR, -EBADMSG,
                                    "%s: not a regular file; auth.d files must be regular files",
                                    path);
        if (st.st_size > AUTH_FILE_MAX)
                return ca_bad("%s: larger than %u bytes", path, AUTH_FILE_MAX);
        char *buf = malloc(AUTH_FILE_MAX + 1);
        if (!buf)
                return -ENOMEM;
        size_t n = 0;
        for (;;) {
                ssize_t l = read(fd, buf + n, AUTH_FILE_MAX + 1 - n);
                if (l < 0 && errno == EINTR)
                        continue;
                if (l < 0) {
                        int k = negative_errno();
                        explicit_bzero(buf, n);
                        free(buf);
                        return ca_log_errno(CA_LOG_ERR, k, "%s: cannot read: %s", path,
                                            strerror(-k));
                }
                if (l == 0)
                        break;
                n += (size_t)l;
                if (n > AUTH_FILE_MAX) {
                        explicit_bzero(buf, n);
                        free(buf);
                        return ca_bad("%s: larger than %u bytes", path, AUTH_FILE_MAX);
                }
        }
        *ret = buf;
        *ret_size = n;
        return 0;
}

static const char *string_member(json_t *o, const char *key)
{
        json_t *v = json_object_get(o, key);
        return json_is_string(v) ? json_string_value(v) : NULL;
}

/*
 * Parses one file into dir (the entries of its directory so far). Returns 0 or a negative errno
 * (logged).
 */
static int parse_file(auth_config *dir, const char *path, const char *buf, size_t size)
{
        json_error_t err;
        json_t *root = json_loadb(buf, size, JSON_REJECT_DUPLICATES, &err);
        if (!root) {
                char text[JSON_ERROR_TEXT_LENGTH];
                json_error_text(&err, text, sizeof(text));
                return ca_bad("%s: invalid JSON at line %d, column %d: %s", path, err.line,
                              err.column, text);
        }
        int r;
        const char *kind = string_member(root, "rktKind");
        const char *version = string_member(root, "rktVersion");
        const char *type = string_member(root, "type");
        bool docker = kind && strcmp(kind, "dockerAuth") == 0;
        /* rkt's dockerAuth lists "registries" and has no "type": its credentials are a user
         * and a password, which the registry's token service (or the registry) checks. */
        const char *list = docker ? "registries" : "domains";
        json_t *domains = json_object_get(root, list);
        json_t *creds = json_object_get(root, "credentials");
        _cleanup_(freep) char *header = NULL;
        s3_key s3 = {};

        if (!json_is_object(root)) {
                r = ca_bad("%s: not a JSON object", path);
                goto out;
        }
        if (!kind || !version) {
                r = ca_bad("%s: \"rktKind\" and \"rktVersion\" must be strings", path);
                goto out;
        }
        if (strcmp(version, "v1") != 0) {
                r = ca_bad("%s: unsupported rktVersion (only \"v1\")", path);
                goto out;
        }
        if (!docker && strcmp(kind, "auth") != 0) {
                r = ca_bad("%s: unsupported rktKind (expected \"auth\" or \"dockerAuth\")", path);
                goto out;
        }
        if (docker)
                type = "basic";
        else if (!type) {
                r = ca_bad("%s: \"type\" must be a string", path);
                goto out;
        }
        if (!json_is_array(domains) || json_array_size(domains) == 0) {
                r = ca_bad("%s: \"%s\" must be a non-empty array", path, list);
                goto out;
        }
        if (json_array_size(domains) > AUTH_DOMAINS_PER_FILE) {
                r = ca_bad("%s: more than %u %s", path, AUTH_DOMAINS_PER_FILE, list);
                goto out;
        }
        if (!json_is_object(creds)) {
                r = ca_bad("%s: \"credentials\" must be an object", path);
                goto out;
        }
        if (strcmp(type, "basic") == 0) {
                const char *user = string_member(creds, "user");
                const char *password = string_member(creds, "password");
                if (!user || !*user || !password || !*password) {
                        r = ca_bad("%s: %s credentials need a non-empty \"user\" and "
                                   "\"password\"",
                                   path, docker ? "dockerAuth" : "basic");
                        goto out;
                }
                if (strchr(user, ':')) {
                        r = ca_bad("%s: the %s \"user\" cannot contain ':'", path,
                                   docker ? "dockerAuth" : "basic");
                        goto out;
                }
                header = basic_header(user, password);
        } else if (strcmp(type, "oauth") == 0) {
                const char *token = string_member(creds, "token");
                if (!token || !*token) {
                        r = ca_bad("%s: oauth credentials need a non-empty \"token\"", path);
                        goto out;
                }
                if (!token_valid(token)) {
                        r = ca_bad("%s: the oauth \"token\" has spaces or characters that "
                                   "cannot go in a header",
                                   path);
                        goto out;
                }
                if (asprintf(&header, "Authorization: Bearer %s", token) < 0)
                        header = NULL;
        } else if (strcmp(type, "s3") == 0 || strcmp(type, "aws") == 0) {
                /* An S3 key pair signs each request (SigV4) instead of a fixed header. */
                s3 = (s3_key){
                    .access_key_id = string_member(creds, "accessKeyID"),
                    .secret_access_key = string_member(creds, "secretAccessKey"),
                    .session_token = string_member(creds, "sessionToken"),
                    .region = string_member(creds, "region"),
                };
                if (!s3.access_key_id || !*s3.access_key_id || !s3.secret_access_key ||
                    !*s3.secret_access_key) {
                        s3 = (s3_key){};
                        r = ca_bad("%s: %s credentials need a non-empty \"accessKeyID\" and "
                                   "\"secretAccessKey\"",
                                   path, type);
                        goto out;
                }
                if (!token_valid(s3.access_key_id) ||
                    (s3.session_token && !token_valid(s3.session_token)) ||
                    (s3.region && !token_valid(s3.region))) {
                        s3 = (s3_key){};
                        r = ca_bad("%s: the S3 \"accessKeyID\", \"sessionToken\" or \"region\" "
                                   "has spaces or characters that cannot go in a header",
                                   path);
                        goto out;
                }
        } else {
                r = ca_bad("%s: unsupported credentials type (expected \"basic\", \"oauth\" or "
                           "\"s3\")",
                           path);
                goto out;
        }
        if (!header && !s3.access_key_id) {
                r = -ENOMEM;
                goto out;
        }

        /* All domains first, so a bad file adds nothing. */
        size_t nd = json_array_size(domains);
        for (size_t i = 0; i < nd; i++) {
                json_t *v = json_array_get(domains, i);
                if (!json_is_string(v)) {
                        r = ca_bad("%s: %s[%zu] is not a string", path, list, i);
                        goto out;
                }
                _cleanup_(freep) char *d = strdup(json_string_value(v));
                if (!d) {
                        r = -ENOMEM;
                        goto out;
                }
                ascii_lower(d);
                if (!domain_valid(d)) {
                        r = ca_bad("%s: %s[%zu] \"%.*s\" is not host or host:port", path, list, i,
                                   AUTH_DOMAIN_MAX, d);
                        goto out;
                }
                const auth_entry *prev = config_find(dir, d, docker);
                const char *what = docker ? "registry" : "domain";
                if (prev) {
                        if (strcmp(prev->file, path) == 0)
                                r = ca_bad("%s: %s \"%s\" is listed twice", path, what, d);
                        else
                                r = ca_bad("%s: %s \"%s\" already has credentials in %s "
                                           "(one file per %s in a directory)",
                                           path, what, d, prev->file, what);
                        goto out;
                }
                if (dir->n >= AUTH_DOMAINS_MAX) {
                        r = ca_bad("%s: more than %u domains in the directory", path,
                                   AUTH_DOMAINS_MAX);
                        goto out;
                }
                if (config_grow(dir) < 0) {
                        r = -ENOMEM;
                        goto out;
                }
                auth_entry e = {.domain = d,
                                .header = header ? strdup(header) : NULL,
                                .file = strdup(path),
                                .docker = docker};
                if ((header && !e.header) || !e.file ||
                    (s3.access_key_id && s3_key_copy(&s3, &e.s3) < 0)) {
                        entry_clear(&e);
                        d = NULL;
                        r = -ENOMEM;
                        goto out;
                }
                d = NULL;
                dir->entries[dir->n++] = e;
        }
        r = 0;
out:
        if (header)
                explicit_bzero(header, strlen(header));
        json_decref(root);
        return r;
}

/* ---------------------------------------------------------------- directories */

static bool has_json_suffix(const char *name)
{
        size_t n = strlen(name);
        return n >= 5 && strcmp(name + n - 5, ".json") == 0;
}

static bool is_json(int dir_fd, const struct dirent *de, void *userdata)
{
        return has_json_suffix(de->d_name);
}

/* The *.json names in dir_fd, sorted (so messages do not depend on readdir order). */
static int list_json(int dir_fd, const char *dir, char ***ret, size_t *ret_n)
{
        int r = fs_list_sorted(dir_fd, is_json, NULL, AUTH_FILES_MAX, ret, ret_n);
        if (r == -E2BIG)
                return ca_bad("%s: more than %u *.json files", dir, AUTH_FILES_MAX);
        if (r < 0 && r != -ENOMEM)
                return ca_log_errno(CA_LOG_ERR, r, "%s: cannot list: %s", dir, strerror(-r));
        return r;
}

/* Loads config_dir/auth.d into dir (empty when the directory does not exist). */
static int load_dir(const char *config_dir, auth_config *dir)
{
        _cleanup_(freep) char *path = NULL;
        if (asprintf(&path, "%s/auth.d", config_dir) < 0)
                return -ENOMEM;
        _cleanup_(closep) int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
                if (errno == ENOENT)
                        return 0;
                int k = negative_errno();
                return ca_log_errno(CA_LOG_ERR, k, "%s: cannot open: %s", path, strerror(-k));
        }
        char **names = NULL;
        size_t n = 0;
        int r = list_json(fd, path, &names, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n && r >= 0; i++) {
                _cleanup_(freep) char *file = NULL;
                if (asprintf(&file, "%s/%s", path, names[i]) < 0) {
                        r = -ENOMEM;
                        break;
                }
                char *buf = NULL;
                size_t size = 0;
                r = read_file(fd, names[i], file, &buf, &size);
                if (r < 0)
                        break;
                r = parse_file(dir, file, buf, size);
                explicit_bzero(buf, size);
                free(buf);
        }
        fs_names_free(names, n);
        if (r < 0)
                return r;
        ca_log_debug("%s: credentials for %zu domain%s", path, dir->n, dir->n == 1 ? "" : "s");
        return 0;
}

int auth_config_load(const char *system_config, const char *local_config, auth_config **ret)
{
        auth_config *a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        const char *dirs[] = {system_config, local_config};
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                if (!dirs[i])
                        continue;
                auth_config dir = {};
                int r = load_dir(dirs[i], &dir);
                /* The later directory replaces the earlier one's entry for the same domain. */
                for (size_t j = 0; r >= 0 && j < dir.n; j++) {
                        auth_entry *e =
                            config_find(a, dir.entries[j].domain, dir.entries[j].docker);
                        if (e) {
                                entry_clear(e);
                                *e = dir.entries[j];
                        } else if ((r = config_grow(a)) >= 0) {
                                a->entries[a->n++] = dir.entries[j];
                        } else {
                                break;
                        }
                        dir.entries[j] = (auth_entry){};
                }
                for (size_t j = 0; j < dir.n; j++)
                        entry_clear(&dir.entries[j]);
                free(dir.entries);
                if (r < 0) {
                        auth_config_free(a);
                        return r;
                }
        }
        *ret = a;
        return 0;
}

/* ---------------------------------------------------------------- lookup */

/* The entry (of auth.d's "auth" kind, or "dockerAuth") for the URL's host[:port], or NULL. */
static const auth_entry *entry_for_url(const auth_config *a, const char *url, bool docker)
{
        if (!a || a->n == 0 || !url)
                return NULL;
        /* Parsed by libcurl's own URL parser, so the host is the one the transfer goes to. */
        CURLU *u = curl_url();
        if (!u)
                return NULL;
        char *host = NULL, *port = NULL, *key = NULL;
        const auth_entry *e = NULL;
        if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
                goto out;
        /* Only a port written in the URL counts, as rkt compares Go's url.URL.Host. */
        if (curl_url_get(u, CURLUPART_PORT, &port, 0) != CURLUE_OK)
                port = NULL;
        if (asprintf(&key, "%s%s%s", host, port ? ":" : "", port ? port : "") < 0) {
                key = NULL;
                goto out;
        }
        ascii_lower(key);
        e = config_find(a, key, docker);
out:
        curl_free(host);
        curl_free(port);
        free(key);
        curl_url_cleanup(u);
        return e;
}

const char *auth_config_header_for(const auth_config *a, const char *url)
{
        const auth_entry *e = entry_for_url(a, url, false);
        return e ? e->header : NULL;
}

const char *auth_config_registry_header_for(const auth_config *a, const char *url)
{
        const auth_entry *e = entry_for_url(a, url, true);
        if (e)
                return e->header;
        /* A basic "auth" entry's user and password serve as well; a bearer token does not (it
         * is no credential a token service takes). */
        const char *h = auth_config_header_for(a, url);
        return h && strncmp(h, "Authorization: Basic ", 21) == 0 ? h : NULL;
}

const s3_key *auth_config_s3_for(const auth_config *a, const char *url)
{
        const auth_entry *e = entry_for_url(a, url, false);
        return e && e->s3.access_key_id ? &e->s3 : NULL;
}
