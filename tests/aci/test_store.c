/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The image store (libaci) on real files, no network: layout and tmp reclaim, records, ID
 * resolution, lookups, the render list (rkt's order), the pathWhitelist filter, gc, pins (gc
 * keeps what a live process pinned and does not wait for it) and installing rendered trees.
 * Every store lives in a fresh directory under /tmp, removed at the end.
 *
 * This file has the layout, the records and main; test_store_lookup.c resolving and lookups,
 * test_store_render.c the render list, the whitelist and installing trees, test_store_gc.c gc
 * and pins, test_store_tree.c tree records and the check before a tree is handed out,
 * test_store_util.c the helpers they share (declared in test_store.h).
 */
#include "test_store.h"

/* ---------------------------------------------------------------- 1. open, layout, tmp */

static void test_open(void)
{
        _cleanup_(freep) char *parent = strf("%s/open", root);
        _cleanup_(freep) char *dir = strf("%s/open/nested/store", root);
        aci_store *a = NULL;
        CHECK_EQ_INT(aci_store_open(dir, &a), 0);
        CHECK_STREQ(aci_store_path(a), dir);
        CHECK(aci_store_fd(a) >= 0);
        CHECK(aci_store_chunks(a) != NULL);
        _cleanup_(freep) char *chunks = strf("%s/chunks", dir);
        CHECK_STREQ(ca_store_path(aci_store_chunks(a)), chunks);

        /* The store 0700, its parents 0755, every part of the layout there. */
        CHECK_EQ_INT(dir_mode(dir), 0700);
        CHECK_EQ_INT(dir_mode(parent), 0755);
        const char *subs[] = {"chunks", "images", "trees", "locks", "tmp"};
        for (size_t i = 0; i < ELEMENTSOF(subs); i++) {
                _cleanup_(freep) char *p = strf("%s/%s", dir, subs[i]);
                mode_t m = dir_mode(p);
                if (strcmp(subs[i], "chunks") != 0)
                        CHECK_EQ_INT(m, 0700);
        }
        _cleanup_(freep) char *lock = strf("%s/locks/store.lock", dir);
        CHECK(is_regular(lock));
        _cleanup_(freep) char *tmp = strf("%s/tmp", dir);
        CHECK_EQ_INT(count_entries(tmp), 0);

        /* A's own work directory: created once, locked, kept while A lives. */
        int a_fd = -1, a_fd2 = -1;
        const char *a_path = NULL, *a_path2 = NULL;
        CHECK_EQ_INT(aci_store_tmp(a, &a_fd, &a_path), 0);
        CHECK(a_fd >= 0);
        _cleanup_(freep) char *work_prefix = strf("%s/tmp/work-", dir);
        CHECK(strncmp(a_path, work_prefix, strlen(work_prefix)) == 0);
        CHECK_EQ_INT(dir_mode(a_path), 0700);
        CHECK_EQ_INT(aci_store_tmp(a, &a_fd2, &a_path2), 0);
        CHECK_EQ_INT(a_fd2, a_fd);
        CHECK(a_path2 == a_path);
        _cleanup_(freep) char *a_work = xstrdup(a_path);

        /* seeds/: created 0700 on first use, fd and path kept by the store. */
        _cleanup_(freep) char *seeds = strf("%s/seeds", dir);
        CHECK(!exists(seeds));
        int sd_fd = -1, sd_fd2 = -1;
        const char *sd_path = NULL;
        CHECK_EQ_INT(aci_store_seeds(a, &sd_fd, &sd_path), 0);
        CHECK(sd_fd >= 0);
        CHECK_STREQ(sd_path, seeds);
        CHECK_EQ_INT(dir_mode(seeds), 0700);
        CHECK_EQ_INT(aci_store_seeds(a, &sd_fd2, NULL), 0);
        CHECK_EQ_INT(sd_fd2, sd_fd);
        _cleanup_(freep) char *a_file = strf("%s/in-progress", a_work);
        write_file(a_file, "A is working");

        /* A stale work directory (nobody holds its lock), with content. */
        _cleanup_(freep) char *stale = strf("%s/tmp/work-stale1", dir);
        _cleanup_(freep) char *stale_sub = strf("%s/sub", stale);
        _cleanup_(freep) char *stale_file = strf("%s/sub/file", stale);
        make_dir(stale);
        make_dir(stale_sub);
        write_file(stale_file, "left behind");

        /* Opening B reclaims the stale one, not A's (locked by A). */
        aci_store *b = NULL;
        CHECK_EQ_INT(aci_store_open(dir, &b), 0);
        CHECK(!exists(stale));
        CHECK(exists(a_work));
        CHECK(is_regular(a_file));
        int b_fd = -1;
        const char *b_path = NULL;
        CHECK_EQ_INT(aci_store_tmp(b, &b_fd, &b_path), 0);
        CHECK(strcmp(b_path, a_work) != 0);
        CHECK(b_fd != a_fd);
        _cleanup_(freep) char *b_work = xstrdup(b_path);
        CHECK_EQ_INT(count_entries(tmp), 2);

        /* A third store sees both work directories locked. */
        aci_store *c = NULL;
        CHECK_EQ_INT(aci_store_open(dir, &c), 0);
        CHECK(exists(a_work));
        CHECK(exists(b_work));
        aci_store_free(c);

        /* Freeing a store removes its own work directory only. */
        aci_store_free(b);
        CHECK(!exists(b_work));
        CHECK(exists(a_work));
        aci_store_free(a);
        CHECK(!exists(a_work));
        CHECK_EQ_INT(count_entries(tmp), 0);

        /* The only process: the exclusive lock is there at once. */
        CHECK_EQ_INT(aci_store_open(dir, &a), 0);
        CHECK_EQ_INT(aci_store_lock_exclusive(a), 0);
        aci_store_free(a);

        /* "Creating, 0700" holds however the path is spelled. */
        _cleanup_(freep) char *slash = strf("%s/slash/", root);
        _cleanup_(freep) char *slash_dir = strf("%s/slash", root);
        CHECK_EQ_INT(aci_store_open(slash, &a), 0);
        aci_store_free(a);
        CHECK_EQ_INT(dir_mode(slash_dir), 0700);

        remove_store(parent);
        remove_store(slash_dir);
}

