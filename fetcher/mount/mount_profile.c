/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A mount's access profile (aci/profile.c has the format): while mounted, the files read and
 * their first ranges are recorded in the order first read, with the chunks every read needed
 * (metadata too), and saved whole every few seconds while they change and at the end. The next
 * mount of the name plans its prefetch from it: first the recorded chunks its own index has (a
 * local lookup, so the prefetch starts at once), then the index items holding the recorded
 * ranges of each recorded path in its own archive (lookups that read metadata, for a version
 * whose chunks changed).
 */
#include <inttypes.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "casync/fs_safe.h"
#include "fetcher/mount/mount.h"

/* ---------------------------------------------------------------- recording */

struct mount_recorder {
        aci_store *store; /* with name: the store's profile of name */
        char *name;
        char *out; /* also written here, or NULL */

        pthread_mutex_t lock;
        aci_profile profile;
        uint64_t changes, saved; /* changes counted, and how many the last save held */
        bool full_noted, chunks_full_noted;
        /* The chunks listed, by ID (open addressing; IDs are hashes, their first bytes spread
         * well): a chunk read again is not listed again. */
        ca_chunk_id *seen;
        size_t seen_cap; /* a power of two, at least twice the chunks listed */

        pthread_t saver;
        bool has_saver;
        pthread_cond_t wake;
        bool stop;
};

int mount_recorder_new(aci_store *store, const char *name, const char *out, mount_recorder **ret)
{
        *ret = NULL;
        if (!(store && name) && !out)
                return 0;
        mount_recorder *r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->store = store && name ? store : NULL;
        r->name = r->store ? strdup(name) : NULL;
        r->out = out ? strdup(out) : NULL;
        pthread_mutex_init(&r->lock, NULL);
        pthread_cond_init(&r->wake, NULL);
        if ((r->store && !r->name) || (out && !r->out)) {
                mount_recorder_free(r);
                return -ENOMEM;
        }
        *ret = r;
        return 0;
}

int mount_recorder_file(mount_recorder *r, const char *path, uint32_t *ret_slot)
{
        size_t i;
        pthread_mutex_lock(&r->lock);
        int k = aci_profile_add_file(&r->profile, path, &i);
        if (k == -E2BIG && !r->full_noted) {
                r->full_noted = true;
                ca_log_debug("access profile: %d files recorded; later ones are not",
                             ACI_PROFILE_FILES_MAX);
        }
        pthread_mutex_unlock(&r->lock);
        if (k < 0)
                return k;
        *ret_slot = (uint32_t)i;
        return 0;
}

/* An empty slot of the seen table: no real chunk has this ID. */
static const ca_chunk_id seen_empty;

static bool seen_is_empty(const ca_chunk_id *id)
{
        return memcmp(id, &seen_empty, sizeof(seen_empty)) == 0;
}

static size_t seen_slot(const ca_chunk_id *id, size_t cap)
{
        uint64_t h;
        memcpy(&h, id->bytes, sizeof(h));
        return (size_t)h & (cap - 1);
}

/* Adds id to the seen table (grown first when half full): 1, or 0 when it was there. */
static int seen_add(mount_recorder *r, const ca_chunk_id *id)
{
        if (2 * (r->profile.n_chunks + 1) > r->seen_cap) {
                size_t cap = r->seen_cap ? r->seen_cap * 2 : 1024;
                ca_chunk_id *t = calloc(cap, sizeof(*t));
                if (!t)
                        return -ENOMEM;
                /* Rebuilt from the list: it holds every ID of the table. */
                for (size_t i = 0; i < r->profile.n_chunks; i++) {
                        size_t j = seen_slot(&r->profile.chunks[i], cap);
                        while (!seen_is_empty(&t[j]))
                                j = (j + 1) & (cap - 1);
                        t[j] = r->profile.chunks[i];
                }
                free(r->seen);
                r->seen = t;
                r->seen_cap = cap;
        }
        size_t j = seen_slot(id, r->seen_cap);
        for (; !seen_is_empty(&r->seen[j]); j = (j + 1) & (r->seen_cap - 1))
                if (memcmp(&r->seen[j], id, sizeof(*id)) == 0)
                        return 0;
        r->seen[j] = *id;
        return 1;
}

