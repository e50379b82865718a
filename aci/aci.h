/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libaci: appc images on top of the casync engine. Holds the image manifest (strict parsing and
 * validation, reading it out of a tree), whether an image matches a requested name and labels,
 * the image store under --dir (records, trees and their records, locks, the shared chunk store,
 * pins) and its gc, decoding, exporting and rendering stored images, and the trust store (rkt's
 * trustedkeys/, verification through aci/openpgp/openpgp.h). The appc grammar is discovery's
 * (discovery/discovery.h).
 *
 * Conventions as in casync.h: functions return 0 (or a documented non-negative value) or a
 * negative errno; bad input is logged once, naming `what` (a path or URL), and gives -EBADMSG.
 * Strings a manifest hands out are borrowed from it and live as long as it does.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "casync/casync.h"
#include "aci/openpgp/openpgp.h"
#include "discovery/discovery.h"

/* Input caps: refused with a clear message before anything is allocated for them. */
#define ACI_MANIFEST_SIZE_MAX  (UINT64_C(1) << 20) /* bytes of JSON */
#define ACI_LABELS_MAX         1024                /* labels (also per dependency) */
#define ACI_ANNOTATIONS_MAX    1024
#define ACI_DEPENDENCIES_MAX   256
#define ACI_PATH_WHITELIST_MAX 65536
#define ACI_EXEC_MAX           4096 /* arguments of exec (app and event handlers) */
#define ACI_APP_ITEMS_MAX      1024 /* environment, mountPoints, ports, isolators, GIDs each */

/* ---------------------------------------------------------------- manifest (manifest.c) */
typedef struct aci_label {
        const char *name;
        const char *value;
} aci_label;

typedef struct aci_dependency {
        const char *image_name; /* AC Identifier */
        const char *image_id;   /* NULL when absent */
        aci_label *labels;
        size_t n_labels;
        bool has_size;
        uint64_t size; /* meaningful when has_size */
} aci_dependency;

typedef struct aci_event_handler {
        const char *name; /* "pre-start" or "post-stop" */
        const char **exec;
        size_t n_exec;
} aci_event_handler;

typedef struct aci_mount_point {
        const char *name; /* AC Name */
        const char *path;
        bool read_only;
} aci_mount_point;

typedef struct aci_port {
        const char *name; /* AC Name */
        const char *protocol;
        uint16_t port;  /* 1..65535 */
        uint32_t count; /* >= 1, port + count - 1 <= 65535 */
        bool socket_activated;
} aci_port;

typedef struct aci_isolator {
        const char *name; /* AC Identifier */
        json_t *value;    /* borrowed, not interpreted */
} aci_isolator;

typedef struct aci_app {
        const char **exec; /* may be empty; exec[0] is absolute when present */
        size_t n_exec;
        const char *user, *group;
        const char *working_directory; /* NULL when unset, else absolute */
        aci_label *environment;        /* {name, value} */
        size_t n_environment;
        aci_event_handler *event_handlers;
        size_t n_event_handlers;
        aci_mount_point *mount_points;
        size_t n_mount_points;
        aci_port *ports;
        size_t n_ports;
        aci_isolator *isolators;
        size_t n_isolators;
        uint32_t *supplementary_gids;
        size_t n_supplementary_gids;
} aci_app;

typedef struct aci_manifest aci_manifest;

/*
 * Parses and validates an image manifest held in memory (need not be NUL-terminated). `what`
 * names it in messages. Input over ACI_MANIFEST_SIZE_MAX is refused before parsing; syntax errors
 * name the line and column; duplicate keys and trailing data are errors; unknown fields are kept
 * in the JSON but otherwise ignored.
 */
int aci_manifest_parse(const char *json, size_t size, const char *what, aci_manifest **ret);
/*
 * Reads dir_fd/name (one path component, e.g. "manifest") and parses it. Refuses a symlink, any
 * non-regular file (a FIFO is never waited on) and a file over ACI_MANIFEST_SIZE_MAX, with a
 * message naming `what`. -EBADMSG for those, the real errno for I/O failures (-ENOENT, ...),
 * -EINVAL if name is not a single component. Every failure is logged.
 */
