/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The extract test's destination rules: new, existing and committed destinations, in place. */
#include "test_extract.h"

static void write_file(const char *path, const char *text)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        CHECK(fd >= 0);
        CHECK_EQ_INT(write(fd, text, strlen(text)), (long long)strlen(text));
        CHECK(close(fd) == 0);
}

/* ------------------------------------------------------------------ destination rules */

void extract_small(const char *dest, const ca_extract_options *opts, int want_new)
{
        ca_extract *e = NULL;
        ca_sink s;
        int r = ca_extract_new(dest, opts, &e, &s);
        CHECK_EQ_INT(r, want_new);
        if (r < 0)
                return;
        ca_node root = mk(".", S_IFDIR | 0711);
        CHECK(begin(&s, &root) == 0);
        ca_node f = mk("f", S_IFREG | 0600);
        CHECK(file(&s, &f, "new\n", 4) == 0);
        CHECK(end(&s, &root) == 0);
        CHECK(ca_extract_commit(e) == 0);
        ca_extract_free(e);
}

void test_dest(void)
{
        char buf[64];
        struct stat st;

        /* An empty directory is replaced. */
        CHECK(mkdir(at("empty"), 0700) == 0);
        extract_small(at("empty"), &(ca_extract_options){}, 0);
        read_file(at("empty/f"), buf, sizeof(buf));
        CHECK_STREQ(buf, "new\n");
        CHECK(stat(at("empty"), &st) == 0);
        CHECK_EQ_INT(st.st_mode & 07777, 0711);
        remove_all(at("empty"));

        /* Trailing slashes name the same directory. */
        extract_small(at("slash//"), &(ca_extract_options){}, 0);
        read_file(at("slash/f"), buf, sizeof(buf));
        CHECK_STREQ(buf, "new\n");
        remove_all(at("slash"));

        /* A non-empty one is refused before anything is written. */
        CHECK(mkdir(at("full"), 0755) == 0);
        write_file(at("full/old"), "old");
        extract_small(at("full"), &(ca_extract_options){}, -ENOTEMPTY);
        CHECK_EQ_INT(count_prefixed(base, ".full.acfetch-"), 0);
        CHECK_EQ_INT(count_entries(at("full")), 1);

        /* So is a file, and a symlink to an empty directory. */
        write_file(at("plain"), "x");
        extract_small(at("plain"), &(ca_extract_options){}, -EEXIST);
        CHECK(mkdir(at("emptytarget"), 0755) == 0);
        CHECK(symlink(at("emptytarget"), at("dirlink")) == 0);
        extract_small(at("dirlink"), &(ca_extract_options){}, -EEXIST);
        CHECK_EQ_INT(count_entries(at("emptytarget")), 0);

        /* In place needs an existing directory. */
        extract_small(at("missing"), &(ca_extract_options){.in_place = true}, -ENOENT);

        /* Complete but never committed: nothing remains. */
        ca_extract *e = NULL;
        ca_sink s;
        CHECK(ca_extract_new(at("uncommitted"), &(ca_extract_options){}, &e, &s) == 0);
        ca_node r0 = mk(".", S_IFDIR | 0755);
        CHECK(begin(&s, &r0) == 0);
        ca_node f0 = mk("f", S_IFREG | 0644);
        f0.flags = CA_FORMAT_WITH_FLAG_IMMUTABLE;
        CHECK(file(&s, &f0, "data", 4) == 0);
        CHECK(end(&s, &r0) == 0);
        CHECK(s.finish(s.userdata) == 0);
        e = ca_extract_free(e);
        CHECK(!exists(at("uncommitted")));
        CHECK_EQ_INT(count_prefixed(base, ".uncommitted.acfetch-"), 0);

        /* Committed in between by someone else: refused, temp removed. */
        CHECK(ca_extract_new(at("race"), &(ca_extract_options){}, &e, &s) == 0);
        ca_node root = mk(".", S_IFDIR | 0755);
        CHECK(leaf(&s, &root) == 0);
        CHECK(mkdir(at("race"), 0755) == 0);
        write_file(at("race/theirs"), "x");
        CHECK(ca_extract_commit(e) < 0);
        ca_extract_free(e);
        CHECK_EQ_INT(count_prefixed(base, ".race.acfetch-"), 0);
        CHECK_EQ_INT(count_entries(at("race")), 1);
}

