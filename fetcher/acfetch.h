/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The acfetch command: global options and the subcommands. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>

#include "aci/aci.h"
#include "casync/casync.h"
#include "discovery/discovery.h"

/* rkt's --insecure-options words. */
enum {
        INSECURE_HTTP = 1 << 0,
        INSECURE_TLS = 1 << 1,
        INSECURE_IMAGE = 1 << 2,
        INSECURE_PUBKEY = 1 << 3,
        INSECURE_ONDISK = 1 << 4,
};

typedef struct global_options {
        const char *dir; /* image store; resolved at startup */
        unsigned insecure;
        const char *system_config;
        const char *local_config;
        bool debug;
        bool quiet;
        bool trust_keys_from_https; /* trust discovered https keys on first use (as rkt) */
} global_options;

extern global_options arg_global;

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

/* ---- transfer.c: the transfer engine. One thread drives libcurl's multi interface with many
 * requests in flight over reused connections; any thread submits a GET and waits for its body. Retries, timeouts,
 * body caps, TLS policy and the rate limit live here so no caller can forget them.
 */
typedef struct transfer_options {
        unsigned max_in_flight;   /* concurrent requests */
        bool allow_http;          /* --insecure-options=http */
        bool insecure_tls;        /* --insecure-options=tls: no peer or host verification */
        const char *ca_cert;      /* PEM bundle replacing the system CAs */
        const char *client_cert;  /* PEM client certificate */
        const char *client_key;   /* PEM client key */
        uint64_t rate_limit;      /* bytes per second over all transfers, 0 = none */
        unsigned connect_timeout; /* seconds */
        unsigned stall_timeout;   /* seconds without a byte before a transfer is dropped */
        unsigned max_attempts;    /* per request, first try included */
        bool http2;               /* offer HTTP/2 over TLS (multiplexed) */
        /* auth.d credentials: each https request to a listed host[:port] gets its
         * Authorization header (never plain http; libcurl drops it on a redirect to another
         * host, port or scheme). NULL for none; must outlive the engine. */
        const struct auth_config *auth;
        /* --connect-to entries, curl's HOST:PORT:CONNECT-HOST:CONNECT-PORT (not copied: they
         * must outlive transfer_engine_new, which builds its own list). */
        const char *const *connect_to;
        size_t n_connect_to;
} transfer_options;

void transfer_options_init(transfer_options *o);

typedef struct transfer_engine transfer_engine;

typedef struct transfer_response {
        long status;     /* HTTP status of the last attempt, 0 if none */
        uint8_t *body;   /* malloc'ed, NULL when empty */
        size_t size;
        char *etag;      /* ETag header, if any */
        int64_t max_age; /* Cache-Control max-age, -1 when absent */
        unsigned attempts;
} transfer_response;

void transfer_response_clear(transfer_response *r);

int transfer_engine_new(const transfer_options *o, transfer_engine **ret);
void transfer_engine_free(transfer_engine *e);

/*
 * GETs url (http/https) and waits. Returns 0 with status 200 and the body; -ENOENT for 404/410
 * (not logged: "not in this store" is normal); other failures are logged once, naming the URL,
 * after retries: -EFBIG (body over max_size), -EPROTO (refused redirect, bad protocol),
 * -EPERM (TLS verification failed), -ETIMEDOUT, -EIO (other HTTP status, network errors).
 * headers, if set, is a NULL-terminated array of "Name: value" lines (e.g. If-None-Match; a 304
 * then returns 0 with status 304 and no body); a line with CR or LF is refused (-EINVAL). An
 * https URL whose host[:port] has auth.d credentials gets their Authorization header unless
 * headers has one; an http URL only gets one passed in headers.
 */
int transfer_get(transfer_engine *e, const char *url, size_t max_size, const char *const *headers,
                 transfer_response *ret);
/* TRANSFER_QUIET: failures after retries are logged at debug level only, for callers that
 * expect some (the discovery walk tries URLs that need not exist). TRANSFER_NO_RETRY: one attempt,
 * for a request with a fallback (discovery's https attempt when http may follow). */
enum { TRANSFER_QUIET = 1 << 0, TRANSFER_NO_RETRY = 1 << 1 };
int transfer_get_flags(transfer_engine *e, const char *url, size_t max_size,
                       const char *const *headers, unsigned flags, transfer_response *ret);

typedef struct transfer_stats {
        uint64_t requests;   /* attempts sent */
        uint64_t retries;    /* attempts that were retries */
        uint64_t bytes;      /* body bytes received */
} transfer_stats;

