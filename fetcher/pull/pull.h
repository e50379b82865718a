/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libpull: an image by its appc name, into the image store. Meta discovery over HTTP, the pull
 * policy, the index (revalidated with its ETag and max-age) and its OpenPGP signature checked
 * against the trust store before any chunk is requested, one pass over the archive that checks
 * the ACI layout and manifest, renders the tree and computes the image ID, then the
 * dependencies. The first half alone (resolve: up to the verified index) serves a mount by
 * name, which records the image from the local chunks once it has them all. Also the public
 * keys the trust store takes (files, https, discovery).
 */
#pragma once

#include <stdbool.h>

#include "aci/aci.h"
#include "discovery/discovery.h"
#include "fetcher/source/source.h"
#include "fetcher/transfer/transfer.h"

/* ---------------------------------------------------------------- discovery over HTTP (discovery_http.c) */
/* The page fetcher the discovery walk calls (dc_http_get), over the transfer engine. */
typedef struct discovery_http {
        transfer_engine *engine;
        const auth_config *auth; /* also sent on plain http discovery requests, as rkt does */
        bool http_fallback;      /* http may follow a failed https attempt: no retries on it */
        /* Set by discovery_http_get: "scheme://authority" that gave no response at all (the
         * engine said why, once). The walk's further levels there are not asked. */
        char failed[4][256];
        unsigned n_failed;
} discovery_http;
int discovery_http_get(void *userdata /* discovery_http* */, const char *url, size_t max_size,
                       long *status, uint8_t **body, size_t *size);

/* ---------------------------------------------------------------- fetching an image (image_fetch.c) */
typedef enum pull_policy {
        PULL_NEW,    /* the store first; the network only when it has no match */
        PULL_UPDATE, /* discovery, then the index revalidated (ETag, max-age) */
        PULL_NEVER,  /* the store only */
} pull_policy;

typedef struct fetch_stats {
        uint64_t chunks, chunks_local, chunks_downloaded, bytes_downloaded;
        uint64_t chunks_seeded; /* of chunks_local: what seeds supplied first */
} fetch_stats;

typedef enum fetch_phase {
        FETCH_DISCOVERING, /* meta discovery and the index */
        FETCH_VERIFYING,   /* the index's signature */
        FETCH_SEEDING,     /* --seed data and the previous tree */
        FETCH_DOWNLOADING, /* the chunks, through the checks (and into the tree) */
        FETCH_RENDERING,   /* the tree: dependencies merged, installed */
        FETCH_STORING,     /* the image into the store, without a tree */
} fetch_phase;

typedef enum fetch_outcome {
        FETCH_NEW,          /* the index was downloaded and the image read from its chunks */
        FETCH_NOT_MODIFIED, /* the server said so (304, or the same index again) */
        FETCH_FRESH,        /* the stored index is within its max-age: not asked again */
        FETCH_FROM_STORE,   /* pull policy new or never: a stored image */
} fetch_outcome;

/* Shows a fetch to the user (the command line's progress line and summary); each may be NULL. */
typedef struct fetch_progress {
        /* A phase of fetching name begins. in: while downloading, the archive input (its index
         * and chunk source), valid until the next call; tree_bytes: what the phase writes
         * besides chunks (the tree), 0 when nothing or not known. */
        void (*phase)(void *userdata, const char *name, fetch_phase phase, const archive_input *in,
                      uint64_t tree_bytes);
        /* name is done (result < 0: failed, already logged): how, its record (NULL on failure)
         * and what this image alone took (not its dependencies), in seconds. */
        void (*done)(void *userdata, const char *name, int result, fetch_outcome how,
                     const aci_image_record *r, const fetch_stats *s, double seconds);
        void *userdata;
} fetch_progress;

typedef struct fetch_context {
        aci_store *store;
        transfer_engine *engine;
        const input_options *io;        /* chunk stores, jobs, seeds */
        const struct auth_config *auth; /* for discovery requests over plain http */
        unsigned insecure;              /* INSECURE_* bits */
        config_dirs config;             /* the trust store */
        bool trust_keys_from_https;     /* trust discovered https keys on first use */
        pull_policy policy;
        bool render;
        bool no_same_owner;
        fetch_progress progress;
        /* per top-level fetch */
        bool changed;            /* the name now gives another image than before (or a first one) */
        fetch_stats stats;       /* summed over the image and its dependencies */
        fetch_stats image_stats; /* internal: the image being fetched alone */
        /* Fetching by URL or path (fetch_location): the index there, whose manifest names the
         * image; NULL when fetching by name. Never applies to dependencies (depth > 0). */
        const char *location;
        /* internal */
        const void *loc_index; /* by location: the index and signature checked once the */
        size_t loc_index_size; /* manifest names the image (fetch_verify_signer) */
        const void *loc_sig;
        size_t loc_sig_size;
        archive_input in; /* the index being decoded */
        unsigned n_trees; /* names of work trees */
        unsigned depth;
        const char *chain[ACI_RENDER_DEPTH_MAX + 1]; /* names being fetched, for cycles */
} fetch_context;

