/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The extract test's merging into an existing tree and filtering of nodes. */
#include "test_extract.h"

/* ------------------------------------------------------------------ merge and filter */

/* Rejects names starting with "skip"; "fail" makes the filter fail. Records what it saw. */
typedef struct filter_log {
        unsigned calls;
        char paths[8][64];
} filter_log;

static int skip_filter(void *userdata, const ca_node *n)
{
        filter_log *log = userdata;
        CHECK(!S_ISDIR(n->mode));
        if (log->calls < ELEMENTSOF(log->paths))
                snprintf(log->paths[log->calls], sizeof(log->paths[0]), "%s", n->path);
        log->calls++;
        if (strcmp(n->name, "fail") == 0)
                return -EPERM;
        return strncmp(n->name, "skip", 4) != 0;
}

/* The first image: a file "a", a symlink "d" pointing outside, a directory "etc". */
static void merge_first(const char *dest)
{
        ca_extract *e = NULL;
        ca_sink s;
        CHECK(ca_extract_new(dest, &(ca_extract_options){.in_place = true, .merge = true}, &e,
                             &s) == 0);
        ca_node root = mk(".", S_IFDIR | 0755);
        root.mtime = T0;
        CHECK(begin(&s, &root) == 0);
        ca_node a = mk("a", S_IFREG | 0600);
        CHECK(file(&s, &a, "first", 5) == 0);
        ca_node d = mk("d", S_IFLNK | 0777);
        d.symlink_target = at("merge_outside");
        CHECK(leaf(&s, &d) == 0);
        ca_node etc = mk("etc", S_IFDIR | 0710);
        etc.mtime = T2;
        /* Its default ACL must not leak into what the second image adds. */
        ca_acl_entry du[] = {{.id = 102, .permissions = 7}};
        etc.has_acl_default = true;
        etc.acl_default_user_obj = 7;
        etc.acl_default_group_obj = 5;
        etc.acl_default_other = 5;
        etc.acl_default_mask = 7;
        etc.acl_default_user = du;
        etc.n_acl_default_user = 1;
        CHECK(begin(&s, &etc) == 0);
        ca_node conf = mk("etc/conf", S_IFREG | 0640);
        CHECK(file(&s, &conf, "one\n", 4) == 0);
        CHECK(end(&s, &etc) == 0);
        CHECK(end(&s, &root) == 0);
        CHECK(s.finish(s.userdata) == 0);
        CHECK(ca_extract_commit(e) == 0);
        CHECK_EQ_INT(ca_extract_skipped(e), 0);
        ca_extract_free(e);
}

/* The second image collides with the first everywhere. */
static void merge_second(const char *dest, filter_log *log)
{
        ca_extract *e = NULL;
        ca_sink s;
        ca_extract_options o = {
            .in_place = true, .merge = true, .filter = skip_filter, .filter_userdata = log};
        CHECK(ca_extract_new(dest, &o, &e, &s) == 0);
        ca_node root = mk(".", S_IFDIR | 0700);
        root.mtime = T1;
        CHECK(begin(&s, &root) == 0);
        /* (3) a directory where the first has a file: skipped with its subtree. */
        ca_node a = mk("a", S_IFDIR | 0755);
        CHECK(begin(&s, &a) == 0);
        ca_node ab = mk("a/b", S_IFREG | 0644);
        CHECK(file(&s, &ab, "under a file", 12) == 0);
        CHECK(end(&s, &a) == 0);
        /* (4) a directory where the first has a symlink to the outside: never followed. */
        ca_node d = mk("d", S_IFDIR | 0755);
        CHECK(begin(&s, &d) == 0);
        ca_node df = mk("d/f", S_IFREG | 0644);
        CHECK(file(&s, &df, "escaped", 7) == 0);
        ca_node dsub = mk("d/sub", S_IFDIR | 0755);
        CHECK(begin(&s, &dsub) == 0);
        ca_node dsubg = mk("d/sub/g", S_IFLNK | 0777);
        dsubg.symlink_target = "/etc/passwd";
        CHECK(leaf(&s, &dsubg) == 0);
        CHECK(end(&s, &dsub) == 0);
        CHECK(end(&s, &d) == 0);
        /* (2) a directory in both: merged, its metadata kept. */
        ca_node etc = mk("etc", S_IFDIR | 0777);
        etc.mtime = T1;
        etc.uid = 1000;
        CHECK(begin(&s, &etc) == 0);
        /* (1) a file in both: the first one stays. */
        ca_node conf = mk("etc/conf", S_IFREG | 0666);
        conf.uid = 1000;
        CHECK(file(&s, &conf, "two\n", 4) == 0);
        ca_node nw = mk("etc/new", S_IFREG | 0644);
        CHECK(file(&s, &nw, "new\n", 4) == 0);
        ca_node skipped = mk("etc/skipped", S_IFREG | 0644);
        CHECK(file(&s, &skipped, "no", 2) == 0);
        ca_node sub = mk("etc/sub", S_IFDIR | 0750);
        sub.mtime = T1;
        CHECK(begin(&s, &sub) == 0);
        ca_node subs = mk("etc/sub/s", S_IFREG | 0644);
        CHECK(file(&s, &subs, "deep", 4) == 0);
        CHECK(end(&s, &sub) == 0);
        CHECK(end(&s, &etc) == 0);
        ca_node z = mk("z", S_IFREG | 0644);
        CHECK(file(&s, &z, "zed", 3) == 0);
        CHECK(end(&s, &root) == 0);
        CHECK(s.finish(s.userdata) == 0);
        CHECK(ca_extract_commit(e) == 0);
        /* "a", "d", "etc/conf", "etc/skipped". */
        CHECK_EQ_INT(ca_extract_skipped(e), 4);
        ca_extract_free(e);
}

