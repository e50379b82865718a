/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Seeds (fetcher/source/seed.c): a directory, a file and an index with its data supply exactly
 * the chunks of the target index they hold; the cut of a seed is cached under the store's
 * seeds/ and used again while the seed is unchanged; a seed that changed (or a cut or seed index
 * that no longer tells the truth) never puts a wrong chunk in the store. The target indexes and
 * the reference cuts are made here with casync's encoder, chunk pipeline and index writer.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "fetcher/source/source.h"
#include "tests/test.h"

#define SIZE_MIN  (UINT64_C(4) * 1024)
#define SIZE_AVG  (UINT64_C(16) * 1024)
#define SIZE_MAX_ (UINT64_C(64) * 1024)
#define DIGEST    CA_DIGEST_SHA512_256

static char root[] = "/tmp/test_seed.XXXXXX";
static uint64_t dir_flags, blob_flags;

/* ---------------------------------------------------------------- files */

static void fill_random(uint8_t *p, size_t n, unsigned seed)
{
        uint64_t x = 0x9e3779b97f4a7c15u * (seed + 1);
        for (size_t i = 0; i < n; i++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                p[i] = (uint8_t)x;
        }
}

static char *path_of(const char *rel)
{
        char *p = NULL;
        CHECK(asprintf(&p, "%s/%s", root, rel) > 0);
        return p;
}

static void write_at(const char *rel, const void *data, size_t size)
{
        char *p = path_of(rel);
        FILE *f = fopen(p, "w");
        CHECK(f);
        CHECK(fwrite(data, 1, size, f) == size);
        CHECK(fclose(f) == 0);
        free(p);
}

static void write_random(const char *rel, size_t size, unsigned seed)
{
        uint8_t *d = malloc(size);
        CHECK(d);
        fill_random(d, size, seed);
        write_at(rel, d, size);
        free(d);
}

static uint8_t *read_all(const char *path, size_t *ret_size)
{
        FILE *f = fopen(path, "r");
        CHECK(f);
        CHECK(fseek(f, 0, SEEK_END) == 0);
        long n = ftell(f);
        CHECK(n >= 0);
        rewind(f);
        uint8_t *d = malloc((size_t)n + 1);
        CHECK(d);
        CHECK(fread(d, 1, (size_t)n, f) == (size_t)n);
        fclose(f);
        *ret_size = (size_t)n;
        return d;
}

/* Overwrites size bytes at offset with other bytes. */
static void scribble(const char *rel, size_t offset, size_t size, unsigned seed)
{
        char *p = path_of(rel);
        int fd = open(p, O_WRONLY | O_CLOEXEC);
        CHECK(fd >= 0);
        uint8_t *d = malloc(size);
        CHECK(d);
        fill_random(d, size, seed);
        CHECK(pwrite(fd, d, size, (off_t)offset) == (ssize_t)size);
        CHECK(close(fd) == 0);
        free(d);
        free(p);
}

static void mkdir_rel(const char *rel)
{
        char *p = path_of(rel);
        CHECK(mkdir(p, 0755) == 0);
        free(p);
}

/* ---------------------------------------------------------------- indexes */

static int add_item(void *userdata, uint64_t size, const ca_chunk_id *id)
{
        return ca_index_writer_add(userdata, size, id);
}

