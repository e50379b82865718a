/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libpublish: making images and publishing them. What `casync make` does (make_engine.c: a
 * .catar, or an index and chunk store, byte for byte as casync makes them, chunks hashed and
 * compressed on every core), one publish of an image (publish.c: name, manifest, archive, then
 * everything put in place in order), and the files of the document root it keeps
 * (publish_site.c).
 *
 * OUTDIR is the document root of the image name's host:
 *
 *   OUTDIR/default.castr/                    one chunk store for every image and version
 *   OUTDIR/<path>/index.html                 discovery page: ac-discovery (and -pubkeys) tags
 *   OUTDIR/<path>/<version>/<os>-<arch>.caidx        the image (.asc beside it when signed)
 *   OUTDIR/<path>/<version>/<os>-<arch>.caidx.profile  with --profile (and .profile.asc)
 *   OUTDIR/<path>/<version>/default.castr -> ../../default.castr   (relative symlink)
 *   OUTDIR/<path>/latest -> <version>        the latest version published (version order)
 *
 * <path> is the name without its host ("example.com/team/app" gives team/app). casync and
 * acfetch look for the store as default.castr beside the index, hence the symlinks (web servers
 * follow them by default). The discovery template is
 * BASE<path>/{version}/{os}-{arch}.caidx, so every version and platform has its own URL.
 *
 * With --to (an object store, publish_upload.c), where there are no symlinks, the image is
 * also copied to a flat layout per name, under the bucket's URL TO:
 *
 *   TO/<path>                                the discovery page (a path-style GET of it)
 *   TO/<path>/index.html                     the same page
 *   TO/<path>/<version>-<os>-<arch>.caidx    the image (.asc, .profile, .profile.asc beside)
 *   TO/<path>/latest-<os>-<arch>.caidx       a copy of the latest version's (and its files)
 *   TO/<path>/default.castr/                 the chunks of every version of this name
 *
 * whose template is BASE<path>/{version}-{os}-{arch}.caidx, BASE defaulting to TO.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "casync/casync.h"
#include "fetcher/source/source.h"
#include "fetcher/transfer/transfer.h"

/* ---------------------------------------------------------------- making archives (make_engine.c) */
typedef struct make_options {
        const char *store;      /* NULL: default.castr beside the index */
        uint64_t with, without; /* --with (0: casync's default set) and --without bits */
        bool exclude_nodump, exclude_submounts, exclude_file;
        ca_digest_type digest;
        uint64_t chunk_size_min, chunk_size_avg, chunk_size_max;
        ca_compression compression;
        int compression_level;
        unsigned jobs; /* hashing and compressing threads */
} make_options;
void make_options_init(make_options *o);
/* Checks what only the whole set can tell (the level against the format); logged. */
int make_options_check(const make_options *o);
/* The flags casync make would store: blob for a .caibx. */
uint64_t make_feature_flags(const make_options *o, bool blob);
/* casync's default store: the index path's last component replaced by default.castr. */
char *make_default_store(const char *index_path);

