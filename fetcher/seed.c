/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Seeds: directories already on this machine (the previous version's rendered tree, or any
 * --seed DIR) that supply chunks. A seed is encoded as casync would archive it (same feature
 * flags as the index, files in archive order) and cut with the index's chunk parameters; every
 * chunk it yields is hashed as it is produced and kept in the local chunk store, so the fetch
 * that follows finds it there and downloads only what the seed could not supply.
 *
 * What a seed yielded is cached under <dir>/seeds/ with a signature of the tree (every path,
 * type, size and mtime): while the tree is unchanged and its chunks are still in the store, the
 * next use reads nothing. A changed file changes the signature and the seed is encoded again;
 * since chunks are hashed as they are made, a changed file can never supply wrong data.
 */
#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <string.h>
#include <sys/stat.h>

#include "casync/fs_safe.h"
#include "fetcher/acfetch.h"

#define SEED_DEPTH_MAX 256

static int cmp_names(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Hashes the tree's shape: path, type, mode, size and mtime of every entry, in strcmp order. */
static int signature_dir(EVP_MD_CTX *md, int dir_fd, const char *prefix, unsigned depth)
{
        if (depth > SEED_DEPTH_MAX)
                return -ELOOP;
        DIR *d = fs_opendir_at(dir_fd);
        if (!d)
                return negative_errno();
        char **names = NULL;
        size_t n = 0, alloc = 0;
        struct dirent *de;
        int r;
        while ((r = fs_readdir(d, &de)) > 0) {
                if (n == alloc) {
                        alloc = alloc ? alloc * 2 : 64;
                        char **m = realloc(names, alloc * sizeof(*names));
                        if (!m) {
                                r = -ENOMEM;
                                break;
                        }
                        names = m;
                }
                if (!(names[n] = strdup(de->d_name))) {
                        r = -ENOMEM;
                        break;
                }
                n++;
        }
        closedir(d);
        if (r >= 0 && n > 1)
                qsort(names, n, sizeof(*names), cmp_names);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                struct stat st;
                if (fstatat(dir_fd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = negative_errno();
                        break;
                }
                char line[128];
                int len = snprintf(line, sizeof(line), "/%o %lld %lld.%09ld ", st.st_mode,
                                   (long long)st.st_size, (long long)st.st_mtim.tv_sec,
                                   st.st_mtim.tv_nsec);
                if (EVP_DigestUpdate(md, prefix, strlen(prefix)) != 1 ||
                    EVP_DigestUpdate(md, names[i], strlen(names[i]) + 1) != 1 ||
                    EVP_DigestUpdate(md, line, (size_t)len) != 1) {
                        r = -EIO;
                        break;
                }
                if (!S_ISDIR(st.st_mode))
                        continue;
                _cleanup_(closep) int sub =
                    fs_open_beneath(dir_fd, names[i], O_RDONLY | O_DIRECTORY, 0);
                _cleanup_(freep) char *p = NULL;
                if (sub < 0) {
                        r = sub;
                        break;
                }
                if (asprintf(&p, "%s%s/", prefix, names[i]) < 0) {
                        r = -ENOMEM;
                        break;
                }
                r = signature_dir(md, sub, p, depth + 1);
        }
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        return r;
}

/* The signature of the tree and of how it is cut (flags, chunk sizes). */
static int seed_signature(int dir_fd, const ca_index *idx, char out[65])
{
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
                EVP_MD_CTX_free(md);
                return -ENOMEM;
        }
        char params[128];
        int len = snprintf(
            params, sizeof(params), "%llx %llu %llu %llu\n", (unsigned long long)idx->feature_flags,
            (unsigned long long)idx->chunk_size_min, (unsigned long long)idx->chunk_size_avg,
            (unsigned long long)idx->chunk_size_max);
        int r = EVP_DigestUpdate(md, params, (size_t)len) == 1 ? 0 : -EIO;
        if (r >= 0)
                r = signature_dir(md, dir_fd, "", 0);
        uint8_t d[32];
        if (r >= 0 && EVP_DigestFinal_ex(md, d, NULL) != 1)
                r = -EIO;
        EVP_MD_CTX_free(md);
        if (r >= 0)
                hex_encode(d, 32, out);
        return r;
}

typedef struct seed_run {
        ca_chunk_id *ids;
        size_t n, alloc;
} seed_run;

static int on_chunk(void *userdata, uint64_t size, const ca_chunk_id *id)
{
        seed_run *s = userdata;
        if (s->n == s->alloc) {
                size_t want = s->alloc ? s->alloc * 2 : 1024;
                ca_chunk_id *m = realloc(s->ids, want * sizeof(*m));
                if (!m)
                        return -ENOMEM;
                s->ids = m;
                s->alloc = want;
        }
        s->ids[s->n++] = *id;
        return 0;
}

/* The cache file: the chunk IDs the seed yielded last time, if the signature still matches. */
static int cache_load(int cache_fd, const char *sig, ca_chunk_id **ret, size_t *n)
{
        _cleanup_(closep) int fd = fs_open_beneath(cache_fd, sig, O_RDONLY, 0);
        if (fd < 0)
                return fd;
        struct stat st;
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode) || st.st_size % CA_CHUNK_ID_SIZE != 0 ||
            (uint64_t)st.st_size > CA_INDEX_ITEMS_MAX * CA_CHUNK_ID_SIZE)
                return -EBADMSG;
        ca_chunk_id *ids = malloc((size_t)st.st_size + 1);
        if (!ids)
                return -ENOMEM;
        int r = read_full(fd, ids, (size_t)st.st_size);
        if (r < 0) {
                free(ids);
                return r;
        }
        *ret = ids;
        *n = (size_t)st.st_size / CA_CHUNK_ID_SIZE;
        return 0;
}

