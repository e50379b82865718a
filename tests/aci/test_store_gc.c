/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The store test's gc, and pins: gc keeps what a live process pinned and does not wait. */
#include "test_store.h"

/* ---------------------------------------------------------------- 7. gc */

static void chunk_id(ca_chunk_id *id, uint8_t first, uint8_t rest)
{
        memset(id->bytes, rest, sizeof(id->bytes));
        id->bytes[0] = id->bytes[1] = first;
}

/* A serialized index listing ids (16 bytes each). */
static void *make_index(const ca_chunk_id *ids, size_t n, size_t *ret_size)
{
        ca_index_item items[8];
        CHECK(n <= ELEMENTSOF(items));
        for (size_t i = 0; i < n; i++)
                items[i] = (ca_index_item){.offset = 16 * i, .size = 16, .id = ids[i]};
        ca_index idx = {
            .feature_flags =
                CA_FORMAT_SHA512_256 | CA_FORMAT_EXCLUDE_NODUMP | CA_FORMAT_EXCLUDE_FILE,
            .chunk_size_min = 1,
            .chunk_size_avg = 64,
            .chunk_size_max = 64,
            .n_items = n,
            .items = items,
            .total_size = 16 * n,
        };
        void *buf = NULL;
        CHECK_EQ_INT(ca_index_serialize(&idx, &buf, ret_size), 0);
        ca_index *check = NULL;
        CHECK_EQ_INT(ca_index_parse(buf, *ret_size, "test index", &check), 0);
        CHECK_EQ_INT(check->n_items, n);
        ca_index_free(check);
        return buf;
}

/*
 * A chunk temp file under dir_path/sub as a writer killed mid-write leaves it: made by a child
 * process (so named after it) that exits without cleaning up. Returns its name.
 */
static char *dead_writer_temp(const char *dir_path, const char *chunk_name)
{
        int p[2];
        CHECK(pipe(p) == 0);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
                int dfd = open(dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                char *prefix = NULL, *name = NULL;
                if (dfd < 0 || fs_temp_prefix(chunk_name, &prefix) < 0)
                        _exit(1);
                int fd = fs_mkstemp_at(dfd, prefix, &name);
                if (fd < 0 || write(fd, "partial", 7) != 7 ||
                    write(p[1], name, strlen(name)) != (ssize_t)strlen(name))
                        _exit(1);
                _exit(0);
        }
        close(p[1]);
        char buf[FS_NAME_MAX + 1];
        ssize_t n = read(p[0], buf, sizeof(buf) - 1);
        close(p[0]);
        int status;
        CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
        CHECK(n > 0);
        buf[n] = '\0';
        return xstrdup(buf);
}

static char *chunk_path(const char *dir, const ca_chunk_id *id)
{
        char hex[CA_CHUNK_ID_HEX_SIZE];
        ca_chunk_id_to_hex(id, hex);
        return strf("%s/chunks/%.4s/%s.cacnk", dir, hex, hex);
}

/* The lines of out, each of which must be one of want[], each of want[] exactly once. */
static void check_lines(const char *out, char **want, size_t n)
{
        size_t lines = 0;
        for (const char *p = out; *p; p = strchr(p, '\n') + 1) {
                CHECK(strchr(p, '\n'));
                lines++;
        }
        bool ok = lines == n;
        for (size_t i = 0; ok && i < n; i++) {
                _cleanup_(freep) char *line = strf("%s\n", want[i]);
                const char *at = strstr(out, line);
                ok = at && (at == out || at[-1] == '\n') && !strstr(at + 1, line);
        }
        if (!ok) {
                fprintf(stderr, "gc listed:\n%sexpected %zu lines:\n", out, n);
                for (size_t i = 0; i < n; i++)
                        fprintf(stderr, "%s\n", want[i]);
                exit(EXIT_FAILURE);
        }
}

