/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The image store: where fetched images, their rendered trees and the shared chunk store live
 * (layout in aci.h). Every change goes through a temp name and a rename, under the image's lock;
 * every process holds the store lock shared, so gc (exclusive) never runs beside a fetch.
 */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#include "aci/aci.h"
#include "casync/fs_safe.h"
#include "casync/writeback.h"

#define RECORD_SIZE_MAX (256 * 1024)

struct aci_store {
        char *path;
        int fd, images_fd, trees_fd, locks_fd, tmp_fd;
        int lock_fd;    /* locks/store.lock, shared (exclusive during gc) */
        int own_tmp_fd; /* tmp/<ours>, flocked */
        char *own_tmp_path;
        int seeds_fd; /* seeds/, opened on first use */
        char *seeds_path;
        unsigned n_discarded; /* names of what discard_at moved into the work directory */
        ca_store *chunks;
};

void aci_image_record_done(aci_image_record *r)
{
        if (!r)
                return;
        free(r->name);
        for (size_t i = 0; i < r->n_labels; i++) {
                free((char *)r->labels[i].name);
                free((char *)r->labels[i].value);
        }
        free(r->labels);
        free(r->index_url);
        free(r->etag);
        free(r->signer);
        free(r->signer_fingerprint);
        *r = (aci_image_record){.max_age = -1};
}

void aci_image_records_free(aci_image_record *r, size_t n)
{
        for (size_t i = 0; i < n; i++)
                aci_image_record_done(&r[i]);
        free(r);
}

bool aci_record_newer(const aci_image_record *a, const aci_image_record *b)
{
        return a->fetched != b->fetched ? a->fetched > b->fetched
                                        : a->fetched_nsec > b->fetched_nsec;
}

void aci_key_from_id(const char *id, char key[ACI_KEY_SIZE])
{
        snprintf(key, ACI_KEY_SIZE, "%.*s", ACI_KEY_SIZE - 1, id);
}

static bool is_hex(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return true;
}

static bool key_is_valid(const char *k)
{
        return strlen(k) == ACI_KEY_SIZE - 1 && strncmp(k, "sha512-", 7) == 0 &&
               is_hex(k + 7, ACI_KEY_SIZE - 8);
}

/* The store's own directories: private, whatever the umask. */
#define STORE_DIR_MODE 0700
/* Its files, and the top of images/<key> and trees/<key> (a runtime reads them as root). */
#define STORE_FILE_MODE      0644
#define STORE_ENTRY_DIR_MODE 0755

static int mkdir_sub(int dir_fd, const char *name, int *ret_fd)
{
        int fd = fs_mkdir_at(dir_fd, name, STORE_DIR_MODE);
        if (fd < 0)
                return fd;
        *ret_fd = fd;
        return 0;
}

/* Removes tmp/ entries whose owner is gone (their flock is free). */
static void reclaim_tmp(aci_store *s)
{
        DIR *d = fs_opendir_at(s->tmp_fd);
        if (!d)
                return;
        struct dirent *de;
        while (fs_readdir(d, &de) > 0) {
                _cleanup_(closep) int fd =
                    fs_open_beneath(s->tmp_fd, de->d_name, O_RDONLY | O_DIRECTORY, 0);
                if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0)
                        continue;
                ca_log_debug("%s/tmp/%s: left by a process that is gone, removing", s->path,
                             de->d_name);
                fs_remove_tree_at(s->tmp_fd, de->d_name);
        }
        closedir(d);
}

