/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The options every command that reads chunks shares: stores, parallelism, transport, seeds. */
#include <string.h>

#include "fetcher/cli/cli.h"

const char input_options_help[] =
    "Chunk sources and transport:\n"
    "  --store=DIR|URL        chunk store (repeatable); directories and file:// are tried\n"
    "                         in order, then the remote ones (https://, s3+https://, a\n"
    "                         registry's oci://HOST/REPOSITORY[:TAG]; http://, s3+http://\n"
    "                         and oci+http:// with --insecure-options=http), which are\n"
    "                         mirrors: downloads go to the one expected to answer first, a\n"
    "                         download far slower than recent ones is asked of another too,\n"
    "                         and a chunk missing or corrupt in one is taken from another.\n"
    "                         Default: default.castr beside the index, as casync\n"
    "  --jobs=N               chunks fetched and verified in parallel, and with a remote\n"
    "                         store exactly N requests in flight per server (default: one\n"
    "                         worker per CPU, at least 4, for local input; for remote\n"
    "                         stores a number that adapts to the link, up to 128)\n"
    "  --no-cache             do not keep downloaded chunks in the local chunk store\n"
    "  --rate-limit=BYTES     download at most BYTES per second (suffixes K, M, "
    "G)\n" TRANSPORT_OPTIONS_HELP
    "Credentials for https requests come from auth.d in --system-config and --local-config\n"
    "(rkt's format: basic and oauth; s3 for S3 stores; dockerAuth for "
    "registries).\n" S3_CREDENTIALS_HELP;

static int parse_uint(const char *s, const char *what, uint64_t max, uint64_t *ret)
{
        char *end = NULL;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        uint64_t mul = 1;
        if (end && *end) {
                if (strcmp(end, "K") == 0)
                        mul = 1024;
                else if (strcmp(end, "M") == 0)
                        mul = 1024 * 1024;
                else if (strcmp(end, "G") == 0)
                        mul = 1024 * 1024 * 1024;
                else
                        end = NULL;
        }
        uint64_t out;
        if (errno || !end || end == s || s[0] == '-' || MUL_OVERFLOW((uint64_t)v, mul, &out) ||
            out > max)
                return ca_log_errno(CA_LOG_ERR, -EINVAL, "%s: invalid value '%s'", what, s);
        *ret = out;
        return 0;
}

/* One host field of --connect-to: empty, a name or address without ':', or [IPv6]. Returns the
 * length, or -1. */
static ssize_t connect_to_host(const char *s)
{
        size_t n;
        if (*s == '[') {
                const char *close = strchr(s, ']');
                if (!close)
                        return -1;
                n = (size_t)(close - s) + 1;
        } else {
                n = strcspn(s, ":");
        }
        for (size_t i = 0; i < n; i++)
                if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f || strchr("/?#@", s[i]))
                        return -1;
        return (ssize_t)n;
}

/* One port field: empty or 1-65535 in decimal. Returns the length, or -1. */
static ssize_t connect_to_port(const char *s)
{
        size_t n = strspn(s, "0123456789");
        if (n == 0)
                return 0;
        if (n > 5 || s[0] == '0')
                return -1;
        unsigned long v = strtoul(s, NULL, 10);
        return v >= 1 && v <= 65535 ? (ssize_t)n : -1;
}

/* curl's HOST:PORT:CONNECT-HOST:CONNECT-PORT, each field possibly empty. */
static bool connect_to_valid(const char *s)
{
        for (int field = 0; field < 4; field++) {
                ssize_t n = field % 2 == 0 ? connect_to_host(s) : connect_to_port(s);
                if (n < 0)
                        return false;
                s += n;
                if (field < 3) {
                        if (*s != ':')
                                return false;
                        s++;
                }
        }
        return *s == 0;
}

static const char *env_nonempty(const char *name)
{
        const char *v = getenv(name);
        return v && *v ? v : NULL;
}

void input_args_s3_env(s3_key *ret)
{
        *ret = (s3_key){
            .access_key_id = env_nonempty("AWS_ACCESS_KEY_ID"),
            .secret_access_key = env_nonempty("AWS_SECRET_ACCESS_KEY"),
            .session_token = env_nonempty("AWS_SESSION_TOKEN"),
            /* AWS_DEFAULT_REGION is the older CLI's name for the same. */
            .region = env_nonempty("AWS_REGION") ?: env_nonempty("AWS_DEFAULT_REGION"),
        };
}