int aci_manifest_load_at(int dir_fd, const char *name, const char *what, aci_manifest **ret);
aci_manifest *aci_manifest_free(aci_manifest *m);
static inline void aci_manifest_freep(aci_manifest **m)
{
        aci_manifest_free(*m);
}

const char *aci_manifest_name(const aci_manifest *m);
const char *aci_manifest_ac_version(const aci_manifest *m);
/* Labels in manifest order; *n may not be NULL. */
const aci_label *aci_manifest_labels(const aci_manifest *m, size_t *n);
/* The value of label `name`, or NULL. */
const char *aci_manifest_label(const aci_manifest *m, const char *name);
const aci_label *aci_manifest_annotations(const aci_manifest *m, size_t *n);
const char *aci_manifest_annotation(const aci_manifest *m, const char *name);
/* Dependencies in manifest order (the order rendering depends on). */
const aci_dependency *aci_manifest_dependencies(const aci_manifest *m, size_t *n);
/* Absolute paths; *n == 0 means "keep everything", as the spec says of an empty list. */
const char *const *aci_manifest_path_whitelist(const aci_manifest *m, size_t *n);
/* NULL when the manifest has no app. */
const aci_app *aci_manifest_app(const aci_manifest *m);
/* The parsed JSON object (borrowed: json_incref it to keep it past aci_manifest_free). */
json_t *aci_manifest_json(const aci_manifest *m);

/* aci_image_matches on the manifest's name and labels, with subject "manifest". */
int aci_manifest_matches(const aci_manifest *m, const char *name, const aci_label *labels,
                         size_t n_labels, char **why);

/* ---------------------------------------------------------------- matching (match.c) */
/* The value of label `name` in a list, or NULL. */
const char *aci_labels_get(const aci_label *labels, size_t n_labels, const char *name);
/*
 * Is the image (name, labels: from its manifest or its store record) the one that was asked for
 * (want_name, want)? The name must be equal and every requested label must be among the image's
 * with the same value (extra image labels are fine). Returns 1 on a match, 0 on a mismatch
 * (then, if why is non-NULL, *why is a malloc'ed one-line reason naming `subject`, e.g. "label
 * version=2.0 requested, manifest has version=1.0", "image name a does not match requested b"),
 * -ENOMEM if the reason can't be allocated. Quoted input is cut at 64 bytes, non-printables '?'.
 */
int aci_image_matches(const char *name, const aci_label *labels, size_t n_labels,
                      const char *want_name, const aci_label *want, size_t n_want,
                      const char *subject, char **why);
/* A request's labels (a parsed appc name) as aci_labels, strings borrowed from img; malloc'ed,
 * NULL when out of memory. */
aci_label *aci_request_labels(const dc_image *img);

/* ------------------------------------------------ image store (image_store.c, store_lookup.c) */
/*
 * The store under --dir:
 *   chunks/xxxx/<id>.cacnk       casync chunk store shared by every image
 *   images/<key>/                index.caidx, manifest, image.json (the source record)
 *   trees/<key>/                 manifest, rootfs/, rendered.stat (its record, see
 *                                tree_check.c), rendered (written last, after a sync)
 *   locks/store.lock             shared by every process, exclusive for gc
 *   locks/<key>.lock             held while images/<key> or trees/<key> change
 *   tmp/work-XXXXXX/             one per process (aci_store_tmp), flocked exclusive while it
 *                                lives; reclaimed by the next open once its owner is gone
 *   tmp/work-XXXXXX/pin-N.caidx  a copy of an index the process serves (aci_store_pin_index):
 *                                while the directory's flock is held, gc keeps its chunks
 *   seeds/<path key>-<state>.ca?x  how seeds were cut (aci_store_seeds); gc drops the ones
 *                                unused for ACI_SEED_CACHE_DAYS
 *   profiles/<sha256 of name>    what a mount of the name read first (profile.c); gc keeps it
 * <key> is "sha512-" and the first 64 hex digits of the image ID, as rkt keys its store.
 * Objects appear under their final names only when complete (temp name, then rename).
 */
