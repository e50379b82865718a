/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * chunk_source (fetcher/source/chunk_source.c): the cache, local stores and remote stores in
 * order, corrupt copies passed over, remote chunks verified and cached, and one download for a
 * chunk many threads want at once. Stores are made with casync's store API; remote stores are
 * directories the fault server serves.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "fetcher/source/source.h"
#include "tests/fetcher/fault.h"
#include "tests/test.h"

#define DIGEST CA_DIGEST_SHA512_256

static char root[] = "/tmp/test_chunk_source.XXXXXX";
static char dir_a[600], dir_b[600], dir_cache[600], www[600];
static fault_server fs;

typedef struct chunk {
        const char *name;
        uint8_t *data;
        size_t size;
        ca_chunk_id id;
        char hex[CA_CHUNK_ID_HEX_SIZE];
} chunk;

enum {
        C_A,              /* only in A */
        C_B,              /* only in B */
        C_AB,             /* in A and B */
        C_CACHE,          /* only in the cache */
        C_NONE,           /* nowhere */
        C_CORRUPT,        /* A: garbage; B: intact */
        C_CORRUPT_CACHE,  /* cache: garbage; A: intact */
        C_BROKEN_A,       /* A cannot be read for it (its directory is a file); B: intact */
        C_BROKEN_B,       /* A: intact; B cannot be read for it */
        C_BROKEN_CACHE_A, /* cache: intact; A cannot be read for it */
        C_REMOTE,         /* only remote */
        C_REMOTE2,        /* only remote: through a corrupting server, then an intact one */
        C_REMOTE3,        /* only remote, only through the corrupting server */
        C_DUP,            /* tiny, only remote, served slowly: many threads want it at once */
        C_REMOTE4,        /* only remote, through a server that corrupts it the first time */
        C_CLAIMED,        /* only remote, claimed by "another process" of the store */
        C_CLAIMED2,       /* likewise, whose owner never delivers */
        N_CHUNKS,
};

static chunk chunks[N_CHUNKS];

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

static void make_chunks(void)
{
        for (unsigned i = 0; i < N_CHUNKS; i++) {
                chunk *c = &chunks[i];
                c->size = i == C_DUP ? 200 : 3000 + (size_t)i * 1777;
                c->data = malloc(c->size);
                CHECK(c->data);
                if (i == C_DUP)
                        memset(c->data, 'd', c->size); /* compresses to a few bytes */
                else
                        fill_random(c->data, c->size, i);
                CHECK(ca_digest_once(DIGEST, c->data, c->size, &c->id) == 0);
                ca_chunk_id_to_hex(&c->id, c->hex);
        }
        /* A broken store directory <4 hex> takes every chunk under it: keep prefixes apart. */
        for (unsigned i = 0; i < N_CHUNKS; i++)
                for (unsigned j = 0; j < i; j++)
                        CHECK(memcmp(chunks[i].hex, chunks[j].hex, 4) != 0);
}

static void put(const char *dir, unsigned i)
{
        ca_store *s = NULL;
        CHECK(ca_store_open(dir, CA_STORE_CREATE, &s) == 0);
        CHECK(ca_store_put(s, &chunks[i].id, chunks[i].data, chunks[i].size) == 0);
        ca_store_free(s);
}

static void chunk_path(const char *dir, unsigned i, char *buf, size_t size)
{
        snprintf(buf, size, "%s/%.4s/%s.cacnk", dir, chunks[i].hex, chunks[i].hex);
}

/* Overwrites a stored chunk's file with garbage. */
static void corrupt(const char *dir, unsigned i)
{
        char p[800];
        chunk_path(dir, i, p, sizeof(p));
        CHECK(unlink(p) == 0); /* stored read-only */
        FILE *f = fopen(p, "w");
        CHECK(f);
        CHECK(fputs("this is not a zstd frame", f) >= 0);
        CHECK(fclose(f) == 0);
}

/* Makes the store unreadable for the chunk: its <4 hex> directory becomes a file (ENOTDIR). */
static void break_store(const char *dir, unsigned i)
{
        char p[800];
        snprintf(p, sizeof(p), "%s/%.4s", dir, chunks[i].hex);
        FILE *f = fopen(p, "w");
        CHECK(f);
        CHECK(fclose(f) == 0);
}