int aci_store_open(const char *dir, aci_store **ret)
{
        /* The store is private: trees may hold setuid files and devices. */
        int r = fs_mkdir_parents(dir, STORE_DIR_MODE);
        if (r < 0)
                return ca_log_errno(CA_LOG_ERR, r, "%s: cannot create: %s", dir, strerror(-r));
        aci_store *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->fd = s->images_fd = s->trees_fd = s->locks_fd = s->tmp_fd = s->lock_fd = s->own_tmp_fd =
            s->seeds_fd = -1;
        s->path = strdup(dir);
        if (!s->path) {
                aci_store_free(s);
                return -ENOMEM;
        }
        s->fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (s->fd < 0) {
                r = ca_log_errno(CA_LOG_ERR, negative_errno(), "%s: %m", dir);
                aci_store_free(s);
                return r;
        }
        const struct {
                const char *name;
                int *fd;
        } subs[] = {{"images", &s->images_fd},
                    {"trees", &s->trees_fd},
                    {"locks", &s->locks_fd},
                    {"tmp", &s->tmp_fd}};
        for (size_t i = 0; i < ELEMENTSOF(subs); i++) {
                r = mkdir_sub(s->fd, subs[i].name, subs[i].fd);
                if (r < 0) {
                        ca_log_error("%s/%s: %s", dir, subs[i].name, strerror(-r));
                        aci_store_free(s);
                        return r;
                }
        }
        s->lock_fd =
            openat(s->locks_fd, "store.lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (s->lock_fd >= 0 && flock(s->lock_fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK)
                ca_log_info("waiting for a gc of %s to finish", dir);
        if (s->lock_fd < 0 || flock(s->lock_fd, LOCK_SH) < 0) {
                r = ca_log_errno(CA_LOG_ERR, negative_errno(), "%s/locks/store.lock: %m", dir);
                aci_store_free(s);
                return r;
        }
        _cleanup_(freep) char *chunks = NULL;
        if (asprintf(&chunks, "%s/chunks", dir) < 0) {
                aci_store_free(s);
                return -ENOMEM;
        }
        r = ca_store_open(chunks, CA_STORE_CREATE, &s->chunks);
        if (r < 0) {
                aci_store_free(s);
                return r;
        }
        reclaim_tmp(s);
        *ret = s;
        return 0;
}

aci_store *aci_store_free(aci_store *s)
{
        if (!s)
                return NULL;
        if (s->own_tmp_fd >= 0) {
                const char *base = strrchr(s->own_tmp_path, '/') + 1;
                fs_remove_tree_at(s->tmp_fd, base);
                close(s->own_tmp_fd);
        }
        free(s->own_tmp_path);
        free(s->seeds_path);
        int fds[] = {s->fd,     s->images_fd, s->trees_fd, s->locks_fd,
                     s->tmp_fd, s->lock_fd,   s->seeds_fd};
        for (size_t i = 0; i < ELEMENTSOF(fds); i++)
                if (fds[i] >= 0)
                        close(fds[i]);
        ca_store_free(s->chunks);
        free(s->path);
        free(s);
        return NULL;
}

const char *aci_store_path(const aci_store *s)
{
        return s->path;
}

int aci_store_fd(const aci_store *s)
{
        return s->fd;
}

ca_store *aci_store_chunks(const aci_store *s)
{
        return s->chunks;
}

int aci_store_lock_exclusive(aci_store *s)
{
        if (flock(s->lock_fd, LOCK_EX | LOCK_NB) >= 0)
                return 0;
        if (errno != EWOULDBLOCK)
                return ca_log_errno(CA_LOG_ERR, negative_errno(), "%s/locks/store.lock: %m",
                                    s->path);
        ca_log_info("waiting for other acfetch processes using %s to finish", s->path);
        /* Drop the shared lock first: two processes upgrading at once would deadlock. */
        flock(s->lock_fd, LOCK_UN);
        if (flock(s->lock_fd, LOCK_EX) < 0)
                return ca_log_errno(CA_LOG_ERR, negative_errno(), "%s/locks/store.lock: %m",
                                    s->path);
        return 0;
}

void aci_store_unlock(aci_store *s)
{
        /* Only the flock goes: the fd stays, as the store's other directories do. */
        (void)flock(s->lock_fd, LOCK_UN);
}

int aci_store_tmp(aci_store *s, int *ret_fd, const char **ret_path)
{
        for (unsigned attempt = 0; s->own_tmp_fd < 0 && attempt < 10; attempt++) {
                _cleanup_(freep) char *name = NULL;
                int r = fs_mkdtemp_at(s->tmp_fd, "work-", &name);
                if (r < 0)
                        return ca_log_errno(CA_LOG_ERR, r, "%s/tmp: %s", s->path, strerror(-r));
                _cleanup_(closep) int fd =
                    fs_open_beneath(s->tmp_fd, name, O_RDONLY | O_DIRECTORY, 0);
                /* Until it is locked, another process starting up may take it for stale and
                 * remove it, before the open (ENOENT) or before the flock (no links left). */
                if (fd == -ENOENT)
                        continue;
                if (fd < 0 || flock(fd, LOCK_EX) < 0)
                        return ca_log_errno(CA_LOG_ERR, fd < 0 ? fd : negative_errno(),
                                            "%s/tmp/%s: cannot lock", s->path, name);
                struct stat st;
                if (fstat(fd, &st) < 0 || st.st_nlink == 0)
                        continue;
                if (asprintf(&s->own_tmp_path, "%s/tmp/%s", s->path, name) < 0)
                        return -ENOMEM;
                s->own_tmp_fd = TAKE_FD(fd);
        }
        if (s->own_tmp_fd < 0)
                return -EBUSY;
        *ret_fd = s->own_tmp_fd;
        if (ret_path)
                *ret_path = s->own_tmp_path;
        return 0;
}

int aci_store_seeds(aci_store *s, int *ret_fd, const char **ret_path)
{
        if (s->seeds_fd < 0) {
                _cleanup_(freep) char *path = NULL;
                if (asprintf(&path, "%s/seeds", s->path) < 0)
                        return -ENOMEM;
                int r = mkdir_sub(s->fd, "seeds", &s->seeds_fd);
                if (r < 0)
                        return ca_log_errno(CA_LOG_ERR, r, "%s: %s", path, strerror(-r));
                s->seeds_path = TAKE_PTR(path);
        }
        *ret_fd = s->seeds_fd;
        if (ret_path)
                *ret_path = s->seeds_path;
        return 0;
}

int aci_store_lock_image(aci_store *s, const char *key)
{
        _cleanup_(freep) char *name = NULL;
        if (asprintf(&name, "%s.lock", key) < 0)
                return -ENOMEM;
        int fd = openat(s->locks_fd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return ca_log_errno(CA_LOG_ERR, negative_errno(), "%s/locks/%s: %m", s->path, name);
        if (flock(fd, LOCK_EX) < 0) {
                int r =
                    ca_log_errno(CA_LOG_ERR, negative_errno(), "%s/locks/%s: %m", s->path, name);
                close(fd);
                return r;
        }
        return fd;
}

char *aci_store_image_file(const aci_store *s, const char *key, const char *file)
{
        char *p = NULL;
        if (asprintf(&p, "%s/images/%s/%s", s->path, key, file) < 0)
                return NULL;
        return p;
}

char *aci_store_tree_path(const aci_store *s, const char *key)
{
        char *p = NULL;
        if (asprintf(&p, "%s/trees/%s", s->path, key) < 0)
                return NULL;
        return p;
}

/* ---------------------------------------------------------------- records */

static char *dup_or_null(const char *s)
{
        return s ? strdup(s) : NULL;
}

/* The optional signer fields: "signer" (user ID) and "signerFingerprint". */
static int signer_to_json(const aci_image_record *r, json_t *j)
{
        if (r->signer_fingerprint &&
            json_object_set_new(j, "signerFingerprint", json_string(r->signer_fingerprint)) < 0)
                return -ENOMEM;
        if (r->signer && json_object_set_new(j, "signer", json_string(r->signer)) < 0)
                return -ENOMEM;
        return 0;
}

static int signer_from_json(json_t *j, const char *what, aci_image_record *r)
{
        json_t *fpr = json_object_get(j, "signerFingerprint"), *uid = json_object_get(j, "signer");
        if ((fpr && !json_is_string(fpr)) || (uid && !json_is_string(uid)))
                return ca_bad("%s: malformed signer", what);
        if (fpr && !(r->signer_fingerprint = strdup(json_string_value(fpr))))
                return -ENOMEM;
        if (uid && !(r->signer = strdup(json_string_value(uid))))
                return -ENOMEM;
        return 0;
}

static json_t *record_to_json(const aci_image_record *r)
{
        json_t *labels = json_array();
        for (size_t i = 0; labels && i < r->n_labels; i++)
                json_array_append_new(labels, json_pack("{s:s,s:s}", "name", r->labels[i].name,
                                                        "value", r->labels[i].value));
        /* s* leaves out a NULL value: "absent", which is what s?s reads back. */
        return json_pack("{s:s,s:s,s:o,s:s*,s:s*,s:I,s:I,s:I,s:I,s:b,s:s}", "id", r->id, "name",
                         r->name, "labels", labels, "indexURL", r->index_url, "etag", r->etag,
                         "maxAge", (json_int_t)r->max_age, "fetched", (json_int_t)r->fetched,
                         "fetchedNsec", (json_int_t)r->fetched_nsec, "size", (json_int_t)r->size,
                         "latest", r->latest, "indexDigest", r->index_digest);
}

static int record_from_json(json_t *j, const char *what, aci_image_record *r)
{
        const char *id = NULL, *name = NULL, *url = NULL, *etag = NULL, *digest = NULL;
        json_t *labels = NULL;
        json_int_t max_age = -1, fetched = 0, fetched_nsec = 0, size = 0;
        int latest = 0;
        json_error_t err;
        *r = (aci_image_record){.max_age = -1};
        if (json_unpack_ex(j, &err, 0, "{s:s,s:s,s:o,s?s,s?s,s:I,s:I,s?I,s:I,s:b,s:s}", "id", &id,
                           "name", &name, "labels", &labels, "indexURL", &url, "etag", &etag,
                           "maxAge", &max_age, "fetched", &fetched, "fetchedNsec", &fetched_nsec,
                           "size", &size, "latest", &latest, "indexDigest", &digest) < 0)
                return ca_bad("%s: %s", what, err.text);
        if (strlen(id) != ACI_ID_SIZE - 1 || strncmp(id, "sha512-", 7) != 0 ||
            !is_hex(id + 7, ACI_ID_SIZE - 8) || !json_is_array(labels) ||
            json_array_size(labels) > ACI_LABELS_MAX || strlen(digest) != 64 || size < 0)
                return ca_bad("%s: malformed image record", what);
        snprintf(r->id, sizeof(r->id), "%s", id);
        aci_key_from_id(id, r->key);
        snprintf(r->index_digest, sizeof(r->index_digest), "%s", digest);
        r->name = strdup(name);
        r->index_url = dup_or_null(url);
        r->etag = dup_or_null(etag);
        r->max_age = max_age;
        r->fetched = fetched;
        r->fetched_nsec = fetched_nsec >= 0 && fetched_nsec < 1000000000 ? fetched_nsec : 0;
        r->size = (uint64_t)size;
        r->latest = latest;
        r->labels = calloc(json_array_size(labels) + 1, sizeof(aci_label));
        if (!r->name || !r->labels || (url && !r->index_url) || (etag && !r->etag)) {
                aci_image_record_done(r);
                return -ENOMEM;
        }
        size_t i;
        json_t *l;
        json_array_foreach(labels, i, l)
        {
                const char *ln = NULL, *lv = NULL;
                if (json_unpack(l, "{s:s,s:s}", "name", &ln, "value", &lv) < 0) {
                        aci_image_record_done(r);
                        return ca_bad("%s: malformed label", what);
                }
                r->labels[r->n_labels].name = strdup(ln);
                r->labels[r->n_labels].value = strdup(lv);
                r->n_labels++;
                if (!r->labels[i].name || !r->labels[i].value) {
                        aci_image_record_done(r);
                        return -ENOMEM;
                }
        }
        int k = signer_from_json(j, what, r);
        if (k < 0)
                aci_image_record_done(r);
        return k;
}

static int read_record_at(int dir_fd, const char *what, aci_image_record *r)
{
        _cleanup_(closep) int fd = fs_open_beneath(dir_fd, "image.json", O_RDONLY, 0);
        if (fd < 0)
                return fd;
        struct stat st;
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode) || st.st_size > RECORD_SIZE_MAX)
                return ca_bad("%s: not a regular file of at most %d bytes", what, RECORD_SIZE_MAX);
        _cleanup_(freep) char *buf = malloc((size_t)st.st_size + 1);
        if (!buf)
                return -ENOMEM;
        int k = read_full(fd, buf, (size_t)st.st_size);
        if (k < 0)
                return ca_log_errno(CA_LOG_ERR, k, "%s: read: %s", what, strerror(-k));
        json_error_t err;
        json_t *j = json_loadb(buf, (size_t)st.st_size, JSON_REJECT_DUPLICATES, &err);
        if (!j)
                return ca_bad("%s: line %d: %s", what, err.line, err.text);
        k = record_from_json(j, what, r);
        json_decref(j);
        return k;
}