/* ---------------------------------------------------------------- 2. records */

static void test_records(void)
{
        _cleanup_(freep) char *dir = strf("%s/records", root);
        _cleanup_(aci_store_freep) aci_store *s = NULL;
        CHECK_EQ_INT(aci_store_open(dir, &s), 0);

        char id_a[ACI_ID_SIZE], id_b[ACI_ID_SIZE], id_c[ACI_ID_SIZE];
        make_id(id_a, "a1", '7');
        make_id(id_b, "b2", '8');
        make_id(id_c, "c3", '9');
        const aci_label la[] = {
            {"version", "1.0.0"}, {"os", "linux"}, {"note", "a \"q\" \xc3\xa9"}};
        aci_image_record a, b;
        record_init(&a, id_a, "example.com/app", la, ELEMENTSOF(la));
        a.index_url = xstrdup("https://example.com/app-1.0.0-linux-amd64.caidx");
        a.etag = xstrdup("\"etag-1\"");
        a.max_age = 3600;
        a.fetched = 1700000000;
        a.size = UINT64_C(123456789012);
        a.latest = true;
        snprintf(a.index_digest, sizeof(a.index_digest), "%s",
                 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
        record_init(&b, id_b, "example.com/local", NULL, 0);
        b.index_url = xstrdup("file:///srv/local.caidx");
        b.etag = xstrdup("W/\"weak\"");
        b.fetched = 5;

        /* The key is "sha512-" and the first 64 hex digits of the ID. */
        char key_a[ACI_KEY_SIZE];
        aci_key_from_id(id_a, key_a);
        CHECK_EQ_INT(strlen(key_a), 71);
        CHECK(strncmp(key_a, id_a, 71) == 0);
        CHECK_STREQ(a.key, key_a);

        CHECK_EQ_INT(aci_store_add(s, &a, "INDEX-A", 7, "MANIFEST-A", 10), 0);
        CHECK_EQ_INT(aci_store_add(s, &b, "INDEX-B", 7, "MANIFEST-B", 10), 0);

        /* The files are there, under images/<key>. */
        _cleanup_(freep) char *a_dir = strf("%s/images/%s", dir, a.key);
        _cleanup_(freep) char *a_index = aci_store_image_file(s, a.key, "index.caidx");
        _cleanup_(freep) char *a_manifest = aci_store_image_file(s, a.key, "manifest");
        _cleanup_(freep) char *a_json = aci_store_image_file(s, a.key, "image.json");
        _cleanup_(freep) char *want_index = strf("%s/index.caidx", a_dir);
        CHECK_STREQ(a_index, want_index);
        CHECK_EQ_INT(dir_mode(a_dir), 0755);
        _cleanup_(freep) char *t1 = read_file(a_index);
        _cleanup_(freep) char *t2 = read_file(a_manifest);
        CHECK_STREQ(t1, "INDEX-A");
        CHECK_STREQ(t2, "MANIFEST-A");
        CHECK(is_regular(a_json));
        /* No temp directories or files left behind. */
        _cleanup_(freep) char *images = strf("%s/images", dir);
        CHECK_EQ_INT(count_entries(images), 2);
        CHECK_EQ_INT(count_entries(a_dir), 3);

        /* get by key and by full ID: every field. */
        aci_image_record got;
        CHECK_EQ_INT(aci_store_get(s, a.key, &got), 0);
        check_record(&got, &a);
        aci_image_record_done(&got);
        CHECK_EQ_INT(aci_store_get(s, a.id, &got), 0);
        check_record(&got, &a);
        aci_image_record_done(&got);
        CHECK_EQ_INT(aci_store_get(s, b.key, &got), 0);
        check_record(&got, &b);
        CHECK_EQ_INT(got.max_age, -1);
        aci_image_record_done(&got);
        CHECK_EQ_INT(aci_store_get(s, id_c, &got), -ENOENT);
        CHECK_EQ_INT(aci_store_get(s, "sha512-a1", &got), -EINVAL);
        CHECK_EQ_INT(aci_store_get(s, "../../etc", &got), -EINVAL);

        /* list: both, each with every field. */
        aci_image_record *list = NULL;
        size_t n = 0;
        CHECK_EQ_INT(aci_store_list(s, &list, &n), 0);
        CHECK_EQ_INT(n, 2);
        for (size_t i = 0; i < n; i++)
                check_record(&list[i], strcmp(list[i].key, a.key) == 0 ? &a : &b);
        CHECK(strcmp(list[0].key, list[1].key) != 0);
        aci_image_records_free(list, n);

        /* Adding the same key again replaces the record only. */
        aci_image_record a2;
        record_init(&a2, id_a, "example.com/app", la, 2);
        a2.index_url = xstrdup("https://example.com/other.caidx");
        a2.etag = xstrdup("\"etag-2\"");
        a2.max_age = 60;
        a2.fetched = 1700000999;
        a2.size = 42;
        a2.latest = false;
        memset(a2.index_digest, 'e', 64);
        CHECK_EQ_INT(aci_store_add(s, &a2, "INDEX-A2", 8, "MANIFEST-A2", 11), 0);
        CHECK_EQ_INT(aci_store_get(s, a.key, &got), 0);
        check_record(&got, &a2);
        aci_image_record_done(&got);
        _cleanup_(freep) char *t3 = read_file(a_index);
        _cleanup_(freep) char *t4 = read_file(a_manifest);
        CHECK_STREQ(t3, "INDEX-A");
        CHECK_STREQ(t4, "MANIFEST-A");
        CHECK_EQ_INT(count_entries(images), 2);
        CHECK_EQ_INT(count_entries(a_dir), 3);

        /* update_record rewrites it too. */
        a2.fetched = 1800000000;
        a2.latest = true;
        CHECK_EQ_INT(aci_store_update_record(s, &a2), 0);
        CHECK_EQ_INT(aci_store_get(s, a.id, &got), 0);
        check_record(&got, &a2);
        aci_image_record_done(&got);
        CHECK_EQ_INT(count_entries(a_dir), 3);

        /* A corrupt record is skipped by list, with a warning naming it; get says -EBADMSG. */
        _cleanup_(freep) char *b_json = aci_store_image_file(s, b.key, "image.json");
        write_file(b_json, "{\"id\": \"sha512-b2\", oops");
        /* A record under the wrong key, an image directory without a record, a temp name. */
        char key_c[ACI_KEY_SIZE];
        aci_key_from_id(id_c, key_c);
        _cleanup_(freep) char *c_dir = strf("%s/images/%s", dir, key_c);
        _cleanup_(freep) char *c_json = strf("%s/image.json", c_dir);
        make_dir(c_dir);
        _cleanup_(freep) char *a_text = read_file(a_json);
        write_file(c_json, a_text);
        char id_d[ACI_ID_SIZE], key_d[ACI_KEY_SIZE];
        make_id(id_d, "d4", '0');
        aci_key_from_id(id_d, key_d);
        _cleanup_(freep) char *d_dir = strf("%s/images/%s", dir, key_d);
        make_dir(d_dir);
        _cleanup_(freep) char *new_dir = strf("%s/images/.new-abcdef", dir);
        make_dir(new_dir);

        capture_begin();
        int r = aci_store_list(s, &list, &n);
        _cleanup_(freep) char *msg = capture_end();
        CHECK_EQ_INT(r, 0);
        CHECK_EQ_INT(n, 1);
        CHECK_STREQ(list[0].key, a.key);
        aci_image_records_free(list, n);
        _cleanup_(freep) char *w1 = strf("warning: %s/images/%s: skipped", dir, b.key);
        _cleanup_(freep) char *w2 = strf("warning: %s/images/%s: skipped", dir, key_c);
        _cleanup_(freep) char *w3 = strf("warning: %s/images/%s: skipped", dir, key_d);
        if (!strstr(msg, w1) || !strstr(msg, w2) || !strstr(msg, w3) || strstr(msg, ".new-")) {
                fprintf(stderr, "unexpected list messages:\n%s", msg);
                exit(EXIT_FAILURE);
        }
        capture_begin();
        CHECK_EQ_INT(aci_store_get(s, b.key, &got), -EBADMSG);
        CHECK_EQ_INT(aci_store_get(s, key_c, &got), -EBADMSG);
        CHECK_EQ_INT(aci_store_get(s, key_d, &got), -EBADMSG);
        free(capture_end());

        /* remove: images/<key> and trees/<key>, nothing else. */
        _cleanup_(freep) char *tree = aci_store_tree_path(s, a.key);
        _cleanup_(freep) char *want_tree = strf("%s/trees/%s", dir, a.key);
        CHECK_STREQ(tree, want_tree);
        _cleanup_(freep) char *tree_rootfs = strf("%s/rootfs", tree);
        _cleanup_(freep) char *tree_file = strf("%s/rootfs/file", tree);
        make_dir(tree);
        make_dir(tree_rootfs);
        write_file(tree_file, "x");
        CHECK_EQ_INT(aci_store_remove(s, a.key), 0);
        CHECK(!exists(a_dir));
        CHECK(!exists(tree));
        CHECK(exists(c_dir));
        CHECK_EQ_INT(aci_store_get(s, a.key, &got), -ENOENT);
        CHECK_EQ_INT(aci_store_remove(s, a.key), 0); /* already gone */
        CHECK_EQ_INT(aci_store_remove(s, a.id), -EINVAL);
        CHECK_EQ_INT(aci_store_remove(s, ".."), -EINVAL);
        CHECK(exists(images));

        aci_image_record_done(&a);
        aci_image_record_done(&a2);
        aci_image_record_done(&b);
        s = aci_store_free(s);
        remove_store(dir);
}

/* A local import has no index URL, a response may have no ETag: such records read back too. */
static void test_record_optional(void)
{
        _cleanup_(freep) char *dir = strf("%s/optional", root);
        _cleanup_(aci_store_freep) aci_store *s = NULL;
        CHECK_EQ_INT(aci_store_open(dir, &s), 0);
        char id_l[ACI_ID_SIZE], id_n[ACI_ID_SIZE];
        make_id(id_l, "0a", 'f');
        make_id(id_n, "0b", 'f');
        aci_image_record local, no_etag, got;
        record_init(&local, id_l, "example.com/imported", NULL, 0);
        record_init(&no_etag, id_n, "example.com/fetched", NULL, 0);
        no_etag.index_url = xstrdup("https://example.com/fetched.caidx");
        no_etag.fetched = 7;
        CHECK_EQ_INT(aci_store_add(s, &local, "I", 1, "M", 1), 0);
        CHECK_EQ_INT(aci_store_add(s, &no_etag, "I", 1, "M", 1), 0);

        capture_begin();
        int r1 = aci_store_get(s, local.key, &got);
        _cleanup_(freep) char *msg = capture_end();
        if (r1 != 0) {
                fprintf(stderr, "record without indexURL and etag: get returned %d: %s", r1, msg);
                exit(EXIT_FAILURE);
        }
        check_record(&got, &local);
        CHECK(got.index_url == NULL && got.etag == NULL);
        aci_image_record_done(&got);
        CHECK_EQ_INT(aci_store_get(s, no_etag.key, &got), 0);
        check_record(&got, &no_etag);
        aci_image_record_done(&got);
        aci_image_record *list = NULL;
        size_t n = 0;
        CHECK_EQ_INT(aci_store_list(s, &list, &n), 0);
        CHECK_EQ_INT(n, 2);
        aci_image_records_free(list, n);
        CHECK_EQ_INT(aci_store_find_by_url(s, "https://example.com/fetched.caidx", &got), 0);
        CHECK_STREQ(got.key, no_etag.key);
        aci_image_record_done(&got);
        CHECK_EQ_INT(aci_store_find(s, "example.com/imported", NULL, 0, &got), 0);
        CHECK_STREQ(got.key, local.key);
        aci_image_record_done(&got);

        aci_image_record_done(&local);
        aci_image_record_done(&no_etag);
        s = aci_store_free(s);
        remove_store(dir);
}

/* Each part in its own process, so that one failure does not hide the others. */
static bool run(const char *name, void (*fn)(void))
{
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
                fn();
                fflush(stdout);
                exit(EXIT_SUCCESS);
        }
        int status;
        CHECK(waitpid(pid, &status, 0) == pid);
        bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        printf("%s: %s\n", ok ? "ok" : "FAIL", name);
        return ok;
}