/* Cuts a directory (encoded as catar) or a file into the index out (relative to root). */
static ca_index *make_index(const char *src_rel, bool dir, const char *out_rel)
{
        char *src = path_of(src_rel), *out = path_of(out_rel);
        uint64_t flags = dir ? dir_flags : blob_flags;
        ca_index_writer *w = NULL;
        CHECK(ca_index_writer_new(out, flags, SIZE_MIN, SIZE_AVG, SIZE_MAX_, &w) == 0);
        ca_chunk_pipeline *p = NULL;
        ca_chunk_pipeline_options o = {
            .chunk_size_min = SIZE_MIN,
            .chunk_size_avg = SIZE_AVG,
            .chunk_size_max = SIZE_MAX_,
            .digest = ca_digest_type_from_flags(flags),
            .compression = CA_COMPRESSION_ZSTD,
            .compression_level = CA_COMPRESSION_LEVEL_DEFAULT,
            .chunk = add_item,
            .userdata = w,
        };
        CHECK(ca_chunk_pipeline_new(&o, &p) == 0);
        int fd = open(src, O_RDONLY | O_CLOEXEC | (dir ? O_DIRECTORY : 0));
        CHECK(fd >= 0);
        if (dir) {
                ca_encoder *e = NULL;
                CHECK(ca_encoder_new(flags, ca_chunk_pipeline_write, p, &e) == 0);
                CHECK(ca_encoder_run(e, fd, src) == 0);
                ca_encoder_free(e);
        } else {
                CHECK(ca_stream_fd(fd, src, ca_chunk_pipeline_write, p) == 0);
        }
        close(fd);
        CHECK(ca_chunk_pipeline_finish(p, NULL) == 0);
        ca_chunk_pipeline_free(p);
        CHECK(ca_index_writer_finish(w) == 0);
        ca_index_writer_free(w);
        ca_index *idx = NULL;
        CHECK(ca_index_load(out, &idx) == 0);
        CHECK(idx->n_items > 4);
        free(src);
        free(out);
        return idx;
}

/* ---------------------------------------------------------------- sets of chunk IDs */

typedef struct id_set {
        ca_chunk_id *ids; /* sorted, unique */
        size_t n;
} id_set;

static int cmp_id(const void *a, const void *b)
{
        return memcmp(a, b, sizeof(ca_chunk_id));
}

static void set_normalize(id_set *s)
{
        if (s->n == 0)
                return;
        qsort(s->ids, s->n, sizeof(*s->ids), cmp_id);
        size_t u = 0;
        for (size_t i = 0; i < s->n; i++)
                if (u == 0 || cmp_id(&s->ids[u - 1], &s->ids[i]) != 0)
                        s->ids[u++] = s->ids[i];
        s->n = u;
}

static bool set_has(const id_set *s, const ca_chunk_id *id)
{
        return s->n > 0 && bsearch(id, s->ids, s->n, sizeof(*s->ids), cmp_id) != NULL;
}

static id_set set_of(const ca_index *idx)
{
        id_set s = {.ids = malloc(idx->n_items * sizeof(ca_chunk_id))};
        CHECK(s.ids);
        for (size_t i = 0; i < idx->n_items; i++)
                s.ids[s.n++] = idx->items[i].id;
        set_normalize(&s);
        return s;
}

/* The chunks of a that b lists too. */
static id_set set_and(const id_set *a, const id_set *b)
{
        id_set s = {.ids = malloc((a->n + 1) * sizeof(ca_chunk_id))};
        CHECK(s.ids);
        for (size_t i = 0; i < a->n; i++)
                if (set_has(b, &a->ids[i]))
                        s.ids[s.n++] = a->ids[i];
        return s;
}

static bool set_eq(const id_set *a, const id_set *b)
{
        return a->n == b->n && (a->n == 0 || memcmp(a->ids, b->ids, a->n * sizeof(*a->ids)) == 0);
}

/* ---------------------------------------------------------------- what a store holds */

static const ca_index_item *find_item(const ca_index *idx, const ca_chunk_id *id)
{
        for (size_t i = 0; i < idx->n_items; i++)
                if (cmp_id(&idx->items[i].id, id) == 0)
                        return &idx->items[i];
        return NULL;
}

/*
 * Every chunk file in the store's chunks/, each checked here (not through the store): named by
 * an ID the target lists, it decompresses to that item's size and hashes to its name.
 */