static void cache_save(int cache_fd, const char *sig, const seed_run *s)
{
        char tmp[FS_TEMP_NAME_MAX];
        fs_temp_name(tmp);
        _cleanup_(closep) int fd =
            openat(cache_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return;
        if (write_full(fd, s->ids, s->n * sizeof(*s->ids)) < 0 ||
            renameat(cache_fd, tmp, cache_fd, sig) < 0)
                unlinkat(cache_fd, tmp, 0);
}

/* Does the store lack any chunk the index lists? */
static int index_needs_any(ca_store *store, const ca_index *idx)
{
        for (size_t i = 0; i < idx->n_items; i++) {
                int r = ca_store_has(store, &idx->items[i].id);
                if (r <= 0)
                        return r < 0 ? r : 1;
        }
        return 0;
}

/* Are all the chunks in the store? */
static int store_has_all(ca_store *store, const ca_chunk_id *ids, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                int r = ca_store_has(store, &ids[i]);
                if (r <= 0)
                        return r;
        }
        return 1;
}

/* The seed's tree as the image's archive would hold it: a rendered tree is archived as its
 * manifest and rootfs/ only (its `rendered` marker was never part of the image). */
static int encode_seed(ca_encoder *e, int dir_fd, const char *what)
{
        struct stat st, mst;
        if (fstatat(dir_fd, "rendered", &st, AT_SYMLINK_NOFOLLOW) < 0 ||
            fstatat(dir_fd, "manifest", &mst, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(mst.st_mode))
                return ca_encoder_run(e, dir_fd, what);
        _cleanup_(closep) int mfd = fs_open_beneath(dir_fd, "manifest", O_RDONLY, 0);
        _cleanup_(closep) int rfd = fs_open_beneath(dir_fd, "rootfs", O_RDONLY | O_DIRECTORY, 0);
        if (mfd < 0 || rfd < 0 || fstat(dir_fd, &st) < 0)
                return ca_encoder_run(e, dir_fd, what);
        ca_encode_entry entries[] = {
            {.name = "manifest", .fd = mfd},
            {.name = "rootfs", .fd = rfd},
        };
        return ca_encoder_run_synthetic(e, &st, entries, ELEMENTSOF(entries));
}

int seed_apply(aci_store *s, const char *seed, const ca_index *idx)
{
        ca_store *store = aci_store_chunks(s);
        int r = index_needs_any(store, idx);
        if (r <= 0)
                return r; /* everything is local already: nothing to seed */

        _cleanup_(closep) int dir_fd = open(seed, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0)
                return ca_log_errno(CA_LOG_ERR, negative_errno(), "seed %s: %m", seed);
        char sig[65];
        r = seed_signature(dir_fd, idx, sig);
        if (r < 0)
                return ca_log_errno(CA_LOG_ERR, r, "seed %s: %s", seed, strerror(-r));

        if (mkdirat(aci_store_fd(s), "seeds", 0700) < 0 && errno != EEXIST)
                return ca_log_errno(CA_LOG_ERR, negative_errno(), "%s/seeds: %m",
                                    aci_store_path(s));
        _cleanup_(closep) int cache_fd =
            fs_open_beneath(aci_store_fd(s), "seeds", O_RDONLY | O_DIRECTORY, 0);
        if (cache_fd < 0)
                return ca_log_errno(CA_LOG_ERR, cache_fd, "%s/seeds: %s", aci_store_path(s),
                                    strerror(-cache_fd));
        _cleanup_(freep) ca_chunk_id *cached = NULL;
        size_t n_cached = 0;
        if (cache_load(cache_fd, sig, &cached, &n_cached) >= 0 &&
            store_has_all(store, cached, n_cached) > 0) {
                ca_log_debug("seed %s: unchanged since it was last chunked; its %zu chunks are "
                             "in the store",
                             seed, n_cached);
                return 0;
        }

        /* Changed, new, or its chunks were collected: encode and cut it again. */
        ca_chunk_pipeline_options po = {
            .chunk_size_min = idx->chunk_size_min,
            .chunk_size_avg = idx->chunk_size_avg,
            .chunk_size_max = idx->chunk_size_max,
            .digest = ca_digest_type_from_flags(idx->feature_flags),
            .store = store,
            .compression = CA_COMPRESSION_ZSTD,
            .compression_level = CA_COMPRESSION_LEVEL_DEFAULT,
            .jobs = default_jobs(),
            .chunk = on_chunk,
        };
        seed_run run = {};
        po.userdata = &run;
        _cleanup_(ca_chunk_pipeline_freep) ca_chunk_pipeline *p = NULL;
        _cleanup_(ca_encoder_freep) ca_encoder *e = NULL;
        ca_chunk_pipeline_stats ps = {};
        r = ca_chunk_pipeline_new(&po, &p);
        if (r >= 0)
                r = ca_encoder_new(idx->feature_flags, ca_chunk_pipeline_write, p, &e);
        if (r >= 0)
                r = encode_seed(e, dir_fd, seed);
        if (r >= 0)
                r = ca_chunk_pipeline_finish(p, &ps);
        if (r < 0) {
                free(run.ids);
                return ca_log_errno(CA_LOG_ERR, r, "seed %s: %s", seed, strerror(-r));
        }
        cache_save(cache_fd, sig, &run);
        ca_log_info("seed %s: %llu chunks, %llu of them new to the store", seed,
                    (unsigned long long)ps.chunks, (unsigned long long)ps.stored);
        free(run.ids);
        return 0;
}
