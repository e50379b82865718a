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
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "casync/casync.h"

struct ca_store {
        char *path;
        int dir_fd;
        unsigned flags;
};

/* "<4 hex>/<64 hex>.<16 hex>.tmp" and shorter names. */
#define CHUNK_REL_MAX (5 + CA_CHUNK_ID_HEX_SIZE + 1 + 16 + 4 + 1)

static const char compressed_suffix[] = ".cacnk";

int ca_store_open(const char *path, unsigned flags, ca_store **ret)
{
        _cleanup_(ca_store_freep) ca_store *s = NULL;
        int r;

        if ((flags & CA_STORE_CREATE) && !(flags & CA_STORE_READ_ONLY) && mkdir(path, 0777) < 0 &&
            errno != EEXIST) {
                r = negative_errno();
                return ca_log_errno(CA_LOG_ERR, r, "%s: cannot create chunk store: %s", path,
                                    strerror(-r));
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
        if (create && mkdirat(s->dir_fd, sub, 0777) < 0 && errno != EEXIST)
                return negative_errno();
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

static uint64_t random_u64(void)
{
        static atomic_uint_fast64_t counter;
        struct timespec ts;
        uint64_t v;

        if (getrandom(&v, sizeof(v), GRND_NONBLOCK) == (ssize_t)sizeof(v))
                return v;
        /* Unique enough for a temp name; O_EXCL catches the rest. */
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ((uint64_t)getpid() << 40) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^
               atomic_fetch_add(&counter, 1);
}

/* Writes data to a fresh temp file in subfd; returns the file's name in tmp. */
static int write_temp(int subfd, const char *name, const void *data, size_t size,
                      char tmp[CHUNK_REL_MAX])
{
        int fd = -1, r;

        for (unsigned attempt = 0; fd < 0; attempt++) {
                snprintf(tmp, CHUNK_REL_MAX, "%.64s.%" PRIx64 ".tmp", name, random_u64());
                /* Read-only from birth, as casync makes chunk files (umask applies). */
                fd = openat(subfd, tmp,
                            O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0444);
                if (fd < 0 && (errno != EEXIST || attempt >= 16))
                        return negative_errno();
        }

        r = write_full(fd, data, size);
        if (close(fd) < 0 && r == 0)
                r = negative_errno();
        if (r < 0)
                (void)unlinkat(subfd, tmp, 0);
        return r;
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
        char rel[CHUNK_REL_MAX], tmp[CHUNK_REL_MAX], hex[CA_CHUNK_ID_HEX_SIZE];
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

        r = write_temp(subfd, name, data, size, tmp);
        if (r >= 0)
                r = publish(subfd, tmp, name);
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
