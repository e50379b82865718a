/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The chunker against the spec's vectors (buzhash, discriminator, vec1m.bin's cuts and index
 * bytes), against a plain reference chunker written from the spec for many size settings and
 * every way of splitting the input, --chunk-size parsing as casync parses it, and the
 * pipeline + index writer producing the spec's vec1m.caibx byte for byte with and without
 * worker threads.
 */
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "casync/casync.h"
#include "tests/test.h"

static uint8_t *make_vec1m(void)
{
        uint8_t *v = malloc(1 << 20);

        CHECK(v);
        for (uint64_t k = 0; k < 32768; k++) {
                uint8_t le[8];
                unsigned len = 0;

                write_le64(le, k);
                CHECK(EVP_Digest(le, 8, v + 32 * k, &len, EVP_sha256(), NULL) == 1);
        }
        return v;
}

/* The spec's chunker, the obvious way: a full window hash at every length. */
static size_t reference_cuts(const uint8_t *d, size_t n, uint64_t min, uint64_t avg, uint64_t max,
                             uint64_t *cuts, size_t cap)
{
        uint64_t disc = ca_chunker_discriminator(min, avg, max);
        size_t count = 0, start = 0;

        while (start < n) {
                size_t cut;

                if (min == avg && avg == max)
                        cut = MIN((size_t)avg, n - start);
                else if (n - start < CA_CHUNKER_WINDOW_SIZE)
                        cut = n - start;
                else {
                        size_t l = CA_CHUNKER_WINDOW_SIZE;
                        for (;;) {
                                uint32_t h = ca_buzhash(d + start + l - CA_CHUNKER_WINDOW_SIZE);
                                if (l >= max || (l >= min && h % disc == disc - 1)) {
                                        cut = l;
                                        break;
                                }
                                if (start + l == n) {
                                        cut = n - start;
                                        break;
                                }
                                l++;
                        }
                }
                CHECK(count < cap);
                start += cut;
                cuts[count++] = start;
        }
        return count;
}

/* Our chunker, fed in pieces of `piece` bytes (0: random sizes). */
static size_t chunker_cuts(const uint8_t *d, size_t n, uint64_t min, uint64_t avg, uint64_t max,
                           size_t piece, uint64_t *cuts, size_t cap)
{
        ca_chunker c;
        size_t count = 0, pos = 0;

        CHECK(ca_chunker_init(&c, min, avg, max) == 0);
        while (pos < n) {
                size_t k = piece ? piece : 1 + (size_t)(random() % 5000);
                k = MIN(k, n - pos);
                while (k > 0) {
                        size_t r = ca_chunker_scan(&c, d + pos, k);
                        if (r == SIZE_MAX) {
                                pos += k;
                                break;
                        }
                        CHECK(r <= k);
                        pos += r;
                        k -= r;
                        CHECK(count < cap);
                        cuts[count++] = pos;
                }
        }
        if (count == 0 || cuts[count - 1] != n) {
                CHECK(count < cap);
                cuts[count++] = n;
        }
        return count;
}

static void test_vectors(void)
{
        uint8_t w[CA_CHUNKER_WINDOW_SIZE] = {0};

        CHECK_EQ_INT(ca_buzhash(w), 0x9e489e48);
        for (unsigned i = 0; i < sizeof(w); i++)
                w[i] = (uint8_t)i;
        CHECK_EQ_INT(ca_buzhash(w), 0x6b67dec6);

        static const struct {
                uint64_t avg, d;
        } discs[] = {{65536, 49535}, {16384, 12318}, {4096, 3075}, {1024, 768}, {1048576, 886711}};
        for (size_t i = 0; i < ELEMENTSOF(discs); i++)
                CHECK_EQ_INT(ca_chunker_discriminator(1, discs[i].avg, 1 << 27), discs[i].d);
        /* The clamp: 60000:65536:262144 gives max(d, min). */
        CHECK_EQ_INT(ca_chunker_discriminator(60000, 65536, 262144), 60000);
}

static void test_vec1m(const uint8_t *v)
{
        static const uint64_t ends[] = {80921,  138220, 187412, 237372, 296795, 348909,
                                        437333, 483751, 584033, 676269, 776182, 792964,
                                        865744, 907329, 945783, 1048576};
        static const uint64_t ends4k[] = {10613, 12445, 14923, 17919, 21763, 25260};
        uint64_t cuts[1024];
        size_t n;

        CHECK_EQ_INT(ca_buzhash(v), 0x3bc340be);
        CHECK_EQ_INT(ca_buzhash(v + 1), 0xf4859d28);
        n = chunker_cuts(v, 1 << 20, 16384, 65536, 262144, 1 << 20, cuts, ELEMENTSOF(cuts));
        CHECK_EQ_INT(n, ELEMENTSOF(ends));
        for (size_t i = 0; i < n; i++)
                CHECK_EQ_INT(cuts[i], ends[i]);
        n = chunker_cuts(v, 1 << 20, 1024, 4096, 16384, 1 << 20, cuts, ELEMENTSOF(cuts));
        CHECK_EQ_INT(n, 260);
        for (size_t i = 0; i < ELEMENTSOF(ends4k); i++)
                CHECK_EQ_INT(cuts[i], ends4k[i]);
}

