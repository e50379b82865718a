/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Garbage collection: chunks that no image's index and no live process's pin lists (but for those
 * younger than the grace period: an interrupted fetch's downloads), trees that
 * belong to no image or were never finished, and stale seed cuts. Work directories of processes
 * that are gone were reclaimed when the store was opened; live ones are only read (their pins).
 * Runs under the exclusive store lock, so no fetch is writing while it decides.
 */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include "aci/aci.h"
#include "casync/fs_safe.h"

/* Adds an index's chunks to the set (an aci_store_pins callback too). */
static int add_index(const ca_index *idx, void *userdata)
{
        return ca_chunk_set_add_index(userdata, idx);
}

static int collect_index(aci_store *s, const char *key, ca_chunk_set *set)
{
        _cleanup_(freep) char *path = aci_store_image_file(s, key, "index.caidx");
        if (!path)
                return -ENOMEM;
        _cleanup_(ca_index_freep) ca_index *idx = NULL;
        int r = ca_index_load(path, &idx);
        if (r < 0)
                return r;
        return ca_chunk_set_add_index(set, idx);
}

/* One line per removed object: "chunks/xxxx/<id>.cacnk", "trees/<key>". */
static void report(FILE *out, const char *what, const char *a, const char *b)
{
        if (!out)
                return;
        if (b)
                fprintf(out, "%s/%s/%s\n", what, a, b);
        else
                fprintf(out, "%s/%s\n", what, a);
}

/*
 * chunks/xxxx/<id>.cacnk not in the set, and temp files of writers that are gone. A live
 * writer's (a mount downloads without the store lock, protected by its pins) is left alone, and
 * so is any name not of our temp form (casync's own, say: it takes no lock of ours).
 */
static int gc_chunks(aci_store *s, const ca_chunk_set *set, const aci_gc_options *o,
                     aci_gc_stats *st)
{
        bool dry_run = o->dry_run;
        FILE *out = o->out;
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        _cleanup_(closep) int cfd =
            fs_open_beneath(aci_store_fd(s), "chunks", O_RDONLY | O_DIRECTORY, 0);
        if (cfd < 0)
                return cfd == -ENOENT ? 0 : cfd;
        DIR *top = fs_opendir_at(cfd);
        if (!top)
                return negative_errno();
        struct dirent *de;
        int r;
        while ((r = fs_readdir(top, &de)) > 0) {
                _cleanup_(closep) int sub =
                    fs_open_beneath(cfd, de->d_name, O_RDONLY | O_DIRECTORY, 0);
                if (sub < 0)
                        continue; /* not one of the xxxx directories */
                DIR *d = fs_opendir_at(sub);
                if (!d) {
                        r = negative_errno();
                        break;
                }
                struct dirent *fe;
                size_t left = 0;
                while ((r = fs_readdir(d, &fe)) > 0) {
                        const char *n = fe->d_name;
                        size_t len = strlen(n);
                        ca_chunk_id id;
                        char hex[CA_CHUNK_ID_HEX_SIZE];
                        bool chunk = len == 70 && strcmp(n + 64, ".cacnk") == 0;
                        if (chunk) {
                                snprintf(hex, sizeof(hex), "%.64s", n);
                                chunk = ca_chunk_id_from_hex(hex, &id) >= 0;
                        }
                        bool temp = !chunk && fs_temp_owner_gone(n);
                        if ((chunk && ca_chunk_set_contains(set, &id)) || (!chunk && !temp)) {
                                left++;
                                continue;
                        }
                        struct stat fst;
                        if (fstatat(sub, n, &fst, AT_SYMLINK_NOFOLLOW) < 0 ||
                            !S_ISREG(fst.st_mode)) {
                                left++;
                                continue;
                        }
                        /* Downloaded lately (an interrupted fetch's work): its next run wants
                         * it. A file from the future (a clock set back) counts as young. */
                        if (chunk && o->grace > 0 && now.tv_sec - fst.st_mtime < o->grace) {
                                st->chunks_young++;
                                st->chunks_young_bytes += (uint64_t)fst.st_size;
                                left++;
                                continue;
                        }
                        int k = 1;
                        if (dry_run)
                                ;
                        else if (temp)
                                k = fs_temp_reclaim_at(sub, n);
                        else if (unlinkat(sub, n, 0) < 0 && errno != ENOENT)
                                k = negative_errno();
                        if (k < 0) {
                                r = k;
                                break;
                        }
                        if (k == 0) { /* held by a writer in another pid namespace */
                                left++;
                                continue;
                        }
                        report(out, "chunks", de->d_name, n);
                        if (chunk) {
                                st->chunks++;
                                st->chunk_bytes += (uint64_t)fst.st_size;
                        } else {
                                st->tmp++;
                        }
                }
                closedir(d);
                if (r < 0)
                        break;
                if (left == 0 && !dry_run)
                        (void)unlinkat(cfd, de->d_name, AT_REMOVEDIR);
        }
        closedir(top);
        return r;
}

/* 1 if trees/<name> has its `rendered` marker. */
static bool tree_complete(int trees_fd, const char *name)
{
        _cleanup_(closep) int fd = fs_open_beneath(trees_fd, name, O_RDONLY | O_DIRECTORY, 0);
        struct stat st;
        return fd >= 0 && fstatat(fd, "rendered", &st, AT_SYMLINK_NOFOLLOW) >= 0 &&
               S_ISREG(st.st_mode);
}

/* Trees of no stored image, and unfinished ones. */
static int gc_trees(aci_store *s, bool dry_run, FILE *out, aci_gc_stats *st)
{
        _cleanup_(closep) int tfd =
            fs_open_beneath(aci_store_fd(s), "trees", O_RDONLY | O_DIRECTORY, 0);
        if (tfd < 0)
                return tfd;
        DIR *d = fs_opendir_at(tfd);
        if (!d)
                return negative_errno();
        struct dirent *de;
        int r;
        while ((r = fs_readdir(d, &de)) > 0) {
                aci_image_record rec;
                int k = aci_store_get(s, de->d_name, &rec);
                bool owned = k >= 0;
                if (owned)
                        aci_image_record_done(&rec);
                if (owned && tree_complete(tfd, de->d_name))
                        continue;
                report(out, "trees", de->d_name, NULL);
                st->trees++;
                if (dry_run)
                        continue;
                /* An owned tree is removed under its image's lock, as everything else does. */
                k = owned ? aci_store_tree_ready(s, de->d_name)
                          : aci_store_discard_tree(s, de->d_name);
                if (k < 0) {
                        r = k;
                        break;
                }
        }
        closedir(d);
        return r;
}

/* Cached cuts of seeds (seeds/) that no fetch, extract or mount used for a while, and temp
 * files (no writer runs during gc). */
static int gc_seeds(aci_store *s, bool dry_run, FILE *out, aci_gc_stats *st)
{
        _cleanup_(closep) int sfd =
            fs_open_beneath(aci_store_fd(s), "seeds", O_RDONLY | O_DIRECTORY, 0);
        if (sfd < 0)
                return sfd == -ENOENT ? 0 : sfd;
        DIR *d = fs_opendir_at(sfd);
        if (!d)
                return negative_errno();
        time_t horizon = time(NULL) - ACI_SEED_CACHE_DAYS * 24 * 3600;
        struct dirent *de;
        int r;
        while ((r = fs_readdir(d, &de)) > 0) {
                const char *n = de->d_name;
                size_t len = strlen(n);
                bool cut = len > 6 && (strcmp(n + len - 6, ".caidx") == 0 ||
                                       strcmp(n + len - 6, ".caibx") == 0);
                struct stat fst;
                if (fstatat(sfd, n, &fst, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(fst.st_mode) ||
                    (cut && fst.st_mtime >= horizon))
                        continue;
                report(out, "seeds", n, NULL);
                st->seeds++;
                if (!dry_run && unlinkat(sfd, n, 0) < 0 && errno != ENOENT) {
                        r = negative_errno();
                        break;
                }
        }
        closedir(d);
        return r;
}

int aci_store_gc(aci_store *s, const aci_gc_options *o, aci_gc_stats *ret)
{
        bool dry_run = o->dry_run;
        FILE *out = o->out;
        *ret = (aci_gc_stats){};
        _cleanup_(freep) aci_image_record *list = NULL;
        size_t n = 0;
        int r = aci_store_list(s, &list, &n);
        if (r < 0)
                return r;
        _cleanup_(ca_chunk_set_freep) ca_chunk_set *set = NULL;
        r = ca_chunk_set_new(&set);
        for (size_t i = 0; i < n && r >= 0; i++) {
                r = collect_index(s, list[i].key, set);
                if (r < 0)
                        ca_log_error("%s: image %s has no readable index; not collecting chunks",
                                     aci_store_path(s), list[i].key);
        }
        for (size_t i = 0; i < n; i++)
                aci_image_record_done(&list[i]);
        /* Indexes that running processes (mount) serve without holding the store lock. */
        if (r >= 0) {
                r = aci_store_pins(s, add_index, set);
                if (r < 0)
                        ca_log_error("%s: cannot read the pins of running processes; not "
                                     "collecting chunks",
                                     aci_store_path(s));
        }
        if (r >= 0) {
                ca_chunk_set_sort(set);
                r = gc_chunks(s, set, o, ret);
                if (r < 0)
                        ca_log_error("%s/chunks: %s", aci_store_path(s), strerror(-r));
        }
        if (r >= 0) {
                r = gc_trees(s, dry_run, out, ret);
                if (r < 0)
                        ca_log_error("%s/trees: %s", aci_store_path(s), strerror(-r));
        }
        if (r >= 0) {
                r = gc_seeds(s, dry_run, out, ret);
                if (r < 0)
                        ca_log_error("%s/seeds: %s", aci_store_path(s), strerror(-r));
        }
        if (r >= 0 && !dry_run)
                ret->tmp += aci_chunk_claims_sweep(s);
        return r;
}