void test_gc(void)
{
        _cleanup_(freep) char *dir = strf("%s/gc", root);
        _cleanup_(aci_store_freep) aci_store *s = NULL;
        CHECK_EQ_INT(aci_store_open(dir, &s), 0);
        ca_store *chunks = aci_store_chunks(s);

        /* id1, id2, id3 referenced; id4 (beside id1 in chunks/1111) and id5 (alone) not. */
        ca_chunk_id ids[5];
        chunk_id(&ids[0], 0x11, 0x01);
        chunk_id(&ids[1], 0x22, 0x02);
        chunk_id(&ids[2], 0x33, 0x03);
        chunk_id(&ids[3], 0x11, 0x04);
        chunk_id(&ids[4], 0x55, 0x05);
        char data[4096];
        memset(data, 'x', sizeof(data));
        for (size_t i = 0; i < 5; i++) {
                for (size_t k = 0; k < sizeof(data); k += 7)
                        data[k] = (char)(i * 31 + k);
                CHECK_EQ_INT(ca_store_put(chunks, &ids[i], data, 100 + 900 * i), 0);
        }
        char *paths[5];
        for (size_t i = 0; i < 5; i++) {
                paths[i] = chunk_path(dir, &ids[i]);
                CHECK(is_regular(paths[i]));
        }
        uint64_t unref_bytes = file_size(paths[3]) + file_size(paths[4]);

        size_t n1, n2;
        _cleanup_(freep) void *index1 = make_index((ca_chunk_id[]){ids[0], ids[1]}, 2, &n1);
        _cleanup_(freep) void *index2 = make_index((ca_chunk_id[]){ids[1], ids[2]}, 2, &n2);
        char ip[ACI_ID_SIZE], iq[ACI_ID_SIZE], io[ACI_ID_SIZE];
        char kp[ACI_KEY_SIZE], kq[ACI_KEY_SIZE], ko[ACI_KEY_SIZE];
        make_id(ip, "70", '1');
        make_id(iq, "71", '2');
        make_id(io, "72", '3'); /* never stored: its tree is an orphan */
        aci_key_from_id(io, ko);
        add_image_full(s, ip, "example.com/p", NULL, 0, NULL, NULL, 1, true, NULL, index1, n1, kp);
        add_image_full(s, iq, "example.com/q", NULL, 0, NULL, NULL, 1, true, NULL, index2, n2, kq);

        /* A temp file of a chunk write killed part-way, one of a live writer (this process: a
         * mount's download, say), one of casync's own form, and a file gc does not know. */
        char hex1[CA_CHUNK_ID_HEX_SIZE];
        ca_chunk_id_to_hex(&ids[0], hex1);
        _cleanup_(freep) char *sub1 = strf("%s/chunks/1111", dir);
        _cleanup_(freep) char *chunk_name = strf("%s.cacnk", hex1);
        _cleanup_(freep) char *dead_name = dead_writer_temp(sub1, chunk_name);
        _cleanup_(freep) char *tmp_rel = strf("chunks/1111/%s", dead_name);
        _cleanup_(freep) char *tmp_file = strf("%s/%s", dir, tmp_rel);
        CHECK(is_regular(tmp_file));
        _cleanup_(freep) char *live_prefix = NULL, *live_name = NULL;
        CHECK_EQ_INT(fs_temp_prefix(chunk_name, &live_prefix), 0);
        _cleanup_(closep) int sub1_fd = open(sub1, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(sub1_fd >= 0);
        _cleanup_(closep) int live_fd = fs_mkstemp_at(sub1_fd, live_prefix, &live_name);
        CHECK(live_fd >= 0);
        _cleanup_(freep) char *young_tmp = strf("%s/%s", sub1, live_name);
        _cleanup_(freep) char *casync_tmp = strf("%s/.#%s.cacnk1f2e3d4c5b6a7988", sub1, hex1);
        write_file(casync_tmp, "casync writing");
        _cleanup_(freep) char *notes = strf("%s/chunks/1111/notes", dir);
        write_file(notes, "kept");

        /* Trees: P complete, Q incomplete, an orphan (valid key) and junk (not a key). */
        _cleanup_(freep) char *tp = aci_store_tree_path(s, kp);
        _cleanup_(freep) char *tq = aci_store_tree_path(s, kq);
        _cleanup_(freep) char *to = aci_store_tree_path(s, ko);
        _cleanup_(freep) char *tj = strf("%s/trees/junk", dir);
        char *trees[] = {tp, tq, to, tj};
        for (size_t i = 0; i < ELEMENTSOF(trees); i++) {
                _cleanup_(freep) char *rootfs = strf("%s/rootfs", trees[i]);
                _cleanup_(freep) char *manifest = strf("%s/manifest", trees[i]);
                make_dir(trees[i]);
                make_dir(rootfs);
                write_file(manifest, "{}");
        }
        _cleanup_(freep) char *tp_rendered = strf("%s/rendered", tp);
        write_file(tp_rendered, "");
        _cleanup_(freep) char *dir5 = strf("%s/chunks/5555", dir);

        _cleanup_(freep) char *l_id4 = NULL, *l_id5 = NULL, *l_o = NULL, *l_j = NULL, *l_q = NULL;
        {
                char hex[CA_CHUNK_ID_HEX_SIZE];
                l_id4 = strf("chunks/1111/%s.cacnk", ca_chunk_id_to_hex(&ids[3], hex));
                l_id5 = strf("chunks/5555/%s.cacnk", ca_chunk_id_to_hex(&ids[4], hex));
                l_o = strf("trees/%s", ko);
                l_j = xstrdup("trees/junk");
                l_q = strf("trees/%s", kq);
        }
        char *want[] = {l_id4, l_id5, tmp_rel, l_o, l_j, l_q};

        CHECK_EQ_INT(aci_store_lock_exclusive(s), 0);

        /* Dry run: everything listed and counted, nothing removed. */
        for (int pass = 0; pass < 2; pass++) {
                bool dry_run = pass == 0;
                char *out = NULL;
                size_t out_size = 0;
                FILE *f = open_memstream(&out, &out_size);
                CHECK(f);
                aci_gc_stats st = {.chunks = 99, .trees = 99};
                CHECK_EQ_INT(aci_store_gc(s, &(aci_gc_options){.dry_run = dry_run, .out = f}, &st),
                             0);
                CHECK(fclose(f) == 0);
                check_lines(out, want, ELEMENTSOF(want));
                free(out);
                CHECK_EQ_INT(st.chunks, 2);
                CHECK_EQ_INT(st.chunk_bytes, unref_bytes);
                CHECK_EQ_INT(st.trees, 3);
                CHECK_EQ_INT(st.tmp, 1);
                if (dry_run) {
                        for (size_t i = 0; i < 5; i++)
                                CHECK(is_regular(paths[i]));
                        CHECK(is_regular(tmp_file));
                        for (size_t i = 0; i < ELEMENTSOF(trees); i++)
                                CHECK(exists(trees[i]));
                }
        }

        /* Removed exactly: id4, id5 (and its directory), the temp file, 3 trees. */
        for (size_t i = 0; i < 3; i++) {
                CHECK(is_regular(paths[i]));
                CHECK_EQ_INT(ca_store_has(chunks, &ids[i]), 1);
        }
        CHECK(!exists(paths[3]));
        CHECK(!exists(paths[4]));
        CHECK_EQ_INT(ca_store_has(chunks, &ids[3]), 0);
        CHECK(!exists(dir5));
        CHECK(!exists(tmp_file));
        CHECK(is_regular(young_tmp));
        CHECK(is_regular(casync_tmp));
        CHECK(is_regular(notes));
        CHECK(is_regular(tp_rendered));
        CHECK(!exists(tq));
        CHECK(!exists(to));
        CHECK(!exists(tj));
        _cleanup_(freep) char *trees_dir = strf("%s/trees", dir);
        CHECK_EQ_INT(count_entries(trees_dir), 1);
        _cleanup_(freep) char *images = strf("%s/images", dir);
        CHECK_EQ_INT(count_entries(images), 2);
        aci_image_record r;
        CHECK_EQ_INT(aci_store_get(s, kp, &r), 0);
        aci_image_record_done(&r);
        CHECK_EQ_INT(aci_store_get(s, kq, &r), 0);
        aci_image_record_done(&r);

        /* Nothing left to collect. */
        aci_gc_stats st;
        CHECK_EQ_INT(aci_store_gc(s, &(aci_gc_options){}, &st), 0);
        CHECK(st.chunks == 0 && st.chunk_bytes == 0 && st.trees == 0 && st.tmp == 0);

        /* Without the index of one image, gc must not guess: it fails and removes nothing. */
        CHECK_EQ_INT(ca_store_put(chunks, &ids[4], data, 10), 0);
        _cleanup_(freep) char *q_index = aci_store_image_file(s, kq, "index.caidx");
        write_file(q_index, "not an index");
        capture_begin();
        int k = aci_store_gc(s, &(aci_gc_options){}, &st);
        _cleanup_(freep) char *msg = capture_end();
        CHECK_EQ_INT(k, -EBADMSG);
        CHECK(strstr(msg, "no readable index"));
        CHECK(is_regular(paths[4]));
        CHECK(is_regular(paths[2]));

        for (size_t i = 0; i < 5; i++)
                free(paths[i]);
        s = aci_store_free(s);
        remove_store(dir);
}

/* ---------------------------------------------------------------- 7b. pins */

/* The pinning process: opens the store, pins index, drops the store lock, says so on `ready`,
 * then waits for a byte on `go` and exits without freeing the store (as if killed): its work
 * directory stays, its flock gone. */
static void pin_and_wait(const char *dir, const ca_index *index, int ready, int go)
{
        aci_store *s = NULL;
        CHECK_EQ_INT(aci_store_open(dir, &s), 0);
        CHECK_EQ_INT(aci_store_pin_index(s, index), 0);
        aci_store_unlock(s);
        CHECK(write(ready, "r", 1) == 1);
        char c;
        CHECK(read(go, &c, 1) == 1);
        _exit(EXIT_SUCCESS);
}

void test_pins(void)
{
        _cleanup_(freep) char *dir = strf("%s/pins", root);
        _cleanup_(freep) char *lock = strf("%s/locks/store.lock", dir);
        _cleanup_(freep) char *tmp = strf("%s/tmp", dir);
        _cleanup_(aci_store_freep) aci_store *s = NULL;
        CHECK_EQ_INT(aci_store_open(dir, &s), 0);

        /* ids[0] is pinned, ids[1] listed nowhere. */
        ca_chunk_id ids[2];
        chunk_id(&ids[0], 0x66, 0x06);
        chunk_id(&ids[1], 0x77, 0x07);
        char *paths[2];
        for (size_t i = 0; i < 2; i++) {
                CHECK_EQ_INT(ca_store_put(aci_store_chunks(s), &ids[i], "chunk data", 10), 0);
                paths[i] = chunk_path(dir, &ids[i]);
                CHECK(is_regular(paths[i]));
        }
        ca_index_item item = {.offset = 0, .size = 16, .id = ids[0]};
        ca_index index = {
            .feature_flags = CA_FORMAT_SHA512_256,
            .chunk_size_min = 1,
            .chunk_size_avg = 64,
            .chunk_size_max = 64,
            .n_items = 1,
            .items = &item,
            .total_size = 16,
        };
        s = aci_store_free(s);

        int ready[2], go[2];
        CHECK(pipe(ready) == 0 && pipe(go) == 0);
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
                close(ready[0]);
                close(go[1]);
                pin_and_wait(dir, &index, ready[1], go[0]);
        }
        close(ready[1]);
        close(go[0]);
        char c;
        CHECK(read(ready[0], &c, 1) == 1);

        /* The pinning process holds no store lock: a gc would not wait for it. */
        int lfd = open(lock, O_RDWR | O_CLOEXEC);
        CHECK(lfd >= 0);
        CHECK(flock(lfd, LOCK_EX | LOCK_NB) == 0);
        close(lfd);

        /* Its pin is in its work directory, the only one under tmp/. */
        CHECK_EQ_INT(count_entries(tmp), 1);
        CHECK_EQ_INT(aci_store_open(dir, &s), 0);
        CHECK_EQ_INT(count_entries(tmp), 1); /* live: not reclaimed */
        alarm(60); /* a gc that waited for the pinning process would hang here */
        CHECK_EQ_INT(aci_store_lock_exclusive(s), 0);
        alarm(0);
        aci_gc_stats st;
        CHECK_EQ_INT(aci_store_gc(s, &(aci_gc_options){}, &st), 0);
        CHECK_EQ_INT(st.chunks, 1);
        CHECK(is_regular(paths[0]));
        CHECK(!exists(paths[1]));

        /* Once the process is gone, its pin protects nothing, though its directory is left. */
        CHECK(write(go[1], "g", 1) == 1);
        int status;
        CHECK(waitpid(pid, &status, 0) == pid);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        CHECK_EQ_INT(count_entries(tmp), 1);
        CHECK_EQ_INT(aci_store_gc(s, &(aci_gc_options){}, &st), 0);
        CHECK_EQ_INT(st.chunks, 1);
        CHECK(!exists(paths[0]));
        s = aci_store_free(s);

        /* The next open reclaims the dead work directory. */
        CHECK_EQ_INT(aci_store_open(dir, &s), 0);
        CHECK_EQ_INT(count_entries(tmp), 0);

        close(ready[0]);
        close(go[1]);
        for (size_t i = 0; i < 2; i++)
                free(paths[i]);
        s = aci_store_free(s);
        remove_store(dir);
}