#define ACI_SEED_CACHE_DAYS 30
#define ACI_ID_SIZE         (7 + 128 + 1) /* "sha512-" + 128 hex + NUL */
#define ACI_KEY_SIZE        (7 + 64 + 1)

typedef struct aci_store aci_store;

typedef struct aci_image_record {
        char id[ACI_ID_SIZE];   /* full image ID */
        char key[ACI_KEY_SIZE]; /* directory name under images/ and trees/ */
        char *name;             /* from the manifest */
        aci_label *labels;      /* from the manifest, owned */
        size_t n_labels;
        char *index_url;          /* where the index came from (NULL for a local import) */
        char *etag;               /* the index response's ETag, NULL when none */
        int64_t max_age;          /* Cache-Control max-age of that response, -1 when none */
        int64_t fetched;          /* when the index was last fetched or revalidated (Unix s) */
        int64_t fetched_nsec;     /* and its nanoseconds: orders fetches within one second */
        uint64_t size;            /* bytes of the canonical tar (the image's size) */
        bool latest;              /* fetched without a version label */
        char index_digest[65];    /* SHA-256 of the index file, hex */
        char *signer;             /* user ID of the key that signed the index, when verified */
        char *signer_fingerprint; /* its primary key's fingerprint; NULL: index not verified */
} aci_image_record;

void aci_image_record_done(aci_image_record *r);
void aci_image_records_free(aci_image_record *r, size_t n);
/* Was a fetched (or revalidated) after b? */
bool aci_record_newer(const aci_image_record *a, const aci_image_record *b);
/* "sha512-<64 hex>" from a full ID. */
void aci_key_from_id(const char *id, char key[ACI_KEY_SIZE]);

/* Opens (creating its directories 0700, whatever the umask) the store, takes the shared store
 * lock, held until freed, and reclaims the work directories of processes that are gone. */
int aci_store_open(const char *dir, aci_store **ret);
aci_store *aci_store_free(aci_store *s);
static inline void aci_store_freep(aci_store **s)
{
        aci_store_free(*s);
}
const char *aci_store_path(const aci_store *s);
int aci_store_fd(const aci_store *s);
/* The shared chunk store (chunks/). */
ca_store *aci_store_chunks(const aci_store *s);
/* Turns the store lock exclusive (gc), waiting for other processes with a message. */
int aci_store_lock_exclusive(aci_store *s);

/* This process's private work directory under tmp/ (created on first use): an fd and its path,
 * owned by the store (valid until aci_store_free, which removes the directory). */
int aci_store_tmp(aci_store *s, int *ret_fd, const char **ret_path);
/* The cache of seed cuts, seeds/ (created 0700 on first use): an fd and its path, owned by the
 * store (closed by aci_store_free). ret_path may be NULL. */
int aci_store_seeds(aci_store *s, int *ret_fd, const char **ret_path);

/*
 * Pins an index: writes a copy of it as pin-N.caidx into this process's work directory (temp
 * name, then rename). Until the process frees the store or exits, gc keeps every chunk the index
 * lists, even once aci_store_unlock let gc run. Pin while still holding the store lock: gc cannot
 * run between opening the store and the pin. Errors are logged.
 */
int aci_store_pin_index(aci_store *s, const ca_index *index);
/*
 * Drops this process's shared store lock, so a gc no longer waits for it; the store stays open
 * and the work directory and its pins stay alive (gc keeps pinned chunks, and may remove any
 * other chunk, tree or image meanwhile). For a long-lived reader such as mount: open, pin, unlock.
 */
void aci_store_unlock(aci_store *s);
/* Calls fn for each pin of a live work directory (any process's, this one's included), in no
 * particular order; stops at the first error fn returns. Unreadable pins are errors (logged). */
int aci_store_pins(aci_store *s, int (*fn)(const ca_index *index, void *userdata), void *userdata);