static bool exists(const char *dir, unsigned i)
{
        char p[800];
        struct stat st;
        chunk_path(dir, i, p, sizeof(p));
        return stat(p, &st) == 0;
}

static ca_index_item item(unsigned i)
{
        return (ca_index_item){.offset = 0, .size = chunks[i].size, .id = chunks[i].id};
}

/* chunk_source_get into a fresh buffer; 0 only with the chunk's exact bytes. */
static int get(chunk_source *s, unsigned i)
{
        ca_index_item it = item(i);
        uint8_t *buf = malloc(chunks[i].size);
        CHECK(buf);
        memset(buf, 0xa5, chunks[i].size);
        int r = chunk_source_get(s, &it, DIGEST, buf);
        if (r == 0)
                CHECK(memcmp(buf, chunks[i].data, chunks[i].size) == 0);
        free(buf);
        return r;
}

static char *chunk_url_path(const char *fault, const char *store, unsigned i, int status)
{
        char *s = NULL;
        CHECK(asprintf(&s, "GET /%s/%s/%.4s/%s.cacnk %d", fault, store, chunks[i].hex,
                       chunks[i].hex, status) > 0);
        return s;
}

static unsigned logged(const char *fault, const char *store, unsigned i, int status)
{
        char *line = chunk_url_path(fault, store, i, status);
        unsigned n = fault_count(&fs, line);
        free(line);
        return n;
}

static transfer_engine *engine_new(void)
{
        transfer_options o;
        transfer_options_init(&o);
        o.allow_http = true;
        o.http2 = false;
        o.max_attempts = 2;
        o.stall_timeout = 10;
        o.connect_timeout = 5;
        transfer_engine *e = NULL;
        CHECK(transfer_engine_new(&o, &e) == 0);
        return e;
}

static void test_misc(void)
{
        char *b = store_url_base("http://h.test/x/store.castr//?q=1;x#y");
        CHECK_STREQ(b, "http://h.test/x/store.castr");
        free(b);

        chunk_source *s = NULL;
        CHECK(chunk_source_new(NULL, NULL, 1, &s) == 0);
        /* http needs an engine; other schemes are refused; a missing directory fails. */
        CHECK_EQ_INT(chunk_source_add(s, "http://127.0.0.1:1/x"), -EINVAL);
        CHECK_EQ_INT(chunk_source_add(s, "ftp://127.0.0.1/x"), -EPROTONOSUPPORT);
        char missing[700];
        snprintf(missing, sizeof(missing), "%s/missing", root);
        CHECK(chunk_source_add(s, missing) < 0);
        CHECK_EQ_INT(chunk_source_n_stores(s), 0);
        CHECK(!chunk_source_is_remote(s));
        /* No store at all: nothing is found. */
        CHECK_EQ_INT(get(s, C_A), -ENOENT);
        chunk_source_free(s);
}

