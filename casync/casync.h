/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libcasync-core: casync's formats (index, chunks, chunk store, catar), reading them (decoder,
 * random access, assembly) and writing them (encoder, chunker, chunking pipeline, index writer),
 * the sinks that consume a decoded archive, and the file helpers these need (atomic files, chunk
 * ID sets). Knows nothing of HTTP or discovery; of images it knows only the canonical tar an
 * ACI's contents are hashed as (the tar sink), so that the image ID comes from the same pass.
 *
 * Conventions: functions return 0 (or a documented non-negative value) on success and a negative
 * errno on failure. A function that fails because of bad input logs one message on stderr that
 * names the object (path, chunk ID, archive offset) and returns -EBADMSG.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "casync/format.h"
#include "casync/util.h"

/* ---------------------------------------------------------------- logging (log.c) */
enum { CA_LOG_ERR = 3, CA_LOG_WARNING = 4, CA_LOG_INFO = 6, CA_LOG_DEBUG = 7 };

void ca_log_set_max_level(int level);
int ca_log_get_max_level(void);
void ca_log(int level, const char *fmt, ...) _printf_(2, 3);
/* Logs, then returns err (a negative errno) so callers can `return ca_log_errno(...)`. */
int ca_log_errno(int level, int err, const char *fmt, ...) _printf_(3, 4);
#define ca_log_error(...)   ca_log(CA_LOG_ERR, __VA_ARGS__)
#define ca_log_warning(...) ca_log(CA_LOG_WARNING, __VA_ARGS__)
#define ca_log_info(...)    ca_log(CA_LOG_INFO, __VA_ARGS__)
#define ca_log_debug(...)   ca_log(CA_LOG_DEBUG, __VA_ARGS__)
/*
 * Where messages go: by default straight to stderr. A status line on a terminal (the command
 * line's progress line) takes them over to clear itself first; write gets one whole line with
 * its newline, from any thread. NULL restores stderr.
 */
void ca_log_set_writer(void (*write)(void *userdata, const char *line, size_t size),
                       void *userdata);
/*
 * A write to `what` failed with err: logs "WHAT: no space left on device (the file system at
 * MOUNT, SIZE)" (or "disk quota exceeded"; a full file system is the destination's condition,
 * whichever entry hit it), followed by the space note when one is set, once per process (later
 * ones at debug level), else "WHAT: cannot write: <error>", and returns err.
 */
int ca_log_write_error(const char *what, int err);
/* Who knows what the running operation needs writes it (e.g. "; this fetch needed about 8.0
 * MiB ...") into buf for the one message about a full file system. NULL: none. */
void ca_log_set_space_note(void (*note)(void *userdata, char *buf, size_t size), void *userdata);
/* v bytes for people: "812 B", "15.2 KiB", "4.0 MiB", "1.2 GiB". */
void ca_format_bytes(uint64_t v, char buf[static 32]);
/* true for the errors ca_log_write_error words as a full destination. */
static inline bool ca_errno_is_no_space(int err)
{
        return err == -ENOSPC || err == -EDQUOT;
}
/* Shorthand for malformed input: logs at error level and returns -EBADMSG. */
#define ca_bad(...) ca_log_errno(CA_LOG_ERR, -EBADMSG, __VA_ARGS__)

/* ---------------------------------------------------------------- digests (digest.c) */
typedef enum ca_digest_type {
        CA_DIGEST_SHA256,
        CA_DIGEST_SHA512_256,
} ca_digest_type;

#define CA_CHUNK_ID_SIZE     32
#define CA_CHUNK_ID_HEX_SIZE (CA_CHUNK_ID_SIZE * 2 + 1)

typedef struct ca_chunk_id {
        uint8_t bytes[CA_CHUNK_ID_SIZE];
} ca_chunk_id;

typedef struct ca_digest ca_digest;

/* The digest an index or archive declares through CA_FORMAT_SHA512_256. */
ca_digest_type ca_digest_type_from_flags(uint64_t feature_flags);
const char *ca_digest_type_name(ca_digest_type t); /* "sha256" / "sha512-256" */

int ca_digest_new(ca_digest_type t, ca_digest **ret);
ca_digest *ca_digest_free(ca_digest *d);
int ca_digest_reset(ca_digest *d);
int ca_digest_update(ca_digest *d, const void *data, size_t size);
int ca_digest_final(ca_digest *d, uint8_t out[CA_CHUNK_ID_SIZE]); /* also resets */
int ca_digest_once(ca_digest_type t, const void *data, size_t size, ca_chunk_id *ret);
static inline void ca_digest_freep(ca_digest **d)
{
        ca_digest_free(*d);
}

/* Lowercase hex, always 64 characters plus NUL. */
char *ca_chunk_id_to_hex(const ca_chunk_id *id, char buf[CA_CHUNK_ID_HEX_SIZE]);
/* Accepts exactly 64 lowercase hex digits; -EINVAL otherwise. */
int ca_chunk_id_from_hex(const char *hex, ca_chunk_id *ret);

/* ---------------------------------------------------------------- SipHash-2-4 (siphash.c) */
uint64_t ca_siphash24(const void *data, size_t size, uint64_t k0, uint64_t k1);
/* The goodbye-table hash of a file name (casync's fixed key). */
uint64_t ca_goodbye_hash(const char *name, size_t len);

/* ---------------------------------------------------------------- feature flags (feature_flags.c) */
/* true if no unknown bits are set and the set is what casync's normalization would produce. */
bool ca_feature_flags_are_normalized(uint64_t flags);
/* Time granularity in nanoseconds implied by the flags; 0 when no time is stored. */
uint64_t ca_feature_flags_time_granularity(uint64_t flags);

/* ---------------------------------------------------------------- index (index.c) */
typedef struct ca_index_item {
        uint64_t offset; /* start of the chunk in the stream */
        uint64_t size;   /* uncompressed chunk size */
        ca_chunk_id id;
} ca_index_item;

