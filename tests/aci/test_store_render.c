/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The store test's rendering: the render list (rkt's order), pathWhitelist, installed trees. */
#include "test_store.h"

/* ---------------------------------------------------------------- 5. the render list */

static void expect_build_fails(aci_store *s, const char *key, int want, const char *msg_part)
{
        aci_image_record top;
        CHECK_EQ_INT(aci_store_get(s, key, &top), 0);
        aci_render_list l = {};
        capture_begin();
        int r = aci_render_list_build(s, &top, &l);
        _cleanup_(freep) char *msg = capture_end();
        if (r != want || !strstr(msg, msg_part)) {
                fprintf(stderr, "render list of %s: %d (expected %d), message \"%s\"\n", top.name,
                        r, want, msg);
                exit(EXIT_FAILURE);
        }
        CHECK(l.items == NULL && l.n == 0);
        aci_image_record_done(&top);
}

static void check_item(const aci_render_list *l, size_t i, const char *key, ssize_t parent,
                       unsigned depth)
{
        CHECK(i < l->n);
        const aci_render_item *it = &l->items[i];
        if (strcmp(it->record.key, key) != 0) {
                fprintf(stderr, "render list item %zu is %s (%s), expected %s\n", i, it->record.key,
                        it->record.name, key);
                exit(EXIT_FAILURE);
        }
        CHECK_EQ_INT(it->parent, parent);
        CHECK_EQ_INT(it->depth, depth);
        CHECK(it->manifest != NULL);
        CHECK_STREQ(aci_manifest_name(it->manifest), it->record.name);
}

static void build_list(aci_store *s, const char *key, aci_render_list *l)
{
        aci_image_record top;
        CHECK_EQ_INT(aci_store_get(s, key, &top), 0);
        CHECK_EQ_INT(aci_render_list_build(s, &top, l), 0);
        aci_image_record_done(&top);
}