static id_set stored_chunks(aci_store *store, const ca_index *target)
{
        const char *dir = ca_store_path(aci_store_chunks(store));
        id_set s = {0};
        size_t alloc = 0;
        DIR *d = opendir(dir);
        CHECK(d);
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                char *sub = NULL;
                CHECK(asprintf(&sub, "%s/%s", dir, de->d_name) > 0);
                DIR *sd = opendir(sub);
                if (!sd) { /* not a prefix directory (a temporary file, say) */
                        free(sub);
                        continue;
                }
                CHECK(strlen(de->d_name) == 4);
                struct dirent *ce;
                while ((ce = readdir(sd))) {
                        if (ce->d_name[0] == '.')
                                continue;
                        size_t l = strlen(ce->d_name);
                        if (l != 64 + 6 || strcmp(ce->d_name + 64, ".cacnk") != 0) {
                                fprintf(stderr, "unexpected file %s/%s\n", sub, ce->d_name);
                                CHECK(!"a stray file in the chunk store");
                        }
                        char hex[65];
                        memcpy(hex, ce->d_name, 64);
                        hex[64] = 0;
                        CHECK(strncmp(hex, de->d_name, 4) == 0);
                        ca_chunk_id id;
                        CHECK(ca_chunk_id_from_hex(hex, &id) == 0);
                        const ca_index_item *it = find_item(target, &id);
                        if (!it)
                                fprintf(stderr, "chunk %s: not in the target index\n", hex);
                        CHECK(it);
                        char *file = NULL;
                        CHECK(asprintf(&file, "%s/%s", sub, ce->d_name) > 0);
                        size_t n;
                        uint8_t *z = read_all(file, &n);
                        uint8_t *raw = malloc((size_t)it->size);
                        CHECK(raw);
                        CHECK(ca_chunk_decompress(z, n, raw, (size_t)it->size, file) == 0);
                        CHECK(ca_chunk_verify(DIGEST, &id, raw, (size_t)it->size) == 0);
                        free(raw);
                        free(z);
                        free(file);
                        if (s.n == alloc) {
                                alloc = alloc ? alloc * 2 : 64;
                                s.ids = realloc(s.ids, alloc * sizeof(*s.ids));
                                CHECK(s.ids);
                        }
                        s.ids[s.n++] = id;
                }
                closedir(sd);
                free(sub);
        }
        closedir(d);
        set_normalize(&s);
        return s;
}

static void empty_chunks(aci_store *store, const ca_index *target)
{
        for (size_t i = 0; i < target->n_items; i++)
                CHECK(ca_store_remove(aci_store_chunks(store), &target->items[i].id) == 0);
        id_set left = stored_chunks(store, target);
        CHECK_EQ_INT(left.n, 0);
        free(left.ids);
}

static aci_store *store_new(const char *rel)
{
        char *p = path_of(rel);
        aci_store *s = NULL;
        CHECK(aci_store_open(p, &s) == 0);
        free(p);
        return s;
}

/* The files in the store's seeds/ (0 when it does not exist); the first one's name and stat. */
static unsigned seed_cache(aci_store *store, char *name, size_t name_size, struct stat *st)
{
        char *p = NULL;
        CHECK(asprintf(&p, "%s/seeds", aci_store_path(store)) > 0);
        DIR *d = opendir(p);
        unsigned n = 0;
        if (d) {
                struct dirent *de;
                while ((de = readdir(d))) {
                        if (de->d_name[0] == '.')
                                continue;
                        if (n++ == 0 && name) {
                                snprintf(name, name_size, "%s/%s", p, de->d_name);
                                CHECK(stat(name, st) == 0);
                        }
                }
                closedir(d);
        }
        free(p);
        return n;
}

/* ---------------------------------------------------------------- the cases */

static ca_index *dir_target, *dir_seed_cut, *blob_target, *blob_seed_cut;
static id_set dir_expected, blob_expected;

