/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libsource: where an archive's chunks come from, and the archive they make. A chunk source
 * tries the local chunk cache (the image store's chunks/), local stores, then remote stores, in
 * that order, verifying every chunk it downloads; seeds (data already on the machine) fill the
 * cache before anything is downloaded; an archive input turns a path or URL into an index,
 * its chunk sources and a decoded stream. A new kind of chunk store goes here, beside
 * chunk_source.c.
 */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>

#include "aci/aci.h"
#include "casync/casync.h"
#include "fetcher/transfer/transfer.h"

/* ---------------------------------------------------------------- chunk sources (chunk_source.c) */
typedef struct chunk_source chunk_source;

typedef struct chunk_source_stats {
        _Atomic uint64_t local_chunks, local_bytes;   /* served without a download */
        _Atomic uint64_t dedup_chunks;                /* of those: waited for another download */
        _Atomic uint64_t remote_chunks, remote_bytes; /* downloaded (uncompressed bytes) */
        _Atomic uint64_t wire_bytes;                  /* downloaded (bytes on the wire) */
        _Atomic uint64_t corrupt_chunks;              /* downloads rejected by verification */
        _Atomic uint64_t hedged;     /* slow downloads asked of a second store too */
        _Atomic uint64_t hedge_wins; /* of those: the second store's copy was used */
} chunk_source_stats;

/* cache: where verified downloads are kept (may be NULL); engine: for http(s) stores. */
int chunk_source_new(ca_store *cache, transfer_engine *engine, unsigned jobs, chunk_source **ret);
chunk_source *chunk_source_free(chunk_source *s);
/*
 * Downloads into the cache, when it is store's chunks/, are claimed against the other processes
 * of the store (see aci_chunk_claim_try): a chunk another process is downloading is waited for,
 * at most timeout seconds, instead of downloaded again. Without it (no store, --no-cache) every
 * process downloads what it lacks. Errors are logged.
 */
int chunk_source_set_claims(chunk_source *s, aci_store *store, unsigned timeout);
/* A directory, file:// URL or http(s):// URL; tried in the order added. */
int chunk_source_add(chunk_source *s, const char *location);
/* A registry, oci://REGISTRY/REPOSITORY[:TAG]: the chunks of the image tagged TAG, else of the
 * one published with this index (see registry_store.c); its manifest is read now. */
int chunk_source_add_registry(chunk_source *s, const char *location, const ca_index *index);
size_t chunk_source_n_stores(const chunk_source *s);
/* A ca_chunk_getter; userdata is the chunk_source. */
int chunk_source_get(void *userdata, const ca_index_item *item, ca_digest_type t, void *buf);
/* The same for a read a process is blocked on (a mount's): its downloads go before background
 * ones and do not wait for a request slot. */
int chunk_source_get_urgent(void *userdata, const ca_index_item *item, ca_digest_type t, void *buf);
const chunk_source_stats *chunk_source_get_stats(const chunk_source *s);
/* 1 if the cache or a local store holds a file for the chunk (not verified), else 0. */
int chunk_source_has_local(chunk_source *s, const ca_chunk_id *id);
bool chunk_source_is_remote(const chunk_source *s);
/* A store URL as casync uses it: no query, no trailing '/'. */
char *store_url_base(const char *url);

/* ---------------------------------------------------------------- registry stores (registry_store.c) */
/*
 * An image published to an OCI registry (publish --to oci://REGISTRY/REPOSITORY), under a tag
 * (VERSION-OS-ARCH, latest-OS-ARCH, and index-HEX, HEX the SHA-256 of the index file): an OCI
 * image manifest whose config is REGISTRY_MEDIA_CONFIG and whose layers are the index, its
 * signature, the access profile and its signature (each by its media type), and every chunk
 * file (.cacnk) as a blob of REGISTRY_MEDIA_CHUNK annotated with its chunk ID in hex. Images of
 * more than REGISTRY_CHUNKS_PER_MANIFEST chunks are parts (manifests of the same form, the
 * documents in the first) joined by an OCI image index under the tag.
 */
#define REGISTRY_MEDIA_CONFIG            "application/vnd.acfetch.image.config.v1+json"
#define REGISTRY_MEDIA_CAIDX             "application/vnd.casync.caidx.v1"
#define REGISTRY_MEDIA_CAIBX             "application/vnd.casync.caibx.v1"
#define REGISTRY_MEDIA_SIGNATURE         "application/vnd.acfetch.index.signature.v1+pgp"
#define REGISTRY_MEDIA_PROFILE           "application/vnd.acfetch.profile.v1"
#define REGISTRY_MEDIA_PROFILE_SIGNATURE "application/vnd.acfetch.profile.signature.v1+pgp"
#define REGISTRY_MEDIA_CHUNK             "application/vnd.casync.cacnk.v1"
#define REGISTRY_ANNOTATION_CHUNK        "org.casync.chunk.id"
/* About 230 bytes per chunk descriptor: a part stays under 2 MiB, half of what registries take. */
#define REGISTRY_CHUNKS_PER_MANIFEST 8192
/* "index-", 64 hex digits, NUL. */
#define REGISTRY_INDEX_TAG_SIZE (6 + 64 + 1)

typedef struct registry_blob {
        char digest[REGISTRY_DIGEST_SIZE]; /* "" when absent */
        uint64_t size;
} registry_blob;

typedef struct registry_chunk {
        ca_chunk_id id;
        registry_blob blob;
} registry_chunk;

typedef struct registry_image {
        registry_blob index, sig, profile, profile_sig;
        bool index_is_blob;     /* a .caibx */
        registry_chunk *chunks; /* sorted by ID, each once */
        size_t n_chunks;
} registry_image;

/*
 * Adds what one manifest lists to img (chunks unsorted); an image index instead gives its
 * parts' descriptors (parts: room for all, NULL where none may be: inside a part). Any bytes:
 * a malformed document is -EBADMSG, logged naming `what`.
 */
int registry_image_parse(const void *json, size_t size, const char *what, registry_image *img,
                         registry_blob *parts, size_t *n_parts);
/* Sorts what registry_image_parse added by chunk ID (the same chunk twice kept once), for
 * registry_image_chunk. */
void registry_image_sort(registry_image *img);
/* GETs the image `reference` (and its parts), sorted. -ENOENT, not logged, when the tag is not there;
 * other errors are logged. */
int registry_image_load(transfer_engine *e, const registry_ref *r, const char *reference,
                        registry_image *ret);
void registry_image_clear(registry_image *img);
/* The chunk's blob, NULL when the image does not list it. */
const registry_chunk *registry_image_chunk(const registry_image *img, const ca_chunk_id *id);
/* A manifest or image index to put, as JSON text. */
typedef struct registry_manifest {
        char *json;
        size_t size;
        char digest[REGISTRY_DIGEST_SIZE];
        const char *media_type;
} registry_manifest;
/* img (chunks sorted) as manifests for its config blob: the parts first, each put by its
 * digest, then the one to tag, last (the only one for an image of few chunks). */
int registry_image_serialize(const registry_image *img, const registry_blob *config,
                             registry_manifest **ret, size_t *n);
void registry_manifests_free(registry_manifest *m, size_t n);
/* The tag an index is found by: "index-" and the SHA-256 of its file. */
int registry_index_tag(const ca_index *index, char ret[REGISTRY_INDEX_TAG_SIZE]);
/*
 * GETs a document of an image in a registry: oci://REGISTRY/REPOSITORY:TAG is the index of
 * the image tagged TAG; TAG.asc, TAG.profile and TAG.profile.asc what is published beside it.
 * Returns as transfer_get (-ENOENT, not logged, for a document or tag that is not there).
 */
int registry_document_get(transfer_engine *e, const char *url, size_t max, transfer_response *ret);

/* ---------------------------------------------------------------- archive input (archive_input.c) */
typedef enum input_kind {
        INPUT_CATAR,
        INPUT_CAIDX,
        INPUT_CAIBX,
} input_kind;

/* Seeds named by the user: --seed values and --no-auto-seed. */
typedef struct seed_list {
        const char **paths; /* in order */
        size_t n;
        bool no_auto; /* leave out the automatic seeds */
} seed_list;

/* What an archive input reads from and how. Every pointer is borrowed. */
typedef struct input_options {
        const char *const *stores; /* chunk stores in order (paths, file://, http(s)://) */
        size_t n_stores;
        unsigned jobs;             /* 0: choose (CPUs for local input, more for remote) */
        transfer_options transfer; /* for anything remote */
        config_dirs config;        /* auth.d, loaded once something remote is read */
        const char *store_dir;     /* the image store whose chunks/ keeps what is read */
        bool no_cache;             /* do not keep downloaded chunks in the image store */
        bool cache_local;          /* keep the image store open for local input too (seeds) */
        seed_list seeds;
} input_options;

/* Remote work waits on the network: a worker per request the adaptive limit may allow (most
 * of them wait in the engine's queue while the limit is lower). */
#define INPUT_REMOTE_JOBS_DEFAULT TRANSFER_IN_FLIGHT_MAX

/*
 * The transfer engine for o's remote work: o->jobs requests in flight per origin if set, else a
 * limit that adapts to the link; with the auth.d credentials of o->config, loaded only now (a
 * broken auth.d never stops local work) into *ret_auth, which must outlive the engine. Errors
 * are logged.
 */
int input_options_open_engine(const input_options *o, auth_config **ret_auth,
                              transfer_engine **ret);

typedef struct archive_input {
        const char *location; /* path or URL as given */
        input_kind kind;
        ca_index *index;         /* CAIDX/CAIBX */
        transfer_engine *engine; /* when anything is remote */
        auth_config *auth;       /* auth.d, loaded with the engine */
        aci_store *store;        /* held (shared lock) while chunks go into its cache */
        bool own_store;          /* opened here (from store_dir), freed on close */
        ca_store *cache;         /* the store's chunks/, NULL without a store */
        chunk_source *source;
        unsigned jobs;
} archive_input;

/* What an index location holds, by its name (.caidx, .caibx); an oci:// image is an archive. */
ca_index_kind input_index_kind(const char *location);
/* Loads the index (downloading it if it is a URL) and sets up the chunk sources. */
int archive_input_open(archive_input *in, const char *location, const input_options *o);
/*
 * Sets up in->source for in->index found at location, with in->engine, in->cache and in->jobs
 * as the caller set them (a caller that shares one engine and store over several indexes):
 * in->cache first, then o->stores, else default.castr beside location.
 */
int archive_input_sources(archive_input *in, const char *location, const input_options *o);
/*
 * The same as archive_input_open for an index already in hand (a stored image's, or one fetched by the caller): takes
 * index; its chunk stores are o->stores, else default.castr beside index_url (NULL: the cache
 * alone). store, when not NULL, is borrowed instead of opening o->store_dir.
 */
int archive_input_open_index(archive_input *in, ca_index *index, const char *location,
                             const char *index_url, aci_store *store, const input_options *o);
void archive_input_close(archive_input *in);
/* Decodes a .catar or .caidx into the sink, ending with ca_decoder_finish. */
int archive_input_decode(archive_input *in, const ca_sink *sink);
/* Writes the stream of any input (the blob of a .caibx) to a writer. */
int archive_input_stream(archive_input *in, ca_stream_writer write, void *userdata);

/* ---------------------------------------------------------------- seeds (seed.c) */
typedef struct seed_target {
        const ca_index *index;     /* the index about to be read */
        bool blob;                 /* it is a .caibx: directories cannot seed it */
        aci_store *store;          /* its chunks/ keeps supplied chunks, its seeds/ the cuts */
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