/*
 * Chunk claims (chunk_claim.c): a process about to download a chunk into chunks/ claims it
 * (an flock on locks/chunk-<id>.claim), so another process of the store waits for that download
 * instead of repeating it. aci_store_claims_open returns an fd of the claims directory (the
 * caller closes it). aci_chunk_claim_try returns 1 with the claim's fd in *ret_fd, 0 when
 * another process holds the claim, or a negative errno (not logged: claims only save work).
 * aci_chunk_claim_release lets go (fd < 0: nothing to do); a dead owner's claim goes with it.
 */
int aci_store_claims_open(aci_store *s);
int aci_chunk_claim_try(int claims_fd, const ca_chunk_id *id, int *ret_fd);
void aci_chunk_claim_release(int claims_fd, const ca_chunk_id *id, int fd);
/* Removes the claim files of processes that died mid-download (gc); returns how many. */
uint64_t aci_chunk_claims_sweep(aci_store *s);

/* Exclusive lock on one image (locks/<key>.lock); returns the fd to close. */
int aci_store_lock_image(aci_store *s, const char *key);

/* Every readable record (unreadable ones are warned about and skipped). */
int aci_store_list(aci_store *s, aci_image_record **ret, size_t *n);
/* By key or full ID. -ENOENT when absent. */
int aci_store_get(aci_store *s, const char *key_or_id, aci_image_record *ret);
/*
 * Resolves an ID as rkt does: "sha512-" and at least 2 hex digits, used as a prefix (cut to the
 * key's length). -ENOENT (none), -ENOTUNIQ (ambiguous), -EINVAL (not an ID); logged.
 */
int aci_store_resolve_id(aci_store *s, const char *id, aci_image_record *ret);
/* The same without logging (a miss is expected). */
int aci_store_resolve_id_quiet(aci_store *s, const char *id, aci_image_record *ret);
/*
 * The image for a name and labels, as rkt's store lookup picks it: every label must be in the
 * manifest with the same value; without a version label, images fetched as "latest" first (the
 * most recently fetched of them), then the later version label (dc_version_compare); then the
 * most recently fetched. -ENOENT when none.
 */
int aci_store_find(aci_store *s, const char *name, const aci_label *labels, size_t n_labels,
                   aci_image_record *ret);
/* The most recently fetched image whose index came from url; -ENOENT when none. */
int aci_store_find_by_url(aci_store *s, const char *url, aci_image_record *ret);

/*
 * Adds an image: images/<key>/ with the index and manifest bytes and the record, written under a
 * temp name and renamed. If the image is there already, only its record is replaced (the
 * caller's is newer). Takes the image lock.
 */
int aci_store_add(aci_store *s, const aci_image_record *r, const void *index, size_t index_size,
                  const void *manifest, size_t manifest_size);
/* The same, with the index's detached signature (images/<key>/index.caidx.asc) when signature
 * is non-NULL; for an image already there, the signature is written beside it too. */
int aci_store_add_signed(aci_store *s, const aci_image_record *r, const void *index,
                         size_t index_size, const void *signature, size_t signature_size,
                         const void *manifest, size_t manifest_size);
/* Rewrites an image's record atomically (e.g. after a 304). */
int aci_store_update_record(aci_store *s, const aci_image_record *r);
/*
 * Removes trees/<key>, then images/<key>, each as a whole: renamed into this process's work
 * directory (synced) before anything in it is deleted, so that a kill at any point leaves each
 * either whole in the store or gone (reclaimed with the work directory).
 */
int aci_store_remove(aci_store *s, const char *key);
/* The same for trees/<name> alone (gc: a tree of no image, under the exclusive lock). Logged. */
int aci_store_discard_tree(aci_store *s, const char *name);
/* Path of a file of an image ("index.caidx", "manifest"), malloc'ed. */
char *aci_store_image_file(const aci_store *s, const char *key, const char *file);

/* 1 if trees/<key> is complete (has `rendered`), 0 if not (an incomplete one is removed). */
int aci_store_tree_ready(aci_store *s, const char *key);
/*
 * The same before a tree is handed out: with check set, a complete tree must also match the
 * record written when it was rendered (aci_tree_record_check). A modified tree, and one without
 * a record (rendered by an older acfetch), is removed as an incomplete one is (logged), so that
 * the caller renders it again; 0 then.
 */