typedef enum ca_index_kind {
        CA_INDEX_UNKNOWN,
        CA_INDEX_ARCHIVE, /* .caidx: the chunks assemble to a catar stream */
        CA_INDEX_BLOB,    /* .caibx: the chunks assemble to raw bytes */
} ca_index_kind;

typedef struct ca_index {
        uint64_t feature_flags;
        uint64_t chunk_size_min, chunk_size_avg, chunk_size_max;
        size_t n_items;
        ca_index_item *items;
        uint64_t total_size; /* sum of all chunk sizes */
} ca_index;

/* Largest index acfetch reads (items): 2^22 chunks, i.e. 256 GiB at the default chunk size. */
#define CA_INDEX_ITEMS_MAX (UINT64_C(1) << 22)
/* The largest index file acfetch reads: headers, tail and CA_INDEX_ITEMS_MAX items. */
#define CA_INDEX_FILE_SIZE_MAX                                                                     \
        (CA_INDEX_HEADER_SIZE + CA_INDEX_TABLE_HEADER_SIZE + CA_INDEX_TAIL_SIZE +                  \
         CA_INDEX_ITEMS_MAX * CA_INDEX_ITEM_SIZE)

/*
 * Parses a complete index file held in memory. `what` names it in messages (path or URL).
 * n_items may be 0: that is a valid empty blob (.caibx), but no valid .caidx has zero chunks (a
 * catar always holds its root entry), so callers reading an archive index must reject it.
 */
int ca_index_parse(const void *data, size_t size, const char *what, ca_index **ret);
/* Reads and parses an index file, refusing files larger than the item cap allows. Logs every
 * failure (open/read errors too), naming the path. */
int ca_index_load(const char *path, ca_index **ret);
ca_index *ca_index_free(ca_index *i);
static inline void ca_index_freep(ca_index **i)
{
        ca_index_free(*i);
}
/* Kind by name suffix (".caidx", ".caibx", query part ignored). */
ca_index_kind ca_index_kind_from_name(const char *name);
/* Serializes an index (casync's byte layout). Used by tests and by the publisher. */
int ca_index_serialize(const ca_index *i, void **ret, size_t *ret_size);

/* ---------------------------------------------------------------- chunk codec (chunk_codec.c) */
typedef enum ca_compression {
        CA_COMPRESSION_UNKNOWN,
        CA_COMPRESSION_XZ,
        CA_COMPRESSION_GZIP,
        CA_COMPRESSION_ZSTD,
} ca_compression;

/* zstd frames may ask for a window of at most max(2^23, the chunk's size), never above 2^27
 * (casync's chunk size limit): a bigger window only serves to make the decoder allocate. */
#define CA_ZSTD_WINDOW_LOG_MAX 27
/* xz decoder memory limit. */
#define CA_XZ_MEMLIMIT (UINT64_C(256) << 20)

ca_compression ca_compression_detect(const void *data, size_t size);
const char *ca_compression_name(ca_compression c);
/* The largest compressed file accepted for a chunk of `size` bytes. */
uint64_t ca_chunk_compressed_size_max(uint64_t size);

/*
 * Decompresses one chunk file's bytes into out[0..expected_size). Fails with -EBADMSG when the
 * magic is unknown, the stream is corrupt, or the output is shorter or longer than
 * expected_size; never writes past out[expected_size-1]. `what` names the chunk in messages.
 */
int ca_chunk_decompress(const void *in, size_t in_size, void *out, size_t expected_size,
                        const char *what);
/* Compresses with zstd (level 3, as casync does). *ret is malloc'ed. */
int ca_chunk_compress(const void *in, size_t in_size, void **ret, size_t *ret_size);
/* Hashes data with t and compares with id; -EBADMSG (logged, naming the chunk) on mismatch. */
int ca_chunk_verify(ca_digest_type t, const ca_chunk_id *id, const void *data, size_t size);
/*
 * As ca_chunk_decompress and ca_chunk_verify, logging problems at `level` and naming the object
 * `what` (verify's message: "<what>: content hashes to <hex> (wrong data)"). The store reports
 * corrupt files as warnings, because it recovers from them.
 */
int ca_chunk_decompress_log(int level, const void *in, size_t in_size, void *out,
                            size_t expected_size, const char *what);
int ca_chunk_verify_log(int level, const char *what, ca_digest_type t, const ca_chunk_id *id,
                        const void *data, size_t size);

/* ---------------------------------------------------------------- chunk ID sets (chunk_set.c) */
/*
 * IDs added in any order (duplicates too); ca_chunk_set_sort sorts them and drops duplicates,
 * after which find/contains bisect and positions 0..count-1 (ascending ID order) are stable
 * until the next add. find and contains need a sorted set.
 */
typedef struct ca_chunk_set ca_chunk_set;

int ca_chunk_set_new(ca_chunk_set **ret);
ca_chunk_set *ca_chunk_set_free(ca_chunk_set *s);
static inline void ca_chunk_set_freep(ca_chunk_set **s)
{
        ca_chunk_set_free(*s);
}
int ca_chunk_set_add(ca_chunk_set *s, const ca_chunk_id *id);
/* Every item's ID, in one allocation. */
int ca_chunk_set_add_index(ca_chunk_set *s, const ca_index *i);
void ca_chunk_set_sort(ca_chunk_set *s);
/* The ID's position, or -1 when absent. */
ssize_t ca_chunk_set_find(const ca_chunk_set *s, const ca_chunk_id *id);
bool ca_chunk_set_contains(const ca_chunk_set *s, const ca_chunk_id *id);
/* IDs held (distinct once sorted). */
size_t ca_chunk_set_count(const ca_chunk_set *s);
/* The i-th ID, NULL past the end. */
const ca_chunk_id *ca_chunk_set_get(const ca_chunk_set *s, size_t i);

