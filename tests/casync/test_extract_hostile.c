/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The extract test's hostile event sequences: each must be refused and leave nothing behind. */
#include "test_extract.h"

/* ------------------------------------------------------------------ hostile events */

/* Runs one hostile sequence: the step marked `bad` must fail; nothing may remain anywhere. */
static void expect_refused(const char *what, int (*script)(const ca_sink *s))
{
        char dest[PATH_MAX];
        snprintf(dest, sizeof(dest), "%s", at("hostile"));
        ca_extract *e = NULL;
        ca_sink s;
        fprintf(stderr, "-- expecting a refusal: %s\n", what);
        CHECK(ca_extract_new(dest, &(ca_extract_options){}, &e, &s) == 0);
        CHECK(script(&s) < 0);
        e = ca_extract_free(e);
        CHECK(!exists(dest));
        CHECK_EQ_INT(count_prefixed(base, ".hostile.acfetch-"), 0);
        CHECK_EQ_INT(count_entries(at("outside")), 0);
}

static int script_evil_dir(const ca_sink *s)
{
        ca_node root = mk(".", S_IFDIR | 0755);
        CHECK(begin(s, &root) == 0);
        ca_node evil = mk("evil", S_IFLNK | 0777);
        evil.symlink_target = at("outside");
        CHECK(leaf(s, &evil) == 0);
        /* The same name again, now as a directory holding "passwd". */
        ca_node dir = mk("evil", S_IFDIR | 0755);
        int r = begin(s, &dir);
        if (r < 0)
                return r;
        ca_node pw = mk("evil/passwd", S_IFREG | 0644);
        return file(s, &pw, "root::0:0::/:/bin/sh\n", 21);
}

static int script_evil_child(const ca_sink *s)
{
        ca_node root = mk(".", S_IFDIR | 0755);
        CHECK(begin(s, &root) == 0);
        ca_node evil = mk("evil", S_IFLNK | 0777);
        evil.symlink_target = at("outside");
        CHECK(leaf(s, &evil) == 0);
        /* A child of the symlink without any directory event. */
        ca_node pw = mk("evil/passwd", S_IFREG | 0644);
        return file(s, &pw, "x", 1);
}

static int script_slash_name(const ca_sink *s)
{
        ca_node root = mk(".", S_IFDIR | 0755);
        CHECK(begin(s, &root) == 0);
        ca_node evil = mk("evil", S_IFLNK | 0777);
        evil.symlink_target = at("outside");
        CHECK(leaf(s, &evil) == 0);
        ca_node pw = mk("x", S_IFREG | 0644);
        pw.name = "evil/passwd"; /* a name with a slash, at depth 1 */
        pw.path = "evil/passwd";
        return file(s, &pw, "x", 1);
}

static int script_dotdot(const ca_sink *s)
{
        ca_node root = mk(".", S_IFDIR | 0755);
        CHECK(begin(s, &root) == 0);
        ca_node n = mk("..", S_IFREG | 0644);
        return file(s, &n, "x", 1);
}

static int script_empty_name(const ca_sink *s)
{
        ca_node root = mk(".", S_IFDIR | 0755);
        CHECK(begin(s, &root) == 0);
        ca_node n = mk("x", S_IFDIR | 0755);
        n.name = "";
        return begin(s, &n);
}

static int script_long_name(const ca_sink *s)
{
        static char name[300];
        memset(name, 'n', 256);
        ca_node root = mk(".", S_IFDIR | 0755);
        CHECK(begin(s, &root) == 0);
        ca_node n = mk(name, S_IFREG | 0644);
        return file(s, &n, "x", 1);
}

static int script_unsorted(const ca_sink *s)
{
        ca_node root = mk(".", S_IFDIR | 0755);
        CHECK(begin(s, &root) == 0);
        ca_node b = mk("b", S_IFREG | 0644);
        CHECK(file(s, &b, "x", 1) == 0);
        ca_node a = mk("a", S_IFREG | 0644);
        return file(s, &a, "x", 1);
}

static int script_too_much_data(const ca_sink *s)
{
        ca_node root = mk(".", S_IFDIR | 0755);
        CHECK(begin(s, &root) == 0);
        ca_node f = mk("f", S_IFREG | 0644);
        f.payload_size = 3;
        CHECK(begin(s, &f) == 0);
        CHECK(s->payload(s->userdata, &f, "ab", 2) == 0);
        return s->payload(s->userdata, &f, "cd", 2);
}

static int script_short_data(const ca_sink *s)
{
        ca_node root = mk(".", S_IFDIR | 0755);
        CHECK(begin(s, &root) == 0);
        ca_node f = mk("f", S_IFREG | 0644);
        f.payload_size = 3;
        CHECK(begin(s, &f) == 0);
        CHECK(s->payload(s->userdata, &f, "ab", 2) == 0);
        return end(s, &f);
}

static int script_root_not_dir(const ca_sink *s)
{
        ca_node root = mk(".", S_IFLNK | 0777);
        root.symlink_target = "/";
        return begin(s, &root);
}