void transfer_engine_stats(transfer_engine *e, transfer_stats *ret);

/* true for http:// and https:// URLs (case-insensitive scheme). */
bool url_is_http(const char *url);

/* ---- chunk_source.c: the local cache, local stores, then remote stores, in that order */
typedef struct chunk_source chunk_source;

typedef struct chunk_source_stats {
        _Atomic uint64_t local_chunks, local_bytes; /* served without a download */
        _Atomic uint64_t dedup_chunks;              /* of those: waited for another download */
        _Atomic uint64_t remote_chunks, remote_bytes; /* downloaded (uncompressed bytes) */
        _Atomic uint64_t wire_bytes;                /* downloaded (bytes on the wire) */
        _Atomic uint64_t corrupt_chunks;            /* downloads rejected by verification */
} chunk_source_stats;

/* cache: where verified downloads are kept (may be NULL); engine: for http(s) stores. */
int chunk_source_new(ca_store *cache, transfer_engine *engine, unsigned jobs, chunk_source **ret);
chunk_source *chunk_source_free(chunk_source *s);
/* A directory, file:// URL or http(s):// URL; tried in the order added. */
int chunk_source_add(chunk_source *s, const char *location);
size_t chunk_source_n_stores(const chunk_source *s);
/* A ca_chunk_getter; userdata is the chunk_source. */
int chunk_source_get(void *userdata, const ca_index_item *item, ca_digest_type t, void *buf);
const chunk_source_stats *chunk_source_get_stats(const chunk_source *s);
/* 1 if the cache or a local store holds a file for the chunk (not verified), else 0. */
int chunk_source_has_local(chunk_source *s, const ca_chunk_id *id);
bool chunk_source_is_remote(const chunk_source *s);
/* A store URL as casync uses it: no query, no trailing '/'. */
char *store_url_base(const char *url);

/* ---- archive_input.c: decode an archive named on the command line (path or URL) */
typedef enum input_kind {
        INPUT_CATAR,
        INPUT_CAIDX,
        INPUT_CAIBX,
} input_kind;

/* --seed values and --no-auto-seed (seed.c), for the commands that list SEED_LONG_OPTIONS. */
typedef struct seed_list {
        const char **paths; /* --seed values, in order */
        size_t n;
        bool no_auto; /* --no-auto-seed */
} seed_list;

typedef struct input_options {
        char **stores; /* --store values, in order */
        size_t n_stores;
        unsigned jobs;          /* 0: choose (CPUs for local input, more for remote) */
        transfer_options transfer;
        bool no_cache;          /* do not keep downloaded chunks in <dir>/chunks */
        bool cache_local;       /* open <dir>/chunks for local input too (seeds fill it) */
        const char **connect_to; /* --connect-to values (transfer.connect_to points here) */
        struct auth_config *auth; /* auth.d, from input_options_load_auth (transfer.auth) */
        seed_list seeds;
} input_options;

typedef struct archive_input {
        const char *location; /* path or URL as given */
        input_kind kind;
        ca_index *index;      /* CAIDX/CAIBX */
        transfer_engine *engine; /* when anything is remote */
        ca_store *cache;
        chunk_source *source;
        unsigned jobs;
} archive_input;

/* Loads the index (downloading it if it is a URL) and sets up the chunk sources. */
int archive_input_open(archive_input *in, const char *location, input_options *o);
/*
 * Sets up in->source for the index in->index found at location: in->cache (may be NULL) first,
 * then --store values, else default.castr beside location. in->engine serves remote stores.
 */
int archive_input_sources(archive_input *in, const char *location, const input_options *o);
void archive_input_close(archive_input *in);
/* Decodes a .catar or .caidx into the sink, ending with ca_decoder_finish. */
int archive_input_decode(archive_input *in, const ca_sink *sink);
/* Writes the stream of any input (the blob of a .caibx) to a writer. */
int archive_input_stream(archive_input *in, ca_stream_writer write, void *userdata);
/* Opens (creating it 0700) the store directory --dir and its chunk cache. */
int open_chunk_cache(ca_store **ret);

/* ---- input_options.c: the options every command that reads chunks shares */
enum {
        OPT_STORE = 0x1000,
        OPT_JOBS,
        OPT_CA_CERT,
        OPT_CLIENT_CERT,
        OPT_CLIENT_KEY,
        OPT_RATE_LIMIT,
        OPT_CONNECT_TIMEOUT,
        OPT_STALL_TIMEOUT,
        OPT_RETRIES,
        OPT_HTTP_VERSION,
        OPT_NO_CACHE,
        OPT_CONNECT_TO,
        OPT_SEED, /* SEED_LONG_OPTIONS, for the commands that take seeds */
        OPT_NO_AUTO_SEED,
        OPT_INPUT_LAST,
};