/* gc removes the claim files of dead downloaders, never a claim that a live one holds. */
void test_claims_gc(void)
{
        _cleanup_(freep) char *dir = strf("%s/claims", root);
        _cleanup_(aci_store_freep) aci_store *s = NULL;
        CHECK_EQ_INT(aci_store_open(dir, &s), 0);
        CHECK_EQ_INT(aci_store_lock_exclusive(s), 0);
        ca_chunk_id live, dead;
        chunk_id(&live, 0x12, 0x01);
        chunk_id(&dead, 0x34, 0x02);
        int claims = aci_store_claims_open(s);
        CHECK(claims >= 0);
        int held = -1, left = -1;
        CHECK_EQ_INT(aci_chunk_claim_try(claims, &live, &held), 1);
        CHECK_EQ_INT(aci_chunk_claim_try(claims, &dead, &left), 1);
        close(left); /* its owner died: the file stays, unlocked */
        char hex[CA_CHUNK_ID_HEX_SIZE];
        _cleanup_(freep) char *live_path =
            strf("%s/locks/chunk-%s.claim", dir, ca_chunk_id_to_hex(&live, hex));
        _cleanup_(freep) char *dead_path =
            strf("%s/locks/chunk-%s.claim", dir, ca_chunk_id_to_hex(&dead, hex));
        CHECK(is_regular(live_path) && is_regular(dead_path));

        aci_gc_stats st;
        CHECK_EQ_INT(aci_store_gc(s, &(aci_gc_options){.dry_run = true}, &st), 0);
        CHECK(is_regular(dead_path)); /* a dry run removes nothing */
        CHECK_EQ_INT(aci_store_gc(s, &(aci_gc_options){}, &st), 0);
        CHECK_EQ_INT(st.tmp, 1);
        CHECK(!exists(dead_path));
        CHECK(is_regular(live_path));
        aci_chunk_claim_release(claims, &live, held);
        CHECK(!exists(live_path));
        close(claims);
        s = aci_store_free(s);
        remove_store(dir);
}