/* ---------------------------------------------------------------- local chunk store (store.c) */
/*
 * casync's layout: <dir>/<first 4 hex>/<64 hex>.cacnk, zstd when we write. A ca_store has no
 * mutable state: threads may share one. Every failure other than -ENOENT (missing) and caller
 * errors (-EINVAL, -EROFS, -ENOMEM) is logged here, naming the file; callers need not log again.
 * Corrupt files are logged as warnings.
 */
typedef struct ca_store ca_store;

enum {
        CA_STORE_CREATE = 1 << 0,   /* create the directory if missing */
        CA_STORE_READ_ONLY = 1 << 1 /* never write or remove (e.g. a user's --store) */
};

/* Failures are logged ("PATH: cannot open chunk store: <error>"), except -ENOMEM. */
int ca_store_open(const char *path, unsigned flags, ca_store **ret);
ca_store *ca_store_free(ca_store *s);
static inline void ca_store_freep(ca_store **s)
{
        ca_store_free(*s);
}
const char *ca_store_path(const ca_store *s);

/*
 * Reads, decompresses and verifies a chunk into buf[0..size). Returns 0, or -ENOENT when the
 * chunk is absent, or when it was corrupt (reported, and removed unless read-only). Other
 * errors (EIO, EACCES) are returned as they are, never as "missing".
 */
int ca_store_get(ca_store *s, const ca_chunk_id *id, uint64_t size, ca_digest_type t, void *buf);
/* 1 if a file for the chunk exists (not verified), 0 if not, negative on error (not logged). */
int ca_store_has(ca_store *s, const ca_chunk_id *id);
/* Stores already-verified compressed bytes atomically; an existing chunk counts as success. */
int ca_store_put_compressed(ca_store *s, const ca_chunk_id *id, const void *data, size_t size);
/* Compresses (zstd) and stores already-verified raw chunk bytes. */
int ca_store_put(ca_store *s, const ca_chunk_id *id, const void *data, size_t size);
/* Removes a chunk (used when it failed verification). Missing counts as success. */
int ca_store_remove(ca_store *s, const ca_chunk_id *id);

/* Consumes the bytes of a stream, in order (assembled chunks, a tar being written...). */
typedef int (*ca_stream_writer)(void *userdata, const void *data, size_t size);

/* ---------------------------------------------------------------- files that appear whole (atomic_file.c) */
/*
 * A file written as ".<name>.acfetch-<pid>-<start>-XXXXXX" (0600, fs_temp_prefix) beside its
 * final name, given its mode, then renamed over the name by ca_atomic_file_commit; freed
 * uncommitted, the temporary file is removed. Failures are logged once, naming the final path
 * (`what` in the _at forms; with a NULL what nothing is logged, for callers that report a larger
 * operation themselves): "PATH: cannot create|cannot chmod|cannot write|cannot rename into
 * place: <error>", or "PATH: no space left on device".
 */
typedef struct ca_atomic_file ca_atomic_file;

enum {
        CA_ATOMIC_SYNC = 1 << 0,     /* fsync the file before the rename */
        CA_ATOMIC_SYNC_DIR = 1 << 1, /* fsync the directory after it */
        CA_ATOMIC_RECLAIM = 1 << 2,  /* first remove temporaries of name whose writer is gone */
};
/* As creat(2) would make it: 0666 minus the umask. Any other mode is set exactly (fchmod). */
#define CA_ATOMIC_MODE_DEFAULT ((mode_t)-1)

int ca_atomic_file_new(const char *path, mode_t mode, unsigned flags, ca_atomic_file **ret);
/* name is one component under dir_fd (which the file does not need after this call). */
int ca_atomic_file_new_at(int dir_fd, const char *name, const char *what, mode_t mode,
                          unsigned flags, ca_atomic_file **ret);
/* The temporary file, open read-write. */
int ca_atomic_file_fd(const ca_atomic_file *f);
/* A ca_stream_writer (userdata: the file). Failures are returned, not logged: the producer
 * reports them. */
int ca_atomic_file_write(void *userdata, const void *data, size_t size);
/* Sets the mode, syncs as asked, renames into place. */
int ca_atomic_file_commit(ca_atomic_file *f);
ca_atomic_file *ca_atomic_file_free(ca_atomic_file *f);
static inline void ca_atomic_file_freep(ca_atomic_file **f)
{
        ca_atomic_file_free(*f);
}

/* Writes a stream: produce() is handed a writer for the file; its failure is returned as is. */
typedef int (*ca_stream_producer)(void *userdata, ca_stream_writer write, void *write_userdata);
int ca_write_file_atomic(const char *path, mode_t mode, unsigned flags, ca_stream_producer produce,
                         void *userdata);
/* Writes data[0..size) as dir_fd/name. */
int ca_write_file_atomic_at(int dir_fd, const char *name, const char *what, mode_t mode,
                            unsigned flags, const void *data, size_t size);

/* ---------------------------------------------------------------- catar decoder (catar_decode.c) */
typedef struct ca_xattr {
        const char *name;
        const uint8_t *value;
        size_t size;
} ca_xattr;

typedef struct ca_acl_entry {
        uint64_t id;          /* uid or gid */
        uint64_t permissions; /* CA_FORMAT_ACL_PERMISSION_* bits */
        const char *name;     /* NULL when the record has no name */
} ca_acl_entry;

