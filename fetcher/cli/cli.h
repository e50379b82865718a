/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The acfetch command line: global options, the command table, each command's option parsing
 * and help, and what the user sees (progress bar, summary, --json). Commands are leaves: they
 * parse, then call the engine libraries (transfer, source, pull, mount, publish) with explicit
 * options; nothing below this folder includes it. A new command is a cmd_NAME.c here, listed
 * in main.c's table and documented in doc/acfetch.1.
 */
#pragma once

#include <getopt.h>
#include <limits.h>
#include <stdbool.h>

#include "aci/aci.h"
#include "casync/casync.h"
#include "discovery/discovery.h"
#include "fetcher/mount/mount.h"
#include "fetcher/publish/publish.h"
#include "fetcher/pull/pull.h"
#include "fetcher/source/source.h"
#include "fetcher/transfer/transfer.h"

/* ---------------------------------------------------------------- global options (main.c) */
typedef struct global_options {
        const char *dir;   /* image store; resolved at startup */
        unsigned insecure; /* INSECURE_* */
        config_dirs config;
        bool debug;
        bool quiet;
        bool trust_keys_from_https; /* trust discovered https keys on first use (as rkt) */
} global_options;

extern global_options arg_global;

/* The exit status of every failure, a command line error too: rkt's (254). */
#define ACFETCH_EXIT_FAILURE 254

typedef struct command {
        const char *name;
        int (*run)(int argc, char **argv); /* argv[0] is the command name */
        const char *summary;
        const char *usage; /* full --help text */
        bool local_only;   /* reads no chunk store: its help has no transport options */
} command;

extern const command command_extract;
extern const command command_mtree;
extern const command command_fetch;
extern const command command_render;
extern const command command_export;
extern const command command_image;
extern const command command_gc;
extern const command command_verify;
extern const command command_trust;
extern const command command_make;
extern const command command_publish;
extern const command command_mount;

/* Prints the command's --help text to stdout. */
void command_help(const command *c);

/* ---------------------------------------------------------------- option parsing (options.c) */
/*
 * One command's getopt loop: options is the long option table (ending in {}), short the short
 * ones. For each option, handle(c, optarg, userdata) (NULL: the command has no options but
 * --help) returns 1 when it took it, 2 when it
 * printed what was asked for (like --with=help: nothing else is to be done), 0 when it did not
 * know it (the loop then fails: getopt said what was wrong), or a negative errno. -h and --help
 * print c's help. Returns 1 after --help (the caller returns 0), 0 when all went well,
 * (or after a handler's 2), 0 when all went well, or a negative errno; then argv[optind...] are the operands, and exactly n_args of them unless
 * n_args is negative (at least -n_args), else an error naming args_usage ("DEST and SRC"),
 * or "takes no arguments" when n_args is 0.
 */
typedef int (*option_handler)(int c, const char *arg, void *userdata);
/* n_args for a command that checks its operands itself. */
#define COMMAND_ARGS_ANY INT_MIN
int command_parse(const command *c, int argc, char **argv, const char *short_opts,
                  const struct option *options, option_handler handle, void *userdata, int n_args,
                  const char *args_usage);

/* ---------------------------------------------------------------- chunk source options (input_args.c) */
enum {
        OPT_STORE = 0x1000,
        OPT_JOBS,
        OPT_CA_CERT,
        OPT_CLIENT_CERT,
        OPT_CLIENT_KEY,
        OPT_RATE_LIMIT,
        OPT_CONNECT_TIMEOUT,
        OPT_STALL_TIMEOUT,
        OPT_SPEED_LIMIT,
        OPT_MAX_TIME,
        OPT_RETRIES,
        OPT_HTTP_VERSION,
        OPT_NO_CACHE,
        OPT_CONNECT_TO,
        OPT_SEED, /* SEED_LONG_OPTIONS, for the commands that take seeds */
        OPT_NO_AUTO_SEED,
        OPT_INPUT_LAST,
};