void mount_recorder_chunk(mount_recorder *r, const ca_chunk_id *id)
{
        if (seen_is_empty(id))
                return;
        pthread_mutex_lock(&r->lock);
        if (r->profile.n_chunks >= ACI_PROFILE_CHUNKS_MAX) {
                if (!r->chunks_full_noted)
                        ca_log_debug("access profile: %d chunks recorded; later ones are not",
                                     ACI_PROFILE_CHUNKS_MAX);
                r->chunks_full_noted = true;
        } else if (seen_add(r, id) > 0 && aci_profile_add_chunk(&r->profile, id) >= 0) {
                r->changes++;
        }
        pthread_mutex_unlock(&r->lock);
}

void mount_recorder_read(mount_recorder *r, uint32_t slot, uint64_t offset, uint64_t length)
{
        pthread_mutex_lock(&r->lock);
        if (slot < r->profile.n && aci_profile_add_range(&r->profile.files[slot], offset, length))
                r->changes++;
        pthread_mutex_unlock(&r->lock);
}

/* A copy of what was recorded, taken under the lock (the copy is written without it). */
static int snapshot(mount_recorder *r, aci_profile *ret, uint64_t *ret_changes)
{
        *ret = (aci_profile){};
        int k = 0;
        pthread_mutex_lock(&r->lock);
        *ret_changes = r->changes;
        for (size_t i = 0; k >= 0 && i < r->profile.n_chunks; i++)
                k = aci_profile_add_chunk(ret, &r->profile.chunks[i]);
        for (size_t i = 0; k >= 0 && i < r->profile.n; i++) {
                const aci_profile_file *f = &r->profile.files[i];
                size_t j;
                if (f->n_ranges == 0)
                        continue;
                k = aci_profile_add_file(ret, f->path, &j);
                if (k >= 0) {
                        memcpy(ret->files[j].ranges, f->ranges, sizeof(f->ranges));
                        ret->files[j].n_ranges = f->n_ranges;
                }
        }
        pthread_mutex_unlock(&r->lock);
        if (k < 0)
                aci_profile_done(ret);
        return k;
}

/* Writes what was recorded when it changed since the last save (nothing recorded: nothing
 * written, so a mount nobody read leaves the previous profile alone). */
static void save(mount_recorder *r)
{
        _cleanup_(aci_profile_done) aci_profile p = {};
        uint64_t changes;
        if (snapshot(r, &p, &changes) < 0 || changes == r->saved)
                return;
        int k = 0;
        if (r->store)
                k = aci_profile_store_save(r->store, r->name, &p);
        if (r->out && aci_profile_save(r->out, &p) < 0)
                k = -EIO;
        if (k >= 0) {
                r->saved = changes;
                ca_log_debug("access profile: %zu chunks and %zu files saved", p.n_chunks, p.n);
        }
}

static void *saver_thread(void *userdata)
{
        mount_recorder *r = userdata;
        pthread_mutex_lock(&r->lock);
        while (!r->stop) {
                struct timespec t;
                clock_gettime(CLOCK_REALTIME, &t);
                t.tv_sec += MOUNT_PROFILE_SAVE_SECONDS;
                pthread_cond_timedwait(&r->wake, &r->lock, &t);
                if (r->stop)
                        break;
                pthread_mutex_unlock(&r->lock);
                save(r);
                pthread_mutex_lock(&r->lock);
        }
        pthread_mutex_unlock(&r->lock);
        return NULL;
}

int mount_recorder_start(mount_recorder *r)
{
        /* What setting up the view read is not worth a save by itself: a mount nobody reads
         * leaves the previous profile alone. */
        pthread_mutex_lock(&r->lock);
        r->saved = r->changes;
        pthread_mutex_unlock(&r->lock);
        int k = pthread_create(&r->saver, NULL, saver_thread, r);
        if (k != 0)
                return -k;
        r->has_saver = true;
        return 0;
}