static void test_local(void)
{
        ca_store *cache = NULL;
        CHECK(ca_store_open(dir_cache, CA_STORE_CREATE, &cache) == 0);
        chunk_source *s = NULL;
        CHECK(chunk_source_new(cache, NULL, 4, &s) == 0);
        char url_b[700];
        snprintf(url_b, sizeof(url_b), "file://%s", dir_b);
        CHECK(chunk_source_add(s, dir_a) == 0);
        CHECK(chunk_source_add(s, url_b) == 0);
        CHECK_EQ_INT(chunk_source_n_stores(s), 2);
        CHECK(!chunk_source_is_remote(s));
        const chunk_source_stats *st = chunk_source_get_stats(s);

        CHECK_EQ_INT(chunk_source_has_local(s, &chunks[C_A].id), 1);
        CHECK_EQ_INT(chunk_source_has_local(s, &chunks[C_B].id), 1);
        CHECK_EQ_INT(chunk_source_has_local(s, &chunks[C_CACHE].id), 1);
        CHECK_EQ_INT(chunk_source_has_local(s, &chunks[C_NONE].id), 0);
        CHECK_EQ_INT(chunk_source_has_local(s, &chunks[C_REMOTE].id), 0);

        CHECK_EQ_INT(get(s, C_A), 0);
        CHECK_EQ_INT(get(s, C_B), 0);
        CHECK_EQ_INT(get(s, C_AB), 0);
        CHECK_EQ_INT(get(s, C_CACHE), 0);
        CHECK_EQ_INT(st->local_chunks, 4);
        CHECK_EQ_INT(st->local_bytes, chunks[C_A].size + chunks[C_B].size + chunks[C_AB].size +
                                          chunks[C_CACHE].size);
        CHECK_EQ_INT(get(s, C_NONE), -ENOENT);
        CHECK_EQ_INT(get(s, C_REMOTE), -ENOENT);

        /* Order: the cache, then A, then B. A store that cannot be read (not a missing
         * chunk) fails the chunk when it is reached, and only then. */
        CHECK_EQ_INT(get(s, C_BROKEN_A), -ENOTDIR);
        CHECK_EQ_INT(get(s, C_BROKEN_B), 0);
        CHECK_EQ_INT(get(s, C_BROKEN_CACHE_A), 0);

        /* A corrupt copy in A is passed over for B's intact one; A is read-only: kept. */
        CHECK_EQ_INT(get(s, C_CORRUPT), 0);
        CHECK(exists(dir_a, C_CORRUPT));
        /* A corrupt copy in the cache is passed over for A's and removed from the cache. */
        CHECK_EQ_INT(get(s, C_CORRUPT_CACHE), 0);
        CHECK(!exists(dir_cache, C_CORRUPT_CACHE));
        CHECK(exists(dir_a, C_CORRUPT_CACHE));
        CHECK_EQ_INT(st->local_chunks, 8);
        /* Nothing was downloaded (corrupt_chunks counts rejected downloads). */
        CHECK_EQ_INT(st->remote_chunks, 0);
        CHECK_EQ_INT(st->corrupt_chunks, 0);
        CHECK_EQ_INT(st->wire_bytes, 0);
        chunk_source_free(s);
        ca_store_free(cache);
}

static void test_remote(transfer_engine *e)
{
        char cache_dir[700];
        snprintf(cache_dir, sizeof(cache_dir), "%s/cache-remote", root);
        ca_store *cache = NULL;
        CHECK(ca_store_open(cache_dir, CA_STORE_CREATE, &cache) == 0);
        chunk_source *s = NULL;
        CHECK(chunk_source_new(cache, e, 4, &s) == 0);
        char url[700];
        snprintf(url, sizeof(url), "%s/ok/remote/?query", fs.url);
        CHECK(chunk_source_add(s, dir_a) == 0);
        CHECK(chunk_source_add(s, url) == 0);
        CHECK_EQ_INT(chunk_source_n_stores(s), 2);
        CHECK(chunk_source_is_remote(s));
        const chunk_source_stats *st = chunk_source_get_stats(s);

        /* In A and remote: A's copy, nothing asked of the server. */
        CHECK_EQ_INT(get(s, C_A), 0);
        CHECK_EQ_INT(logged("ok", "remote", C_A, 200), 0);
        CHECK_EQ_INT(st->local_chunks, 1);

        /* Remote only: downloaded, verified, kept in the cache. */
        CHECK_EQ_INT(chunk_source_has_local(s, &chunks[C_REMOTE].id), 0);
        CHECK_EQ_INT(get(s, C_REMOTE), 0);
        CHECK_EQ_INT(logged("ok", "remote", C_REMOTE, 200), 1);
        CHECK_EQ_INT(st->remote_chunks, 1);
        CHECK_EQ_INT(st->remote_bytes, chunks[C_REMOTE].size);
        CHECK(st->wire_bytes > 0);
        CHECK_EQ_INT(st->corrupt_chunks, 0);
        CHECK_EQ_INT(chunk_source_has_local(s, &chunks[C_REMOTE].id), 1);
        CHECK(exists(cache_dir, C_REMOTE));
        {
                uint8_t *buf = malloc(chunks[C_REMOTE].size);
                CHECK(buf);
                CHECK_EQ_INT(
                    ca_store_get(cache, &chunks[C_REMOTE].id, chunks[C_REMOTE].size, DIGEST, buf),
                    0);
                CHECK(memcmp(buf, chunks[C_REMOTE].data, chunks[C_REMOTE].size) == 0);
                free(buf);
        }
        /* Again: from the cache. */
        CHECK_EQ_INT(get(s, C_REMOTE), 0);
        CHECK_EQ_INT(logged("ok", "remote", C_REMOTE, 200), 1);
        CHECK_EQ_INT(st->remote_chunks, 1);
        CHECK_EQ_INT(st->local_chunks, 2);

        /* Nowhere: the server was asked, and said 404. */
        CHECK_EQ_INT(get(s, C_NONE), -ENOENT);
        CHECK_EQ_INT(logged("ok", "remote", C_NONE, 404), 1);
        CHECK(!exists(cache_dir, C_NONE));
        chunk_source_free(s);
        ca_store_free(cache);
}