void test_in_place(void)
{
        char buf[64];
        struct stat st;
        char dest[PATH_MAX];
        snprintf(dest, sizeof(dest), "%s", at("inplace"));

        CHECK(mkdir(at("secret_dir"), 0755) == 0);
        write_file(at("secret_dir/secret"), "secret\n");
        CHECK(chmod(at("secret_dir/secret"), 0600) == 0);
        CHECK(mkdir(dest, 0755) == 0);
        CHECK(symlink(at("secret_dir/secret"), at("inplace/f")) == 0);
        CHECK(symlink(at("secret_dir"), at("inplace/evil")) == 0);
        CHECK(mkdir(at("inplace/keep"), 0700) == 0);
        write_file(at("inplace/keep/extra"), "kept");
        write_file(at("inplace/old"), "old");

        ca_extract *e = NULL;
        ca_sink s;
        CHECK(ca_extract_new(dest, &(ca_extract_options){.in_place = true}, &e, &s) == 0);
        ca_node root = mk(".", S_IFDIR | 0750);
        CHECK(begin(&s, &root) == 0);
        ca_node evil = mk("evil", S_IFDIR | 0755);
        CHECK(begin(&s, &evil) == 0);
        ca_node pw = mk("evil/passwd", S_IFREG | 0644);
        CHECK(file(&s, &pw, "mine\n", 5) == 0);
        CHECK(end(&s, &evil) == 0);
        ca_node f = mk("f", S_IFREG | 0644);
        CHECK(file(&s, &f, "new\n", 4) == 0);
        ca_node keep = mk("keep", S_IFDIR | 0751);
        CHECK(begin(&s, &keep) == 0);
        ca_node k1 = mk("keep/k1", S_IFLNK | 0777);
        k1.symlink_target = "../f";
        CHECK(leaf(&s, &k1) == 0);
        CHECK(end(&s, &keep) == 0);
        ca_node old = mk("old", S_IFIFO | 0600);
        CHECK(leaf(&s, &old) == 0);
        CHECK(end(&s, &root) == 0);
        CHECK(ca_extract_commit(e) == 0);
        e = ca_extract_free(e);

        /* The outside file was neither written nor chmod'ed through the symlink. */
        read_file(at("secret_dir/secret"), buf, sizeof(buf));
        CHECK_STREQ(buf, "secret\n");
        CHECK(stat(at("secret_dir/secret"), &st) == 0);
        CHECK_EQ_INT(st.st_mode & 07777, 0600);
        CHECK_EQ_INT(count_entries(at("secret_dir")), 1);

        CHECK(lstat(at("inplace/f"), &st) == 0);
        CHECK(S_ISREG(st.st_mode));
        read_file(at("inplace/f"), buf, sizeof(buf));
        CHECK_STREQ(buf, "new\n");
        CHECK(lstat(at("inplace/evil"), &st) == 0);
        CHECK(S_ISDIR(st.st_mode));
        read_file(at("inplace/evil/passwd"), buf, sizeof(buf));
        CHECK_STREQ(buf, "mine\n");
        CHECK(stat(at("inplace/keep"), &st) == 0);
        CHECK_EQ_INT(st.st_mode & 07777, 0751);
        read_file(at("inplace/keep/extra"), buf, sizeof(buf));
        CHECK_STREQ(buf, "kept");
        CHECK(lstat(at("inplace/old"), &st) == 0);
        CHECK(S_ISFIFO(st.st_mode));
        CHECK(stat(dest, &st) == 0);
        CHECK_EQ_INT(st.st_mode & 07777, 0750);
        check_mtime(dest, T0);
        CHECK_EQ_INT(count_prefixed(dest, ".acfetch-"), 0);

        /* A directory is never silently replaced by a file; the temp file goes away. */
        CHECK(ca_extract_new(dest, &(ca_extract_options){.in_place = true}, &e, &s) == 0);
        CHECK(begin(&s, &root) == 0);
        ca_node clash = mk("keep", S_IFREG | 0644);
        fprintf(stderr, "-- expecting a refusal: file over a directory, in place\n");
        CHECK(file(&s, &clash, "x", 1) < 0);
        e = ca_extract_free(e);
        CHECK(stat(at("inplace/keep/extra"), &st) == 0);
        CHECK_EQ_INT(count_prefixed(dest, ".acfetch-"), 0);

        /* An aborted in-place run removes its temporary entries. */
        CHECK(ca_extract_new(dest, &(ca_extract_options){.in_place = true}, &e, &s) == 0);
        CHECK(begin(&s, &root) == 0);
        CHECK(symlink("nowhere", at("inplace/g")) == 0);
        ca_node g = mk("g", S_IFDIR | 0755);
        CHECK(begin(&s, &g) == 0);
        ca_node gg = mk("g/g", S_IFREG | 0644);
        gg.payload_size = 100;
        CHECK(begin(&s, &gg) == 0);
        e = ca_extract_free(e);
        CHECK_EQ_INT(count_prefixed(dest, ".acfetch-"), 0);
        CHECK(lstat(at("inplace/g"), &st) == 0);
        CHECK(S_ISLNK(st.st_mode));

        remove_all(dest);
        remove_all(at("secret_dir"));
}