static int script_huge_uid(const ca_sink *s)
{
        ca_node root = mk(".", S_IFDIR | 0755);
        CHECK(begin(s, &root) == 0);
        ca_node f = mk("f", S_IFREG | 0644);
        f.uid = UINT64_C(1) << 32; /* must not become root */
        return file(s, &f, "x", 1);
}

static int script_too_deep(const ca_sink *s)
{
        static char paths[CA_NODES_MAX + 2][2 * (CA_NODES_MAX + 2)];
        static ca_node nodes[CA_NODES_MAX + 2];
        nodes[0] = mk(".", S_IFDIR | 0755);
        CHECK(begin(s, &nodes[0]) == 0);
        for (unsigned i = 1; i < CA_NODES_MAX + 2; i++) {
                /* "d", "d/d", ...: 2i - 1 characters, always fits 2 * (CA_NODES_MAX + 2). */
                size_t len = i > 1 ? strlen(paths[i - 1]) : 0;
                CHECK(len + 3 <= sizeof(paths[i]));
                if (len > 0) {
                        memcpy(paths[i], paths[i - 1], len);
                        paths[i][len++] = '/';
                }
                memcpy(paths[i] + len, "d", 2);
                nodes[i] = mk(paths[i], S_IFDIR | 0755);
                int r = begin(s, &nodes[i]);
                if (r < 0)
                        return i == CA_NODES_MAX ? r : 0; /* exactly 64 levels fit */
        }
        return 0;
}

static int script_device_flags_off(const ca_sink *s)
{
        ca_node root = mk(".", S_IFDIR | 0755);
        root.feature_flags &= ~CA_FORMAT_WITH_DEVICE_NODES;
        CHECK(begin(s, &root) == 0);
        ca_node d = mk("dev", S_IFCHR | 0600);
        d.feature_flags = root.feature_flags;
        return leaf(s, &d);
}

static int script_bad_xattr(const ca_sink *s)
{
        ca_node root = mk(".", S_IFDIR | 0755);
        CHECK(begin(s, &root) == 0);
        ca_node f = mk("f", S_IFREG | 0644);
        ca_xattr x = {"system.posix_acl_access", (const uint8_t *)"\2\0\0\0", 4};
        f.xattrs = &x;
        f.n_xattrs = 1;
        return file(s, &f, "x", 1);
}

/* Fails after writing read-only directories, immutable files and devices: all must go. */
static int script_abort_late(const ca_sink *s)
{
        ca_node root = mk(".", S_IFDIR | 0755);
        CHECK(begin(s, &root) == 0);
        ca_node d = mk("d", S_IFDIR | 0555);
        d.flags = CA_FORMAT_WITH_FLAG_IMMUTABLE;
        CHECK(begin(s, &d) == 0);
        ca_node imm = mk("d/imm", S_IFREG | 0444);
        imm.flags = CA_FORMAT_WITH_FLAG_IMMUTABLE;
        CHECK(file(s, &imm, "x", 1) == 0);
        ca_node app = mk("d/log", S_IFDIR | 0000);
        app.flags = CA_FORMAT_WITH_FLAG_APPEND;
        CHECK(begin(s, &app) == 0);
        ca_node in = mk("d/log/in", S_IFREG | 0000);
        CHECK(file(s, &in, "y", 1) == 0);
        CHECK(end(s, &app) == 0);
        CHECK(end(s, &d) == 0);
        ca_node dev = mk("e", S_IFCHR | 0600);
        dev.device_major = 1;
        dev.device_minor = 5;
        CHECK(leaf(s, &dev) == 0);
        ca_node open_dir = mk("f", S_IFDIR | 0700);
        CHECK(begin(s, &open_dir) == 0);
        ca_node half = mk("f/half", S_IFREG | 0644);
        half.payload_size = 10;
        CHECK(begin(s, &half) == 0);
        CHECK(s->payload(s->userdata, &half, "12345", 5) == 0);
        return -EIO; /* the decoder gave up here */
}

void test_hostile(void)
{
        CHECK(mkdir(at("outside"), 0755) == 0);
        expect_refused("directory over a symlink", script_evil_dir);
        expect_refused("child below a symlink", script_evil_child);
        expect_refused("name with a slash", script_slash_name);
        expect_refused("name \"..\"", script_dotdot);
        expect_refused("empty name", script_empty_name);
        expect_refused("256-byte name", script_long_name);
        expect_refused("unsorted names", script_unsorted);
        expect_refused("more data than declared", script_too_much_data);
        expect_refused("less data than declared", script_short_data);
        expect_refused("root is a symlink", script_root_not_dir);
        expect_refused("uid 2^32", script_huge_uid);
        expect_refused("65 nested directories", script_too_deep);
        expect_refused("device while the flags have none", script_device_flags_off);
        expect_refused("system.* xattr record", script_bad_xattr);
        expect_refused("abort after immutable entries", script_abort_late);
}