/* Everything an archive says about one node. Pointers stay valid until node_end returns. */
typedef struct ca_node {
        const char *name;      /* "" for the root */
        const char *path;      /* "." for the root, else "dir/sub/name" */
        unsigned depth;        /* 0 for the root */
        uint64_t entry_offset; /* archive offset of the ENTRY record */

        uint64_t feature_flags;
        uint64_t mode;  /* S_IFMT | 07777 */
        uint64_t flags; /* ENTRY.flags, casync feature-bit positions */
        uint64_t uid, gid;
        uint64_t mtime; /* ns since the epoch; 0 when the archive stores no time */
        const char *user_name, *group_name; /* NULL when absent */

        const ca_xattr *xattrs;
        size_t n_xattrs;

        const ca_acl_entry *acl_user, *acl_group;
        size_t n_acl_user, n_acl_group;
        bool has_acl_group_obj;
        uint64_t acl_group_obj;
        bool has_acl_default;
        uint64_t acl_default_user_obj, acl_default_group_obj, acl_default_other,
            acl_default_mask; /* CA_FORMAT_ACL_ABSENT when not set */
        const ca_acl_entry *acl_default_user, *acl_default_group;
        size_t n_acl_default_user, n_acl_default_group;

        const char *selinux_label; /* NULL when absent */
        const uint8_t *fcaps;      /* NULL when absent */
        size_t fcaps_size;
        uint64_t quota_projid; /* 0 when absent */

        const char *symlink_target;          /* symlinks */
        uint64_t device_major, device_minor; /* block and char devices */
        uint64_t payload_size;               /* regular files */
} ca_node;

/*
 * A consumer of decoded archive events. For a regular file: node_begin, payload* (in order,
 * covering payload_size bytes), node_end. For a directory: node_begin, its children, node_end
 * (when its GOODBYE has been read and checked). Other nodes: node_begin, node_end. finish is
 * called once the root GOODBYE ended the stream. Any callback may be NULL. A callback's negative
 * return stops decoding and is returned by ca_decoder_feed/ca_decoder_finish.
 */
typedef struct ca_sink {
        int (*node_begin)(void *userdata, const ca_node *node);
        int (*payload)(void *userdata, const ca_node *node, const void *data, size_t size);
        int (*node_end)(void *userdata, const ca_node *node);
        int (*finish)(void *userdata);
        void *userdata;
} ca_sink;

typedef struct ca_decoder ca_decoder;

/*
 * expected_flags: for a .caidx the header's feature flags, which every ENTRY must repeat;
 * UINT64_MAX to accept whatever the root ENTRY declares (a .catar). `what` names the archive.
 */
int ca_decoder_new(const ca_sink *sink, uint64_t expected_flags, const char *what,
                   ca_decoder **ret);
ca_decoder *ca_decoder_free(ca_decoder *d);
static inline void ca_decoder_freep(ca_decoder **d)
{
        ca_decoder_free(*d);
}
/* Feeds the next bytes of the stream (any split). */
int ca_decoder_feed(ca_decoder *d, const void *data, size_t size);
/* End of stream: fails unless the root GOODBYE was the last thing fed. */
int ca_decoder_finish(ca_decoder *d);
/* Bytes consumed so far. */
uint64_t ca_decoder_offset(const ca_decoder *d);

/* ---------------------------------------------------------------- mtree sink (sink_mtree.c) */
/* Prints what `casync mtree` prints for the same archive; `digest` picks the file digest key. */
typedef struct ca_mtree ca_mtree;
int ca_mtree_new(FILE *out, ca_digest_type digest, ca_mtree **ret, ca_sink *ret_sink);
ca_mtree *ca_mtree_free(ca_mtree *m);

/* ---------------------------------------------------------------- extract sink (sink_extract.c) */
typedef struct ca_extract_options {
        bool no_same_owner; /* never chown (automatic when not privileged) */
        bool in_place;      /* write into an existing directory, no temp + rename */
        bool no_sparse;     /* write zero runs instead of leaving holes */
        /*
         * With in_place: first writer wins, as rkt renders an image's dependencies. Nothing that
         * exists is replaced: a node whose name exists is skipped, a directory meeting a
         * non-directory (a symlink too: never followed) with its whole subtree; an existing
         * directory is merged into and keeps its metadata (the root too; its mtime is restored).
         */
        bool merge;
        /* Optional: called for every non-directory node before it is written; return 1 to write
         * it, 0 to skip it, negative to fail. path is the node's path relative to the root
         * ("a/b/c"). Not called inside a subtree that merge skips. Directories are always made. */
        int (*filter)(void *userdata, const ca_node *node);
        void *filter_userdata;
        /* Optional: how a full file system names the destination, when dest is a stage of it
         * (render composes in a temporary directory); default dest. */
        const char *dest_name;
} ca_extract_options;

typedef struct ca_extract ca_extract;

/*
 * Prepares extraction to `dest`. Unless in_place, the tree is written into a private temporary
 * directory beside dest and appears under dest only in ca_extract_commit. dest must not exist or
 * be an empty directory (which is replaced); with in_place it must be an existing directory.
 * merge without in_place is -EINVAL.
 */
int ca_extract_new(const char *dest, const ca_extract_options *opts, ca_extract **ret,
                   ca_sink *ret_sink);
/* After the decoder finished: move the tree to its final name. */
int ca_extract_commit(ca_extract *e);
/* Nodes skipped by merge or by the filter; a skipped directory counts once for its subtree. */
uint64_t ca_extract_skipped(const ca_extract *e);
/* Removes anything written unless committed, prints the unprivileged-policy summary, frees. */
ca_extract *ca_extract_free(ca_extract *e);
static inline void ca_extract_freep(ca_extract **e)
{
        ca_extract_free(*e);
}

/* ---------------------------------------------------------------- canonical tar sink (sink_tar.c) */
/*
 * Writes the archive as the canonical pax tar of an ACI (see sink_tar.c for the exact form): the
 * root's children are the top-level entries; bytes go to `write` as they are produced, so hashing
 * them there (SHA-512) gives the image ID in the same pass. Sockets are skipped and counted.
 */
typedef struct ca_tar ca_tar;
int ca_tar_new(ca_stream_writer write, void *userdata, ca_tar **ret, ca_sink *ret_sink);
uint64_t ca_tar_sockets_skipped(const ca_tar *t);
uint64_t ca_tar_bytes_written(const ca_tar *t);
ca_tar *ca_tar_free(ca_tar *t);
static inline void ca_tar_freep(ca_tar **t)
{
        ca_tar_free(*t);
}

