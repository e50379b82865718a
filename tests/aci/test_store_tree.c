/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Trees that stay what was rendered (tree_check.c): the record install_tree writes, the cheap
 * check before a tree is handed out noticing every kind of change a runtime makes (a write, an
 * append, a new file, a removed one, a chmod, a touch that keeps the size, a rewrite that puts
 * the old mtime back), the check skipped (ondisk), a tree without a record, and the content
 * digest: equal for two trees made alike, different for a same-size rewrite.
 */
#include "test_store.h"

/* work/<name>: manifest, rootfs/{etc/resolv.conf, var/log/x, bin/sh -> busybox}, fixed times. */
static void make_rendered(const char *work, const char *name)
{
        const char *dirs[] = {
            "", "/rootfs", "/rootfs/etc", "/rootfs/var", "/rootfs/var/log", "/rootfs/bin"};
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                _cleanup_(freep) char *d = strf("%s/%s%s", work, name, dirs[i]);
                make_dir(d);
        }
        const char *files[][2] = {{"/manifest", "{}"},
                                  {"/rootfs/etc/resolv.conf", "nameserver 10.0.0.1\n"},
                                  {"/rootfs/var/log/x", "log line\n"}};
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                _cleanup_(freep) char *f = strf("%s/%s%s", work, name, files[i][0]);
                write_file(f, files[i][1]);
        }
        _cleanup_(freep) char *link = strf("%s/%s/rootfs/bin/sh", work, name);
        CHECK(symlink("busybox", link) == 0);
        /* Deepest first, so that no later change moves a parent's mtime. */
        const char *all[] = {"/rootfs/bin/sh", "/rootfs/var/log/x", "/rootfs/etc/resolv.conf",
                             "/manifest",      "/rootfs/var/log",   "/rootfs/var",
                             "/rootfs/etc",    "/rootfs/bin",       "/rootfs"};
        struct timespec ts[2] = {{.tv_sec = 1500000000}, {.tv_sec = 1500000000}};
        for (size_t i = 0; i < ELEMENTSOF(all); i++) {
                _cleanup_(freep) char *p = strf("%s/%s%s", work, name, all[i]);
                CHECK(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW) == 0);
        }
}

static void content_digest(const char *path, uint8_t d[ACI_TREE_DIGEST_SIZE])
{
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(fd >= 0);
        CHECK_EQ_INT(aci_tree_digest(fd, true, d, NULL), 0);
        close(fd);
}

typedef void (*change_fn)(const char *tree);

static void append(const char *t)
{
        _cleanup_(freep) char *p = strf("%s/rootfs/var/log/x", t);
        int fd = open(p, O_WRONLY | O_APPEND | O_CLOEXEC);
        CHECK(fd >= 0);
        CHECK(write(fd, "more\n", 5) == 5);
        close(fd);
}
static void add(const char *t)
{
        _cleanup_(freep) char *p = strf("%s/rootfs/etc/hostname", t);
        write_file(p, "pod\n");
}
static void add_top(const char *t)
{
        _cleanup_(freep) char *p = strf("%s/notes", t);
        write_file(p, "");
}
static void remove_file(const char *t)
{
        _cleanup_(freep) char *p = strf("%s/rootfs/var/log/x", t);
        CHECK(unlink(p) == 0);
}
static void chmod_file(const char *t)
{
        _cleanup_(freep) char *p = strf("%s/rootfs/etc/resolv.conf", t);
        CHECK(chmod(p, 0600) == 0);
}
static void touch_same_size(const char *t)
{
        _cleanup_(freep) char *p = strf("%s/rootfs/etc/resolv.conf", t);
        CHECK(utimensat(AT_FDCWD, p, NULL, 0) == 0);
}
/* Same size, same mtime put back: only ctime tells. */
static void rewrite_keep_mtime(const char *t)
{
        _cleanup_(freep) char *p = strf("%s/rootfs/etc/resolv.conf", t);
        struct stat st;
        CHECK(lstat(p, &st) == 0);
        int fd = open(p, O_WRONLY | O_CLOEXEC);
        CHECK(fd >= 0);
        CHECK(pwrite(fd, "N", 1, 0) == 1);
        close(fd);
        CHECK(utimensat(AT_FDCWD, p, (struct timespec[]){st.st_atim, st.st_mtim}, 0) == 0);
}
static void replace_link(const char *t)
{
        _cleanup_(freep) char *p = strf("%s/rootfs/bin/sh", t);
        CHECK(unlink(p) == 0);
        CHECK(symlink("dash", p) == 0);
}