void test_render_list(void)
{
        _cleanup_(freep) char *dir = strf("%s/render", root);
        _cleanup_(aci_store_freep) aci_store *s = NULL;
        CHECK_EQ_INT(aci_store_open(dir, &s), 0);

        char ia[ACI_ID_SIZE], ib[ACI_ID_SIZE], ib3[ACI_ID_SIZE], ic[ACI_ID_SIZE], id[ACI_ID_SIZE],
            id2[ACI_ID_SIZE];
        char ka[ACI_KEY_SIZE], kb[ACI_KEY_SIZE], kc[ACI_KEY_SIZE], kd[ACI_KEY_SIZE],
            kd2[ACI_KEY_SIZE];
        make_id(ia, "a0", '1');
        make_id(ib, "b0", '2');
        make_id(ib3, "b3", '2');
        make_id(ic, "c0", '3');
        make_id(id, "d0d0d0d0d0", '4');
        make_id(id2, "d0d0d0d0d1", '5');
        aci_key_from_id(ia, ka);
        aci_key_from_id(ib, kb);
        aci_key_from_id(ic, kc);
        aci_key_from_id(id, kd);
        aci_key_from_id(id2, kd2);
        const aci_label v1[] = {{"version", "1"}}, v2[] = {{"version", "2"}},
                        v3[] = {{"version", "3"}};

        /* A: B (version 2) then C. B: D (version 1). A decoy B (version 3) and D (version 2),
         * latest and newest, which a lookup without labels would pick. */
        add_image(s, ia, "example.com/a", v1, 1,
                  "{\"imageName\":\"example.com/b\",\"labels\":[{\"name\":\"version\","
                  "\"value\":\"2\"}]},{\"imageName\":\"example.com/c\"}",
                  10, true, NULL);
        add_image(s, ib, "example.com/b", v2, 1,
                  "{\"imageName\":\"example.com/d\",\"labels\":[{\"name\":\"version\","
                  "\"value\":\"1\"}]}",
                  10, false, NULL);
        add_image(s, ib3, "example.com/b", v3, 1, NULL, 20, true, NULL);
        add_image(s, ic, "example.com/c", NULL, 0, NULL, 10, true, NULL);
        add_image(s, id, "example.com/d", v1, 1, NULL, 10, false, NULL);
        add_image(s, id2, "example.com/d", v2, 1, NULL, 20, true, NULL);

        aci_render_list l = {};
        build_list(s, ka, &l);
        CHECK_EQ_INT(l.n, 4);
        check_item(&l, 0, ka, -1, 0);
        check_item(&l, 1, kc, 0, 1);
        check_item(&l, 2, kb, 0, 1);
        check_item(&l, 3, kd, 2, 2);
        aci_render_list_done(&l);
        CHECK(l.items == NULL && l.n == 0);

        /* A leaf alone. */
        build_list(s, kc, &l);
        CHECK_EQ_INT(l.n, 1);
        check_item(&l, 0, kc, -1, 0);
        aci_render_list_done(&l);

        /* By imageID (a prefix): D, although the name alone would find D2. */
        char ie[ACI_ID_SIZE], ke[ACI_KEY_SIZE];
        make_id(ie, "e0", '6');
        aci_key_from_id(ie, ke);
        add_image(s, ie, "example.com/e", NULL, 0,
                  "{\"imageName\":\"example.com/d\",\"imageID\":\"sha512-d0d0d0d0d0\"},"
                  "{\"imageName\":\"example.com/d\"}",
                  10, false, NULL);
        build_list(s, ke, &l);
        CHECK_EQ_INT(l.n, 3);
        check_item(&l, 0, ke, -1, 0);
        check_item(&l, 1, kd2, 0, 1);
        check_item(&l, 2, kd, 0, 1);
        aci_render_list_done(&l);

        /* Failures: an ambiguous or missing ID, a missing name, an ID naming another image. */
        char i_bad[ACI_ID_SIZE], k_bad[ACI_KEY_SIZE];
        make_id(i_bad, "f0", '7');
        aci_key_from_id(i_bad, k_bad);
        add_image(s, i_bad, "example.com/f", NULL, 0,
                  "{\"imageName\":\"example.com/d\",\"imageID\":\"sha512-d0d0\"}", 10, false, NULL);
        expect_build_fails(s, k_bad, -ENOTUNIQ, "ambiguous");
        CHECK_EQ_INT(aci_store_remove(s, k_bad), 0);
        add_image(s, i_bad, "example.com/f", NULL, 0,
                  "{\"imageName\":\"example.com/d\",\"imageID\":\"sha512-d0d0ff\"}", 10, false,
                  NULL);
        expect_build_fails(s, k_bad, -ENOENT, "example.com/d (sha512-d0d0ff) is not in the store");
        CHECK_EQ_INT(aci_store_remove(s, k_bad), 0);
        add_image(s, i_bad, "example.com/f", NULL, 0, "{\"imageName\":\"example.com/nope\"}", 10,
                  false, NULL);
        expect_build_fails(s, k_bad, -ENOENT, "dependency example.com/nope is not in the store");
        CHECK_EQ_INT(aci_store_remove(s, k_bad), 0);
        add_image(s, i_bad, "example.com/f", NULL, 0,
                  "{\"imageName\":\"example.com/d\",\"labels\":[{\"name\":\"version\","
                  "\"value\":\"9\"}]}",
                  10, false, NULL);
        expect_build_fails(s, k_bad, -ENOENT, "dependency example.com/d is not in the store");
        CHECK_EQ_INT(aci_store_remove(s, k_bad), 0);
        add_image(s, i_bad, "example.com/f", NULL, 0,
                  "{\"imageName\":\"example.com/c\",\"imageID\":\"sha512-d0d0d0d0d0\"}", 10, false,
                  NULL);
        expect_build_fails(s, k_bad, -EBADMSG, "which is named example.com/d");
        CHECK_EQ_INT(aci_store_remove(s, k_bad), 0);

        /* Cycles: X -> Y -> X, and S -> S. */
        char ix[ACI_ID_SIZE], iy[ACI_ID_SIZE], is[ACI_ID_SIZE];
        char kx[ACI_KEY_SIZE], ky[ACI_KEY_SIZE], ks[ACI_KEY_SIZE];
        make_id(ix, "1a", '8');
        make_id(iy, "1b", '8');
        make_id(is, "1c", '8');
        aci_key_from_id(ix, kx);
        aci_key_from_id(iy, ky);
        aci_key_from_id(is, ks);
        add_image(s, ix, "example.com/x", NULL, 0, "{\"imageName\":\"example.com/y\"}", 10, false,
                  NULL);
        add_image(s, iy, "example.com/y", NULL, 0, "{\"imageName\":\"example.com/x\"}", 10, false,
                  NULL);
        add_image(s, is, "example.com/s", NULL, 0,
                  "{\"imageName\":\"example.com/s\",\"imageID\":\"sha512-1c\"}", 10, false, NULL);
        expect_build_fails(s, kx, -EBADMSG, "dependency cycle through example.com/x");
        expect_build_fails(s, ky, -EBADMSG, "dependency cycle through example.com/y");
        expect_build_fails(s, ks, -EBADMSG, "dependency cycle through example.com/s");

        /* Depth: a chain l0 -> l1 -> ... -> l9. From l1 the deepest is at depth 8: fine. */
        char chain_keys[10][ACI_KEY_SIZE];
        for (int i = 0; i < 10; i++) {
                char cid[ACI_ID_SIZE], hex[8], name[32];
                snprintf(hex, sizeof(hex), "2%d", i);
                snprintf(name, sizeof(name), "example.com/l%d", i);
                make_id(cid, hex, '9');
                aci_key_from_id(cid, chain_keys[i]);
                _cleanup_(freep) char *dep =
                    i < 9 ? strf("{\"imageName\":\"example.com/l%d\"}", i + 1) : NULL;
                add_image(s, cid, name, NULL, 0, dep, 10, false, NULL);
        }
        build_list(s, chain_keys[1], &l);
        CHECK_EQ_INT(l.n, 9);
        for (size_t i = 0; i < 9; i++)
                check_item(&l, i, chain_keys[i + 1], (ssize_t)i - 1, (unsigned)i);
        aci_render_list_done(&l);
        expect_build_fails(s, chain_keys[0], -EBADMSG, "deeper than 8 levels");

        /* Count: ACI_RENDER_IMAGES_MAX images in all is fine, one more is not. */
        _cleanup_(freep) char *deps = xstrdup("");
        for (int i = 0; i < ACI_RENDER_IMAGES_MAX; i++) {
                char *m = strf("%s%s{\"imageName\":\"example.com/c\"}", deps, i ? "," : "");
                free(deps);
                deps = m;
                if (i == ACI_RENDER_IMAGES_MAX - 2) {
                        char iw[ACI_ID_SIZE], kw[ACI_KEY_SIZE];
                        make_id(iw, "3a", '0');
                        aci_key_from_id(iw, kw);
                        add_image(s, iw, "example.com/wide", NULL, 0, deps, 10, false, NULL);
                        build_list(s, kw, &l);
                        CHECK_EQ_INT(l.n, ACI_RENDER_IMAGES_MAX);
                        check_item(&l, 0, kw, -1, 0);
                        for (size_t k = 1; k < l.n; k++)
                                check_item(&l, k, kc, 0, 1);
                        aci_render_list_done(&l);
                }
        }
        char iw[ACI_ID_SIZE], kw[ACI_KEY_SIZE];
        make_id(iw, "3b", '0');
        aci_key_from_id(iw, kw);
        add_image(s, iw, "example.com/wider", NULL, 0, deps, 10, false, NULL);
        expect_build_fails(s, kw, -EBADMSG, "more than 64 images");

        /* The top image itself gone. */
        aci_image_record gone;
        CHECK_EQ_INT(aci_store_get(s, ka, &gone), 0);
        CHECK_EQ_INT(aci_store_remove(s, ka), 0);
        CHECK(aci_render_list_build(s, &gone, &l) < 0);
        CHECK(l.items == NULL);
        aci_image_record_done(&gone);

        s = aci_store_free(s);
        remove_store(dir);
}