/* ---------------------------------------------------------------- tar reader (tar_read.c) */
/*
 * Reads a tar stream from untrusted input, pushed in pieces of any size: ustar and GNU headers,
 * pax extended headers (path, linkpath, size, mtime, uid, gid, SCHILY.xattr.*), GNU long names
 * and link names ('L', 'K'); compressed with gzip, xz or zstd (told by the magic) or not.
 * Entries are regular files, directories, symlinks, hardlinks, character and block devices and
 * fifos; anything else (sparse files, volume headers...) is refused. Paths are normalized
 * ("./" prefixes, repeated and trailing '/' dropped; the archive's root is ".") and refused when
 * absolute, when a component is "..", longer than 255 bytes or the path longer than
 * CA_TAR_PATH_MAX. Every size is bounded; a malformed or truncated stream fails with one
 * message naming the archive (`what`) and the entry, and -EBADMSG.
 */
#define CA_TAR_PATH_MAX    4096U
#define CA_TAR_META_MAX    (1024U * 1024U) /* a pax header or GNU long name */
#define CA_TAR_ENTRIES_MAX 1000000U

typedef enum ca_tar_type {
        CA_TAR_REGULAR,
        CA_TAR_DIRECTORY,
        CA_TAR_SYMLINK,
        CA_TAR_HARDLINK,
        CA_TAR_CHAR,
        CA_TAR_BLOCK,
        CA_TAR_FIFO,
} ca_tar_type;

/* One entry; the pointers stay valid until its entry_end returns. */
typedef struct ca_tar_entry {
        const char *path;
        const char *link_target; /* symlinks (as stored) and hardlinks (normalized), else NULL */
        ca_tar_type type;
        uint32_t mode; /* permission bits (07777) */
        uint64_t uid, gid;
        uint64_t mtime; /* ns since the epoch; times before it are 0 */
        uint64_t size;  /* regular files: the bytes data will deliver */
        uint32_t dev_major, dev_minor;
        const ca_xattr *xattrs;
        size_t n_xattrs;
} ca_tar_entry;

/* entry, data* (regular files, covering size bytes in order), entry_end. Callbacks may be NULL;
 * a negative return stops reading and is returned. */
typedef struct ca_tar_handler {
        int (*entry)(void *userdata, const ca_tar_entry *e);
        int (*data)(void *userdata, const ca_tar_entry *e, const void *data, size_t size);
        int (*entry_end)(void *userdata, const ca_tar_entry *e);
        void *userdata;
} ca_tar_handler;

typedef struct ca_tar_reader ca_tar_reader;
/* max_bytes: refuse a stream whose (decompressed) tar is larger; 0: no limit but the format's. */
int ca_tar_reader_new(const ca_tar_handler *h, const char *what, uint64_t max_bytes,
                      ca_tar_reader **ret);
int ca_tar_reader_feed(ca_tar_reader *r, const void *data, size_t size);
/* End of input: fails unless the end-of-archive marker was read. */
int ca_tar_reader_finish(ca_tar_reader *r);
/*
 * Before the first feed: decompress in the caller's thread and read the tar (the handlers run
 * there) in a thread of its own, so that both use a core; at most 2 MiB of decompressed data
 * wait between them. A handler's error is returned by a later feed or by finish.
 */
int ca_tar_reader_pipeline(ca_tar_reader *r);
/* "gzip", "xz", "zstd" or "none" once known (after 6 bytes or finish), else NULL. */
const char *ca_tar_reader_compression(const ca_tar_reader *r);
uint64_t ca_tar_reader_entries(const ca_tar_reader *r);
ca_tar_reader *ca_tar_reader_free(ca_tar_reader *r);
static inline void ca_tar_reader_freep(ca_tar_reader **r)
{
        ca_tar_reader_free(*r);
}

/* ---------------------------------------------------------------- a tar into a directory (tar_extract.c) */
/*
 * Writes the entries a ca_tar_reader reports into a directory (dir_fd, empty and private), never
 * leaving it: each path is walked one component at a time from dir_fd without following any
 * symlink, so an entry below a symlink (or below a file) is refused; missing parents are made
 * (0755, mtime 0); an entry whose name exists already is refused as a duplicate (a directory
 * repeated is merged); a hardlink becomes a second name of the earlier regular file it names
 * (its own metadata ignored, as GNU tar does). Ownership is restored when privileged, else the
 * files are the caller's; devices are skipped (and counted) when not privileged. Directory
 * modes and times are applied in finish, deepest first. The root entry (".") is ignored.
 */
typedef struct ca_tar_extract ca_tar_extract;
typedef struct ca_tar_extract_options {
        bool no_same_owner;
        /* Optional: 1 to write the entry, negative to fail (logged by the filter). */
        int (*filter)(void *userdata, const ca_tar_entry *e);
        void *filter_userdata;
        /* An OCI image's layers, one tar after the other (ca_tar_extract_next_layer between
         * them), applied as an OCI runtime unpacks them: an entry replaces what has its name
         * (directories merge); "DIR/.wh.NAME" removes DIR/NAME and "DIR/.wh..wh..opq" empties
         * DIR of what earlier layers put there; a whiteout naming no valid name (".", "..") is
         * refused; directory metadata is the last layer's. */
        bool layers;
} ca_tar_extract_options;
int ca_tar_extract_new(int dir_fd, const char *what, const ca_tar_extract_options *o,
                       ca_tar_extract **ret, ca_tar_handler *ret_handler);
/* With layers: the next tar is a new layer (what an opaque whiteout keeps is this layer's),
 * named `what` in messages from now on. */