int aci_store_tree_intact(aci_store *s, const char *key, bool check);
/*
 * Moves a finished tree (the directory tmp_name under parent_fd, holding manifest and rootfs/)
 * to trees/<key>: writes its record (aci_tree_record_write, with o's ownership choice), syncs
 * it, renames it, then writes `rendered`. If a complete tree is there already, ours is removed.
 * Takes the image lock.
 */
typedef struct aci_render_options aci_render_options;
int aci_store_install_tree(aci_store *s, const char *key, int parent_fd, const char *tmp_name,
                           const aci_render_options *o);
/*
 * Puts a finished tree in place of trees/<key> whatever is there (a tree found modified): the
 * old one is removed as image rm removes it, then the new one installed as above.
 */
int aci_store_replace_tree(aci_store *s, const char *key, int parent_fd, const char *tmp_name,
                           const aci_render_options *o);
/* Rewrites the record of trees/<key> from the tree as it is now (verify, once its content was
 * found intact). Takes the image lock. */
int aci_store_tree_record_refresh(aci_store *s, const char *key, bool same_owner);
/* Path of trees/<key>, malloc'ed. */
char *aci_store_tree_path(const aci_store *s, const char *key);

/* gc (gc.c): needs the exclusive lock. */
#define ACI_GC_GRACE_DEFAULT (24 * 3600)
typedef struct aci_gc_options {
        bool dry_run; /* only list, on out */
        FILE *out;    /* one line per object removed (or that would be); may be NULL */
        /* Unreferenced chunks younger than this many seconds (file mtime) are kept: the work of
         * an interrupted fetch, which its next run would download again. 0 keeps none. */
        int64_t grace;
} aci_gc_options;
typedef struct aci_gc_stats {
        uint64_t chunks, chunk_bytes, trees, tmp, seeds;
        uint64_t chunks_young, chunks_young_bytes; /* kept for the grace period */
} aci_gc_stats;
/* Removes (or with dry_run only lists) chunks and trees no image references; chunks that a live
 * process pinned (aci_store_pin_index), and those younger than the grace, are kept. */
int aci_store_gc(aci_store *s, const aci_gc_options *o, aci_gc_stats *ret);

/* ---------------------------------------------------------------- tree records (tree_check.c) */
/*
 * What a stored tree was when it was rendered, to notice a runtime writing into it: a file
 * trees/<key>/ACI_TREE_RECORD beside `rendered` (both left out of every digest), holding the
 * number of entries and the SHA-256 of their lstat data (type, mode, owner, size, mtime, ctime,
 * inode, links, device) over a walk in name order. Bounded (a few lines), cheap to check (lstat
 * only, no content read).
 */
#define ACI_TREE_RECORD      "rendered.stat"
#define ACI_TREE_DIGEST_SIZE 32
typedef struct aci_tree_record {
        bool same_owner; /* ownership was restored (not --no-same-owner) */
        uint64_t entries;
        uint8_t stat[ACI_TREE_DIGEST_SIZE];
} aci_tree_record;
/*
 * The digest of the tree at tree_fd: content false, the stat digest above; content true, what
 * the image decides (type, mode, owner, non-directory sizes, mtime, device, file bytes, symlink
 * targets, xattrs but security.selinux): two renders of one image have the same one. Reads every
 * file. -ELOOP deeper than 256 levels.
 */
int aci_tree_digest(int tree_fd, bool content, uint8_t ret[ACI_TREE_DIGEST_SIZE],
                    uint64_t *ret_entries);
/* Writes the record of the tree at tree_fd (temp file, synced, renamed). Not logged. */
int aci_tree_record_write(int tree_fd, bool same_owner);
/* Reads it: -ENOENT when there is none, -EBADMSG when malformed. Not logged. */
int aci_tree_record_read(int tree_fd, aci_tree_record *ret);
/* 1 when the tree still matches its record, 0 when it changed, -ENOENT without a record. */
int aci_tree_record_check(int tree_fd);