static void test_remote_corrupt(transfer_engine *e)
{
        char cache_dir[700], bad[700], good[700];
        snprintf(cache_dir, sizeof(cache_dir), "%s/cache-corrupt", root);
        snprintf(bad, sizeof(bad), "%s/corrupt/remote", fs.url);
        snprintf(good, sizeof(good), "%s/ok/remote", fs.url);
        ca_store *cache = NULL;
        CHECK(ca_store_open(cache_dir, CA_STORE_CREATE, &cache) == 0);

        /* The first store serves a corrupt copy: rejected, the second store's copy used. */
        chunk_source *s = NULL;
        CHECK(chunk_source_new(cache, e, 4, &s) == 0);
        CHECK(chunk_source_add(s, bad) == 0);
        CHECK(chunk_source_add(s, good) == 0);
        const chunk_source_stats *st = chunk_source_get_stats(s);
        CHECK_EQ_INT(get(s, C_REMOTE2), 0);
        /* Each store gets three downloads before its copy counts as corrupt. */
        CHECK_EQ_INT(logged("corrupt", "remote", C_REMOTE2, 200), 3);
        CHECK_EQ_INT(logged("ok", "remote", C_REMOTE2, 200), 1);
        CHECK_EQ_INT(st->corrupt_chunks, 3);
        CHECK_EQ_INT(st->remote_chunks, 1);
        CHECK(exists(cache_dir, C_REMOTE2));
        chunk_source_free(s);

        /* Only the corrupting store: -EBADMSG, and nothing lands in the cache. */
        CHECK(chunk_source_new(cache, e, 4, &s) == 0);
        CHECK(chunk_source_add(s, bad) == 0);
        st = chunk_source_get_stats(s);
        CHECK_EQ_INT(get(s, C_REMOTE3), -EBADMSG);
        CHECK_EQ_INT(logged("corrupt", "remote", C_REMOTE3, 200), 3);
        CHECK_EQ_INT(st->corrupt_chunks, 3);
        CHECK_EQ_INT(st->remote_chunks, 0);
        CHECK(!exists(cache_dir, C_REMOTE3));
        chunk_source_free(s);

        /* The only store corrupts the chunk once (a flaky proxy): downloaded again, from it. */
        char once[700];
        snprintf(once, sizeof(once), "%s/corrupt-once/remote", fs.url);
        CHECK(chunk_source_new(cache, e, 4, &s) == 0);
        CHECK(chunk_source_add(s, once) == 0);
        st = chunk_source_get_stats(s);
        CHECK_EQ_INT(get(s, C_REMOTE4), 0);
        CHECK_EQ_INT(logged("corrupt-once", "remote", C_REMOTE4, 200), 2);
        CHECK_EQ_INT(st->corrupt_chunks, 1);
        CHECK_EQ_INT(st->remote_chunks, 1);
        CHECK(exists(cache_dir, C_REMOTE4));
        chunk_source_free(s);
        ca_store_free(cache);
}

#define N_THREADS 8

/* A thread getting one chunk, after the others at the barrier if there is one. */
typedef struct waiter {
        chunk_source *s;
        pthread_barrier_t *barrier;
        unsigned chunk;
        int r;
} waiter;