int main(void)
{
        static const struct {
                const char *name;
                void (*fn)(void);
        } tests[] = {
            {"open", test_open},
            {"records", test_records},
            {"record_optional", test_record_optional},
            {"resolve", test_resolve},
            {"find", test_find},
            {"render_list", test_render_list},
            {"whitelist", test_whitelist},
            {"gc", test_gc},
            {"pins", test_pins},
            {"claims-gc", test_claims_gc},
            {"gc-grace", test_gc_grace},
            {"install_tree", test_install_tree},
            {"tree_check", test_tree_check},
        };
        umask(022);
        CHECK(mkdtemp(root));
        size_t failed = 0;
        for (size_t i = 0; i < ELEMENTSOF(tests); i++)
                failed += !run(tests[i].name, tests[i].fn);
        /* Every part removes its store when it passes. */
        if (failed == 0)
                CHECK_EQ_INT(count_entries(root), 0);
        int fd = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(fd >= 0);
        CHECK_EQ_INT(fs_remove_tree_at(fd, root + strlen("/tmp/")), 0);
        close(fd);
        if (failed > 0) {
                printf("%zu of %zu parts failed\n", failed, ELEMENTSOF(tests));
                return EXIT_FAILURE;
        }
        printf("ok\n");
        return 0;
}