#define INPUT_LONG_OPTIONS                                                                         \
        {"store", required_argument, NULL, OPT_STORE},                                             \
        {"jobs", required_argument, NULL, OPT_JOBS},                                               \
        {"ca-cert", required_argument, NULL, OPT_CA_CERT},                                         \
        {"client-cert", required_argument, NULL, OPT_CLIENT_CERT},                                 \
        {"client-key", required_argument, NULL, OPT_CLIENT_KEY},                                   \
        {"rate-limit", required_argument, NULL, OPT_RATE_LIMIT},                                   \
        {"connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT},                         \
        {"stall-timeout", required_argument, NULL, OPT_STALL_TIMEOUT},                             \
        {"retries", required_argument, NULL, OPT_RETRIES},                                         \
        {"http-version", required_argument, NULL, OPT_HTTP_VERSION},                               \
        {"no-cache", no_argument, NULL, OPT_NO_CACHE},                                             \
        {"connect-to", required_argument, NULL, OPT_CONNECT_TO}

extern const char input_options_help[];

/* Defaults, with --insecure-options applied; room for argc --store, --connect-to and --seed. */
int input_options_init(input_options *o, int argc);
/* Loads the auth.d credentials of --system-config and --local-config (an error there fails),
 * once; only commands that go to the network call it, so a broken auth.d never stops --help or
 * local work. */
int input_options_load_auth(input_options *o);
void input_options_done(input_options *o);
/* 1 if c was one of INPUT_LONG_OPTIONS (applied), 0 if not, negative on a bad value. */
int input_options_parse(input_options *o, int c, const char *arg);

/* ---- image_fetch.c: one image by name, into the image store */
typedef enum pull_policy {
        PULL_NEW,    /* the store first; the network only when it has no match */
        PULL_UPDATE, /* discovery, then the index revalidated (ETag, max-age) */
        PULL_NEVER,  /* the store only */
} pull_policy;

typedef struct fetch_stats {
        uint64_t chunks, chunks_local, chunks_downloaded, bytes_downloaded;
        uint64_t chunks_seeded; /* of chunks_local: what seeds supplied first */
} fetch_stats;

typedef struct fetch_context {
        aci_store *store;
        transfer_engine *engine;
        const input_options *io;
        const struct auth_config *auth;
        pull_policy policy;
        bool render;
        bool no_same_owner;
        const struct seed_list *seeds; /* --seed, --no-auto-seed */
        /* per top-level fetch */
        bool changed;      /* the name now gives another image than before (or a first one) */
        fetch_stats stats; /* summed over the image and its dependencies */
        /* internal */
        archive_input in;  /* the index being decoded */
        unsigned n_trees;  /* names of work trees */
        unsigned depth;
        const char *chain[ACI_RENDER_DEPTH_MAX + 1]; /* names being fetched, for cycles */
} fetch_context;

/*
 * Fetches img (name and labels, os/arch already defaulted) as the pull policy says, with its
 * dependencies, and renders its tree unless ctx->render is false. *ret is the stored image.
 */
int fetch_image(fetch_context *ctx, const dc_image *img, aci_image_record *ret);

/* ---- file_output.c: a file that appears under its name only when complete */
/* Fills a file through write(write_userdata, ...); returns 0 or a negative errno. */
typedef int (*file_producer)(void *userdata, ca_stream_writer write, void *write_userdata);
/*
 * Writes dest through a temp file beside it (mode 0666 minus the umask), filled by produce,
 * synced when sync is set, then renamed over dest; on any failure the temp file is removed and
 * dest is untouched. Failures of its own file operations are logged; produce logs its own.
 */
int write_file_atomic(const char *dest, bool sync, file_producer produce, void *userdata);
/* The same with the file's mode given. */
int write_file_atomic_mode(const char *dest, mode_t mode, bool sync, file_producer produce,
                           void *userdata);

/* ---- seed.c: chunks from data already here (directories, files, indexes with their data) */
#define SEED_LONG_OPTIONS                                                                          \
        {"seed", required_argument, NULL, OPT_SEED},                                               \
        {"no-auto-seed", no_argument, NULL, OPT_NO_AUTO_SEED}

/* 1 if c was one of SEED_LONG_OPTIONS (applied), 0 if not, negative on a bad value. */
int seed_list_parse(seed_list *l, int c, const char *arg);

typedef struct seed_target {
        const ca_index *index;     /* the index about to be read */
        bool blob;                 /* it is a .caibx: directories cannot seed it */
        ca_store *store;           /* where supplied chunks are kept */
        chunk_source *source;      /* what is local already; NULL: the store alone */
        const atomic_bool *cancel; /* set: stop reading seeds (-ECANCELED); may be NULL */
} seed_target;

/*
 * Brings into t->store every chunk the seed can supply that t->index lists and is not local yet
 * (nothing is read when all are). The seed is a directory (encoded with the index's flags), a
 * file (its bytes), or an index X.caidx|X.caibx whose data is X. Each chunk is hashed as read,
 * so a changed seed never supplies wrong data. The cut of a directory or file is cached under
 * <dir>/seeds/ per seed state (paths, types, modes, owners, sizes, mtimes, ctimes, inodes), so
 * an unchanged seed is not cut again: only the chunks it supplies are read. Returns how many
 * chunks it stored (it can supply no more than the index lists), or a negative errno.
 */
int seed_apply(const seed_target *t, const char *seed);
/* The --seed values in order (a failure fails), then auto_seed (may be NULL) unless
 * --no-auto-seed (a failure there is only logged); returns the chunks they stored, summed. */
int seed_apply_list(const seed_target *t, const seed_list *l, const char *auto_seed);
/* The newest rendered tree of an image called name (malloc'ed path), or NULL. */
char *seed_newest_tree(aci_store *s, const char *name);

/* A request's labels as the image store and the manifest check take them (strings borrowed
 * from img); malloc'ed, NULL when out of memory. */
aci_label *image_request_labels(const dc_image *img);
/* An image named on the command line: an ID (prefix) or a name with labels (store lookup). */
int resolve_image_arg(aci_store *s, const char *arg, aci_image_record *ret);
/* The store under --dir, logged on failure. */
int open_image_store(aci_store **ret);

/* ---- image_verify.c: the index signature (fetched as <index URL>.asc) */
typedef struct index_signature {
        uint8_t *data; /* the signature file as served, NULL when not checked */
        size_t size;
        aci_pgp_signer signer;
} index_signature;
void index_signature_done(index_signature *s);
/* Signatures are checked unless --insecure-options=image. */
bool fetch_verifying(void);
/* Should discovery look for ac-discovery-pubkeys? (--trust-keys-from-https and no key trusted
 * for a prefix of the name yet.) */
bool fetch_wants_pubkeys(const dc_image *img);
/*
 * Before anything under the index is requested: with verification on, trusts the keys at
 * pubkeys_url on first use when --trust-keys-from-https says so, GETs the signature and
 * verifies index against the trust store for img->name. Off, one warning. Failures are logged
 * as one line. *ret holds the signature and its signer.
 */
int fetch_verify_index(fetch_context *ctx, const dc_image *img, const char *url,
                       const char *pubkeys_url, const void *index, size_t size,
                       index_signature *ret);
/* Once the image is accepted: prints "signature verified: USER ID" and copies the signer
 * into the record (nothing when the signature was not checked). */
int index_signature_accept(const index_signature *s, aci_image_record *r);

/* ---- pubkeys.c: public keys for the trust store */
/* Reads keys from a file or an https:// URL (http:// with --insecure-options=http,pubkey). */
int pubkeys_load(transfer_engine *e, const char *location, aci_pgp_key ***ret, size_t *n);
/* The ac-discovery-pubkeys URL for prefix, by meta discovery; -ENOENT (logged with what was
 * tried) when there is none. */
int pubkeys_discover(transfer_engine *e, const struct auth_config *auth, const char *prefix,
                     char **ret_url);

/* ---- report.c: progress bar (stderr, TTY only), summary line, --json */
typedef struct report report;
int report_start(const archive_input *in, const char *dest, bool json, report **ret);
/* Stops the progress bar; prints the summary (stderr) and, with json, the object (stdout). */
int report_finish(report *r, int result);
/* Chunks the seeds stored before the extraction (reported as chunks_seeded). */
void report_set_seeded(report *r, uint64_t n);

/* ---- auth.c: rkt's auth.d credentials. *.json files (not recursing; the names do not matter)
 * in <system-config>/auth.d, then <local-config>/auth.d; the later directory replaces the
 * earlier one's credentials per domain, while the same domain twice in one directory is an
 * error. Files: {"rktKind":"auth","rktVersion":"v1","domains":["host[:port]",...],
 * "type":"basic","credentials":{"user":U,"password":P}} or "type":"oauth" with
 * "credentials":{"token":T}. "type":"aws" and rktKind "dockerAuth" are ignored with a
 * warning; anything else malformed, a symlink or a non-regular file is an error naming the
 * file. Credentials are never logged.
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

/* ---- make_engine.c: what `casync make` does, shared by `make` and `publish` */
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
        {"chunk-size", required_argument, NULL, OPT_MAKE_CHUNK_SIZE},                              \
        {"with", required_argument, NULL, OPT_MAKE_WITH},                                          \
        {"without", required_argument, NULL, OPT_MAKE_WITHOUT},                                    \
        {"digest", required_argument, NULL, OPT_MAKE_DIGEST},                                      \
        {"compression", required_argument, NULL, OPT_MAKE_COMPRESSION},                            \
        {"compression-level", required_argument, NULL, OPT_MAKE_COMPRESSION_LEVEL},                \
        {"exclude-nodump", required_argument, NULL, OPT_MAKE_EXCLUDE_NODUMP},                      \
        {"exclude-submounts", required_argument, NULL, OPT_MAKE_EXCLUDE_SUBMOUNTS},                \
        {"exclude-file", required_argument, NULL, OPT_MAKE_EXCLUDE_FILE},                          \
        {"jobs", required_argument, NULL, OPT_MAKE_JOBS}

typedef struct make_options {
        const char *store; /* NULL: default.castr beside the index */
        uint64_t with, without; /* --with (0: casync's default set) and --without bits */
        bool exclude_nodump, exclude_submounts, exclude_file;
        ca_digest_type digest;
        uint64_t chunk_size_min, chunk_size_avg, chunk_size_max;
        ca_compression compression;
        int compression_level;
        unsigned jobs;   /* hashing and compressing threads */
        bool help_shown; /* --with=help printed the names */
} make_options;

/* Help text of MAKE_LONG_OPTIONS. */
#define MAKE_OPTIONS_HELP \
        "Archive options (as casync make's):\n" \
        "  --store=DIR            chunk store (default: default.castr beside the index)\n" \
        "  --chunk-size=MIN:AVG:MAX|AVG|auto\n" \
        "                         chunk sizes (default 16K:64K:256K); AVG alone means\n" \
        "                         AVG/4:AVG:AVG*4\n" \
        "  --with=FEATURE         store only the listed features (repeatable; --with=help)\n" \
        "  --without=FEATURE      leave a feature out (repeatable), e.g. --without=user-names\n" \
        "  --digest=DIGEST        sha512-256 (default) or sha256\n" \
        "  --compression=FORMAT   chunk compression: zstd (default), xz or gzip\n" \
        "  --compression-level=N  zstd 1..19 (default 3), xz 0..9 (6), gzip 1..9 (6)\n" \
        "  --exclude-nodump=BOOL  leave out files with chattr +d (default yes)\n" \
        "  --exclude-submounts=BOOL  leave out other mounts (default no)\n" \
        "  --exclude-file=BOOL    recorded in the flags; .caexclude files are honoured either\n" \
        "                         way, as casync 2 does\n" \
        "  --jobs=N               threads hashing and compressing chunks (default: one per CPU)\n"
void make_options_init(make_options *o);
/* 1 if c was one of MAKE_LONG_OPTIONS (applied), 0 if not, negative on a bad value (logged). */
int make_options_parse(make_options *o, int c, const char *arg);
/* Checks what only the whole set can tell (the level against the format); logged. */
int make_options_check(const make_options *o);
/* The flags casync make would store: blob for a .caibx. */
uint64_t make_feature_flags(const make_options *o, bool blob);
/* casync's default store: the index path's last component replaced by default.castr. */
char *make_default_store(const char *index_path);

typedef struct make_target {
        const char *output;      /* .catar, .caidx or .caibx */
        int source_fd;           /* directory, or regular file when blob; -1: synthetic root */
        bool blob;
        const char *source_name; /* for messages */
        const struct stat *root; /* synthetic root: its metadata and children */
        const ca_encode_entry *entries;
        size_t n_entries;
} make_target;

typedef struct make_stats {
        ca_encode_stats encode;
        ca_chunk_pipeline_stats chunks;
} make_stats;

/* Makes the output; *ret_digest (optional) is the digest of the whole stream, as casync make
 * prints it. Errors are logged. */
int make_run(const make_options *o, const make_target *t, ca_chunk_id *ret_digest,
             make_stats *ret_stats);