static void test_against_reference(void)
{
        static const uint64_t sizes[][3] = {
            {16384, 65536, 262144}, {1024, 4096, 16384},    {2000, 8000, 20000}, {100, 3000, 5000},
            {16, 64, 256},          {60000, 65536, 262144}, {4096, 4096, 4096},  {1, 1, 1},
            {48, 48, 48},           {1, 200, 300},          {47, 100, 1000},     {5, 20, 80},
        };
        static const size_t pieces[] = {1, 7, 47, 48, 49, 4096, 65536, 0};
        size_t n = 600 * 1024;
        uint8_t *d = malloc(n);
        uint64_t *want = malloc(sizeof(uint64_t) * (n + 1)),
                 *got = malloc(sizeof(uint64_t) * (n + 1));

        CHECK(d && want && got);
        srandom(42);
        for (size_t i = 0; i < n; i++)
                d[i] = (uint8_t)random();
        /* Runs of zeros and of one repeated pattern: forced cuts at max. */
        memset(d + 100000, 0, 300000);
        for (size_t i = 450000; i < 550000; i++)
                d[i] = (uint8_t)(i % 7);

        for (size_t s = 0; s < ELEMENTSOF(sizes); s++) {
                /* Tiny chunk sizes on a prefix only, to keep the reference quick. */
                size_t len = sizes[s][2] < 1000 ? 60 * 1024 : n;
                size_t nw =
                    reference_cuts(d, len, sizes[s][0], sizes[s][1], sizes[s][2], want, n + 1);

                for (size_t p = 0; p < ELEMENTSOF(pieces); p++) {
                        size_t ng = chunker_cuts(d, len, sizes[s][0], sizes[s][1], sizes[s][2],
                                                 pieces[p], got, n + 1);
                        if (ng != nw || memcmp(got, want, nw * sizeof(uint64_t)) != 0) {
                                fprintf(stderr, "cuts differ for %llu:%llu:%llu, pieces of %zu\n",
                                        (unsigned long long)sizes[s][0],
                                        (unsigned long long)sizes[s][1],
                                        (unsigned long long)sizes[s][2], pieces[p]);
                                exit(EXIT_FAILURE);
                        }
                }
        }
        free(d);
        free(want);
        free(got);
}

static void test_parse(void)
{
        static const struct {
                const char *s;
                int r;
                uint64_t min, avg, max;
        } cases[] = {
            {"auto", 0, 16384, 65536, 262144},
            {"16K", 0, 4096, 16384, 65536},
            {"1M", 0, 262144, 1048576, 4194304},
            {"1000", 0, 250, 1000, 4000},
            {"1", 0, 1, 1, 4},
            {"64M", 0, 16 << 20, 64 << 20, 128 << 20},
            {"2000:8000:20000", 0, 2000, 8000, 20000},
            {"16:16:16", 0, 16, 16, 16},
            {"1.5K", 0, 384, 1536, 6144},
            {"1K512B", 0, 384, 1536, 6144},
            {"1K512", 0, 384, 1536, 6144},
            {"2:3", -EINVAL, 0, 0, 0},
            {"0", -ERANGE, 0, 0, 0},
            {"0:1:2", -ERANGE, 0, 0, 0},
            {"3:2:4", -EINVAL, 0, 0, 0},
            {"1:4:3", -EINVAL, 0, 0, 0},
            {"1:2:129M", -ERANGE, 0, 0, 0},
            {"129M", -ERANGE, 0, 0, 0},
            {"12x", -EINVAL, 0, 0, 0},
            {"-5", -EINVAL, 0, 0, 0},
            {"", -EINVAL, 0, 0, 0},
            {"K", -EINVAL, 0, 0, 0},
            {"1B1K", -EINVAL, 0, 0, 0},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                uint64_t a = 0, b = 0, c = 0;
                int r = ca_chunk_size_parse(cases[i].s, &a, &b, &c);

                if (r != cases[i].r) {
                        fprintf(stderr, "parse '%s': %d, expected %d\n", cases[i].s, r, cases[i].r);
                        exit(EXIT_FAILURE);
                }
                if (r == 0) {
                        CHECK_EQ_INT(a, cases[i].min);
                        CHECK_EQ_INT(b, cases[i].avg);
                        CHECK_EQ_INT(c, cases[i].max);
                }
        }
}