/* ---------------------------------------------------------------- 6. pathWhitelist */

static int filter(const aci_whitelist *w, const char *path, mode_t mode)
{
        ca_node n = {.path = path, .mode = mode};
        const char *slash = strrchr(path, '/');
        n.name = slash ? slash + 1 : path;
        return aci_whitelist_filter((void *)w, &n);
}

void test_whitelist(void)
{
        const char *own[] = {"/bin/sh", "/etc/passwd", "/manifest"};
        const char *anc[] = {"/bin/sh", "/bin/ls", "/lib/libc.so"};
        aci_whitelist none = {}, w;

        /* No lists: everything passes. */
        CHECK_EQ_INT(filter(&none, "rootfs/bin/ls", S_IFREG | 0755), 1);
        CHECK_EQ_INT(filter(&none, "manifest", S_IFREG | 0644), 1);
        none.rerooted = true;
        CHECK_EQ_INT(filter(&none, "bin/ls", S_IFREG | 0755), 1);

        /* Own list only, not rerooted. */
        w = (aci_whitelist){.own = own, .n_own = 2};
        CHECK_EQ_INT(filter(&w, "rootfs/bin/sh", S_IFREG | 0755), 1);
        CHECK_EQ_INT(filter(&w, "rootfs/etc/passwd", S_IFLNK | 0777), 1);
        CHECK_EQ_INT(filter(&w, "rootfs/bin/ls", S_IFREG | 0755), 0);
        CHECK_EQ_INT(filter(&w, "rootfs/bin/sh/x", S_IFREG | 0755), 0);
        CHECK_EQ_INT(filter(&w, "rootfs/bin", S_IFREG | 0755), 0);
        CHECK_EQ_INT(filter(&w, "rootfs/sh", S_IFREG | 0755), 0);
        CHECK_EQ_INT(filter(&w, "rootfs/dev/null", S_IFCHR | 0666), 0);
        CHECK_EQ_INT(filter(&w, "rootfs/run/fifo", S_IFIFO | 0600), 0);
        CHECK_EQ_INT(filter(&w, "rootfs/manifest", S_IFREG | 0644), 0);
        /* Directories always pass, listed or not; so do the root, rootfs and the manifest. */
        CHECK_EQ_INT(filter(&w, "rootfs/bin", S_IFDIR | 0755), 1);
        CHECK_EQ_INT(filter(&w, "rootfs/var/empty", S_IFDIR | 0755), 1);
        CHECK_EQ_INT(filter(&w, "rootfs", S_IFDIR | 0755), 1);
        CHECK_EQ_INT(filter(&w, ".", S_IFDIR | 0755), 1);
        CHECK_EQ_INT(filter(&w, "manifest", S_IFREG | 0644), 1);

        /* Rerooted: paths are below rootfs, and "manifest" is a file of rootfs like any other. */
        w.rerooted = true;
        CHECK_EQ_INT(filter(&w, "bin/sh", S_IFREG | 0755), 1);
        CHECK_EQ_INT(filter(&w, "etc/passwd", S_IFREG | 0644), 1);
        CHECK_EQ_INT(filter(&w, "bin/ls", S_IFREG | 0755), 0);
        CHECK_EQ_INT(filter(&w, "rootfs/bin/sh", S_IFREG | 0755), 0);
        CHECK_EQ_INT(filter(&w, "manifest", S_IFREG | 0644), 0);
        CHECK_EQ_INT(filter(&w, "bin", S_IFDIR | 0755), 1);
        CHECK_EQ_INT(filter(&w, ".", S_IFDIR | 0755), 1);
        w.n_own = 3; /* "/manifest" listed */
        CHECK_EQ_INT(filter(&w, "manifest", S_IFREG | 0644), 1);

        /* Ancestor's list only. */
        w = (aci_whitelist){.ancestor = anc, .n_ancestor = 3};
        CHECK_EQ_INT(filter(&w, "rootfs/bin/sh", S_IFREG | 0755), 1);
        CHECK_EQ_INT(filter(&w, "rootfs/lib/libc.so", S_IFLNK | 0777), 1);
        CHECK_EQ_INT(filter(&w, "rootfs/etc/passwd", S_IFREG | 0644), 0);
        CHECK_EQ_INT(filter(&w, "rootfs/etc", S_IFDIR | 0755), 1);
        CHECK_EQ_INT(filter(&w, "manifest", S_IFREG | 0644), 1);
        w.rerooted = true;
        CHECK_EQ_INT(filter(&w, "bin/ls", S_IFREG | 0755), 1);
        CHECK_EQ_INT(filter(&w, "etc/passwd", S_IFREG | 0644), 0);
        CHECK_EQ_INT(filter(&w, "manifest", S_IFREG | 0644), 0);

        /* Both: a file must be on both lists. */
        w = (aci_whitelist){.own = own, .n_own = 2, .ancestor = anc, .n_ancestor = 3};
        CHECK_EQ_INT(filter(&w, "rootfs/bin/sh", S_IFREG | 0755), 1);
        CHECK_EQ_INT(filter(&w, "rootfs/bin/ls", S_IFREG | 0755), 0);
        CHECK_EQ_INT(filter(&w, "rootfs/etc/passwd", S_IFREG | 0644), 0);
        CHECK_EQ_INT(filter(&w, "rootfs/lib/libc.so", S_IFREG | 0644), 0);
        CHECK_EQ_INT(filter(&w, "rootfs/usr", S_IFDIR | 0755), 1);
        CHECK_EQ_INT(filter(&w, "manifest", S_IFREG | 0644), 1);
        w.rerooted = true;
        CHECK_EQ_INT(filter(&w, "bin/sh", S_IFREG | 0755), 1);
        CHECK_EQ_INT(filter(&w, "bin/ls", S_IFREG | 0755), 0);
        CHECK_EQ_INT(filter(&w, "etc/passwd", S_IFREG | 0644), 0);
        CHECK_EQ_INT(filter(&w, "usr", S_IFDIR | 0755), 1);
}