/*
 * The full check of trees/<key> for verify (tree_verify.c): renders the image again from the
 * local chunk store (as the record says: with or without ownership) into the work directory and
 * compares the content digests. Intact: ACI_TREE_INTACT (the record rewritten when it did not
 * match, or was missing); modified: ACI_TREE_MODIFIED, or with repair the fresh render replaces
 * the tree (removal by rename, then install): ACI_TREE_REPAIRED. ACI_TREE_ABSENT when the image
 * has no complete tree. Errors are logged.
 */
enum { ACI_TREE_ABSENT, ACI_TREE_INTACT, ACI_TREE_MODIFIED, ACI_TREE_REPAIRED };
int aci_store_verify_tree(aci_store *s, const aci_image_record *r, bool repair, unsigned jobs);

/* ---------------------------------------------------------------- images (image.c) */
/*
 * Streams an image's archive from the local chunk store (every chunk verified) through `sink`,
 * with `jobs` workers. A missing or corrupt chunk fails with a message naming it and the image.
 */
int aci_image_decode(aci_store *s, const aci_image_record *r, unsigned jobs, const ca_sink *sink);
/*
 * Writes the image's canonical tar to `write` and checks that its SHA-512 is the image ID
 * (-EBADMSG, logged, when not). write may be NULL (verify only).
 */
int aci_image_export(aci_store *s, const aci_image_record *r, unsigned jobs, ca_stream_writer write,
                     void *userdata);

/*
 * The ACI layout sink: checks that the archive's top level is exactly `manifest` (a regular
 * file) and `rootfs` (a directory), and keeps the manifest's bytes (at most
 * ACI_MANIFEST_SIZE_MAX). Tee it beside the sinks that write.
 */
typedef struct aci_layout aci_layout;
int aci_layout_new(const char *what, aci_layout **ret, ca_sink *ret_sink);
aci_layout *aci_layout_free(aci_layout *l);
static inline void aci_layout_freep(aci_layout **l)
{
        aci_layout_free(*l);
}
/* The manifest's bytes once seen (NULL before). */
const char *aci_layout_manifest(const aci_layout *l, size_t *size);

/*
 * A path filter for the extract sink from a pathWhitelist (and the nearest ancestor's): a node
 * under rootfs/ that is not a directory is kept only if "/" + its path below rootfs is listed.
 * Entries outside rootfs/ pass.
 */
typedef struct aci_whitelist {
        const char *const *own, *const *ancestor;
        size_t n_own, n_ancestor;
        bool rerooted; /* nodes come through ca_subtree("rootfs"): paths are below rootfs */
} aci_whitelist;
int aci_whitelist_filter(void *userdata /* aci_whitelist* */, const ca_node *node);

/* ---------------------------------------------------------------- rendering (render.c) */
/*
 * The images a render composes, in rkt's order: the image, then its dependencies, each inserted
 * right after its parent (so a later sibling precedes an earlier one), resolved from the store by
 * imageID when given, else by name and labels. Bounded: ACI_RENDER_DEPTH_MAX levels,
 * ACI_RENDER_IMAGES_MAX images; a cycle is an error. -ENOENT (logged) for a missing dependency.
 */
#define ACI_RENDER_DEPTH_MAX  8
#define ACI_RENDER_IMAGES_MAX 64
typedef struct aci_render_item {
        aci_image_record record;
        aci_manifest *manifest;
        ssize_t parent; /* index in the list, -1 for the image itself */
        unsigned depth;
} aci_render_item;
typedef struct aci_render_list {
        aci_render_item *items;
        size_t n;
} aci_render_list;
int aci_render_list_build(aci_store *s, const aci_image_record *top, aci_render_list *ret);
void aci_render_list_done(aci_render_list *l);

struct aci_render_options {
        bool rootfs_only;   /* DEST gets rootfs's content, no manifest */
        bool no_same_owner; /* as ca_extract_options */
        unsigned jobs;
        const char *dest_name; /* names DEST in messages about a full file system (NULL: DEST) */
};
/*
 * Composes the list into DEST (which must not exist, or be an empty directory): the first image
 * is extracted, the others merged into it, first writer wins, each through its whitelist. DEST
 * appears only when complete.
 */