int input_args_init(input_args *a, int argc)
{
        *a = (input_args){};
        input_options *o = &a->o;
        transfer_options_init(&o->transfer);
        o->transfer.allow_http = arg_global.insecure & INSECURE_HTTP;
        o->transfer.insecure_tls = arg_global.insecure & INSECURE_TLS;
        /* As curl's tool: CURL_CA_BUNDLE, else SSL_CERT_FILE and SSL_CERT_DIR; --ca-cert, when
         * given, replaces all of them. Empty values count as unset. */
        const char *bundle = getenv("CURL_CA_BUNDLE");
        if (bundle && *bundle)
                o->transfer.ca_cert = bundle;
        else {
                const char *file = getenv("SSL_CERT_FILE"), *dir = getenv("SSL_CERT_DIR");
                o->transfer.ca_cert = file && *file ? file : NULL;
                o->transfer.ca_path = dir && *dir ? dir : NULL;
        }
        input_args_s3_env(&o->transfer.s3_env);
        o->config = arg_global.config;
        o->store_dir = arg_global.dir;
        a->stores = calloc((size_t)MAX(argc, 1), sizeof(char *));
        a->connect_to = calloc((size_t)MAX(argc, 1), sizeof(char *));
        a->seeds = calloc((size_t)MAX(argc, 1), sizeof(char *));
        if (!a->stores || !a->connect_to || !a->seeds) {
                input_args_done(a);
                return -ENOMEM;
        }
        o->stores = a->stores;
        o->transfer.connect_to = a->connect_to;
        o->seeds.paths = a->seeds;
        return 0;
}

void input_args_done(input_args *a)
{
        free(a->stores);
        free(a->connect_to);
        free(a->seeds);
        *a = (input_args){};
}

int input_args_parse(input_args *a, int c, const char *arg)
{
        input_options *o = &a->o;
        uint64_t v;
        int r = 0;
        switch (c) {
        case OPT_SEED:
                if (!*arg)
                        return ca_log_errno(CA_LOG_ERR, -EINVAL, "--seed wants a path");
                a->seeds[o->seeds.n++] = arg;
                return 1;
        case OPT_NO_AUTO_SEED:
                o->seeds.no_auto = true;
                return 1;
        case OPT_STORE:
                a->stores[o->n_stores++] = arg;
                return 1;
        case OPT_JOBS:
                r = parse_uint(arg, "--jobs", 256, &v);
                o->jobs = (unsigned)v;
                break;
        case OPT_CA_CERT:
                o->transfer.ca_cert = arg;
                o->transfer.ca_path = NULL;
                return 1;
        case OPT_CLIENT_CERT:
                o->transfer.client_cert = arg;
                return 1;
        case OPT_CLIENT_KEY:
                o->transfer.client_key = arg;
                return 1;
        case OPT_RATE_LIMIT:
                r = parse_uint(arg, "--rate-limit", UINT64_C(1) << 40, &v);
                o->transfer.rate_limit = v;
                break;
        case OPT_CONNECT_TIMEOUT:
                r = parse_uint(arg, "--connect-timeout", 3600, &v);
                o->transfer.connect_timeout = (unsigned)MAX(v, UINT64_C(1));
                break;
        case OPT_STALL_TIMEOUT:
                r = parse_uint(arg, "--stall-timeout", 3600, &v);
                o->transfer.stall_timeout = (unsigned)MAX(v, UINT64_C(1));
                break;
        case OPT_SPEED_LIMIT:
                r = parse_uint(arg, "--speed-limit", UINT64_C(1) << 40, &v);
                o->transfer.speed_limit = v;
                break;
        case OPT_MAX_TIME:
                r = parse_uint(arg, "--max-time", 86400, &v);
                o->transfer.max_time = (unsigned)v;
                break;
        case OPT_RETRIES:
                r = parse_uint(arg, "--retries", 100, &v);
                o->transfer.max_attempts = (unsigned)v + 1;
                break;
        case OPT_HTTP_VERSION:
                if (strcmp(arg, "1.1") == 0)
                        o->transfer.http2 = false;
                else if (strcmp(arg, "2") == 0)
                        o->transfer.http2 = true;
                else
                        return ca_log_errno(CA_LOG_ERR, -EINVAL,
                                            "--http-version wants 1.1 or 2, not '%s'", arg);
                return 1;
        case OPT_NO_CACHE:
                o->no_cache = true;
                return 1;
        case OPT_CONNECT_TO:
                if (!connect_to_valid(arg))
                        return ca_log_errno(CA_LOG_ERR, -EINVAL,
                                            "--connect-to wants HOST:PORT:CONNECT-HOST:"
                                            "CONNECT-PORT (ports 1-65535 or empty), not '%s'",
                                            arg);
                a->connect_to[o->transfer.n_connect_to++] = arg;
                return 1;
        default:
                return 0;
        }
        return r < 0 ? r : 1;
}
