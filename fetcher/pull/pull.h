/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libpull: an image by its appc name, into the image store. Meta discovery over HTTP, the pull
 * policy, the index (revalidated with its ETag and max-age) and its OpenPGP signature checked
 * against the trust store before any chunk is requested, one pass over the archive that checks
 * the ACI layout and manifest, renders the tree and computes the image ID, then the
 * dependencies. Also the public keys the trust store takes (files, https, discovery).
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

/* Shows a download to the user (the command line's progress bar); both may be NULL. */
typedef struct fetch_progress {
        /* Called before the archive of in->index is read; *ret is handed to finish. */
        int (*start)(void *userdata, const archive_input *in, const char *what, void **ret);
        /* Called once it is read, with the result; returns the result to go on with. */
        int (*finish)(void *handle, int result);
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
        bool changed;      /* the name now gives another image than before (or a first one) */
        fetch_stats stats; /* summed over the image and its dependencies */
        /* internal */
        archive_input in; /* the index being decoded */
        unsigned n_trees; /* names of work trees */
        unsigned depth;
        const char *chain[ACI_RENDER_DEPTH_MAX + 1]; /* names being fetched, for cycles */
} fetch_context;

/*
 * Fetches img (name and labels, os/arch already defaulted) as the pull policy says, with its
 * dependencies, and renders its tree unless ctx->render is false. *ret is the stored image.
 */
int fetch_image(fetch_context *ctx, const dc_image *img, aci_image_record *ret);

/* ---------------------------------------------------------------- the index signature (image_verify.c) */
typedef struct index_signature {
        uint8_t *data; /* the signature file as served, NULL when not checked */
        size_t size;
        aci_pgp_signer signer;
} index_signature;
void index_signature_done(index_signature *s);
/* Signatures are checked unless --insecure-options=image. */
bool fetch_verifying(const fetch_context *ctx);
/* Should discovery look for ac-discovery-pubkeys? (--trust-keys-from-https and no key trusted
 * for a prefix of the name yet.) */
bool fetch_wants_pubkeys(const fetch_context *ctx, const dc_image *img);
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

/* ---------------------------------------------------------------- public keys (pubkeys.c) */
/* Reads keys from a file or an https:// URL (http:// only when insecure has both
 * INSECURE_HTTP and INSECURE_PUBKEY, as rkt's --insecure-options=http,pubkey). */
int pubkeys_load(transfer_engine *e, unsigned insecure, const char *location, aci_pgp_key ***ret,
                 size_t *n);
/* The ac-discovery-pubkeys URL for prefix, by meta discovery; -ENOENT (logged with what was
 * tried) when there is none. */
int pubkeys_discover(transfer_engine *e, const auth_config *auth, unsigned insecure,
                     const char *prefix, char **ret_url);