int ca_tar_extract_next_layer(ca_tar_extract *x, const char *what);
/* After the reader finished: directory metadata; warns about what was skipped. */
int ca_tar_extract_finish(ca_tar_extract *x);
ca_tar_extract *ca_tar_extract_free(ca_tar_extract *x);
static inline void ca_tar_extract_freep(ca_tar_extract **x)
{
        ca_tar_extract_free(*x);
}

/* ---------------------------------------------------------------- sink composition (sink_tee.c) */
/* Forwards every event to a and then to b. */
typedef struct ca_tee {
        ca_sink a, b;
} ca_tee;
void ca_tee_init(ca_tee *t, const ca_sink *a, const ca_sink *b, ca_sink *ret_sink);

/* Forwards only the subtree of the top-level directory `name`, re-rooted: that directory becomes
 * the root (path ".", depth 0) and its descendants lose the "name/" prefix. */
typedef struct ca_subtree {
        const char *name;
        ca_sink inner;
        bool seen;
} ca_subtree;
void ca_subtree_init(ca_subtree *t, const char *name, const ca_sink *inner, ca_sink *ret_sink);

/* ---------------------------------------------------------------- chunk assembly (assemble.c) */
/*
 * Supplies a verified chunk: fills buf[0..item->size) and returns 0, or a negative errno
 * (-ENOENT if no source has it). Called from worker threads: must be thread-safe.
 */
typedef int (*ca_chunk_getter)(void *userdata, const ca_index_item *item, ca_digest_type t,
                               void *buf);

typedef struct ca_assemble_stats {
        uint64_t chunks, bytes;
} ca_assemble_stats;

/*
 * Gets every chunk of the index (in parallel, `jobs` workers, a bounded window ahead; jobs == 0
 * runs everything in the calling thread) and writes the stream in order. Memory stays bounded by
 * the window whatever the index size. The first error (from get or write) stops it.
 */
int ca_assemble(const ca_index *index, unsigned jobs, ca_chunk_getter get, void *get_userdata,
                ca_stream_writer write, void *write_userdata, ca_assemble_stats *stats);

/* Workers for local chunk reads: one per CPU, at least 4, at most 16. */
unsigned ca_default_jobs(void);
/* Everything read from fd (from where it is), in order, to write; `what` names it in messages. */
int ca_stream_fd(int fd, const char *what, ca_stream_writer write, void *userdata);

/* A getter trying a list of local stores in order. */
typedef struct ca_store_list {
        ca_store **stores;
        size_t n_stores;
} ca_store_list;
int ca_store_list_get(void *userdata /* ca_store_list* */, const ca_index_item *item,
                      ca_digest_type t, void *buf);

/* ---------------------------------------------------------------- random access (archive_reader.c) */
/*
 * Reads any byte range of the stream an index describes, fetching chunks through `get` and
 * keeping the cache_chunks most recently used ones decompressed. Thread-safe. `what` names the
 * archive in messages.
 */
typedef struct ca_archive_reader ca_archive_reader;
int ca_archive_reader_new(const ca_index *index, ca_chunk_getter get, void *userdata,
                          size_t cache_chunks, const char *what, ca_archive_reader **ret);
ca_archive_reader *ca_archive_reader_free(ca_archive_reader *r);
static inline void ca_archive_reader_freep(ca_archive_reader **r)
{
        ca_archive_reader_free(*r);
}
uint64_t ca_archive_reader_size(const ca_archive_reader *r);
const char *ca_archive_reader_what(const ca_archive_reader *r);
void ca_archive_reader_stats(ca_archive_reader *r, uint64_t *hits, uint64_t *misses);
/* Exactly size bytes at offset; -EBADMSG (logged) past the end, else the getter's error. */
int ca_archive_reader_read(ca_archive_reader *r, uint64_t offset, void *buf, size_t size);

/* ---------------------------------------------------------------- seeking in a catar (catar_seek.c) */
/* One node read at its offset, validated as the streaming decoder validates it. */
typedef struct ca_seek_entry {
        ca_node node; /* name and path are the entry's name ("" and "." for a root) */
        char name[256];
        uint64_t filename_offset; /* UINT64_MAX for the root */
        uint64_t end;             /* offset just after the node's serialization */
        uint64_t payload_offset;  /* regular files: the first payload byte */
        uint64_t body_offset;     /* directories: the first FILENAME or the GOODBYE */
        uint8_t *meta;            /* metadata records the node's pointers point into */
        size_t meta_size;
        ca_xattr *xattrs;
        ca_acl_entry *acls;
} ca_seek_entry;

typedef struct ca_seek_child {
        uint64_t offset; /* of the child's FILENAME record */
        uint64_t size;
        uint64_t hash;
} ca_seek_child;

/* A directory's goodbye table, checked against the directory's layout. */
typedef struct ca_seek_dir {
        uint64_t entry_offset, goodbye_offset;
        size_t n;
        ca_seek_child *items; /* table order (casync's search tree) */
        uint32_t *order;      /* indices into items, in archive order */
} ca_seek_dir;

ca_seek_entry *ca_seek_entry_free(ca_seek_entry *e);
static inline void ca_seek_entry_freep(ca_seek_entry **e)
{
        ca_seek_entry_free(*e);
}
ca_seek_dir *ca_seek_dir_free(ca_seek_dir *d);
static inline void ca_seek_dir_freep(ca_seek_dir **d)
{
        ca_seek_dir_free(*d);
}
/* A valid FILENAME: 1..255 bytes, no NUL or '/', not "." or "..". */
bool ca_seek_name_valid(const char *s, size_t len);
/* flags: the index's feature flags, which every ENTRY must repeat. */
int ca_seek_root(ca_archive_reader *r, uint64_t flags, ca_seek_entry **ret);
/* The child whose FILENAME is at filename_offset and whose serialization ends at end. */
int ca_seek_entry_at(ca_archive_reader *r, uint64_t flags, uint64_t filename_offset, uint64_t end,
                     ca_seek_entry **ret);