/* Writes data as dir_fd/name through a temp file, synced, then renamed over; not logged: the
 * caller reports the image it was storing. */
static int write_atomic_at(int dir_fd, const char *name, const void *data, size_t size)
{
        return ca_write_file_atomic_at(dir_fd, name, NULL, STORE_FILE_MODE, CA_ATOMIC_SYNC, data,
                                       size);
}

static int write_record_at(int dir_fd, const aci_image_record *r)
{
        json_t *j = record_to_json(r);
        if (!j)
                return -ENOMEM;
        if (signer_to_json(r, j) < 0) {
                json_decref(j);
                return -ENOMEM;
        }
        _cleanup_(freep) char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
        json_decref(j);
        if (!text)
                return -ENOMEM;
        return write_atomic_at(dir_fd, "image.json", text, strlen(text));
}

int aci_store_get(aci_store *s, const char *key_or_id, aci_image_record *ret)
{
        char key[ACI_KEY_SIZE];
        aci_key_from_id(key_or_id, key);
        if (!key_is_valid(key))
                return -EINVAL;
        _cleanup_(closep) int fd = fs_open_beneath(s->images_fd, key, O_RDONLY | O_DIRECTORY, 0);
        if (fd < 0)
                return fd == -ENOENT ? -ENOENT
                                     : ca_log_errno(CA_LOG_ERR, fd, "%s/images/%s: %s", s->path,
                                                    key, strerror(-fd));
        _cleanup_(freep) char *what = NULL;
        if (asprintf(&what, "%s/images/%s/image.json", s->path, key) < 0)
                return -ENOMEM;
        int r = read_record_at(fd, what, ret);
        if (r == -ENOENT)
                return ca_log_errno(CA_LOG_ERR, -EBADMSG, "%s: missing", what);
        if (r >= 0 && strcmp(ret->key, key) != 0) {
                aci_image_record_done(ret);
                return ca_bad("%s: record names image %s", what, ret->id);
        }
        return r;
}