mount_recorder *mount_recorder_free(mount_recorder *r)
{
        if (!r)
                return NULL;
        if (r->has_saver) {
                pthread_mutex_lock(&r->lock);
                r->stop = true;
                pthread_cond_signal(&r->wake);
                pthread_mutex_unlock(&r->lock);
                pthread_join(r->saver, NULL);
                save(r);
        }
        aci_profile_done(&r->profile);
        free(r->seen);
        pthread_cond_destroy(&r->wake);
        pthread_mutex_destroy(&r->lock);
        free(r->name);
        free(r->out);
        free(r);
        return NULL;
}

/* ---------------------------------------------------------------- the plan */

/* The entry at path (components below dir), or -ENOENT (quietly) when the archive has none. */
static int resolve(ca_archive_reader *rd, uint64_t flags, const ca_seek_entry *dir,
                   const char *path, ca_seek_entry **ret)
{
        _cleanup_(ca_seek_entry_freep) ca_seek_entry *cur = NULL;
        const ca_seek_entry *at = dir;
        char name[FS_NAME_MAX + 1];
        for (const char *c = path;;) {
                size_t l = strcspn(c, "/");
                if (l == 0 || l > FS_NAME_MAX || !S_ISDIR(at->node.mode))
                        return -ENOENT;
                memcpy(name, c, l);
                name[l] = 0;
                _cleanup_(ca_seek_dir_freep) ca_seek_dir *d = NULL;
                ca_seek_entry *next = NULL;
                int r = ca_seek_dir_open(rd, at, &d);
                if (r >= 0)
                        r = ca_seek_dir_lookup(rd, flags, d, name, &next);
                if (r < 0)
                        return r;
                ca_seek_entry_free(cur);
                at = cur = next;
                if (!c[l])
                        break;
                c += l + 1;
        }
        *ret = TAKE_PTR(cur);
        return 0;
}

/* The directory of the previous path: profiles list files of one directory together, and a
 * directory's goodbye table is read once for all of them. */
typedef struct dir_memo {
        char *path; /* below the base; "" for the base itself */
        ca_seek_dir *dir;
        bool missing; /* not a directory in this archive */
} dir_memo;

static void dir_memo_done(dir_memo *m)
{
        free(m->path);
        ca_seek_dir_free(m->dir);
        *m = (dir_memo){};
}

/* The file at path below base, or -ENOENT (quietly) when the archive has none. */
static int resolve_file(ca_archive_reader *rd, uint64_t flags, const ca_seek_entry *base,
                        const char *path, dir_memo *memo, ca_seek_entry **ret)
{
        const char *slash = strrchr(path, '/');
        size_t n = slash ? (size_t)(slash - path) : 0;
        if (!memo->path || strlen(memo->path) != n || memcmp(memo->path, path, n) != 0) {
                dir_memo_done(memo);
                memo->path = strndup(path, n);
                if (!memo->path)
                        return -ENOMEM;
                _cleanup_(ca_seek_entry_freep) ca_seek_entry *d = NULL;
                int r = n > 0 ? resolve(rd, flags, base, memo->path, &d) : 0;
                const ca_seek_entry *at = n > 0 ? d : base;
                if (r >= 0 && !S_ISDIR(at->node.mode))
                        r = -ENOENT;
                if (r >= 0)
                        r = ca_seek_dir_open(rd, at, &memo->dir);
                if (r == -ENOMEM)
                        return r;
                memo->missing = r < 0;
        }
        if (memo->missing)
                return -ENOENT;
        return ca_seek_dir_lookup(rd, flags, memo->dir, slash ? slash + 1 : path, ret);
}