void test_tree_check(void)
{
        _cleanup_(freep) char *dir = strf("%s/treecheck", root);
        _cleanup_(aci_store_freep) aci_store *s = NULL;
        CHECK_EQ_INT(aci_store_open(dir, &s), 0);
        int work_fd = -1;
        const char *work = NULL;
        CHECK_EQ_INT(aci_store_tmp(s, &work_fd, &work), 0);
        char id[ACI_ID_SIZE], key[ACI_KEY_SIZE];
        make_id(id, "91", 'b');
        aci_key_from_id(id, key);
        _cleanup_(freep) char *tree = aci_store_tree_path(s, key);
        _cleanup_(freep) char *record = strf("%s/%s", tree, ACI_TREE_RECORD);
        aci_render_options o = {};

        /* Two trees made alike have one content digest; the record is small and parses. */
        make_rendered(work, "a");
        make_rendered(work, "b");
        _cleanup_(freep) char *ta = strf("%s/a", work), *tb = strf("%s/b", work);
        uint8_t da[ACI_TREE_DIGEST_SIZE], db[ACI_TREE_DIGEST_SIZE];
        content_digest(ta, da);
        content_digest(tb, db);
        CHECK(memcmp(da, db, sizeof(da)) == 0);
        rewrite_keep_mtime(tb);
        content_digest(tb, db);
        CHECK(memcmp(da, db, sizeof(da)) != 0);
        CHECK_EQ_INT(fs_remove_tree_at(work_fd, "b"), 0);

        CHECK_EQ_INT(aci_store_install_tree(s, key, work_fd, "a", &o), 0);
        CHECK(is_regular(record));
        CHECK(file_size(record) < 256);
        int fd = open(tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(fd >= 0);
        aci_tree_record rec;
        CHECK_EQ_INT(aci_tree_record_read(fd, &rec), 0);
        CHECK(rec.same_owner);
        CHECK_EQ_INT(rec.entries, 9); /* manifest, rootfs and its seven entries */
        CHECK_EQ_INT(aci_tree_record_check(fd), 1);
        close(fd);
        /* Content unchanged by the install (the markers are left out). */
        content_digest(tree, db);
        CHECK(memcmp(da, db, sizeof(da)) == 0);
        CHECK_EQ_INT(aci_store_tree_intact(s, key, true), 1);
        CHECK_EQ_INT(aci_store_tree_intact(s, key, true), 1); /* reading changes nothing */

        static const struct {
                const char *what;
                change_fn fn;
        } changes[] = {
            {"append", append},
            {"add", add},
            {"add at the top", add_top},
            {"remove", remove_file},
            {"chmod", chmod_file},
            {"touch", touch_same_size},
            {"rewrite keeping the mtime", rewrite_keep_mtime},
            {"replace a symlink", replace_link},
        };
        for (size_t i = 0; i < ELEMENTSOF(changes); i++) {
                fprintf(stderr, "change: %s\n", changes[i].what);
                if (!exists(tree)) {
                        make_rendered(work, "n");
                        CHECK_EQ_INT(aci_store_install_tree(s, key, work_fd, "n", &o), 0);
                }
                CHECK_EQ_INT(aci_store_tree_intact(s, key, true), 1);
                changes[i].fn(tree);
                /* ondisk: handed out as it is. */
                CHECK_EQ_INT(aci_store_tree_intact(s, key, false), 1);
                CHECK(exists(tree));
                capture_begin();
                CHECK_EQ_INT(aci_store_tree_intact(s, key, true), 0);
                _cleanup_(freep) char *msg = capture_end();
                CHECK(strstr(msg, "modified since it was rendered"));
                CHECK(!exists(tree));
        }

        /* A tree from before records: not trusted unseen, rendered again. */
        make_rendered(work, "old");
        CHECK_EQ_INT(aci_store_install_tree(s, key, work_fd, "old", &o), 0);
        CHECK(unlink(record) == 0);
        CHECK_EQ_INT(aci_store_tree_intact(s, key, false), 1);
        capture_begin();
        CHECK_EQ_INT(aci_store_tree_intact(s, key, true), 0);
        _cleanup_(freep) char *msg = capture_end();
        CHECK(strstr(msg, "older acfetch"));
        CHECK(!exists(tree));

        /* A malformed or oversized record is a modified tree, not a crash. */
        make_rendered(work, "bad");
        CHECK_EQ_INT(aci_store_install_tree(s, key, work_fd, "bad", &o), 0);
        fd = open(tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(fd >= 0);
        CHECK(unlink(record) == 0);
        write_file(record, "acfetch tree record 1\nowner 1\nentries 9\nstat zz\n");
        CHECK_EQ_INT(aci_tree_record_read(fd, &rec), -EBADMSG);
        CHECK(unlink(record) == 0);
        char big[5000];
        memset(big, 'a', sizeof(big) - 1);
        big[sizeof(big) - 1] = 0;
        write_file(record, big);
        CHECK_EQ_INT(aci_tree_record_read(fd, &rec), -EBADMSG);
        close(fd);
        capture_begin();
        CHECK_EQ_INT(aci_store_tree_intact(s, key, true), 0);
        free(capture_end());
        CHECK(!exists(tree));

        /* The record keeps the ownership choice; refresh rewrites it from the tree as it is. */
        make_rendered(work, "own");
        CHECK_EQ_INT(aci_store_install_tree(s, key, work_fd, "own",
                                            &(aci_render_options){.no_same_owner = true}),
                     0);
        touch_same_size(tree);
        fd = open(tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(fd >= 0);
        CHECK_EQ_INT(aci_tree_record_read(fd, &rec), 0);
        CHECK(!rec.same_owner);
        CHECK_EQ_INT(aci_tree_record_check(fd), 0);
        CHECK_EQ_INT(aci_store_tree_record_refresh(s, key, false), 0);
        CHECK_EQ_INT(aci_tree_record_check(fd), 1);
        close(fd);
        CHECK_EQ_INT(aci_store_tree_intact(s, key, true), 1);

        s = aci_store_free(s);
        remove_store(dir);
}