int aci_store_list(aci_store *s, aci_image_record **ret, size_t *n)
{
        DIR *d = fs_opendir_at(s->images_fd);
        if (!d)
                return ca_log_errno(CA_LOG_ERR, negative_errno(), "%s/images: %m", s->path);
        aci_image_record *list = NULL;
        size_t count = 0, alloc = 0;
        struct dirent *de;
        int r;
        while ((r = fs_readdir(d, &de)) > 0) {
                if (!key_is_valid(de->d_name))
                        continue; /* temp names of images being added */
                if (count == alloc) {
                        alloc = alloc ? alloc * 2 : 16;
                        aci_image_record *m = realloc(list, alloc * sizeof(*list));
                        if (!m) {
                                r = -ENOMEM;
                                break;
                        }
                        list = m;
                }
                int k = aci_store_get(s, de->d_name, &list[count]);
                if (k == -ENOMEM) {
                        r = k;
                        break;
                }
                if (k < 0) {
                        if (k != -ENOENT)
                                ca_log_warning("%s/images/%s: skipped (unreadable record)", s->path,
                                               de->d_name);
                        continue;
                }
                count++;
        }
        closedir(d);
        if (r < 0) {
                aci_image_records_free(list, count);
                return r;
        }
        *ret = list;
        *n = count;
        return 0;
}

