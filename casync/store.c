/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Local chunk store in casync's layout, <dir>/<4 hex>/<64 hex>.cacnk. The store is a cache:
 * every read is verified, a corrupt file is reported and removed, and writers publish complete
 * files only (temp name + rename without replace), so concurrent processes never see partial
 * chunks. A ca_store holds no mutable state, so threads may share one.
 *
 * Failures other than "missing" (-ENOENT) are logged here, naming the file, since only the store
 * knows the paths; callers need not log them again.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "casync/casync.h"
#include "casync/fs_safe.h"

struct ca_store {
        char *path;
        int dir_fd;
        unsigned flags;
};

/* "<4 hex>/<64 hex>.cacnk" and shorter names. */
#define CHUNK_REL_MAX (5 + CA_CHUNK_ID_HEX_SIZE + 6)
/* Fixed, whatever the umask, so that a store can be served: casync's modes. */
#define STORE_DIR_MODE  0755
#define CHUNK_FILE_MODE 0444

static const char compressed_suffix[] = ".cacnk";

int ca_store_open(const char *path, unsigned flags, ca_store **ret)
{
        _cleanup_(ca_store_freep) ca_store *s = NULL;
        int r;

        /* Served as casync serves its stores: 0755 whatever the umask. */
        bool made = false;
        if ((flags & CA_STORE_CREATE) && !(flags & CA_STORE_READ_ONLY)) {
                made = mkdir(path, STORE_DIR_MODE) >= 0;
                if (!made && errno != EEXIST) {
                        r = negative_errno();
                        return ca_log_errno(CA_LOG_ERR, r, "%s: cannot create chunk store: %s",
                                            path, strerror(-r));
                }
        }

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->dir_fd = -1;
        s->flags = flags;
        s->path = strdup(path);
        if (!s->path)
                return -ENOMEM;

        s->dir_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (s->dir_fd >= 0 && made && fchmod(s->dir_fd, STORE_DIR_MODE) < 0)
                return ca_log_errno(CA_LOG_ERR, negative_errno(),
                                    "%s: cannot create chunk store: %m", path);
        if (s->dir_fd < 0) {
                r = negative_errno();
                return ca_log_errno(CA_LOG_ERR, r, "%s: cannot open chunk store: %s", path,
                                    strerror(-r));
        }

        *ret = TAKE_PTR(s);
        return 0;
}

ca_store *ca_store_free(ca_store *s)
{
        if (s) {
                if (s->dir_fd >= 0)
                        close(s->dir_fd);
                free(s->path);
                free(s);
        }
        return NULL;
}

const char *ca_store_path(const ca_store *s)
{
        return s->path;
}

/* rel = "<4 hex>/<64 hex><suffix>"; the 4-hex prefix is rel[0..4). */
static void chunk_rel(const ca_chunk_id *id, const char *suffix, char rel[CHUNK_REL_MAX])
{
        char hex[CA_CHUNK_ID_HEX_SIZE];

        ca_chunk_id_to_hex(id, hex);
        snprintf(rel, CHUNK_REL_MAX, "%.4s/%s%s", hex, hex, suffix);
}