int aci_render(aci_store *s, const aci_render_list *l, const char *dest,
               const aci_render_options *o);
/* Merges the list's items from `first` on into the existing tree `dest` (in place). */
int aci_render_merge(aci_store *s, const aci_render_list *l, size_t first, const char *dest,
                     const aci_render_options *o);

/* ---------------------------------------------------------------- access profiles (profile.c) */
/*
 * What a workload read first from an image, in that order: a mount records one per image name
 * and prefetches what the last one lists first; a publisher ships one beside an index
 * (X.caidx.profile, signed as X.caidx.profile.asc). Text:
 *
 *   acfetch-profile 2
 *   chunk HEX
 *   file PATH OFFSET+LENGTH[ OFFSET+LENGTH]...
 *
 * "chunk" lines: the IDs (64 lowercase hex digits) of the archive's chunks in the order reads
 * first needed them, directory entries and metadata too (a lookup reads those, and an image of
 * the same content has the same IDs). "file" lines: the files read, in the order first read,
 * and which of their bytes, so a version whose chunks differ still finds them: PATH relative to
 * the mounted root (an image's rootfs/) with bytes <= ' ', '%' and DEL written %XX; OFFSET and
 * LENGTH in decimal, ranges of the file's first ACI_PROFILE_BYTES_MAX bytes. Version 1 (only
 * file lines, without the word "file") is read too. The parser refuses anything else: absolute
 * paths, empty, "." or ".." components, NUL, more than the bounds below.
 */
#define ACI_PROFILE_SIZE_MAX   4194304  /* bytes of a profile file (4 MiB) */
#define ACI_PROFILE_FILES_MAX  65536    /* files listed */
#define ACI_PROFILE_CHUNKS_MAX 32768    /* chunks listed */
#define ACI_PROFILE_RANGES_MAX 16       /* ranges per file */
#define ACI_PROFILE_PATH_MAX   4096     /* bytes of a path */
#define ACI_PROFILE_BYTES_MAX  16777216 /* a file's first 16 MiB are recorded */

typedef struct aci_profile_range {
        uint64_t offset, length;
} aci_profile_range;

typedef struct aci_profile_file {
        char *path;
        aci_profile_range ranges[ACI_PROFILE_RANGES_MAX];
        unsigned n_ranges;
} aci_profile_file;

typedef struct aci_profile {
        aci_profile_file *files;
        size_t n, cap;
        ca_chunk_id *chunks; /* in the order first read, each once */
        size_t n_chunks, cap_chunks;
} aci_profile;

void aci_profile_done(aci_profile *p);
/* Appends a file without ranges (*ret: its index); -E2BIG past ACI_PROFILE_FILES_MAX. */
int aci_profile_add_file(aci_profile *p, const char *path, size_t *ret);
/* Appends a chunk (the caller lists each once); -E2BIG past ACI_PROFILE_CHUNKS_MAX. */
int aci_profile_add_chunk(aci_profile *p, const ca_chunk_id *id);
/* Adds a read of the file, merged with a range it touches; what lies past the first
 * ACI_PROFILE_BYTES_MAX bytes, or past ACI_PROFILE_RANGES_MAX ranges, is dropped. true when the
 * file's ranges changed. */
bool aci_profile_add_range(aci_profile_file *f, uint64_t offset, uint64_t length);
/* The text (malloc'ed), version 2; files without ranges are left out. */
int aci_profile_format(const aci_profile *p, char **ret, size_t *ret_size);
/* Parses a profile; anything outside the format is -EBADMSG, logged once at level naming what
 * and the line. */
int aci_profile_parse(const void *data, size_t size, const char *what, int level, aci_profile *ret);
/* The same from an open file / a path (errors logged at level). */
int aci_profile_read_fd(int fd, const char *what, int level, aci_profile *ret);
int aci_profile_load(const char *path, int level, aci_profile *ret);
/* Writes p to path whole (temp file beside it, then rename), 0644. Logged. */
int aci_profile_save(const char *path, const aci_profile *p);
/* <dir>/profiles/<sha256 of name> (malloc'ed): where the store keeps name's profile. */
int aci_profile_store_path(const aci_store *s, const char *name, char **ret);
/* name's profile from the store: -ENOENT quietly when there is none; a bad one is one warning
 * (naming the file) and -EBADMSG. */