/* ---------------------------------------------------------------- 8. installing trees */

static struct timespec mtime_of(const char *path)
{
        struct stat st;
        CHECK(lstat(path, &st) == 0);
        return st.st_mtim;
}

/* A finished tree tmp/<ours>/<name>: manifest, rootfs/<marker>, mtime set to `when`. */
static void make_tree(int work_fd, const char *work, const char *name, const char *marker,
                      time_t when)
{
        _cleanup_(freep) char *t = strf("%s/%s", work, name);
        _cleanup_(freep) char *rootfs = strf("%s/rootfs", t);
        _cleanup_(freep) char *manifest = strf("%s/manifest", t);
        _cleanup_(freep) char *file = strf("%s/rootfs/%s", t, marker);
        make_dir(t);
        make_dir(rootfs);
        write_file(manifest, "{}");
        write_file(file, marker);
        struct timespec ts[2] = {{.tv_sec = when, .tv_nsec = 123456789},
                                 {.tv_sec = when, .tv_nsec = 123456789}};
        CHECK(utimensat(work_fd, name, ts, AT_SYMLINK_NOFOLLOW) == 0);
}

void test_install_tree(void)
{
        _cleanup_(freep) char *dir = strf("%s/install", root);
        _cleanup_(aci_store_freep) aci_store *s = NULL;
        CHECK_EQ_INT(aci_store_open(dir, &s), 0);
        int work_fd = -1;
        const char *work = NULL;
        CHECK_EQ_INT(aci_store_tmp(s, &work_fd, &work), 0);

        char id[ACI_ID_SIZE], key[ACI_KEY_SIZE];
        make_id(id, "90", 'a');
        aci_key_from_id(id, key);
        _cleanup_(freep) char *tree = aci_store_tree_path(s, key);
        _cleanup_(freep) char *rendered = strf("%s/rendered", tree);
        _cleanup_(freep) char *first = strf("%s/rootfs/first", tree);
        _cleanup_(freep) char *second = strf("%s/rootfs/second", tree);
        _cleanup_(freep) char *manifest = strf("%s/manifest", tree);

        CHECK_EQ_INT(aci_store_tree_ready(s, key), 0);
        CHECK_EQ_INT(aci_store_tree_ready(s, "junk"), -EINVAL);

        /* First install: moved in, marked, its own mtime kept. */
        make_tree(work_fd, work, "t1", "first", 1000000000);
        _cleanup_(freep) char *t1 = strf("%s/t1", work);
        CHECK_EQ_INT(aci_store_install_tree(s, key, work_fd, "t1", &(aci_render_options){}), 0);
        CHECK(!exists(t1));
        CHECK(is_regular(rendered));
        CHECK_EQ_INT(file_size(rendered), 0);
        CHECK(is_regular(first));
        CHECK(is_regular(manifest));
        struct timespec m = mtime_of(tree);
        CHECK_EQ_INT(m.tv_sec, 1000000000);
        CHECK_EQ_INT(m.tv_nsec, 123456789);
        CHECK_EQ_INT(count_entries(tree),
                     4); /* manifest, rootfs, rendered.stat, rendered: no temp */
        CHECK_EQ_INT(aci_store_tree_ready(s, key), 1);

        /* Again: the complete tree stays, ours is removed. */
        make_tree(work_fd, work, "t2", "second", 2000000000);
        _cleanup_(freep) char *t2 = strf("%s/t2", work);
        CHECK_EQ_INT(aci_store_install_tree(s, key, work_fd, "t2", &(aci_render_options){}), 0);
        CHECK(!exists(t2));
        CHECK(is_regular(first));
        CHECK(!exists(second));
        CHECK(is_regular(rendered));
        CHECK_EQ_INT(mtime_of(tree).tv_sec, 1000000000);
        CHECK_EQ_INT(count_entries(work), 0);

        /* An incomplete tree (no `rendered`) is replaced. */
        CHECK(unlink(rendered) == 0);
        make_tree(work_fd, work, "t3", "second", 2000000000);
        CHECK_EQ_INT(aci_store_install_tree(s, key, work_fd, "t3", &(aci_render_options){}), 0);
        CHECK(is_regular(second));
        CHECK(!exists(first));
        CHECK(is_regular(rendered));
        CHECK_EQ_INT(mtime_of(tree).tv_sec, 2000000000);
        CHECK_EQ_INT(count_entries(work), 0);

        /* tree_ready removes an incomplete tree. */
        CHECK(unlink(rendered) == 0);
        CHECK_EQ_INT(aci_store_tree_ready(s, key), 0);
        CHECK(!exists(tree));

        /* Bad keys are refused before anything moves. */
        make_tree(work_fd, work, "t4", "x", 1);
        capture_begin();
        CHECK_EQ_INT(aci_store_install_tree(s, "../x", work_fd, "t4", &(aci_render_options){}),
                     -EINVAL);
        CHECK_EQ_INT(aci_store_install_tree(s, id, work_fd, "t4", &(aci_render_options){}),
                     -EINVAL);
        free(capture_end());
        _cleanup_(freep) char *t4 = strf("%s/t4", work);
        CHECK(exists(t4));

        s = aci_store_free(s);
        remove_store(dir);
}