int ca_seek_dir_open(ca_archive_reader *r, const ca_seek_entry *dir, ca_seek_dir **ret);
/* The i-th child in archive order; its name must hash to its item. */
int ca_seek_dir_child(ca_archive_reader *r, uint64_t flags, const ca_seek_dir *d, size_t i,
                      ca_seek_entry **ret);
/* Binary search of the goodbye table as casync does; -ENOENT when absent. */
int ca_seek_dir_lookup(ca_archive_reader *r, uint64_t flags, const ca_seek_dir *d, const char *name,
                       ca_seek_entry **ret);

/* ---------------------------------------------------------------- chunker (chunker.c) */
/* casync's content-defined chunker (spec §3), bit-exact: same cuts for the same min/avg/max. */
#define CA_CHUNKER_WINDOW_SIZE    48
#define CA_CHUNK_SIZE_AVG_DEFAULT (UINT64_C(64) * 1024)

typedef struct ca_chunker {
        uint64_t min, avg, max;
        uint64_t discriminator, fastmod;
        uint64_t first; /* first chunk length at which a cut is considered */
        bool fixed;     /* min == avg == max: cut every avg bytes, no hashing */
        uint64_t pos;   /* bytes of the current chunk scanned so far */
        uint32_t h;
        unsigned idx; /* oldest byte in window[] */
        uint8_t window[CA_CHUNKER_WINDOW_SIZE];
} ca_chunker;

/* -EINVAL unless 1 <= min <= avg <= max <= 128 MiB. max < 48 is accepted, as casync does: then
 * only inputs under 48 bytes give chunks no larger than max (the index writer refuses others). */
int ca_chunker_init(ca_chunker *c, uint64_t min, uint64_t avg, uint64_t max);
/*
 * Scans the next bytes of the stream (any split). Returns how many of them complete the current
 * chunk (the next byte starts a new one), or SIZE_MAX when the chunk goes on past all of them. At
 * the end of the stream, what was scanned since the last cut is the final chunk.
 */
size_t ca_chunker_scan(ca_chunker *c, const void *data, size_t size);
/* The cut discriminator casync derives from avg, clamped into [min, max]. */
uint64_t ca_chunker_discriminator(uint64_t min, uint64_t avg, uint64_t max);
/* buzhash of one full window (for tests). */
uint32_t ca_buzhash(const uint8_t window[CA_CHUNKER_WINDOW_SIZE]);
/* casync's --chunk-size: "auto", "AVG" (min avg/4, max avg*4) or "MIN:AVG:MAX"; sizes take
 * K/M/G... suffixes (powers of 1024). -EINVAL/-ERANGE as casync refuses them. */
int ca_chunk_size_parse(const char *s, uint64_t *ret_min, uint64_t *ret_avg, uint64_t *ret_max);

/* ---------------------------------------------------------------- feature flag names (feature_names.c) */
/* The WITH bits `casync make` stores by default for a directory (Debian builds with SELinux). */
#define CA_FORMAT_WITH_DEFAULT CA_FORMAT_WITH_MASK
/* The normal form casync writes (ACL implies uids and names, finer times drop coarser...). */
uint64_t ca_feature_flags_normalize(uint64_t flags);
/* A --with=/--without= word: a single flag ("xattrs", "flag-append") or a set ("best", "unix",
 * "fat", "chattr", "fat-attrs", "privileged", "fuse", "all"). -EINVAL when unknown. */
int ca_feature_flags_from_name(const char *name, uint64_t *ret);
/* The name of a single WITH bit, NULL for others. */
const char *ca_feature_flag_name(uint64_t bit);

/* ---------------------------------------------------------------- index writer (index_write.c) */
/* Streams an index to a temporary file beside path; it appears under path in finish. */
typedef struct ca_index_writer ca_index_writer;
int ca_index_writer_new(const char *path, uint64_t feature_flags, uint64_t chunk_size_min,
                        uint64_t chunk_size_avg, uint64_t chunk_size_max, ca_index_writer **ret);
/* Appends the next chunk; -EINVAL (logged) when it is empty or larger than chunk_size_max. */
int ca_index_writer_add(ca_index_writer *w, uint64_t size, const ca_chunk_id *id);
/* Writes the tail, syncs and renames into place. */
int ca_index_writer_finish(ca_index_writer *w);
uint64_t ca_index_writer_chunks(const ca_index_writer *w);
/* Removes the temporary file unless finished. */
ca_index_writer *ca_index_writer_free(ca_index_writer *w);
static inline void ca_index_writer_freep(ca_index_writer **w)
{
        ca_index_writer_free(*w);
}

/* ---------------------------------------------------------------- chunk compression (chunk_compress.c) */
/* One compressor per thread: xz, gzip or zstd at a level (CA_COMPRESSION_LEVEL_DEFAULT: casync's
 * parameters, zstd 3, xz preset 6, zlib's default). */
#define CA_COMPRESSION_LEVEL_DEFAULT INT32_MIN
typedef struct ca_compressor ca_compressor;
/* "xz", "gzip", "zstd"; -EINVAL otherwise. */
int ca_compression_from_name(const char *name, ca_compression *ret);
/* -ERANGE when the level does not exist for the format. */
int ca_compression_check_level(ca_compression c, int level);
int ca_compressor_new(ca_compression c, int level, ca_compressor **ret);
/* *ret points into the compressor and stays valid until its next use. */
int ca_compressor_run(ca_compressor *z, const void *in, size_t size, const void **ret,
                      size_t *ret_size);
ca_compressor *ca_compressor_free(ca_compressor *z);
static inline void ca_compressor_freep(ca_compressor **z)
{
        ca_compressor_free(*z);
}