int aci_profile_store_load(aci_store *s, const char *name, aci_profile *ret);
/* Replaces name's profile in the store (whole, temp file and rename). Logged. */
int aci_profile_store_save(aci_store *s, const char *name, const aci_profile *p);

/* ---------------------------------------------------------------- trust store (trust_store.c) */
/*
 * rkt's trust store: <config>/trustedkeys/root.d/<fingerprint> (keys trusted for every name)
 * and <config>/trustedkeys/prefix.d/<prefix>/<fingerprint> (for the prefix and names below it,
 * on whole path components: example.com/foo covers example.com/foo/bar, not example.com/foobar),
 * under the system configuration, then the local one. A file holds an armored public key (or
 * several: all are trusted) and is named by the first key's fingerprint (40 lower-case hex);
 * another name is an error. An empty file masks the key of that name. Load order: system
 * root.d, local root.d, then the system's prefix directories (shortest first), then the local
 * ones; a later file replaces an earlier one of the same name. Symlinks and non-regular files
 * are refused; names starting with '.' (temporary files) are skipped.
 */
typedef struct aci_trust_entry {
        char fingerprint[ACI_PGP_FPR_HEX_SIZE]; /* the file's name */
        char *prefix;                           /* NULL for root.d */
        char *path;                             /* the file */
        bool system;                            /* under the system configuration */
        aci_pgp_key **keys;                     /* none for an empty file: a mask */
        size_t n_keys;
} aci_trust_entry;

typedef struct aci_keyring {
        aci_trust_entry *entries;
        size_t n;
} aci_keyring;
void aci_keyring_done(aci_keyring *k);

/* The keys that apply to name (masks kept as entries without keys). Either config may be NULL. */
int aci_keyring_load(const char *system_config, const char *local_config, const char *name,
                     aci_keyring *ret);
/* Every file of both stores, each as its own entry (nothing replaced or masked), for listing. */
int aci_trust_list(const char *system_config, const char *local_config, aci_keyring *ret);
/* 1 if a non-empty key file exists in a prefix directory for name or one of its parents (in
 * either store; root.d does not count), else 0: rkt's test for "fetch keys on first use". */
int aci_trust_has_prefix_keys(const char *system_config, const char *local_config,
                              const char *name);
/*
 * Writes key (armored) as <config>/trustedkeys/prefix.d/<prefix>/<fingerprint>, or root.d when
 * prefix is NULL: directories 0755, the file 0644 through a temp file and a rename (replacing a
 * mask or an older copy). *ret_path (malloc'ed) is the file written.
 */
int aci_trust_add(const char *config, const char *prefix, const aci_pgp_key *key, char **ret_path);
/* Removes <fingerprint> from root.d and every prefix directory of config (or only root.d, or
 * only prefix, when only_root / prefix say so), logging each file removed (info level). The
 * number removed in *n. */
int aci_trust_remove(const char *config, const char *fingerprint, bool only_root,
                     const char *prefix, unsigned *n);
/*
 * Verifies sig (detached, over data) against the keys trusted for name at this time. On
 * failure logs one line naming `what` that says why: the key is unknown, masked (by which
 * file), trusted only for another prefix (which), revoked, expired, or the signature bad,
 * expired, of a refused form. 0 with *ret.
 */
int aci_trust_verify(const char *system_config, const char *local_config, const char *name,
                     const void *data, size_t size, const void *sig, size_t sig_size,
                     const char *what, aci_pgp_signer *ret);
/*
 * The same against every key of either trust store, whatever its prefix (masks aside): for an
 * image fetched by URL or path, whose name is known only from its manifest, which
 * aci_trust_verify then checks against. Logs one line naming `what` on failure.
 */
int aci_trust_verify_any(const char *system_config, const char *local_config, const void *data,
                         size_t size, const void *sig, size_t sig_size, const char *what,
                         aci_pgp_signer *ret);