static void test_dir_seed(void)
{
        aci_store *store = store_new("store-dir");
        seed_target t = {.index = dir_target, .store = store};
        char *seed = path_of("seed-dir");

        int r = seed_apply(&t, seed);
        id_set got = stored_chunks(store, dir_target);
        fprintf(stderr, "directory seed: %d of the target's %zu chunks\n", r, dir_target->n_items);
        CHECK_EQ_INT(r, dir_expected.n);
        CHECK(set_eq(&got, &dir_expected));
        free(got.ids);

        /* The cut was recorded: one index in seeds/. */
        char cached[1024];
        struct stat st1, st2;
        CHECK_EQ_INT(seed_cache(store, cached, sizeof(cached), &st1), 1);
        CHECK(strstr(cached, ".caidx"));
        ca_index *rec = NULL;
        CHECK(ca_index_load(cached, &rec) == 0);
        CHECK_EQ_INT(rec->n_items, dir_seed_cut->n_items);
        CHECK(memcmp(rec->items, dir_seed_cut->items, rec->n_items * sizeof(ca_index_item)) == 0);
        ca_index_free(rec);

        /* Everything it can supply is here: nothing to do. */
        CHECK_EQ_INT(seed_apply(&t, seed), 0);

        /* Again with the chunks gone: the cached cut is used (read, marked as used), not
         * made again (that would write a new file), and it supplies the same chunks. */
        empty_chunks(store, dir_target);
        struct timespec old[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};
        CHECK(utimensat(AT_FDCWD, cached, old, 0) == 0);
        r = seed_apply(&t, seed);
        CHECK_EQ_INT(r, dir_expected.n);
        got = stored_chunks(store, dir_target);
        CHECK(set_eq(&got, &dir_expected));
        free(got.ids);
        char cached2[1024];
        CHECK_EQ_INT(seed_cache(store, cached2, sizeof(cached2), &st2), 1);
        CHECK_STREQ(cached2, cached);
        CHECK_EQ_INT(st2.st_ino, st1.st_ino);
        CHECK(st2.st_mtime > 1000000000);

        /* A directory cannot seed a blob. */
        seed_target tb = {.index = blob_target, .blob = true, .store = store};
        CHECK_EQ_INT(seed_apply(&tb, seed), -EISDIR);

        /* The seed changes: cut afresh (the old cut is dropped), and what it supplies now is
         * exactly what it holds now. */
        empty_chunks(store, dir_target);
        scribble("seed-dir/sub/c.bin", 10000, 3000, 77);
        ca_index *now = make_index("seed-dir", true, "seed-dir-now.caidx");
        id_set now_set = set_of(now), target_set = set_of(dir_target);
        id_set now_expected = set_and(&target_set, &now_set);
        CHECK(now_expected.n < dir_expected.n); /* the change cost something */
        r = seed_apply(&t, seed);
        CHECK_EQ_INT(r, now_expected.n);
        got = stored_chunks(store, dir_target);
        CHECK(set_eq(&got, &now_expected));
        free(got.ids);
        CHECK_EQ_INT(seed_cache(store, cached2, sizeof(cached2), &st2), 1);
        CHECK(strcmp(cached2, cached) != 0);
        ca_index_free(now);
        free(now_set.ids);
        free(target_set.ids);
        free(now_expected.ids);

        free(seed);
        aci_store_free(store);
}

static void test_file_seed(void)
{
        aci_store *store = store_new("store-file");
        seed_target t = {.index = blob_target, .blob = true, .store = store};
        char *seed = path_of("blob1");

        int r = seed_apply(&t, seed);
        CHECK_EQ_INT(r, blob_expected.n);
        id_set got = stored_chunks(store, blob_target);
        CHECK(set_eq(&got, &blob_expected));
        free(got.ids);
        char cached[1024];
        struct stat st;
        CHECK_EQ_INT(seed_cache(store, cached, sizeof(cached), &st), 1);
        CHECK(strstr(cached, ".caibx"));

        /* A cached cut that lies (here: the target's own cut recorded for this seed, so each
         * chunk is read at the target's offsets from data that differs there and is shorter):
         * whatever is stored is still right, and only chunks the seed really holds. */
        empty_chunks(store, blob_target);
        char *target_index = path_of("blob2.caibx");
        size_t n;
        uint8_t *lie = read_all(target_index, &n);
        CHECK(unlink(cached) == 0);
        FILE *f = fopen(cached, "w");
        CHECK(f);
        CHECK(fwrite(lie, 1, n, f) == n);
        CHECK(fclose(f) == 0);
        free(lie);
        free(target_index);
        r = seed_apply(&t, seed);
        got = stored_chunks(store, blob_target);
        fprintf(stderr, "lying cut: %d chunks (the seed holds %zu)\n", r, blob_expected.n);
        CHECK_EQ_INT(r, got.n);
        CHECK(r > 0);
        for (size_t i = 0; i < got.n; i++)
                CHECK(set_has(&blob_expected, &got.ids[i]));
        /* Not every chunk of the target: the data differs in the middle and ends earlier. */
        CHECK(got.n < blob_target->n_items);
        free(got.ids);

        free(seed);
        aci_store_free(store);
}