/* ---------------------------------------------------------------- chunking pipeline (chunk_pipeline.c) */
/*
 * Takes a stream (a ca_stream_writer), cuts it with the chunker in the calling thread and hands
 * each chunk to worker threads that hash it and, with a store, compress and store it unless the
 * store has it already. Chunks are reported to `chunk` in stream order, from the calling thread.
 * Memory is bounded by a window of chunks in flight.
 */
typedef struct ca_chunk_pipeline ca_chunk_pipeline;

typedef struct ca_chunk_pipeline_options {
        uint64_t chunk_size_min, chunk_size_avg, chunk_size_max;
        ca_digest_type digest;
        ca_store *store; /* NULL: only hash */
        ca_compression compression;
        int compression_level;
        unsigned jobs; /* worker threads; 0: everything in the calling thread */
        int (*chunk)(void *userdata, uint64_t size, const ca_chunk_id *id);
        /* With a store: is this chunk worth storing? Called from the workers; NULL: all are. */
        bool (*want)(void *userdata, const ca_chunk_id *id);
        void *userdata;
} ca_chunk_pipeline_options;

typedef struct ca_chunk_pipeline_stats {
        uint64_t chunks, bytes;        /* in the stream */
        uint64_t stored, stored_bytes; /* chunks this run wrote, their compressed size */
        uint64_t present;              /* chunks the store had already */
        uint64_t unwanted;             /* chunks `want` turned down */
} ca_chunk_pipeline_stats;

int ca_chunk_pipeline_new(const ca_chunk_pipeline_options *o, ca_chunk_pipeline **ret);
/* A ca_stream_writer: userdata is the pipeline. */
int ca_chunk_pipeline_write(void *userdata, const void *data, size_t size);
/*
 * For chunks whose boundaries are known already (an index's): appends bytes to the current chunk
 * without running the chunker, and with `end` hands the chunk over. Not to be mixed with
 * ca_chunk_pipeline_write in one pipeline.
 */
int ca_chunk_pipeline_write_cut(ca_chunk_pipeline *p, const void *data, size_t size, bool end);
/* End of stream: the last chunk, then waits for every chunk to be reported. */
int ca_chunk_pipeline_finish(ca_chunk_pipeline *p, ca_chunk_pipeline_stats *ret);
ca_chunk_pipeline *ca_chunk_pipeline_free(ca_chunk_pipeline *p);
static inline void ca_chunk_pipeline_freep(ca_chunk_pipeline **p)
{
        ca_chunk_pipeline_free(*p);
}

/* ---------------------------------------------------------------- stream to store + index (make_index.c) */
typedef struct ca_make_index_options {
        uint64_t feature_flags; /* as the index stores them (they pick the chunk digest) */
        uint64_t chunk_size_min, chunk_size_avg, chunk_size_max;
        ca_store *store;
        ca_compression compression;
        int compression_level;
        unsigned jobs;
} ca_make_index_options;
/* What `casync make` and `acfetch publish` use unless told otherwise: casync's default feature
 * set with nodump flags and .caexclude files honoured, SHA-512/256 chunk IDs, the default chunk
 * sizes, zstd at its default level, a job per core; no store. */
void ca_make_index_options_default(ca_make_index_options *o);
/*
 * What `casync make` does with a stream: produce() writes it to the writer it is handed, which
 * cuts it into chunks stored in o->store (those it has already are kept) and lists them in the
 * index `output` (a temporary file beside it until complete). digest (optional) sees the whole
 * stream. Errors are logged by whoever meets them.
 */
int ca_make_index(const ca_make_index_options *o, const char *output, ca_stream_producer produce,
                  void *userdata, ca_digest *digest, ca_chunk_pipeline_stats *ret_stats);

/* ---------------------------------------------------------------- catar encoder (catar_encode.c) */
/*
 * Writes the catar stream `casync make` writes for the same feature flags, byte for byte: walks
 * through directory fds, never following a symlink below the root, children in strcmp order,
 * .caexclude files and nodump flags honoured as casync honours them, goodbye tables as casync
 * lays them out. Bytes go to `write` in pieces as they are produced; memory holds one directory
 * listing per level, never file contents.
 */
typedef struct ca_encoder ca_encoder;
struct stat;

/* A child of a synthetic root: a real directory or regular file (fd), or a file from memory. */
typedef struct ca_encode_entry {
        const char *name;
        int fd;           /* >= 0: encoded as the node it is (directories recursively) */
        const void *data; /* fd < 0: contents of a regular file */
        size_t size;
        mode_t mode;    /* fd < 0: S_IFREG and permission bits */
        uid_t uid;      /* fd < 0 */
        gid_t gid;      /* fd < 0 */
        uint64_t mtime; /* fd < 0: nanoseconds since the epoch */
} ca_encode_entry;

typedef struct ca_encode_stats {
        uint64_t bytes;   /* archive size */
        uint64_t nodes;   /* entries written */
        uint64_t skipped; /* children left out (type disabled, nodump, .caexclude, submount) */
} ca_encode_stats;

/* feature_flags: as stored (normalized, with the digest and EXCLUDE bits). */
int ca_encoder_new(uint64_t feature_flags, ca_stream_writer write, void *userdata,
                   ca_encoder **ret);
/* Encodes the directory open as dir_fd (kept open); `what` names it in messages. */
int ca_encoder_run(ca_encoder *e, int dir_fd, const char *what);
/* Encodes a root directory that exists nowhere: its metadata from root (mode, uid, gid, mtime;
 * no xattrs, ACLs or flags) and exactly `entries` as children (any order; names unique). */
int ca_encoder_run_synthetic(ca_encoder *e, const struct stat *root, const ca_encode_entry *entries,
                             size_t n_entries);
void ca_encoder_get_stats(const ca_encoder *e, ca_encode_stats *ret);
ca_encoder *ca_encoder_free(ca_encoder *e);
static inline void ca_encoder_freep(ca_encoder **e)
{
        ca_encoder_free(*e);
}