/* The subdirectory, never through a symlink, so writes and removals stay inside the store. */
static int open_subdir(ca_store *s, const char *rel, bool create)
{
        char sub[5];
        int fd;

        memcpy(sub, rel, 4);
        sub[4] = 0;
        if (create)
                return fs_mkdir_at(s->dir_fd, sub, STORE_DIR_MODE);
        fd = openat(s->dir_fd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 ? negative_errno() : fd;
}

/*
 * Removes a file found corrupt, but only if the name still refers to the file we read: another
 * process may have removed it and stored a good copy meanwhile.
 */
static void remove_corrupt(ca_store *s, const char *rel, const struct stat *st)
{
        _cleanup_(closep) int subfd = -1;
        struct stat now;

        if (s->flags & CA_STORE_READ_ONLY)
                return;
        subfd = open_subdir(s, rel, false);
        if (subfd < 0)
                return;
        if (fstatat(subfd, rel + 5, &now, AT_SYMLINK_NOFOLLOW) < 0 || now.st_dev != st->st_dev ||
            now.st_ino != st->st_ino)
                return;
        if (unlinkat(subfd, rel + 5, 0) < 0 && errno != ENOENT) {
                int r = negative_errno();
                ca_log_warning("%s/%s: cannot remove corrupt chunk file: %s", s->path, rel,
                               strerror(-r));
                return;
        }
        ca_log_debug("%s/%s: removed corrupt chunk file", s->path, rel);
}

/* Reads, decodes and verifies one opened chunk file: 0, -EBADMSG (corrupt, logged) or errno. */
static int load_chunk(ca_store *s, int fd, const char *rel, bool compressed, const struct stat *st,
                      const ca_chunk_id *id, uint64_t size, ca_digest_type t, void *buf)
{
        _cleanup_(freep) char *what = NULL;
        _cleanup_(freep) uint8_t *data = NULL;
        uint64_t cap = compressed ? ca_chunk_compressed_size_max(size) : size;
        int r;

        if (asprintf(&what, "%s/%s", s->path, rel) < 0)
                return -ENOMEM;

        if (!S_ISREG(st->st_mode))
                return ca_log_errno(CA_LOG_WARNING, -EBADMSG, "%s: not a regular file", what);
        if (st->st_size == 0)
                return ca_log_errno(CA_LOG_WARNING, -EBADMSG, "%s: chunk file is empty", what);
        if ((uint64_t)st->st_size > cap || (!compressed && (uint64_t)st->st_size != size))
                return ca_log_errno(CA_LOG_WARNING, -EBADMSG,
                                    "%s: file of %" PRIu64 " bytes cannot hold a chunk of %" PRIu64
                                    " bytes",
                                    what, (uint64_t)st->st_size, size);

        if (compressed) {
                data = malloc((size_t)st->st_size);
                if (!data)
                        return -ENOMEM;
        }
        r = read_full(fd, compressed ? data : buf, (size_t)st->st_size);
        if (r == -EBADMSG)
                return ca_log_errno(CA_LOG_WARNING, r, "%s: file shrank while being read", what);
        if (r < 0)
                return ca_log_errno(CA_LOG_ERR, r, "%s: read failed: %s", what, strerror(-r));

        if (compressed) {
                r = ca_chunk_decompress_log(CA_LOG_WARNING, data, (size_t)st->st_size, buf,
                                            (size_t)size, what);
                if (r < 0)
                        return r;
        }
        return ca_chunk_verify_log(CA_LOG_WARNING, what, t, id, buf, (size_t)size);
}

int ca_store_get(ca_store *s, const ca_chunk_id *id, uint64_t size, ca_digest_type t, void *buf)
{
        const int oflags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;
        _cleanup_(closep) int fd = -1;
        char rel[CHUNK_REL_MAX];
        bool compressed = true;
        struct stat st;
        int r;

        if (size < CA_CHUNK_SIZE_LIMIT_MIN || size > CA_CHUNK_SIZE_LIMIT_MAX)
                return -EINVAL;

        chunk_rel(id, compressed_suffix, rel);
        fd = openat(s->dir_fd, rel, oflags);
        if (fd < 0 && errno == ENOENT) {
                /* casync also reads uncompressed chunks stored without a suffix. */
                compressed = false;
                chunk_rel(id, "", rel);
                fd = openat(s->dir_fd, rel, oflags);
        }
        if (fd < 0) {
                r = negative_errno();
                /* ELOOP: a symlink (to /dev/null) is casync's "known missing" marker. */
                if (r == -ENOENT || r == -ELOOP)
                        return -ENOENT;
                return ca_log_errno(CA_LOG_ERR, r, "%s/%s: cannot open: %s", s->path, rel,
                                    strerror(-r));
        }
        if (fstat(fd, &st) < 0) {
                r = negative_errno();
                return ca_log_errno(CA_LOG_ERR, r, "%s/%s: cannot stat: %s", s->path, rel,
                                    strerror(-r));
        }

        r = load_chunk(s, fd, rel, compressed, &st, id, size, t, buf);
        if (r == -EBADMSG) {
                remove_corrupt(s, rel, &st);
                return -ENOENT;
        }
        return r;
}

static int is_regular_at(int dir_fd, const char *rel)
{
        struct stat st;

        if (fstatat(dir_fd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT || errno == ENOTDIR ? 0 : negative_errno();
        return S_ISREG(st.st_mode);
}

int ca_store_has(ca_store *s, const ca_chunk_id *id)
{
        char rel[CHUNK_REL_MAX];
        int r;

        chunk_rel(id, compressed_suffix, rel);
        r = is_regular_at(s->dir_fd, rel);
        if (r != 0)
                return r;
        chunk_rel(id, "", rel);
        return is_regular_at(s->dir_fd, rel);
}

/*
 * Writes data to a fresh temp file beside name in subfd (its name in *ret_tmp, of
 * fs_temp_prefix's form, so that gc can tell when its writer is gone). Returns the file, still
 * open: its flock tells gc in another pid namespace that it is in use until published.
 */
static int write_temp(int subfd, const char *name, const void *data, size_t size, char **ret_tmp)
{
        _cleanup_(freep) char *prefix = NULL, *tmp = NULL;
        if (fs_temp_prefix(name, &prefix) < 0)
                return -ENOMEM;
        _cleanup_(closep) int fd = fs_mkstemp_at(subfd, prefix, &tmp);
        if (fd < 0)
                return fd;
        /* Read-only, as casync makes chunk files. */
        int r = write_full(fd, data, size);
        if (r >= 0 && fchmod(fd, CHUNK_FILE_MODE) < 0)
                r = negative_errno();
        if (r < 0) {
                (void)unlinkat(subfd, tmp, 0);
                return r;
        }
        *ret_tmp = TAKE_PTR(tmp);
        return TAKE_FD(fd);
}

/* Publishes tmp as name unless name exists; an existing chunk counts as success. */
static int publish(int subfd, const char *tmp, const char *name)
{
        int r = 0;

        if (renameat2(subfd, tmp, subfd, name, RENAME_NOREPLACE) == 0)
                return 0;
        if (errno == EINVAL || errno == ENOSYS) {
                /* No RENAME_NOREPLACE on this file system: link(2) never replaces either. */
                if (linkat(subfd, tmp, subfd, name, 0) < 0 && errno != EEXIST)
                        r = negative_errno();
        } else if (errno != EEXIST)
                r = negative_errno();
        (void)unlinkat(subfd, tmp, 0);
        return r;
}

int ca_store_put_compressed(ca_store *s, const ca_chunk_id *id, const void *data, size_t size)
{
        _cleanup_(closep) int subfd = -1;
        char rel[CHUNK_REL_MAX], hex[CA_CHUNK_ID_HEX_SIZE];
        _cleanup_(freep) char *tmp = NULL;
        const char *name;
        int r;

        if (s->flags & CA_STORE_READ_ONLY)
                return -EROFS;
        if (size == 0)
                return -EINVAL;

        chunk_rel(id, compressed_suffix, rel);
        name = rel + 5;
        subfd = open_subdir(s, rel, true);
        if (subfd < 0)
                return ca_log_errno(CA_LOG_ERR, subfd, "%s/%.4s: cannot open directory: %s",
                                    s->path, rel, strerror(-subfd));

        /* casync counts either name as present, and never rewrites a chunk. */
        r = is_regular_at(subfd, name);
        if (r == 0)
                r = is_regular_at(subfd, ca_chunk_id_to_hex(id, hex));
        if (r > 0)
                return 0;

        /* A writer killed between its temp file and the rename left one: whoever writes the
         * chunk next removes it (if its writer is gone), so a rerun leaves nothing behind. */
        fs_temp_reclaim_siblings(subfd, name, s->path);
        _cleanup_(closep) int fd = write_temp(subfd, name, data, size, &tmp);
        r = fd < 0 ? fd : publish(subfd, tmp, name);
        /* Closed after the rename, to keep the flock; every read verifies the chunk anyway. */
        if (ca_errno_is_no_space(r))
                return ca_log_write_error(s->path, r);
        if (r < 0)
                return ca_log_errno(CA_LOG_ERR, r, "%s/%s: cannot store chunk: %s", s->path, rel,
                                    strerror(-r));
        return 0;
}

int ca_store_put(ca_store *s, const ca_chunk_id *id, const void *data, size_t size)
{
        _cleanup_(freep) void *z = NULL;
        size_t z_size;
        int r;

        if (s->flags & CA_STORE_READ_ONLY)
                return -EROFS;
        /* Skip the compression work when the chunk is already there. */
        r = ca_store_has(s, id);
        if (r > 0)
                return 0;

        r = ca_chunk_compress(data, size, &z, &z_size);
        if (r == -EIO) {
                char hex[CA_CHUNK_ID_HEX_SIZE];
                return ca_log_errno(CA_LOG_ERR, r, "chunk %s: zstd compression failed",
                                    ca_chunk_id_to_hex(id, hex));
        }
        if (r < 0)
                return r;
        return ca_store_put_compressed(s, id, z, z_size);
}

int ca_store_remove(ca_store *s, const ca_chunk_id *id)
{
        _cleanup_(closep) int subfd = -1;
        char rel[CHUNK_REL_MAX];
        char hex[CA_CHUNK_ID_HEX_SIZE];
        int r = 0;

        if (s->flags & CA_STORE_READ_ONLY)
                return -EROFS;

        chunk_rel(id, compressed_suffix, rel);
        subfd = open_subdir(s, rel, false);
        if (subfd == -ENOENT)
                return 0;
        if (subfd < 0)
                return ca_log_errno(CA_LOG_ERR, subfd, "%s/%.4s: cannot open directory: %s",
                                    s->path, rel, strerror(-subfd));

        ca_chunk_id_to_hex(id, hex);
        if (unlinkat(subfd, rel + 5, 0) < 0 && errno != ENOENT)
                r = negative_errno();
        if (unlinkat(subfd, hex, 0) < 0 && errno != ENOENT && r == 0)
                r = negative_errno();
        if (r < 0)
                return ca_log_errno(CA_LOG_ERR, r, "store %s: cannot remove chunk %s: %s", s->path,
                                    hex, strerror(-r));
        return 0;
}

int ca_store_list_get(void *userdata, const ca_index_item *item, ca_digest_type t, void *buf)
{
        const ca_store_list *l = userdata;

        for (size_t k = 0; k < l->n_stores; k++) {
                int r = ca_store_get(l->stores[k], &item->id, item->size, t, buf);
                /* A real error (EIO, EACCES) stops the search: never mask a broken store. */
                if (r != -ENOENT)
                        return r;
        }
        return -ENOENT;
}
