/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Seeds: data already on this machine that supplies chunks, so only what no seed has is
 * downloaded. A seed is
 *   - a directory (the previous version's rendered tree, or any --seed DIR): encoded as casync
 *     would archive it (the index's feature flags, files in archive order);
 *   - a regular file: its bytes as they are (an old version of a blob, or a .catar);
 *   - an index X.caidx or X.caibx whose data is X (a directory, or a file), as desync takes
 *     seeds: the index gives the chunk boundaries, so nothing is cut again.
 * Every chunk a seed supplies is hashed as it is read and kept in the local chunk store only if
 * its ID is one the target index lacks, so a seed that changed can never supply wrong data.
 *
 * A directory or file seed is cut once with the target's chunk parameters; the cut is recorded
 * as a casync index under <dir>/seeds/<path key>-<signature>.caidx|.caibx, where the signature
 * covers every entry's path, type, mode, owner, size, mtime, ctime and inode. While the seed is
 * unchanged that index is used as a seed index: only the chunks the target lacks are read.
 */
#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <string.h>
#include <sys/stat.h>

#include "casync/fs_safe.h"
#include "fetcher/source/source.h"

#define SEED_DEPTH_MAX 256
#define PATH_KEY_HEX   32 /* of the 64 hex digits of a SHA-256 */

/* ---------------------------------------------------------------- what the target lacks */

typedef struct needed_set {
        ca_chunk_set *ids; /* sorted */
        size_t n;          /* how many: ca_chunk_set_count(ids), kept for the messages */
        bool *taken;       /* per position in ids: a seed index item was picked for it */
} needed_set;

static void needed_done(needed_set *s)
{
        ca_chunk_set_free(s->ids);
        free(s->taken);
        *s = (needed_set){};
}

/* Is the chunk local already (its chunk source's or the store's)? 1, 0, or a negative errno. */
static int chunk_local(const seed_target *t, const ca_chunk_id *id)
{
        return t->source ? chunk_source_has_local(t->source, id)
                         : ca_store_has(aci_store_chunks(t->store), id);
}

/* The chunks the target lists that neither its chunk source nor the store has. */
static int needed_collect(const seed_target *t, needed_set *ret)
{
        const ca_index *idx = t->index;
        needed_set s = {};
        int r = ca_chunk_set_new(&s.ids);
        for (size_t i = 0; r >= 0 && i < idx->n_items; i++) {
                r = chunk_local(t, &idx->items[i].id);
                if (r == 0)
                        r = ca_chunk_set_add(s.ids, &idx->items[i].id);
        }
        if (r < 0) {
                needed_done(&s);
                return r;
        }
        ca_chunk_set_sort(s.ids);
        s.n = ca_chunk_set_count(s.ids);
        s.taken = calloc(MAX(s.n, 1), sizeof(bool));
        if (!s.taken) {
                needed_done(&s);
                return -ENOMEM;
        }
        *ret = s;
        return 0;
}

/* ---------------------------------------------------------------- a seed's signature */

static int digest_stat(EVP_MD_CTX *md, const char *prefix, const char *name, const struct stat *st)
{
        char line[256];
        int len =
            snprintf(line, sizeof(line), "/%o %u %u %lld %lld.%09ld %lld.%09ld %llu\n", st->st_mode,
                     st->st_uid, st->st_gid, (long long)st->st_size, (long long)st->st_mtim.tv_sec,
                     st->st_mtim.tv_nsec, (long long)st->st_ctim.tv_sec, st->st_ctim.tv_nsec,
                     (unsigned long long)st->st_ino);
        if (EVP_DigestUpdate(md, prefix, strlen(prefix)) != 1 ||
            EVP_DigestUpdate(md, name, strlen(name) + 1) != 1 ||
            EVP_DigestUpdate(md, line, (size_t)len) != 1)
                return -EIO;
        return 0;
}

/* Hashes the tree's state: every entry's path and stat fields, in strcmp order. */
static int signature_dir(EVP_MD_CTX *md, int dir_fd, const char *prefix, unsigned depth)
{
        if (depth > SEED_DEPTH_MAX)
                return -ELOOP;
        char **names;
        size_t n;
        int r = fs_list_sorted(dir_fd, NULL, NULL, SIZE_MAX, &names, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; r >= 0 && i < n; i++) {
                struct stat st;
                if (fstatat(dir_fd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = negative_errno();
                        break;
                }
                r = digest_stat(md, prefix, names[i], &st);
                if (r < 0 || !S_ISDIR(st.st_mode))
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
        fs_names_free(names, n);
        return r;
}

/* The signature of the seed (open as fd) and of how it is cut (flags, chunk sizes). */
static int seed_signature(int fd, const struct stat *st, const ca_index *idx, char out[65])
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
                r = digest_stat(md, "", ".", st);
        if (r >= 0 && S_ISDIR(st->st_mode))
                r = signature_dir(md, fd, "", 0);
        uint8_t d[32];
        if (r >= 0 && EVP_DigestFinal_ex(md, d, NULL) != 1)
                r = -EIO;
        EVP_MD_CTX_free(md);
        if (r >= 0)
                hex_encode(d, 32, out);
        return r;
}

/* Which seed a cache file belongs to: a hash of its absolute path. */
static int seed_path_key(const char *seed, char out[PATH_KEY_HEX + 1])
{
        _cleanup_(freep) char *abs = realpath(seed, NULL);
        if (!abs)
                return negative_errno();
        uint8_t d[EVP_MAX_MD_SIZE];
        unsigned n = 0;
        if (EVP_Digest(abs, strlen(abs), d, &n, EVP_sha256(), NULL) != 1)
                return -EIO;
        hex_encode(d, PATH_KEY_HEX / 2, out);
        return 0;
}

/* ---------------------------------------------------------------- reading a seed */

/*
 * The state of one seed's run. Chunks are reported in stream order; `expect` lists, for a cut
 * at a seed index's boundaries, which seed item each reported chunk was read as.
 */
typedef struct seed_run {
        const seed_target *t;
        const char *what;
        needed_set *needed;
        ca_index_writer *record; /* cutting afresh: the seed index being recorded */
        /* cutting at the boundaries of a seed index */
        const ca_index *sidx;
        size_t *picks, n_picks;               /* seed items to read, in stream order */
        size_t next_pick;                     /* the pick being read */
        uint64_t pos;                         /* stream offset */
        size_t *expect, n_expect, n_reported; /* picks handed to the pipeline, in order */
        uint64_t mismatched;
        bool stopped; /* every pick was read: the rest of the stream is not needed */
        ca_chunk_pipeline *pipeline;
} seed_run;

static bool want_chunk(void *userdata, const ca_chunk_id *id)
{
        seed_run *run = userdata;
        return ca_chunk_set_contains(run->needed->ids, id);
}

static int on_chunk(void *userdata, uint64_t size, const ca_chunk_id *id)
{
        seed_run *run = userdata;
        if (run->record)
                return ca_index_writer_add(run->record, size, id);
        if (run->n_reported < run->n_expect) {
                const ca_index_item *it =
                    &run->sidx->items[run->picks[run->expect[run->n_reported]]];
                if (it->size != size || memcmp(&it->id, id, sizeof(*id)) != 0)
                        run->mismatched++;
        }
        run->n_reported++;
        return 0;
}

static bool cancelled(const seed_run *run)
{
        return run->t->cancel && atomic_load(run->t->cancel);
}

/* A ca_stream_writer that cuts the stream at the seed index's boundaries, passing on the picks
 * and skipping the rest; it stops the stream once the last pick is read. */
static int cut_write(void *userdata, const void *data, size_t size)
{
        seed_run *run = userdata;
        const uint8_t *d = data;
        if (cancelled(run))
                return -ECANCELED;
        while (size > 0) {
                if (run->next_pick >= run->n_picks) {
                        run->stopped = true;
                        return -ECANCELED;
                }
                const ca_index_item *it = &run->sidx->items[run->picks[run->next_pick]];
                size_t k;
                if (run->pos < it->offset) {
                        k = (size_t)MIN((uint64_t)size, it->offset - run->pos);
                } else {
                        uint64_t end = it->offset + it->size;
                        k = (size_t)MIN((uint64_t)size, end - run->pos);
                        bool last = run->pos + k == end;
                        /* Set before handing over: the chunk may be reported at once. */
                        if (last)
                                run->expect[run->n_expect++] = run->next_pick++;
                        int r = ca_chunk_pipeline_write_cut(run->pipeline, d, k, last);
                        if (r < 0)
                                return r;
                }
                run->pos += k;
                d += k;
                size -= k;
        }
        return 0;
}

/* Cutting afresh: the pipeline's writer, stopping when the caller gives up. */
static int fresh_write(void *userdata, const void *data, size_t size)
{
        seed_run *run = userdata;
        if (cancelled(run))
                return -ECANCELED;
        return ca_chunk_pipeline_write(run->pipeline, data, size);
}

/* A directory's stream as the image's archive would hold it: a rendered tree of our store is
 * archived as its manifest and rootfs/ only (its `rendered` marker was never in the image). */
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

/* Streams the seed (open as fd) into write: a directory encoded with flags, a file as it is. */
static int stream_seed(int fd, bool is_dir, uint64_t flags, const char *what,
                       ca_stream_writer write, void *userdata)
{
        if (is_dir) {
                _cleanup_(ca_encoder_freep) ca_encoder *e = NULL;
                int r = ca_encoder_new(flags, write, userdata, &e);
                return r < 0 ? r : encode_seed(e, fd, what);
        }
        return ca_stream_fd(fd, what, write, userdata);
}

static int pipeline_open(seed_run *run, const ca_index *cut, ca_chunk_pipeline **ret)
{
        ca_chunk_pipeline_options po = {
            .chunk_size_min = cut->chunk_size_min,
            .chunk_size_avg = cut->chunk_size_avg,
            .chunk_size_max = cut->chunk_size_max,
            .digest = ca_digest_type_from_flags(run->t->index->feature_flags),
            .store = aci_store_chunks(run->t->store),
            .compression = CA_COMPRESSION_ZSTD,
            /* Stored only for the extraction at hand: the fastest level (any level decodes);
             * at casync's default level the compression cost more than loopback downloads. */
            .compression_level = 1,
            .jobs = ca_default_jobs(),
            .chunk = on_chunk,
            .want = want_chunk,
            .userdata = run,
        };
        return ca_chunk_pipeline_new(&po, ret);
}

/* Reads the picked chunks of a file seed at their offsets. */
static int read_picks(seed_run *run, int fd)
{
        uint64_t max = 0;
        for (size_t i = 0; i < run->n_picks; i++)
                max = MAX(max, run->sidx->items[run->picks[i]].size);
        _cleanup_(freep) uint8_t *buf = malloc((size_t)max);
        if (!buf)
                return -ENOMEM;
        for (size_t i = 0; i < run->n_picks; i++) {
                if (cancelled(run))
                        return -ECANCELED;
                const ca_index_item *it = &run->sidx->items[run->picks[i]];
                ssize_t n = pread(fd, buf, (size_t)it->size, (off_t)it->offset);
                if (n < 0)
                        return ca_log_errno(CA_LOG_ERR, negative_errno(), "seed %s: read: %m",
                                            run->what);
                if ((uint64_t)n != it->size) {
                        run->mismatched++; /* the file is shorter now */
                        continue;
                }
                run->expect[run->n_expect++] = i; /* before: it may be reported at once */
                int r = ca_chunk_pipeline_write_cut(run->pipeline, buf, (size_t)n, true);
                if (r < 0)
                        return r;
        }
        return 0;
}

/*
 * Uses the seed index sidx, whose data is the seed open as fd: picks the items the target
 * lacks, reads just those (a directory is encoded up to the last one), and keeps the ones that
 * still match.
 */
static int apply_seed_index(seed_run *run, const ca_index *sidx, int fd, bool is_dir)
{
        ca_digest_type want = ca_digest_type_from_flags(run->t->index->feature_flags);
        if (ca_digest_type_from_flags(sidx->feature_flags) != want) {
                ca_log_warning("seed %s: its index names chunks by %s, the index being extracted "
                               "by %s; not used",
                               run->what,
                               ca_digest_type_name(ca_digest_type_from_flags(sidx->feature_flags)),
                               ca_digest_type_name(want));
                return 0;
        }
        run->sidx = sidx;
        run->picks = malloc(MAX(sidx->n_items, 1) * sizeof(size_t));
        run->expect = malloc(MAX(sidx->n_items, 1) * sizeof(size_t));
        if (!run->picks || !run->expect)
                return -ENOMEM;
        for (size_t i = 0; i < sidx->n_items; i++) {
                ssize_t k = ca_chunk_set_find(run->needed->ids, &sidx->items[i].id);
                if (k < 0 || run->needed->taken[k])
                        continue;
                run->needed->taken[k] = true;
                run->picks[run->n_picks++] = i;
        }
        if (run->n_picks == 0) {
                ca_log_info("seed %s: has none of the %zu chunks missing", run->what,
                            run->needed->n);
                return 0;
        }

        _cleanup_(ca_chunk_pipeline_freep) ca_chunk_pipeline *p = NULL;
        ca_chunk_pipeline_stats ps = {};
        int r = pipeline_open(run, sidx, &p);
        if (r < 0)
                return r;
        run->pipeline = p;
        if (is_dir) {
                r = stream_seed(fd, true, sidx->feature_flags, run->what, cut_write, run);
                if (r == -ECANCELED && run->stopped)
                        r = 0;
                /* A stream that ended early leaves the remaining picks unread; a pick it ended
                 * in the middle of goes to the pipeline and is counted when reported. */
                size_t unread = run->n_picks - run->next_pick;
                if (r >= 0 && unread > 0 &&
                    run->pos > run->sidx->items[run->picks[run->next_pick]].offset) {
                        run->expect[run->n_expect++] = run->next_pick;
                        unread--;
                        r = ca_chunk_pipeline_write_cut(p, NULL, 0, true);
                }
                run->mismatched += unread;
        } else {
                r = read_picks(run, fd);
        }
        if (r >= 0)
                r = ca_chunk_pipeline_finish(p, &ps);
        if (r < 0)
                return r;
        ca_log_debug("seed %s: %zu chunks read, %llu stored, %llu present, %llu not wanted",
                     run->what, run->n_expect, (unsigned long long)ps.stored,
                     (unsigned long long)ps.present, (unsigned long long)ps.unwanted);
        ca_log_info("seed %s: supplied %llu of the %zu chunks missing", run->what,
                    (unsigned long long)ps.stored, run->needed->n);
        if (run->mismatched > 0)
                ca_log_warning("seed %s: %llu chunks no longer match its index (the seed changed "
                               "since); they will be downloaded",
                               run->what, (unsigned long long)run->mismatched);
        return (int)ps.stored;
}

/* ---------------------------------------------------------------- the cache of cut seeds */

/* The cached cut of this seed state, if any, checked against the cut the target uses. */
static int cache_load(int cache_fd, const char *cache_path, const char *name,
                      const ca_index *target, ca_index **ret)
{
        _cleanup_(freep) char *path = NULL;
        if (asprintf(&path, "%s/%s", cache_path, name) < 0)
                return -ENOMEM;
        struct stat st;
        if (fstatat(cache_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
                return -ENOENT;
        ca_index *idx = NULL;
        int r = ca_index_load(path, &idx);
        if (r < 0)
                return r;
        if (idx->feature_flags != target->feature_flags ||
            idx->chunk_size_min != target->chunk_size_min ||
            idx->chunk_size_avg != target->chunk_size_avg ||
            idx->chunk_size_max != target->chunk_size_max) {
                ca_index_free(idx);
                return -EBADMSG;
        }
        /* Marks it as used: gc drops cuts nobody used for a while. */
        (void)utimensat(cache_fd, name, NULL, AT_SYMLINK_NOFOLLOW);
        *ret = idx;
        return 0;
}

/* Removes the cuts of older states of the same seed (names starting with key and '-'). */
static void cache_prune(int cache_fd, const char *key, const char *keep)
{
        DIR *d = fs_opendir_at(cache_fd);
        if (!d)
                return;
        struct dirent *de;
        size_t klen = strlen(key);
        while (fs_readdir(d, &de) > 0)
                if (strncmp(de->d_name, key, klen) == 0 && de->d_name[klen] == '-' &&
                    strcmp(de->d_name, keep) != 0)
                        (void)unlinkat(cache_fd, de->d_name, 0);
        closedir(d);
}

/* Cuts the seed with the target's parameters, storing the chunks the target lacks and
 * recording every chunk as the seed's index under the cache name. */
static int cut_afresh(seed_run *run, int fd, bool is_dir, int cache_fd, const char *cache_path,
                      const char *name, const char *key)
{
        const ca_index *t = run->t->index;
        _cleanup_(freep) char *path = NULL;
        if (asprintf(&path, "%s/%s", cache_path, name) < 0)
                return -ENOMEM;
        _cleanup_(ca_index_writer_freep) ca_index_writer *w = NULL;
        int r = ca_index_writer_new(path, t->feature_flags, t->chunk_size_min, t->chunk_size_avg,
                                    t->chunk_size_max, &w);
        if (r < 0)
                return r;
        run->record = w;
        _cleanup_(ca_chunk_pipeline_freep) ca_chunk_pipeline *p = NULL;
        ca_chunk_pipeline_stats ps = {};
        r = pipeline_open(run, t, &p);
        if (r < 0)
                return r;
        run->pipeline = p;
        r = stream_seed(fd, is_dir, t->feature_flags, run->what, fresh_write, run);
        if (r >= 0)
                r = ca_chunk_pipeline_finish(p, &ps);
        /* An empty file has no chunks, and no index to record. */
        if (r >= 0 && ps.chunks > 0 && ca_index_writer_finish(w) >= 0)
                cache_prune(cache_fd, key, name);
        if (r < 0)
                return r;
        ca_log_info("seed %s: cut into %llu chunks; supplied %llu of the %zu chunks missing",
                    run->what, (unsigned long long)ps.chunks, (unsigned long long)ps.stored,
                    run->needed->n);
        return (int)ps.stored;
}

/* A directory or a file seed: its cached cut while it is unchanged, else a new cut. */
static int apply_data_seed(seed_run *run, int fd, const struct stat *st)
{
        bool is_dir = S_ISDIR(st->st_mode);
        if (is_dir && run->t->blob)
                return ca_log_errno(CA_LOG_ERR, -EISDIR,
                                    "seed %s: a directory cannot seed a blob index (.caibx); "
                                    "give a file",
                                    run->what);
        char key[PATH_KEY_HEX + 1], sig[65], name[PATH_KEY_HEX + 1 + 64 + 7];
        int r = seed_path_key(run->what, key);
        if (r >= 0)
                r = seed_signature(fd, st, run->t->index, sig);
        if (r < 0)
                return ca_log_errno(CA_LOG_ERR, r, "seed %s: %s", run->what, strerror(-r));
        snprintf(name, sizeof(name), "%s-%s.%s", key, sig, is_dir ? "caidx" : "caibx");

        int cache_fd;
        const char *cache_path;
        int k = aci_store_seeds(run->t->store, &cache_fd, &cache_path);
        if (k < 0)
                return k;
        _cleanup_(ca_index_freep) ca_index *cut = NULL;
        if (cache_load(cache_fd, cache_path, name, run->t->index, &cut) >= 0) {
                ca_log_debug("seed %s: unchanged since it was last chunked; reading only what "
                             "it can supply",
                             run->what);
                return apply_seed_index(run, cut, fd, is_dir);
        }
        return cut_afresh(run, fd, is_dir, cache_fd, cache_path, name, key);
}

/* An index X.caidx|X.caibx, its data at X. */
static int apply_index_file(seed_run *run)
{
        _cleanup_(ca_index_freep) ca_index *sidx = NULL;
        int r = ca_index_load(run->what, &sidx);
        if (r < 0)
                return r;
        ca_index_kind kind = ca_index_kind_from_name(run->what);
        const char *dot = strrchr(run->what, '.');
        _cleanup_(freep) char *data = strndup(run->what, (size_t)(dot - run->what));
        if (!data)
                return -ENOMEM;
        _cleanup_(closep) int fd = open(data, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
                return ca_log_errno(CA_LOG_ERR, negative_errno(),
                                    "seed %s: its data should be at %s: %m", run->what, data);
        bool is_dir = kind == CA_INDEX_ARCHIVE;
        if (is_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
                return ca_log_errno(CA_LOG_ERR, -EINVAL, "seed %s: %s is not a %s", run->what, data,
                                    is_dir ? "directory" : "regular file");
        return apply_seed_index(run, sidx, fd, is_dir);
}

int seed_apply(const seed_target *t, const char *seed)
{
        needed_set needed = {};
        int r = needed_collect(t, &needed);
        if (r < 0)
                return ca_log_errno(CA_LOG_ERR, r,
                                    "seed %s: cannot tell which chunks are missing: %s", seed,
                                    strerror(-r));
        if (needed.n == 0) {
                ca_log_debug("seed %s: not read, every chunk is here already", seed);
                needed_done(&needed);
                return 0;
        }
        seed_run run = {.t = t, .what = seed, .needed = &needed};
        struct stat st;
        _cleanup_(closep) int fd = open(seed, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0)
                r = ca_log_errno(CA_LOG_ERR, negative_errno(), "seed %s: %m", seed);
        else if (S_ISREG(st.st_mode) && ca_index_kind_from_name(seed) != CA_INDEX_UNKNOWN)
                r = apply_index_file(&run);
        else if (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode))
                r = apply_data_seed(&run, fd, &st);
        else
                r = ca_log_errno(CA_LOG_ERR, -EINVAL,
                                 "seed %s: not a directory, a regular file or an index", seed);
        if (r == -ENOMEM) /* everything else was logged where it happened */
                ca_log_error("seed %s: out of memory", seed);
        free(run.picks);
        free(run.expect);
        needed_done(&needed);
        return r;
}

/*
 * The automatic seed is the rendered tree of a stored image. Cut with the parameters of that
 * image's own index, the tree gives back that index's chunks: when they are all local, and the
 * target is cut alike, cutting the tree (seconds for a large one) cannot supply anything.
 * 1: skip it (said at --debug); 0: read it.
 */
static int tree_supplies_nothing(const seed_target *t, const char *tree)
{
        aci_image_record *list = NULL;
        size_t n = 0;
        if (!t->store || aci_store_list(t->store, &list, &n) < 0)
                return 0;
        _cleanup_(freep) char *index_path = NULL;
        for (size_t i = 0; i < n && !index_path; i++) {
                _cleanup_(freep) char *p = aci_store_tree_path(t->store, list[i].key);
                if (p && strcmp(p, tree) == 0)
                        index_path = aci_store_image_file(t->store, list[i].key, "index.caidx");
        }
        aci_image_records_free(list, n);
        _cleanup_(ca_index_freep) ca_index *own = NULL;
        if (!index_path || ca_index_load(index_path, &own) < 0)
                return 0;
        const ca_index *x = t->index;
        if (own->feature_flags != x->feature_flags || own->chunk_size_min != x->chunk_size_min ||
            own->chunk_size_avg != x->chunk_size_avg || own->chunk_size_max != x->chunk_size_max)
                return 0;
        for (size_t i = 0; i < own->n_items; i++)
                if (chunk_local(t, &own->items[i].id) != 1)
                        return 0;
        ca_log_debug("seed %s: not read: it is the tree of an image whose %zu chunks are all local "
                     "already, so it has none of the chunks missing",
                     tree, own->n_items);
        return 1;
}

int seed_apply_list(const seed_target *t, const seed_list *l, const char *auto_seed)
{
        int supplied = 0;
        for (size_t i = 0; i < l->n; i++) {
                int r = seed_apply(t, l->paths[i]);
                if (r < 0)
                        return r;
                supplied += r;
        }
        if (!auto_seed || l->no_auto || tree_supplies_nothing(t, auto_seed))
                return supplied;
        ca_log_debug("%s is a seed", auto_seed);
        int r = seed_apply(t, auto_seed);
        if (r == -ECANCELED)
                return r;
        return supplied + MAX(r, 0); /* a seed of our own choosing never fails the command */
}

char *seed_newest_tree(aci_store *s, const char *name)
{
        aci_image_record *list = NULL;
        size_t n = 0;
        if (aci_store_list(s, &list, &n) < 0)
                return NULL;
        /* Images without a tree (fetched with --no-render, or the one being mounted) are
         * passed over: an older version's tree is still a good seed. */
        const aci_image_record *best = NULL;
        for (size_t i = 0; i < n; i++)
                if (list[i].name && strcmp(list[i].name, name) == 0 &&
                    (!best || aci_record_newer(&list[i], best)) &&
                    aci_store_tree_ready(s, list[i].key) > 0)
                        best = &list[i];
        char *tree = best ? aci_store_tree_path(s, best->key) : NULL;
        aci_image_records_free(list, n);
        return tree;
}