/* ---------------------------------------------------------------- changes */

static int add_locked(aci_store *s, const aci_image_record *r, const void *index, size_t index_size,
                      const void *sig, size_t sig_size, const void *manifest, size_t manifest_size)
{
        _cleanup_(closep) int fd = fs_open_beneath(s->images_fd, r->key, O_RDONLY | O_DIRECTORY, 0);
        if (fd >= 0) {
                int w = sig ? write_atomic_at(fd, "index.caidx.asc", sig, sig_size) : 0;
                return w < 0 ? w : write_record_at(fd, r);
        }
        if (fd != -ENOENT)
                return fd;

        /* Staged in this process's tmp/ work directory, not in images/: a process killed before
         * the rename leaves it where the next one to open the store reclaims it. */
        int work_fd;
        int k = aci_store_tmp(s, &work_fd, NULL);
        if (k < 0)
                return k;
        _cleanup_(freep) char *tmp = NULL;
        k = fs_mkdtemp_at(work_fd, ".new-", &tmp);
        if (k < 0)
                return k;
        fd = fs_open_beneath(work_fd, tmp, O_RDONLY | O_DIRECTORY, 0);
        if (fd < 0)
                k = fd;
        if (k >= 0)
                k = write_atomic_at(fd, "index.caidx", index, index_size);
        if (k >= 0)
                k = write_atomic_at(fd, "manifest", manifest, manifest_size);
        if (k >= 0 && sig)
                k = write_atomic_at(fd, "index.caidx.asc", sig, sig_size);
        if (k >= 0)
                k = write_record_at(fd, r);
        if (k >= 0 && fchmod(fd, STORE_ENTRY_DIR_MODE) < 0)
                k = negative_errno();
        if (k >= 0 && fsync(fd) < 0)
                k = negative_errno();
        if (k >= 0 && renameat(work_fd, tmp, s->images_fd, r->key) < 0)
                k = negative_errno();
        if (k >= 0 && fsync(s->images_fd) < 0)
                k = negative_errno();
        if (k < 0)
                fs_remove_tree_at(work_fd, tmp);
        return k;
}