/* The first item whose chunk ends after offset (n_items when none). */
static size_t item_at(const ca_index *idx, uint64_t offset)
{
        size_t lo = 0, hi = idx->n_items;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (idx->items[mid].offset + idx->items[mid].size <= offset)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

int mount_plan_init(mount_plan *plan, const ca_index *idx)
{
        *plan = (mount_plan){};
        plan->items = malloc(MAX(idx->n_items, (size_t)1) * sizeof(size_t));
        plan->taken = calloc((idx->n_items + 7) / 8 + 1, 1);
        if (!plan->items || !plan->taken) {
                mount_plan_done(plan);
                return -ENOMEM;
        }
        return 0;
}

void mount_plan_done(mount_plan *plan)
{
        free(plan->items);
        free(plan->taken);
        *plan = (mount_plan){};
}

/* Appends item j unless planned already. Only the planning thread adds: the store of n makes
 * the item visible to the threads that read the plan. */
static void plan_add(mount_plan *plan, size_t j)
{
        if (plan->taken[j / 8] & (1u << (j % 8)))
                return;
        plan->taken[j / 8] |= (uint8_t)(1u << (j % 8));
        size_t n = atomic_load(&plan->n);
        plan->items[n] = j;
        atomic_store(&plan->n, n + 1);
}

int mount_profile_plan_chunks(const archive_input *in, const aci_profile *p, mount_plan *plan)
{
        const ca_index *idx = in->index;
        if (p->n_chunks == 0)
                return 0;
        _cleanup_(ca_chunk_set_freep) ca_chunk_set *set = NULL;
        int r = ca_chunk_set_new(&set);
        for (size_t i = 0; r >= 0 && i < p->n_chunks; i++)
                r = ca_chunk_set_add(set, &p->chunks[i]);
        if (r < 0)
                return r;
        ca_chunk_set_sort(set);
        /* Each listed ID's first item in this index (SIZE_MAX: not in this version). */
        size_t n_set = ca_chunk_set_count(set);
        _cleanup_(freep) size_t *first = malloc(n_set * sizeof(*first));
        if (!first)
                return -ENOMEM;
        for (size_t i = 0; i < n_set; i++)
                first[i] = SIZE_MAX;
        for (size_t j = 0; j < idx->n_items; j++) {
                ssize_t k = ca_chunk_set_find(set, &idx->items[j].id);
                if (k >= 0 && first[k] == SIZE_MAX)
                        first[k] = j;
        }
        size_t found = 0;
        for (size_t i = 0; i < p->n_chunks; i++) {
                size_t j = first[ca_chunk_set_find(set, &p->chunks[i])];
                if (j != SIZE_MAX) {
                        found++;
                        plan_add(plan, j);
                }
        }
        ca_log_debug("%s: access profile: %zu of its %zu chunks are in this version, prefetched "
                     "first",
                     in->location, found, p->n_chunks);
        return 0;
}

int mount_profile_plan_files(archive_input *in, const char *subdir, const aci_profile *p,
                             const atomic_bool *cancel, mount_plan *plan)
{
        const ca_index *idx = in->index;
        uint64_t flags = idx->feature_flags;
        _cleanup_(ca_archive_reader_freep) ca_archive_reader *rd = NULL;
        _cleanup_(ca_seek_entry_freep) ca_seek_entry *root = NULL, *top = NULL;
        size_t before = atomic_load(&plan->n), found = 0;
        if (p->n == 0)
                return 0;
        int r = ca_archive_reader_new(idx, chunk_source_get, in->source, 16, in->location, &rd);
        if (r >= 0)
                r = ca_seek_root(rd, flags, &root);
        if (r >= 0 && subdir)
                r = resolve(rd, flags, root, subdir, &top);
        if (r < 0)
                return r;
        const ca_seek_entry *base = top ? top : root;
        _cleanup_(dir_memo_done) dir_memo memo = {};
        for (size_t i = 0; i < p->n && !atomic_load(cancel); i++) {
                const aci_profile_file *f = &p->files[i];
                _cleanup_(ca_seek_entry_freep) ca_seek_entry *e = NULL;
                r = resolve_file(rd, flags, base, f->path, &memo, &e);
                if (r == -ENOMEM)
                        return r;
                if (r < 0 || !S_ISREG(e->node.mode)) /* not in this version: skipped */
                        continue;
                found++;
                for (unsigned k = 0; k < f->n_ranges; k++) {
                        const aci_profile_range *g = &f->ranges[k];
                        if (g->offset >= e->node.payload_size)
                                continue;
                        uint64_t from = e->payload_offset + g->offset;
                        uint64_t to =
                            e->payload_offset + MIN(g->offset + g->length, e->node.payload_size);
                        for (size_t j = item_at(idx, from);
                             j < idx->n_items && idx->items[j].offset < to; j++)
                                plan_add(plan, j);
                }
        }
        ca_log_debug("%s: access profile: %zu of its %zu files are in this version, in %zu "
                     "chunks more, prefetched next",
                     in->location, found, p->n, atomic_load(&plan->n) - before);
        return 0;
}