/*
 * Fetches img (name and labels, os/arch already defaulted) as the pull policy says, with its
 * dependencies, and renders its tree unless ctx->render is false. *ret is the stored image.
 * With ctx->location set, img->name is that location and the index comes from there instead of
 * discovery (see fetch_location).
 */
int fetch_image(fetch_context *ctx, const dc_image *img, aci_image_record *ret);
/* The top-level image is fetched by URL or path, not by name. */
static inline bool fetch_by_location(const fetch_context *ctx)
{
        return ctx->location && ctx->depth == 0;
}

/* ---------------------------------------------------------------- what fetch takes (image_source.c) */
typedef enum image_source_kind {
        IMAGE_SOURCE_NAME,       /* an appc name: discovery */
        IMAGE_SOURCE_URL,        /* an https:// (or http://) URL of an index */
        IMAGE_SOURCE_INDEX_PATH, /* a local .caidx */
        IMAGE_SOURCE_ACI_PATH,   /* a local .aci file */
} image_source_kind;
/*
 * Tells a name from a URL or path as rkt does: a URL has a scheme (docker: is refused with one
 * line, other schemes but http, https and file too); then an absolute path, an existing regular
 * file, are paths; a ':' makes a name; "./" or a name ending in .aci or .caidx makes a path;
 * the rest are names. A path is an index when it ends in .caidx, else an ACI. Errors are
 * logged.
 */
int image_source_classify(const char *arg, image_source_kind *ret);
/* What fetch reads as an image: a URL of a .caidx, or an oci:// registry reference. */
bool image_url_is_index(const char *url);
/* A local path (absolute, as fetch_location makes it) rather than a URL? */
bool image_source_is_path(const char *location);
/* GETs a URL, or reads a local file (at most max bytes; -ENOENT quietly when missing, other
 * errors logged), into *ret (status 200, body, size; max_age -1). */
int image_source_get(transfer_engine *e, const char *location, size_t max,
                     const char *const *headers, transfer_response *ret);
/*
 * Fetches the image at arg (a URL or path of the given kind, not a name): its index from there,
 * its chunks from ctx->io's stores or default.castr beside it, the signature at arg + ".asc"
 * verified against the keys trusted for the name its manifest gives; URLs revalidated with
 * ETag and max-age as discovered indexes are. A .aci file is imported (fetch_import_aci).
 */
int fetch_location(fetch_context *ctx, const char *arg, image_source_kind kind,
                   aci_image_record *ret);

/* ---------------------------------------------------------------- the index signature (image_verify.c) */
typedef struct index_signature {
        uint8_t *data; /* the signature file as served, NULL when not checked */
        size_t size;
        aci_pgp_signer signer;
} index_signature;
void index_signature_done(index_signature *s);
/* "<URL>.asc", the suffix before any query or fragment; "<path>.asc" for a path (malloc'ed). */
char *signature_url(const char *url);
/* Signatures are checked unless --insecure-options=image. */
bool fetch_verifying(const fetch_context *ctx);
/* Should discovery look for ac-discovery-pubkeys? (--trust-keys-from-https and no key trusted
 * for a prefix of the name yet.) */
bool fetch_wants_pubkeys(const fetch_context *ctx, const dc_image *img);
/*
 * The signature of the index at url asked for now, while the index itself downloads: one round
 * trip instead of two before the first chunk. NULL when it is not checked or url is not http(s)
 * (fetch_verify_index then gets it itself) or the request could not be made.
 */
transfer_request *fetch_signature_submit(fetch_context *ctx, const char *url);
/*
 * Before anything under the index is requested: with verification on, trusts the keys at
 * pubkeys_url on first use when --trust-keys-from-https says so, GETs the signature (or takes
 * early, from fetch_signature_submit for the same url; always consumed) and verifies index
 * against the trust store for img->name. Off, one warning. Failures are logged as one line.
 * *ret holds the signature and its signer.
 */
int fetch_verify_index(fetch_context *ctx, const dc_image *img, const char *url,
                       const char *pubkeys_url, const void *index, size_t size,
                       transfer_request *early, index_signature *ret);
/* By location: the manifest names the image; the signature checked against every trusted key
 * must be by a key trusted for that name. Logged. */
int fetch_verify_signer(fetch_context *ctx, const char *name);
/* Once the image is accepted: prints "signature verified: USER ID" and copies the signer
 * into the record (nothing when the signature was not checked). */
int index_signature_accept(const index_signature *s, aci_image_record *r);

/*
 * Stores an image from an index made here (an imported .aci): its chunks are in the local store
 * already; index_path is the index (for messages and chunk sources), url what the record names.
 * sig was checked by the caller over what was imported (not kept beside the index, which it
 * does not sign). With ctx->location set, the manifest's name is checked against the signer.
 */