int aci_store_add(aci_store *s, const aci_image_record *r, const void *index, size_t index_size,
                  const void *manifest, size_t manifest_size)
{
        return aci_store_add_signed(s, r, index, index_size, NULL, 0, manifest, manifest_size);
}

int aci_store_add_signed(aci_store *s, const aci_image_record *r, const void *index,
                         size_t index_size, const void *signature, size_t signature_size,
                         const void *manifest, size_t manifest_size)
{
        _cleanup_(closep) int lock = aci_store_lock_image(s, r->key);
        if (lock < 0)
                return lock;
        int k =
            add_locked(s, r, index, index_size, signature, signature_size, manifest, manifest_size);
        if (k < 0)
                return ca_log_errno(CA_LOG_ERR, k, "%s/images/%s: cannot store image: %s", s->path,
                                    r->key, strerror(-k));
        return 0;
}

int aci_store_update_record(aci_store *s, const aci_image_record *r)
{
        _cleanup_(closep) int lock = aci_store_lock_image(s, r->key);
        if (lock < 0)
                return lock;
        _cleanup_(closep) int fd = fs_open_beneath(s->images_fd, r->key, O_RDONLY | O_DIRECTORY, 0);
        int k = fd < 0 ? fd : write_record_at(fd, r);
        if (k < 0)
                return ca_log_errno(CA_LOG_ERR, k, "%s/images/%s/image.json: %s", s->path, r->key,
                                    strerror(-k));
        return 0;
}

/*
 * The one way a tree or an image leaves the store: renamed into this process's work directory,
 * the rename synced, then deleted there. Removed in place, a tree killed part-way would keep its
 * `rendered` marker without some of its files; this way it stops being in the store before its
 * first file goes, and if we are killed, the next process to open the store reclaims the work
 * directory. A missing entry counts as removed.
 */
static int discard_at(aci_store *s, int parent_fd, const char *name)
{
        int work_fd;
        int r = aci_store_tmp(s, &work_fd, NULL);
        if (r < 0)
                return r;
        char away[32];
        snprintf(away, sizeof(away), "discarded-%u", s->n_discarded++);
        r = renameat(parent_fd, name, work_fd, away) < 0 ? negative_errno() : 0;
        if (r == -EACCES && fchmodat(parent_fd, name, 0700, AT_SYMLINK_NOFOLLOW) >= 0)
                /* Moving a directory rewrites its "..": a read-only one must open up first. */
                r = renameat(parent_fd, name, work_fd, away) < 0 ? negative_errno() : 0;
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        if (fsync(parent_fd) < 0)
                return negative_errno();
        return fs_remove_tree_at(work_fd, away);
}