static void test_index_seed(void)
{
        /* A blob: X.caibx and its data X. */
        aci_store *store = store_new("store-index");
        seed_target t = {.index = blob_target, .blob = true, .store = store};
        char *seed = path_of("idx/blob1.caibx");
        int r = seed_apply(&t, seed);
        CHECK_EQ_INT(r, blob_expected.n);
        id_set got = stored_chunks(store, blob_target);
        CHECK(set_eq(&got, &blob_expected));
        free(got.ids);
        /* An index seed is not cut: nothing recorded. */
        CHECK_EQ_INT(seed_cache(store, NULL, 0, NULL), 0);

        /* A directory: seed-dir-ref.caidx and seed-dir-ref/. */
        aci_store *dstore = store_new("store-index-dir");
        seed_target td = {.index = dir_target, .store = dstore};
        char *dseed = path_of("seed-dir-ref.caidx");
        r = seed_apply(&td, dseed);
        CHECK_EQ_INT(r, dir_expected.n);
        got = stored_chunks(dstore, dir_target);
        CHECK(set_eq(&got, &dir_expected));
        CHECK_EQ_INT(seed_cache(dstore, NULL, 0, NULL), 0);
        free(got.ids);
        free(dseed);
        aci_store_free(dstore);

        /* The data changed after its index was made: a region of it differs now. Only chunks
         * that still hash right are stored. */
        aci_store *store2 = store_new("store-index-stale");
        t.store = store2;
        scribble("idx/blob1", 300000, 100000, 99);
        r = seed_apply(&t, seed);
        got = stored_chunks(store2, blob_target);
        fprintf(stderr, "stale seed index: %d chunks (the index promised %zu)\n", r,
                blob_expected.n);
        CHECK_EQ_INT(r, got.n);
        CHECK(r > 0);
        CHECK(got.n < blob_expected.n);
        for (size_t i = 0; i < got.n; i++)
                CHECK(set_has(&blob_expected, &got.ids[i]));
        free(got.ids);

        /* An index whose data is missing fails. */
        char *lost = path_of("lost.caibx");
        char *ref = path_of("idx/blob1.caibx");
        CHECK(link(ref, lost) == 0);
        empty_chunks(store2, blob_target);
        CHECK(seed_apply(&t, lost) < 0);
        free(lost);
        free(ref);

        free(seed);
        aci_store_free(store2);
        aci_store_free(store);
}

/* ---------------------------------------------------------------- setup */

static void copy_file(const char *from_rel, const char *to_rel)
{
        char *from = path_of(from_rel);
        size_t n;
        uint8_t *d = read_all(from, &n);
        write_at(to_rel, d, n);
        free(d);
        free(from);
}