static int add_to_index(void *userdata, uint64_t size, const ca_chunk_id *id)
{
        return ca_index_writer_add(userdata, size, id);
}

static void sha256_file_hex(const char *path, char out[65])
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        uint8_t *buf, md[32];
        unsigned len;

        CHECK(fd >= 0 && fstat(fd, &st) == 0);
        buf = malloc((size_t)st.st_size);
        CHECK(buf && read_full(fd, buf, (size_t)st.st_size) == 0);
        CHECK(EVP_Digest(buf, (size_t)st.st_size, md, &len, EVP_sha256(), NULL) == 1);
        for (int i = 0; i < 32; i++)
                sprintf(out + 2 * i, "%02x", md[i]);
        free(buf);
        close(fd);
}

/* The whole writing path: pipeline (threads or not, any split) into an index file. */
static void test_pipeline(const uint8_t *v, const char *dir)
{
        static const struct {
                uint64_t min, avg, max;
                const char *sha256;
        } cases[] = {
            {16384, 65536, 262144,
             "b2ce1eba2584cfb7e541057dc9a549783675a6299465e85ae8466802f336e1ec"},
            {1024, 4096, 16384, "68cd48f5a77f05c0e2dc64e8c88b588165b325b634137c0f7f4f1764c58a9eda"},
        };
        char path[4096], store_path[4096], hex[65];

        snprintf(path, sizeof(path), "%s/v.caibx", dir);
        snprintf(store_path, sizeof(store_path), "%s/s.castr", dir);
        for (size_t c = 0; c < ELEMENTSOF(cases); c++)
                for (unsigned jobs = 0; jobs <= 3; jobs++) {
                        ca_index_writer *w = NULL;
                        ca_chunk_pipeline *p = NULL;
                        ca_store *s = NULL;
                        ca_chunk_pipeline_stats st;

                        CHECK(ca_store_open(store_path, CA_STORE_CREATE, &s) == 0);
                        CHECK(ca_index_writer_new(path, UINT64_C(0xb000000000000000), cases[c].min,
                                                  cases[c].avg, cases[c].max, &w) == 0);
                        CHECK(ca_chunk_pipeline_new(
                                  &(ca_chunk_pipeline_options){
                                      .chunk_size_min = cases[c].min,
                                      .chunk_size_avg = cases[c].avg,
                                      .chunk_size_max = cases[c].max,
                                      .digest = CA_DIGEST_SHA512_256,
                                      .store = jobs == 1 ? NULL : s,
                                      .compression =
                                          jobs == 3 ? CA_COMPRESSION_XZ : CA_COMPRESSION_ZSTD,
                                      .compression_level = CA_COMPRESSION_LEVEL_DEFAULT,
                                      .jobs = jobs,
                                      .chunk = add_to_index,
                                      .userdata = w,
                                  },
                                  &p) == 0);
                        for (size_t o = 0; o < (1 << 20);) {
                                size_t k = (size_t)(1 + random() % 100000);
                                k = MIN(k, (size_t)(1 << 20) - o);
                                CHECK(ca_chunk_pipeline_write(p, v + o, k) == 0);
                                o += k;
                        }
                        CHECK(ca_chunk_pipeline_finish(p, &st) == 0);
                        CHECK(ca_index_writer_finish(w) == 0);
                        CHECK_EQ_INT(st.bytes, 1 << 20);
                        CHECK_EQ_INT(st.chunks, c == 0 ? 16 : 260);
                        if (jobs != 1)
                                CHECK_EQ_INT(st.stored + st.present, st.chunks);
                        ca_chunk_pipeline_free(p);
                        ca_index_writer_free(w);
                        sha256_file_hex(path, hex);
                        CHECK_STREQ(hex, cases[c].sha256);

                        /* Every chunk reads back from the store. */
                        if (jobs != 1) {
                                ca_index *idx = NULL;
                                uint8_t *buf = malloc(cases[c].max);
                                CHECK(buf && ca_index_load(path, &idx) == 0);
                                for (size_t i = 0; i < idx->n_items; i++) {
                                        CHECK(ca_store_get(s, &idx->items[i].id, idx->items[i].size,
                                                           CA_DIGEST_SHA512_256, buf) == 0);
                                        CHECK(memcmp(buf, v + idx->items[i].offset,
                                                     idx->items[i].size) == 0);
                                }
                                ca_index_free(idx);
                                free(buf);
                        }
                        ca_store_free(s);
                }
}

int main(void)
{
        char dir[] = "/tmp/test_chunker.XXXXXX";
        uint8_t *v = make_vec1m();
        char cmd[256];

        CHECK(mkdtemp(dir));
        test_vectors();
        test_vec1m(v);
        test_against_reference();
        test_parse();
        test_pipeline(v, dir);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        CHECK(system(cmd) == 0);
        free(v);
        printf("chunker: all checks passed\n");
        return 0;
}