static void *waiter_run(void *userdata)
{
        waiter *w = userdata;
        if (w->barrier)
                pthread_barrier_wait(w->barrier);
        w->r = get(w->s, w->chunk);
        return NULL;
}

static void test_dedup(transfer_engine *e)
{
        char cache_dir[700], url[700];
        snprintf(cache_dir, sizeof(cache_dir), "%s/cache-dedup", root);
        /* A byte every 100 ms: the first download lasts a second or more, long enough for every
         * thread to ask for the same chunk while it runs. */
        snprintf(url, sizeof(url), "%s/slow/remote", fs.url);
        ca_store *cache = NULL;
        CHECK(ca_store_open(cache_dir, CA_STORE_CREATE, &cache) == 0);
        chunk_source *s = NULL;
        CHECK(chunk_source_new(cache, e, N_THREADS, &s) == 0);
        CHECK(chunk_source_add(s, url) == 0);

        pthread_barrier_t barrier;
        CHECK(pthread_barrier_init(&barrier, NULL, N_THREADS) == 0);
        pthread_t t[N_THREADS];
        waiter w[N_THREADS];
        for (unsigned i = 0; i < N_THREADS; i++) {
                w[i] = (waiter){.s = s, .barrier = &barrier, .chunk = C_DUP, .r = 1};
                CHECK(pthread_create(&t[i], NULL, waiter_run, &w[i]) == 0);
        }
        for (unsigned i = 0; i < N_THREADS; i++) {
                CHECK(pthread_join(t[i], NULL) == 0);
                CHECK_EQ_INT(w[i].r, 0);
        }
        pthread_barrier_destroy(&barrier);

        const chunk_source_stats *st = chunk_source_get_stats(s);
        CHECK_EQ_INT(logged("slow", "remote", C_DUP, 200), 1);
        CHECK_EQ_INT(st->remote_chunks, 1);
        CHECK_EQ_INT(st->dedup_chunks, N_THREADS - 1);
        CHECK_EQ_INT(st->local_chunks, N_THREADS - 1);
        CHECK(exists(cache_dir, C_DUP));
        chunk_source_free(s);
        ca_store_free(cache);
}

/*
 * Claims across processes of one image store: a chunk another process is downloading is waited
 * for and taken from the store, not downloaded again; a claim whose owner is stuck is waited for
 * only claim_timeout; a dead owner's claim is free.
 */