int main(void)
{
        CHECK(mkdtemp(root));
        dir_flags = ca_feature_flags_normalize(CA_FORMAT_WITH_DEFAULT | CA_FORMAT_EXCLUDE_NODUMP |
                                               CA_FORMAT_EXCLUDE_FILE | CA_FORMAT_SHA512_256);
        blob_flags = ca_feature_flags_normalize(CA_FORMAT_EXCLUDE_NODUMP | CA_FORMAT_EXCLUDE_FILE |
                                                CA_FORMAT_SHA512_256);
        CHECK(ca_digest_type_from_flags(dir_flags) == DIGEST);

        /* The seed tree, and the target tree: the same files, one changed, one added. */
        mkdir_rel("seed-dir");
        mkdir_rel("seed-dir/sub");
        write_random("seed-dir/a.bin", 300000, 1);
        write_random("seed-dir/b.bin", 200000, 2);
        write_random("seed-dir/sub/c.bin", 400000, 3);
        write_at("seed-dir/sub/d.txt", "hello\n", 6);
        mkdir_rel("target-dir");
        mkdir_rel("target-dir/sub");
        copy_file("seed-dir/a.bin", "target-dir/a.bin");
        copy_file("seed-dir/b.bin", "target-dir/b.bin");
        copy_file("seed-dir/sub/c.bin", "target-dir/sub/c.bin");
        scribble("target-dir/b.bin", 100000, 20000, 4);
        write_random("target-dir/sub/e.bin", 150000, 5);
        dir_target = make_index("target-dir", true, "target.caidx");
        /* The directory index seed: seed-dir-ref.caidx for seed-dir-ref/ (a copy of the seed
         * tree that stays as it is). */
        mkdir_rel("seed-dir-ref");
        mkdir_rel("seed-dir-ref/sub");
        copy_file("seed-dir/a.bin", "seed-dir-ref/a.bin");
        copy_file("seed-dir/b.bin", "seed-dir-ref/b.bin");
        copy_file("seed-dir/sub/c.bin", "seed-dir-ref/sub/c.bin");
        copy_file("seed-dir/sub/d.txt", "seed-dir-ref/sub/d.txt");
        dir_seed_cut = make_index("seed-dir", true, "seed-dir-cut.caidx");
        ca_index *ref_cut = make_index("seed-dir-ref", true, "seed-dir-ref.caidx");
        {
                id_set a = set_of(dir_target), b = set_of(dir_seed_cut);
                dir_expected = set_and(&a, &b);
                /* The seed holds some of the target's chunks, not all. */
                CHECK(dir_expected.n > 4);
                CHECK(dir_expected.n < a.n);
                /* The copy holds the same (file data; the metadata chunks may differ). */
                id_set c = set_of(ref_cut), e = set_and(&a, &c);
                CHECK(set_eq(&e, &dir_expected));
                free(a.ids);
                free(b.ids);
                free(c.ids);
                free(e.ids);
        }
        ca_index_free(ref_cut);

        /* Blobs: blob2 is blob1 with 30 kB changed in the middle and 100 kB appended. */
        write_random("blob1", 1500000, 10);
        copy_file("blob1", "blob2");
        scribble("blob2", 700000, 30000, 11);
        {
                char *p = path_of("blob2");
                FILE *f = fopen(p, "a");
                CHECK(f);
                uint8_t *d = malloc(100000);
                CHECK(d);
                fill_random(d, 100000, 12);
                CHECK(fwrite(d, 1, 100000, f) == 100000);
                CHECK(fclose(f) == 0);
                free(d);
                free(p);
        }
        blob_target = make_index("blob2", false, "blob2.caibx");
        mkdir_rel("idx");
        copy_file("blob1", "idx/blob1");
        blob_seed_cut = make_index("idx/blob1", false, "idx/blob1.caibx");
        {
                id_set a = set_of(blob_target), b = set_of(blob_seed_cut);
                blob_expected = set_and(&a, &b);
                CHECK(blob_expected.n > 4);
                CHECK(blob_expected.n < a.n);
                free(a.ids);
                free(b.ids);
        }

        test_dir_seed();
        test_file_seed();
        test_index_seed();

        ca_index_free(dir_target);
        ca_index_free(dir_seed_cut);
        ca_index_free(blob_target);
        ca_index_free(blob_seed_cut);
        free(dir_expected.ids);
        free(blob_expected.ids);
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
        CHECK(system(cmd) == 0);
        return 0;
}