int fetch_import_index(fetch_context *ctx, const char *index_path, const char *url,
                       const void *index, size_t index_size, const index_signature *sig,
                       aci_image_record *ret);

/* ---------------------------------------------------------------- resolving by name (image_resolve.c) */
/*
 * Resolves img as fetch_image does, up to the index and its signature, without decoding
 * anything (fetch_image is fetch_resolve, then the decode): the pull policy, meta discovery,
 * the index revalidated with its ETag and max-age, its signature verified against the trust
 * store (the same rules, options and messages). Failures are logged as one line.
 * how == FETCH_NEW: url, index (the response: body, ETag, max-age), sig and prev (what the
 * same URL gave before, when have_prev) describe a new index. Otherwise record is the stored
 * image to use, checked against the request (its chunks, tree and dependencies not looked at).
 */
typedef struct image_resolution {
        fetch_outcome how;
        aci_image_record record;
        char *url;
        transfer_response index;
        index_signature sig;
        aci_image_record prev;
        bool have_prev;
} image_resolution;
int fetch_resolve(fetch_context *ctx, const dc_image *img, image_resolution *ret);
void image_resolution_done(image_resolution *r);
/*
 * Reads the manifest from the first entries of the archive in (in->index, chunks through
 * in->source: only those the manifest needs) and checks it against img with
 * fetch_check_manifest, so that a wrong image is refused before it is served. Errors logged.
 */
int fetch_peek_manifest(fetch_context *ctx, const dc_image *img, archive_input *in);

/*
 * The one way an image becomes a record when its chunks are all in the local store already: res
 * (a FETCH_NEW resolution of img, see fetch_resolve) is decoded from ctx->store's chunks/ alone,
 * no network (layout and manifest checked, the image ID hashed), and stored as fetch_image
 * stores it (record, index, signature, manifest), then its dependencies (and its tree when
 * ctx->render). A mount by name calls it once its prefetch completed. Errors logged.
 */
int fetch_record_local(fetch_context *ctx, const dc_image *img, const image_resolution *res,
                       aci_image_record *ret);
/* Checks a manifest's name and labels against the request img (aci_manifest_matches); a
 * mismatch is refused in one line naming url, unless --insecure-options=image (a warning). */
int fetch_check_manifest(const fetch_context *ctx, const dc_image *img, const char *url,
                         const aci_manifest *m);
/* Internal to libpull: the progress callback's phase, and a record's fetch time set to now. */
void fetch_report_phase(fetch_context *ctx, const char *name, fetch_phase ph,
                        const archive_input *in, uint64_t tree_bytes);
void fetch_record_touch(aci_image_record *r);

/* ---------------------------------------------------------------- published profiles (published_profile.c) */
typedef struct published_profile_options {
        transfer_engine *engine;
        config_dirs config; /* the trust store */
        unsigned insecure;  /* INSECURE_IMAGE: the signature is not checked */
        const char *name;   /* the image's name: the signer must be trusted for it */
        const char *index_url;
} published_profile_options;
/*
 * The access profile published beside the index (index_url + ".profile"), its signature
 * (+ ".profile.asc") verified against the keys trusted for name, as the index's is. -ENOENT
 * (debug message only) when none is published; anything else wrong (unsigned, a bad signature,
 * not a valid profile) is one warning naming the URL, and an error. Quiets other messages while
 * it runs (they go to --debug): call it before starting threads.
 */
int fetch_published_profile(const published_profile_options *o, aci_profile *ret);

/* ---------------------------------------------------------------- importing a .aci (image_import.c) */
/*
 * `fetch FILE.aci` (location: its absolute path): the file is copied into the store's work
 * directory, its signature (location + ".asc") verified over the copy's bytes against every
 * trusted key (then the signer must be trusted for the manifest's name), the tar unpacked there
 * (manifest and rootfs/ only; see ca_tar_extract) and archived as `acfetch publish` archives a
 * directory, chunked into the local store, then stored and rendered as any fetched image: the
 * image ID is that of the canonical tar (`acfetch export`). Errors logged once.
 */
int fetch_import_aci(fetch_context *ctx, const char *location, aci_image_record *ret);

/* ---------------------------------------------------------------- public keys (pubkeys.c) */
/* Reads keys from a file or an https:// URL (http:// only when insecure has both
 * INSECURE_HTTP and INSECURE_PUBKEY, as rkt's --insecure-options=http,pubkey). */
int pubkeys_load(transfer_engine *e, unsigned insecure, const char *location, aci_pgp_key ***ret,
                 size_t *n);
/* The ac-discovery-pubkeys URL for prefix, by meta discovery; -ENOENT (logged with what was
 * tried) when there is none. */
int pubkeys_discover(transfer_engine *e, const auth_config *auth, unsigned insecure,
                     const char *prefix, char **ret_url);