static void test_claims(transfer_engine *e)
{
        char dir[700], url[700];
        snprintf(dir, sizeof(dir), "%s/aci-store", root);
        snprintf(url, sizeof(url), "%s/ok/remote", fs.url);
        aci_store *store = NULL;
        CHECK(aci_store_open(dir, &store) == 0);
        ca_store *cache = aci_store_chunks(store);
        int other = aci_store_claims_open(store); /* the other process's view of the claims */
        CHECK(other >= 0);

        chunk_source *s = NULL;
        CHECK(chunk_source_new(cache, e, 4, &s) == 0);
        CHECK(chunk_source_add(s, url) == 0);
        CHECK(chunk_source_set_claims(s, store, 2) == 0);
        const chunk_source_stats *st = chunk_source_get_stats(s);

        /* Held by the other "process" (flock is per open file, so this thread will do): the get
         * waits, sends nothing, and takes the chunk once the owner has stored it and let go. */
        int claim = -1;
        CHECK_EQ_INT(aci_chunk_claim_try(other, &chunks[C_CLAIMED].id, &claim), 1);
        waiter g = {.s = s, .chunk = C_CLAIMED, .r = 1};
        pthread_t t;
        CHECK(pthread_create(&t, NULL, waiter_run, &g) == 0);
        usleep(500 * 1000);
        CHECK_EQ_INT(logged("ok", "remote", C_CLAIMED, 200), 0);
        CHECK(ca_store_put(cache, &chunks[C_CLAIMED].id, chunks[C_CLAIMED].data,
                           chunks[C_CLAIMED].size) == 0);
        aci_chunk_claim_release(other, &chunks[C_CLAIMED].id, claim);
        CHECK(pthread_join(t, NULL) == 0);
        CHECK_EQ_INT(g.r, 0);
        CHECK_EQ_INT(logged("ok", "remote", C_CLAIMED, 200), 0);
        CHECK_EQ_INT(st->dedup_chunks, 1);
        CHECK_EQ_INT(st->remote_chunks, 0);

        /* A live owner that never delivers holds the chunk up for the timeout (2 s), no more. */
        CHECK_EQ_INT(aci_chunk_claim_try(other, &chunks[C_CLAIMED2].id, &claim), 1);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        CHECK_EQ_INT(get(s, C_CLAIMED2), 0);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double waited = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        fprintf(stderr, "waited %.2f s for a stuck claim\n", waited);
        CHECK(waited >= 1.9 && waited < 6.0);
        CHECK_EQ_INT(logged("ok", "remote", C_CLAIMED2, 200), 1);
        CHECK_EQ_INT(st->remote_chunks, 1);
        aci_chunk_claim_release(other, &chunks[C_CLAIMED2].id, claim);

        /* A dead owner's claim is free at once: its file is taken over, then removed. */
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
                int fd = -1;
                _exit(aci_chunk_claim_try(other, &chunks[C_REMOTE].id, &fd) == 1 ? 0 : 1);
        }
        int status = 0;
        CHECK(waitpid(pid, &status, 0) == pid);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        char claim_path[800];
        snprintf(claim_path, sizeof(claim_path), "%s/locks/chunk-%s.claim", dir,
                 chunks[C_REMOTE].hex);
        CHECK(access(claim_path, F_OK) == 0); /* left by the dead owner */
        clock_gettime(CLOCK_MONOTONIC, &t0);
        CHECK_EQ_INT(get(s, C_REMOTE), 0);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        CHECK(t1.tv_sec - t0.tv_sec < 2);
        CHECK(access(claim_path, F_OK) < 0 && errno == ENOENT);
        CHECK_EQ_INT(st->remote_chunks, 2);

        chunk_source_free(s);
        close(other);
        aci_store_free(store);
}

int main(void)
{
        CHECK(mkdtemp(root));
        snprintf(dir_a, sizeof(dir_a), "%s/a.castr", root);
        snprintf(dir_b, sizeof(dir_b), "%s/b.castr", root);
        snprintf(dir_cache, sizeof(dir_cache), "%s/cache", root);
        snprintf(www, sizeof(www), "%s/www", root);
        CHECK(mkdir(www, 0755) == 0);
        char remote[700];
        snprintf(remote, sizeof(remote), "%s/remote", www);
        make_chunks();

        put(dir_a, C_A);
        put(dir_b, C_B);
        put(dir_a, C_AB);
        put(dir_b, C_AB);
        put(dir_cache, C_CACHE);
        put(dir_a, C_CORRUPT);
        put(dir_b, C_CORRUPT);
        corrupt(dir_a, C_CORRUPT);
        put(dir_cache, C_CORRUPT_CACHE);
        put(dir_a, C_CORRUPT_CACHE);
        corrupt(dir_cache, C_CORRUPT_CACHE);
        put(dir_b, C_BROKEN_A);
        break_store(dir_a, C_BROKEN_A);
        put(dir_a, C_BROKEN_B);
        break_store(dir_b, C_BROKEN_B);
        put(dir_cache, C_BROKEN_CACHE_A);
        break_store(dir_a, C_BROKEN_CACHE_A);
        put(remote, C_A);
        put(remote, C_REMOTE);
        put(remote, C_REMOTE2);
        put(remote, C_REMOTE3);
        put(remote, C_DUP);
        put(remote, C_REMOTE4);
        put(remote, C_CLAIMED);
        put(remote, C_CLAIMED2);

        test_misc();
        test_local();

        fault_start(www, root, &fs);
        transfer_engine *e = engine_new();
        test_remote(e);
        test_remote_corrupt(e);
        test_dedup(e);
        test_claims(e);
        transfer_engine_free(e);
        fault_stop(&fs);

        for (unsigned i = 0; i < N_CHUNKS; i++)
                free(chunks[i].data);
        char cmd[700];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
        CHECK(system(cmd) == 0);
        return 0;
}