/*
 * The grace period: unlisted chunks downloaded lately (an interrupted fetch's) are kept and
 * counted, older ones go, a dead writer's temp file goes whatever its age, and grace 0 keeps
 * nothing.
 */
void test_gc_grace(void)
{
        _cleanup_(freep) char *dir = strf("%s/grace", root);
        _cleanup_(aci_store_freep) aci_store *s = NULL;
        CHECK_EQ_INT(aci_store_open(dir, &s), 0);
        CHECK_EQ_INT(aci_store_lock_exclusive(s), 0);
        ca_store *chunks = aci_store_chunks(s);
        static const uint8_t data[10] = "0123456789";
        ca_chunk_id young, old, future;
        chunk_id(&young, 0x51, 0x01);
        chunk_id(&old, 0x52, 0x02);
        chunk_id(&future, 0x53, 0x03);
        char hex[CA_CHUNK_ID_HEX_SIZE];
        char *paths[3];
        const ca_chunk_id *ids[] = {&young, &old, &future};
        for (size_t i = 0; i < 3; i++) {
                CHECK_EQ_INT(ca_store_put(chunks, ids[i], data, sizeof(data)), 0);
                ca_chunk_id_to_hex(ids[i], hex);
                paths[i] = strf("%s/chunks/%.4s/%s.cacnk", dir, hex, hex);
                CHECK(is_regular(paths[i]));
        }
        time_t now = time(NULL);
        struct timespec two_days[2] = {{.tv_sec = now - 2 * 86400}, {.tv_sec = now - 2 * 86400}};
        struct timespec ahead[2] = {{.tv_sec = now + 3600}, {.tv_sec = now + 3600}};
        CHECK(utimensat(AT_FDCWD, paths[1], two_days, 0) == 0);
        CHECK(utimensat(AT_FDCWD, paths[2], ahead, 0) == 0);
        ca_chunk_id_to_hex(&young, hex);
        _cleanup_(freep) char *sub = strf("%s/chunks/%.4s", dir, hex);
        _cleanup_(freep) char *chunk_name = strf("%s.cacnk", hex);
        _cleanup_(freep) char *tmp_name = dead_writer_temp(sub, chunk_name);
        _cleanup_(freep) char *tmp_file = strf("%s/%s", sub, tmp_name);

        aci_gc_options o = {.grace = ACI_GC_GRACE_DEFAULT};
        aci_gc_stats st;
        o.dry_run = true;
        CHECK_EQ_INT(aci_store_gc(s, &o, &st), 0);
        CHECK_EQ_INT(st.chunks, 1);
        CHECK_EQ_INT(st.chunks_young, 2);
        CHECK(is_regular(paths[1]));
        o.dry_run = false;
        CHECK_EQ_INT(aci_store_gc(s, &o, &st), 0);
        CHECK_EQ_INT(st.chunks, 1);
        CHECK_EQ_INT(st.chunk_bytes, file_size(paths[0]));
        CHECK_EQ_INT(st.chunks_young, 2);
        CHECK_EQ_INT(st.chunks_young_bytes, 2 * file_size(paths[0]));
        CHECK_EQ_INT(st.tmp, 1);
        CHECK(is_regular(paths[0]));
        CHECK(!exists(paths[1]));
        CHECK(is_regular(paths[2]));
        CHECK(!exists(tmp_file));

        o.grace = 0;
        CHECK_EQ_INT(aci_store_gc(s, &o, &st), 0);
        CHECK_EQ_INT(st.chunks, 2);
        CHECK_EQ_INT(st.chunks_young, 0);
        CHECK(!exists(paths[0]));
        CHECK(!exists(paths[2]));
        for (size_t i = 0; i < 3; i++)
                free(paths[i]);
        s = aci_store_free(s);
        remove_store(dir);
}