void test_merge(void)
{
        char buf[64];
        struct stat st;
        char dest[PATH_MAX];
        snprintf(dest, sizeof(dest), "%s", at("merge"));
        CHECK(mkdir(at("merge_outside"), 0755) == 0);
        CHECK(mkdir(dest, 0700) == 0);
        CHECK(chmod(dest, 0751) == 0);
        struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_sec = 1234567890, .tv_nsec = 5}};
        CHECK(utimensat(AT_FDCWD, dest, ts, 0) == 0);

        merge_first(dest);
        filter_log log = {};
        merge_second(dest, &log);

        /* The filter saw every non-directory outside the skipped subtrees, once. */
        CHECK_EQ_INT(log.calls, 5);
        CHECK_STREQ(log.paths[0], "etc/conf");
        CHECK_STREQ(log.paths[1], "etc/new");
        CHECK_STREQ(log.paths[2], "etc/skipped");
        CHECK_STREQ(log.paths[3], "etc/sub/s");
        CHECK_STREQ(log.paths[4], "z");

        /* The root as the caller made it: neither image set its metadata. */
        CHECK(lstat(dest, &st) == 0);
        CHECK_EQ_INT(st.st_mode & 07777, 0751);
        CHECK_EQ_INT(st.st_mtim.tv_sec, 1234567890);
        CHECK_EQ_INT(st.st_mtim.tv_nsec, 5);

        /* (1) */
        read_file(at("merge/etc/conf"), buf, sizeof(buf));
        CHECK_STREQ(buf, "one\n");
        CHECK(lstat(at("merge/etc/conf"), &st) == 0);
        CHECK_EQ_INT(st.st_mode & 07777, 0640);
        CHECK_EQ_INT(st.st_uid, 0);
        check_mtime(at("merge/etc/conf"), T0);
        /* (2) */
        CHECK(lstat(at("merge/etc"), &st) == 0);
        CHECK_EQ_INT(st.st_mode & 07777, 0710);
        CHECK_EQ_INT(st.st_uid, 0);
        check_mtime(at("merge/etc"), T2);
        CHECK(getxattr(at("merge/etc"), "system.posix_acl_default", buf, sizeof(buf)) > 0);
        read_file(at("merge/etc/new"), buf, sizeof(buf));
        CHECK_STREQ(buf, "new\n");
        CHECK(lstat(at("merge/etc/new"), &st) == 0);
        CHECK_EQ_INT(st.st_mode & 07777, 0644);
        CHECK(getxattr(at("merge/etc/new"), "system.posix_acl_access", buf, sizeof(buf)) < 0);
        CHECK(lstat(at("merge/etc/sub"), &st) == 0);
        CHECK_EQ_INT(st.st_mode & 07777, 0750);
        check_mtime(at("merge/etc/sub"), T1);
        CHECK(getxattr(at("merge/etc/sub"), "system.posix_acl_default", buf, sizeof(buf)) < 0);
        read_file(at("merge/etc/sub/s"), buf, sizeof(buf));
        CHECK_STREQ(buf, "deep");
        read_file(at("merge/z"), buf, sizeof(buf));
        CHECK_STREQ(buf, "zed");
        /* (5) filtered out in merge mode too. */
        CHECK(!exists(at("merge/etc/skipped")));
        CHECK_EQ_INT(count_entries(at("merge/etc")), 3);
        /* (3) */
        CHECK(lstat(at("merge/a"), &st) == 0);
        CHECK(S_ISREG(st.st_mode));
        CHECK_EQ_INT(st.st_mode & 07777, 0600);
        read_file(at("merge/a"), buf, sizeof(buf));
        CHECK_STREQ(buf, "first");
        /* (4) */
        CHECK(lstat(at("merge/d"), &st) == 0);
        CHECK(S_ISLNK(st.st_mode));
        ssize_t n = readlink(at("merge/d"), buf, sizeof(buf) - 1);
        CHECK(n > 0);
        buf[n] = '\0';
        CHECK_STREQ(buf, at("merge_outside"));
        CHECK_EQ_INT(count_entries(at("merge_outside")), 0);
        CHECK(stat(at("merge_outside"), &st) == 0);
        CHECK_EQ_INT(st.st_mode & 07777, 0755);

        CHECK_EQ_INT(count_prefixed(dest, ".acfetch-"), 0);
        CHECK_EQ_INT(count_prefixed(at("merge/etc"), ".acfetch-"), 0);
        CHECK_EQ_INT(count_entries(dest), 4);

        /* (6) merge needs in place. */
        fprintf(stderr, "-- expecting a refusal: merge without in place\n");
        extract_small(at("merge_nip"), &(ca_extract_options){.merge = true}, -EINVAL);
        CHECK(!exists(at("merge_nip")));
        CHECK_EQ_INT(count_prefixed(base, ".merge_nip.acfetch-"), 0);

        remove_all(dest);
        remove_all(at("merge_outside"));
}