int aci_store_discard_tree(aci_store *s, const char *name)
{
        int r = discard_at(s, s->trees_fd, name);
        if (r < 0)
                return ca_log_errno(CA_LOG_ERR, r, "%s/trees/%s: cannot remove: %s", s->path, name,
                                    strerror(-r));
        return 0;
}

int aci_store_remove(aci_store *s, const char *key)
{
        if (!key_is_valid(key))
                return -EINVAL;
        _cleanup_(closep) int lock = aci_store_lock_image(s, key);
        if (lock < 0)
                return lock;
        /* The tree first: a tree without its image is garbage, an image without a tree is not. */
        int r = discard_at(s, s->trees_fd, key);
        if (r >= 0)
                r = discard_at(s, s->images_fd, key);
        if (r < 0)
                return ca_log_errno(CA_LOG_ERR, r, "%s: cannot remove image %s: %s", s->path, key,
                                    strerror(-r));
        return 0;
}

static int tree_ready_locked(aci_store *s, const char *key)
{
        _cleanup_(closep) int fd = fs_open_beneath(s->trees_fd, key, O_RDONLY | O_DIRECTORY, 0);
        if (fd == -ENOENT)
                return 0;
        if (fd < 0)
                return ca_log_errno(CA_LOG_ERR, fd, "%s/trees/%s: %s", s->path, key, strerror(-fd));
        struct stat st;
        if (fstatat(fd, "rendered", &st, AT_SYMLINK_NOFOLLOW) >= 0 && S_ISREG(st.st_mode))
                return 1;
        ca_log_debug("%s/trees/%s: incomplete, removing", s->path, key);
        int r = discard_at(s, s->trees_fd, key);
        if (r < 0)
                return ca_log_errno(CA_LOG_ERR, r, "%s/trees/%s: %s", s->path, key, strerror(-r));
        return 0;
}

int aci_store_tree_ready(aci_store *s, const char *key)
{
        if (!key_is_valid(key))
                return -EINVAL;
        _cleanup_(closep) int lock = aci_store_lock_image(s, key);
        if (lock < 0)
                return lock;
        return tree_ready_locked(s, key);
}

int aci_store_tree_intact(aci_store *s, const char *key, bool check)
{
        if (!key_is_valid(key))
                return -EINVAL;
        _cleanup_(closep) int lock = aci_store_lock_image(s, key);
        if (lock < 0)
                return lock;
        int r = tree_ready_locked(s, key);
        if (r <= 0 || !check)
                return r;
        _cleanup_(closep) int fd = fs_open_beneath(s->trees_fd, key, O_RDONLY | O_DIRECTORY, 0);
        r = fd < 0 ? fd : aci_tree_record_check(fd);
        if (r > 0)
                return 1;
        if (r == -ENOENT)
                ca_log_info("%s/trees/%s: rendered by an older acfetch (no record to check it "
                            "against); rendering it again from the store",
                            s->path, key);
        else if (r == 0 || r == -EBADMSG)
                ca_log_info("%s/trees/%s: modified since it was rendered; rendering it again "
                            "from the store",
                            s->path, key);
        else
                return ca_log_errno(CA_LOG_ERR, r, "%s/trees/%s: %s", s->path, key, strerror(-r));
        r = discard_at(s, s->trees_fd, key);
        if (r < 0)
                return ca_log_errno(CA_LOG_ERR, r, "%s/trees/%s: cannot remove: %s", s->path, key,
                                    strerror(-r));
        return 0;
}