typedef struct make_target {
        const char *output; /* .catar, .caidx or .caibx */
        int source_fd;      /* directory, or regular file when blob; -1: synthetic root */
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

/* ---------------------------------------------------------------- the document root (publish_site.c) */

/* mkdir -p of OUTDIR/rel (rel may be empty), 0755. */
int publish_mkdirs(const char *outdir, const char *rel);
/* OUTDIR/rel/default.castr -> the shared store, relative; an existing correct link is kept, an
 * existing different entry is an error. */
int publish_store_link(const char *outdir, const char *rel);
/* Writes path atomically (temp file beside it, then rename), mode 0644. */
int publish_write_file(const char *path, const void *data, size_t size);
/* OUTDIR/rel/latest -> version, replaced atomically, unless it points to a later version
 * (dc_version_compare) that is still there and force is not set: latest never moves back. Left
 * alone when "latest" is something else than a symlink (a version named "latest"). */
int publish_latest_link(const char *outdir, const char *rel, const char *version, bool force);
/* The discovery page for name: template, and pubkeys URL (NULL for none). *ret malloc'ed. */
int publish_page(const char *name, const char *template, const char *pubkeys, char **ret);
/* gpg --batch --yes --detach-sign --armor --local-user KEYID --output SIG FILE, run with execvp
 * (no shell). */
int publish_sign(const char *keyid, const char *file, const char *sig);
/* Whether gpg has the secret key KEYID (gpg --list-secret-keys KEYID); logged when not. */
int publish_check_key(const char *keyid);

/* ---------------------------------------------------------------- one publish (publish.c) */
typedef struct publish_options {
        const char *name;     /* the image name */
        char *labels;         /* ",k=v,..." appended to name as discovery reads it, or NULL */
        const char *manifest; /* a manifest file to use, or NULL */
        char **exec;          /* the app of a generated manifest */
        size_t n_exec;
        const char *user, *group;
        const char *pubkeys;  /* an ac-discovery-pubkeys URL for the page, or NULL */
        const char *sign;     /* gpg key ID to sign the index with, or NULL */
        const char *profile;  /* an access profile to publish beside the index, or NULL */
        const char *base_url; /* default https://HOST/ */
        bool latest;          /* point latest to this version even if it is not the latest */
        const char *to;       /* an object store to copy the image to (s3+https://...), or NULL */
        transfer_engine *engine; /* the transfers to it (with to) */
        make_options make;
} publish_options;

/*
 * Publishes SOURCE (an image directory with manifest and rootfs/, or a bare rootfs) into the
 * document root outdir; *ret_url is the index URL (malloc'ed). Nothing of a failed publish is
 * left under a final name. Errors are logged.
 */
int publish_image(publish_options *o, const char *source, const char *outdir, char **ret_url);

/* ---------------------------------------------------------------- object stores (publish_upload.c) */
/* What one publish put in OUTDIR (paths; NULL for a file not published) and the page to serve. */
typedef struct publish_upload_files {
        const char *store; /* OUTDIR/default.castr */
        const char *index, *sig, *profile, *profile_sig;
        const char *name; /* the image's */
        const char *rel, *version, *os, *arch;
        const char *page; /* with the flat layout's template (object stores) */
        bool latest;      /* OUTDIR's latest points to this version */
} publish_upload_files;

/* A compressed chunk can be a bit larger than its data (incompressible input). */
#define PUBLISH_CHUNK_FILE_MAX ((size_t)CA_CHUNK_SIZE_LIMIT_MAX + (1 << 20))
/* A whole local file of at most max bytes; errors are logged. */
int publish_read_file(const char *path, size_t max, uint8_t **ret, size_t *ret_size);
/* fn(userdata, i) for i in [0, n) on a few dozen threads (the engine's adaptive limit decides
 * what runs at once); the first error stops the others and is returned. */
int publish_parallel(size_t n, int (*fn)(void *userdata, size_t i), void *userdata);
/* TO/rel/leaf (TO/leaf when rel is empty, TO/rel when leaf is), malloc'ed. */
char *publish_upload_url(const char *to, const char *rel, const char *leaf);
/* Copies the image to the object store TO, in the order that keeps readers safe (the chunks it
 * lacks, then signature, profile, index, latest, page). Errors are logged. */
int publish_upload(transfer_engine *e, const char *to, const publish_upload_files *f);

/* ---------------------------------------------------------------- registries (publish_registry.c) */
/* Copies the image to the registry TO (oci://REGISTRY/REPOSITORY[:TAG]) as source.h describes:
 * the blobs it lacks, the manifest, then the tags. The page stays in OUTDIR (a registry serves
 * no web pages): its template points at the registry. Errors are logged. */
int publish_registry(transfer_engine *e, const char *to, const publish_upload_files *f);