/* (5) The filter without merge: into a fresh directory. */
void test_filter(void)
{
        filter_log log = {};
        ca_extract *e = NULL;
        ca_sink s;
        ca_extract_options o = {.filter = skip_filter, .filter_userdata = &log};
        CHECK(ca_extract_new(at("filtered"), &o, &e, &s) == 0);
        ca_node root = mk(".", S_IFDIR | 0755);
        CHECK(begin(&s, &root) == 0);
        ca_node keep = mk("keep", S_IFREG | 0644);
        CHECK(file(&s, &keep, "k", 1) == 0);
        ca_node lib = mk("lib", S_IFDIR | 0755);
        CHECK(begin(&s, &lib) == 0);
        ca_node so = mk("lib/keep.so", S_IFREG | 0755);
        CHECK(file(&s, &so, "elf", 3) == 0);
        ca_node skso = mk("lib/skip.so", S_IFLNK | 0777);
        skso.symlink_target = "keep.so";
        CHECK(leaf(&s, &skso) == 0);
        CHECK(end(&s, &lib) == 0);
        ca_node sd = mk("skipdir", S_IFDIR | 0750);
        CHECK(begin(&s, &sd) == 0);
        ca_node sdf = mk("skipdir/skipme", S_IFREG | 0644);
        CHECK(file(&s, &sdf, "big data", 8) == 0);
        CHECK(end(&s, &sd) == 0);
        CHECK(end(&s, &root) == 0);
        CHECK(ca_extract_commit(e) == 0);
        CHECK_EQ_INT(ca_extract_skipped(e), 2);
        e = ca_extract_free(e);
        CHECK_EQ_INT(log.calls, 4);

        struct stat st;
        CHECK(exists(at("filtered/keep")));
        CHECK(exists(at("filtered/lib/keep.so")));
        CHECK(!exists(at("filtered/lib/skip.so")));
        CHECK(lstat(at("filtered/skipdir"), &st) == 0);
        CHECK(S_ISDIR(st.st_mode));
        CHECK_EQ_INT(st.st_mode & 07777, 0750);
        CHECK_EQ_INT(count_entries(at("filtered/skipdir")), 0);
        remove_all(at("filtered"));

        /* A failing filter stops the extraction with its error; nothing remains. */
        CHECK(ca_extract_new(at("filtered"), &o, &e, &s) == 0);
        CHECK(begin(&s, &root) == 0);
        ca_node f = mk("fail", S_IFREG | 0644);
        fprintf(stderr, "-- expecting a refusal: the filter fails\n");
        CHECK_EQ_INT(file(&s, &f, "x", 1), -EPERM);
        e = ca_extract_free(e);
        CHECK(!exists(at("filtered")));
        CHECK_EQ_INT(count_prefixed(base, ".filtered.acfetch-"), 0);
}