static int install_locked(aci_store *s, const char *key, int parent_fd, const char *tmp_name,
                          const aci_render_options *o)
{
        _cleanup_(closep) int fd = fs_open_beneath(parent_fd, tmp_name, O_RDONLY | O_DIRECTORY, 0);
        if (fd < 0)
                return ca_log_errno(CA_LOG_ERR, fd, "%s: %s", tmp_name, strerror(-fd));
        /* Its own mode is the store's, not the archive's (whatever the umask of its maker). */
        if (fchmod(fd, STORE_ENTRY_DIR_MODE) < 0)
                return ca_log_errno(CA_LOG_ERR, negative_errno(), "%s: %m", tmp_name);
        /* The markers must not change the tree's own times (they are the image's). */
        struct stat st;
        if (fstat(fd, &st) < 0)
                return ca_log_errno(CA_LOG_ERR, negative_errno(), "%s: %m", tmp_name);
        /*
         * Everything written must be on disk before `rendered` says it is. The tree's data goes
         * there while the record's walk stats it (the walk reads no field a flush changes); a
         * second sync then takes the record and whatever else was written since.
         */
        ca_sync_job sync;
        ca_sync_begin(&sync, fd);
        /* What the tree is now, for the check before it is handed out. */
        int r = aci_tree_record_write(fd, !o->no_same_owner);
        int k = ca_sync_end(&sync);
        if (r < 0)
                return ca_log_errno(CA_LOG_ERR, r, "%s/trees/%s/%s: %s", s->path, key,
                                    ACI_TREE_RECORD, strerror(-r));
        if (k >= 0 && syncfs(fd) < 0)
                k = negative_errno();
        if (k < 0)
                return ca_log_errno(CA_LOG_ERR, k, "%s/trees: sync: %s", s->path, strerror(-k));
        if (renameat(parent_fd, tmp_name, s->trees_fd, key) < 0)
                return ca_log_errno(CA_LOG_ERR, negative_errno(), "%s/trees/%s: %m", s->path, key);
        r = write_atomic_at(fd, "rendered", "", 0);
        if (r >= 0 && futimens(fd, (struct timespec[]){st.st_atim, st.st_mtim}) < 0)
                r = negative_errno();
        if (r >= 0 && fsync(s->trees_fd) < 0)
                r = negative_errno();
        if (r < 0)
                return ca_log_errno(CA_LOG_ERR, r, "%s/trees/%s/rendered: %s", s->path, key,
                                    strerror(-r));
        return 0;
}

int aci_store_install_tree(aci_store *s, const char *key, int parent_fd, const char *tmp_name,
                           const aci_render_options *o)
{
        if (!key_is_valid(key))
                return -EINVAL;
        _cleanup_(closep) int lock = aci_store_lock_image(s, key);
        if (lock < 0)
                return lock;
        int r = tree_ready_locked(s, key);
        if (r != 0) {
                fs_remove_tree_at(parent_fd, tmp_name);
                return r < 0 ? r : 0;
        }
        return install_locked(s, key, parent_fd, tmp_name, o);
}

int aci_store_replace_tree(aci_store *s, const char *key, int parent_fd, const char *tmp_name,
                           const aci_render_options *o)
{
        if (!key_is_valid(key))
                return -EINVAL;
        _cleanup_(closep) int lock = aci_store_lock_image(s, key);
        if (lock < 0)
                return lock;
        int r = discard_at(s, s->trees_fd, key);
        if (r < 0)
                return ca_log_errno(CA_LOG_ERR, r, "%s/trees/%s: cannot remove: %s", s->path, key,
                                    strerror(-r));
        return install_locked(s, key, parent_fd, tmp_name, o);
}

int aci_store_tree_record_refresh(aci_store *s, const char *key, bool same_owner)
{
        if (!key_is_valid(key))
                return -EINVAL;
        _cleanup_(closep) int lock = aci_store_lock_image(s, key);
        if (lock < 0)
                return lock;
        _cleanup_(closep) int fd = fs_open_beneath(s->trees_fd, key, O_RDONLY | O_DIRECTORY, 0);
        struct stat st;
        int r = fd < 0 ? fd : fstat(fd, &st) < 0 ? negative_errno() : 0;
        if (r >= 0)
                r = aci_tree_record_write(fd, same_owner);
        if (r >= 0 && futimens(fd, (struct timespec[]){st.st_atim, st.st_mtim}) < 0)
                r = negative_errno();
        if (r < 0)
                return ca_log_errno(CA_LOG_ERR, r, "%s/trees/%s/%s: %s", s->path, key,
                                    ACI_TREE_RECORD, strerror(-r));
        return 0;
}