/* The transport options, which publish --to takes too. */
#define TRANSPORT_LONG_OPTIONS                                                                     \
        {"ca-cert", required_argument, NULL, OPT_CA_CERT},                                         \
            {"client-cert", required_argument, NULL, OPT_CLIENT_CERT},                             \
            {"client-key", required_argument, NULL, OPT_CLIENT_KEY},                               \
            {"connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT},                     \
            {"stall-timeout", required_argument, NULL, OPT_STALL_TIMEOUT},                         \
            {"speed-limit", required_argument, NULL, OPT_SPEED_LIMIT},                             \
            {"max-time", required_argument, NULL, OPT_MAX_TIME},                                   \
            {"retries", required_argument, NULL, OPT_RETRIES},                                     \
            {"http-version", required_argument, NULL, OPT_HTTP_VERSION},                           \
        {                                                                                          \
                "connect-to", required_argument, NULL, OPT_CONNECT_TO                              \
        }

#define INPUT_LONG_OPTIONS                                                                         \
        {"store", required_argument, NULL, OPT_STORE},                                             \
            {"jobs", required_argument, NULL, OPT_JOBS},                                           \
            {"rate-limit", required_argument, NULL, OPT_RATE_LIMIT},                               \
            {"no-cache", no_argument, NULL, OPT_NO_CACHE}, TRANSPORT_LONG_OPTIONS

/* Help text of TRANSPORT_LONG_OPTIONS. */
#define TRANSPORT_OPTIONS_HELP                                                                     \
        "  --ca-cert=FILE         trust the CAs in FILE (PEM) instead of the system's;\n"          \
        "                         without it, as curl: $CURL_CA_BUNDLE, else\n"                    \
        "                         $SSL_CERT_FILE and $SSL_CERT_DIR\n"                              \
        "  --client-cert=FILE     TLS client certificate (PEM)\n"                                  \
        "  --client-key=FILE      TLS client key (PEM)\n"                                          \
        "  --connect-timeout=S    seconds to resolve, connect and finish the TLS\n"                \
        "                         handshake (default 10)\n"                                        \
        "  --stall-timeout=S      seconds without data, the first byte of a response too,\n"       \
        "                         before a transfer is retried (default 20); a host that\n"        \
        "                         does not answer at all is tried twice\n"                         \
        "  --speed-limit=BYTES    retry a transfer that moves fewer than BYTES per second\n"       \
        "                         over a whole --stall-timeout period (suffixes K, M, G;\n"        \
        "                         default 1K; 0: no floor)\n"                                      \
        "  --max-time=S           seconds a discovery page, index, signature or key may\n"         \
        "                         take in all, retries included (default 300; 0: no\n"             \
        "                         limit; chunks have none)\n"                                      \
        "  --retries=N            attempts after the first on network errors, 5xx, 429\n"          \
        "                         (default 4)\n"                                                   \
        "  --http-version=V       2 (default; offered over TLS, measured faster) or 1.1\n"         \
        "  --connect-to=HOST:PORT:CONNECT-HOST:CONNECT-PORT\n"                                     \
        "                         send requests for HOST:PORT to\n"                                \
        "                         CONNECT-HOST:CONNECT-PORT, keeping the name for TLS and\n"       \
        "                         Host (as curl's --connect-to); image names cannot carry\n"       \
        "                         a port, so this points discovery at a test or mirror\n"          \
        "                         server (repeatable; an empty field matches any host or\n"        \
        "                         port, or keeps the original)\n"

/* Where S3 keys come from. */
#define S3_CREDENTIALS_HELP                                                                        \
        "S3 requests (s3+https://ENDPOINT/BUCKET/KEY) are signed with auth.d's s3 entry\n"         \
        "for the endpoint, else $AWS_ACCESS_KEY_ID, $AWS_SECRET_ACCESS_KEY,\n"                     \
        "$AWS_SESSION_TOKEN and $AWS_REGION (default us-east-1); without a key they go\n"          \
        "unsigned (a public bucket).\n"

/* What INPUT_LONG_OPTIONS and SEED_LONG_OPTIONS fill in, with the arrays behind it. */
typedef struct input_args {
        input_options o; /* what the engine takes */
        const char **stores;
        const char **connect_to;
        const char **seeds;
} input_args;

extern const char input_options_help[];

/* Defaults, with the global options applied; room for argc --store, --connect-to, --seed. */
int input_args_init(input_args *a, int argc);
/* The S3 key in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
 * AWS_REGION): the transfer engine signs s3+ requests with it where auth.d has none. */
void input_args_s3_env(s3_key *ret);
void input_args_done(input_args *a);
/* 1 if c was one of INPUT_LONG_OPTIONS or SEED_LONG_OPTIONS (applied), 0 if not, negative on a
 * bad value (logged). */
int input_args_parse(input_args *a, int c, const char *arg);

#define SEED_LONG_OPTIONS                                                                          \
        {"seed", required_argument, NULL, OPT_SEED},                                               \
        {                                                                                          \
                "no-auto-seed", no_argument, NULL, OPT_NO_AUTO_SEED                                \
        }

/* ---------------------------------------------------------------- make options (make_args.c) */
enum {
        OPT_MAKE_STORE = 0x2000,
        OPT_MAKE_CHUNK_SIZE,
        OPT_MAKE_WITH,
        OPT_MAKE_WITHOUT,
        OPT_MAKE_DIGEST,
        OPT_MAKE_COMPRESSION,
        OPT_MAKE_COMPRESSION_LEVEL,
        OPT_MAKE_EXCLUDE_NODUMP,
        OPT_MAKE_EXCLUDE_SUBMOUNTS,
        OPT_MAKE_EXCLUDE_FILE,
        OPT_MAKE_JOBS,
        OPT_MAKE_LAST,
};

#define MAKE_LONG_OPTIONS                                                                          \
        {"store", required_argument, NULL, OPT_MAKE_STORE},                                        \
            {"chunk-size", required_argument, NULL, OPT_MAKE_CHUNK_SIZE},                          \
            {"with", required_argument, NULL, OPT_MAKE_WITH},                                      \
            {"without", required_argument, NULL, OPT_MAKE_WITHOUT},                                \
            {"digest", required_argument, NULL, OPT_MAKE_DIGEST},                                  \
            {"compression", required_argument, NULL, OPT_MAKE_COMPRESSION},                        \
            {"compression-level", required_argument, NULL, OPT_MAKE_COMPRESSION_LEVEL},            \
            {"exclude-nodump", required_argument, NULL, OPT_MAKE_EXCLUDE_NODUMP},                  \
            {"exclude-submounts", required_argument, NULL, OPT_MAKE_EXCLUDE_SUBMOUNTS},            \
            {"exclude-file", required_argument, NULL, OPT_MAKE_EXCLUDE_FILE},                      \
        {                                                                                          \
                "jobs", required_argument, NULL, OPT_MAKE_JOBS                                     \
        }

/* Help text of MAKE_LONG_OPTIONS. */
#define MAKE_OPTIONS_HELP                                                                          \
        "Archive options (as casync make's):\n"                                                    \
        "  --store=DIR            chunk store (default: default.castr beside the index)\n"         \
        "  --chunk-size=MIN:AVG:MAX|AVG|auto\n"                                                    \
        "                         chunk sizes (default 16K:64K:256K); AVG alone means\n"           \
        "                         AVG/4:AVG:AVG*4\n"                                               \
        "  --with=FEATURE         store only the listed features\n"                                \
        "                         (repeatable; --with=help)\n"                                     \
        "  --without=FEATURE      leave a feature out (repeatable),\n"                             \
        "                         e.g. --without=user-names\n"                                     \
        "  --digest=DIGEST        sha512-256 (default) or sha256\n"                                \
        "  --compression=FORMAT   chunk compression: zstd (default), xz or gzip\n"                 \
        "  --compression-level=N  zstd 1..19 (default 3), xz 0..9 (6), gzip 1..9 (6)\n"            \
        "  --exclude-nodump=BOOL  leave out files with chattr +d (default yes)\n"                  \
        "  --exclude-submounts=BOOL  leave out other mounts (default no)\n"                        \
        "  --exclude-file=BOOL    recorded in the flags; .caexclude files are honoured\n"          \
        "                         either way, as casync 2 does\n"                                  \
        "  --jobs=N               threads hashing and compressing chunks\n"                        \
        "                         (default: one per CPU)\n"
/* 1 if c was one of MAKE_LONG_OPTIONS (applied), 2 if it was --with=help (the feature names
 * were printed: nothing else to do), 0 if not, negative on a bad value (logged). */
int make_options_parse(make_options *o, int c, const char *arg);

/* ---------------------------------------------------------------- images named on the command line (image_args.c) */
/* The store under --dir, logged on failure. */
int open_image_store(aci_store **ret);
/* --pull-policy's value (new, update, never), logged when it is none of them. */
int parse_pull_policy(const char *s, pull_policy *ret);
/* An image named on the command line: an ID (prefix) or a name with labels (store lookup). */
int resolve_image_arg(aci_store *s, const char *arg, aci_image_record *ret);
/* Both: the store under --dir in *ret_store (freed by the caller, also on failure) and the
 * image arg names in it. */
int open_image_arg(const char *arg, aci_store **ret_store, aci_image_record *ret);

/* ---------------------------------------------------------------- the progress line (progress.c) */
/*
 * One line on stderr, redrawn in place, when stderr is a terminal and info messages are shown
 * (otherwise nothing is drawn; the calls still work). It takes over ca_log's output while it
 * lives, so messages clear it first, and gives ca_log the space note: what the current phase
 * needed on dir's file system (NULL: no note).
 */
typedef struct progress progress;
int progress_new(const char *dir, progress **ret);
progress *progress_free(progress *p);
/* The line says "NAME: WHAT"; in: a download (its chunks' figures; valid until the next call);
 * tree_bytes: what the phase writes besides chunks. */
void progress_set(progress *p, const char *name, const char *what, const archive_input *in,
                  uint64_t tree_bytes);
/* No line until the next progress_set. */
void progress_clear(progress *p);
/* The distinct chunks no local store held when the download began. */
uint64_t progress_needed_chunks(progress *p);

/* ---------------------------------------------------------------- what the user sees (report.c) */
typedef struct report report;
int report_start(const archive_input *in, const char *dest, bool json, report **ret);
/* Stops the progress line; prints the summary (stderr) and, with json, the object (stdout). */
int report_finish(report *r, int result);
/* Chunks the seeds stored before the extraction (reported as chunks_seeded). */
void report_set_seeded(report *r, uint64_t n);
/* The fetch pipeline's progress hooks: the phases on the progress line and one summary line per
 * image. userdata is the progress (report_fetch_progress(p)). */
fetch_progress report_fetch_progress(progress *p);
/* "N chunk" or "N chunks". */
const char *report_plural(uint64_t n, const char *one, const char *many);
