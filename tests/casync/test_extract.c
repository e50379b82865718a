/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The extract sink driven directly with hand-built ca_node events (no decoder): node types,
 * metadata, sparse files, hostile names and symlinks, abort, commit rules, in-place extraction,
 * merging and filtering, and the unprivileged policy. Needs root (chown, devices, trusted xattrs,
 * chattr).
 */
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/fs.h>
#include <sched.h>
#include <stdarg.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "casync/casync.h"
#include "casync/fs_safe.h"
#include "tests/test.h"

/* What `casync make` writes by default: all of "best", SHA512/256, EXCLUDE_NODUMP|FILE. */
#define FLAGS UINT64_C(0xb0000001ffeffe26)
#define T0 UINT64_C(1577934245123456789)
#define T1 UINT64_C(1600000000000000001)
#define T2 UINT64_C(1500000000987654321)

static char base[PATH_MAX];

static const char *at(const char *fmt, ...) _printf_(1, 2);
static const char *at(const char *fmt, ...)
{
        static char bufs[8][PATH_MAX];
        static unsigned next;
        char *b = bufs[next++ % 8];
        int n = snprintf(b, PATH_MAX, "%s/", base);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(b + n, PATH_MAX - (size_t)n, fmt, ap);
        va_end(ap);
        return b;
}

static ca_node mk(const char *path, uint64_t mode)
{
        ca_node n = {
                .path = path,
                .feature_flags = FLAGS,
                .mode = mode,
                .mtime = T0,
                .acl_default_user_obj = CA_FORMAT_ACL_ABSENT,
                .acl_default_group_obj = CA_FORMAT_ACL_ABSENT,
                .acl_default_other = CA_FORMAT_ACL_ABSENT,
                .acl_default_mask = CA_FORMAT_ACL_ABSENT,
        };
        if (strcmp(path, ".") == 0) {
                n.name = "";
                n.depth = 0;
        } else {
                const char *s = strrchr(path, '/');
                n.name = s ? s + 1 : path;
                n.depth = 1;
                for (const char *p = path; *p; p++)
                        n.depth += *p == '/';
        }
        return n;
}

static int begin(const ca_sink *s, const ca_node *n)
{
        return s->node_begin(s->userdata, n);
}

static int end(const ca_sink *s, const ca_node *n)
{
        return s->node_end(s->userdata, n);
}

static int leaf(const ca_sink *s, const ca_node *n)
{
        int r = begin(s, n);
        return r < 0 ? r : end(s, n);
}

/* A regular file whose data arrives in uneven pieces, as chunks would deliver it. */
static int file(const ca_sink *s, ca_node *n, const void *data, size_t size)
{
        n->payload_size = size;
        int r = begin(s, n);
        if (r < 0)
                return r;
        const uint8_t *p = data;
        for (size_t off = 0, piece = 1; off < size; piece = piece * 3 + 7) {
                size_t k = MIN(piece % 70001 + 1, size - off);
                r = s->payload(s->userdata, n, p + off, k);
                if (r < 0)
                        return r;
                off += k;
        }
        return end(s, n);
}

static bool exists(const char *path)
{
        struct stat st;
        return lstat(path, &st) == 0;
}

/* Entries of base whose name starts with prefix (left-over temporary directories). */
static unsigned count_prefixed(const char *dir, const char *prefix)
{
        DIR *d = opendir(dir);
        CHECK(d);
        unsigned n = 0;
        struct dirent *de;
        while ((de = readdir(d)))
                n += strncmp(de->d_name, prefix, strlen(prefix)) == 0;
        closedir(d);
        return n;
}

static unsigned count_entries(const char *dir)
{
        return count_prefixed(dir, "") - 2;
}

static void read_file(const char *path, char *buf, size_t size)
{
        int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        CHECK(fd >= 0);
        ssize_t n = read(fd, buf, size - 1);
        CHECK(n >= 0);
        buf[n] = '\0';
        close(fd);
}

static void write_file(const char *path, const char *text)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        CHECK(fd >= 0);
        CHECK_EQ_INT(write(fd, text, strlen(text)), (long long)strlen(text));
        CHECK(close(fd) == 0);
}

static void check_mtime(const char *path, uint64_t ns)
{
        struct stat st;
        CHECK(lstat(path, &st) == 0);
        CHECK_EQ_INT(st.st_mtim.tv_sec, (long long)(ns / 1000000000U));
        CHECK_EQ_INT(st.st_mtim.tv_nsec, (long long)(ns % 1000000000U));
}

static unsigned get_chattr(const char *path)
{
        int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        CHECK(fd >= 0);
        int v = 0;
        CHECK(ioctl(fd, FS_IOC_GETFLAGS, &v) == 0);
        close(fd);
        return (unsigned)v;
}

/* false when the acl tools are not installed: the raw xattr bytes are checked anyway. */
static bool run_getfacl(const char *path, char *out, size_t size)
{
        if (system("command -v getfacl >/dev/null 2>&1") != 0)
                return false;
        char cmd[PATH_MAX + 64];
        snprintf(cmd, sizeof(cmd), "getfacl -n --omit-header --absolute-names '%s'", path);
        FILE *f = popen(cmd, "r");
        CHECK(f);
        size_t n = fread(out, 1, size - 1, f);
        out[n] = '\0';
        CHECK(pclose(f) == 0);
        return true;
}

static void remove_all(const char *path)
{
        const char *slash = strrchr(path, '/');
        CHECK(slash);
        char parent[PATH_MAX];
        snprintf(parent, sizeof(parent), "%.*s", (int)(slash - path), path);
        int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(fd >= 0);
        CHECK(fs_remove_tree_at(fd, slash + 1) == 0);
        close(fd);
}

static const uint8_t fcaps_net_raw[20] = {0x01, 0x00, 0x00, 0x02, 0x00, 0x20};

/* ------------------------------------------------------------------ a complete tree */

static void test_tree(void)
{
        char dest[PATH_MAX];
        snprintf(dest, sizeof(dest), "%s", at("tree"));
        ca_extract *e = NULL;
        ca_sink s;
        CHECK(ca_extract_new(dest, &(ca_extract_options){}, &e, &s) == 0);
        CHECK(!exists(dest));
        CHECK_EQ_INT(count_prefixed(base, ".tree.acfetch-"), 1);

        ca_node root = mk(".", S_IFDIR | 0755);
        root.mtime = T1;
        CHECK(begin(&s, &root) == 0);

        ca_node a = mk("a.txt", S_IFREG | 0644);
        ca_xattr xa[] = {{"trusted.t1", (const uint8_t *)"x", 1},
                         {"user.alpha", (const uint8_t *)"1\0two", 5}};
        a.xattrs = xa;
        a.n_xattrs = 2;
        a.uid = 1000;
        a.gid = 1001;
        a.selinux_label = "system_u:object_r:bin_t:s0";
        CHECK(file(&s, &a, "hello\n", 6) == 0);

        ca_node acl = mk("acl_dir", S_IFDIR | 0750);
        ca_acl_entry du[] = {{.id = 102, .permissions = 5}};
        acl.has_acl_default = true;
        acl.acl_default_user_obj = 7;
        acl.acl_default_group_obj = 5;
        acl.acl_default_other = 0;
        acl.acl_default_mask = 7;
        acl.acl_default_user = du;
        acl.n_acl_default_user = 1;
        CHECK(leaf(&s, &acl) == 0);

        ca_node af = mk("acl_file", S_IFREG | 0674);
        ca_acl_entry au[] = {{.id = 101, .permissions = 6}};
        ca_acl_entry ag[] = {{.id = 2000, .permissions = 1}};
        af.acl_user = au;
        af.n_acl_user = 1;
        af.acl_group = ag;
        af.n_acl_group = 1;
        af.has_acl_group_obj = true;
        af.acl_group_obj = 4;
        CHECK(file(&s, &af, "", 0) == 0);

        ca_node blk = mk("blk", S_IFBLK | 0660);
        blk.device_major = 8;
        blk.device_minor = 1;
        blk.gid = 6;
        ca_xattr xd = {"trusted.dev", (const uint8_t *)"d", 1};
        blk.xattrs = &xd;
        blk.n_xattrs = 1;
        CHECK(leaf(&s, &blk) == 0);
        ca_node caps = mk("caps", S_IFREG | 0755);
        caps.fcaps = fcaps_net_raw;
        caps.fcaps_size = sizeof(fcaps_net_raw);
        caps.uid = 5;
        CHECK(file(&s, &caps, "#!/bin/true\n", 12) == 0);

        ca_node chr = mk("chr", S_IFCHR | 0666);
        chr.device_major = 1;
        chr.device_minor = 3;
        CHECK(leaf(&s, &chr) == 0);

        ca_node fifo = mk("fifo", S_IFIFO | 0640);
        fifo.mtime = T2;
        CHECK(leaf(&s, &fifo) == 0);

        ca_node imm = mk("immutable", S_IFREG | 0644);
        imm.flags = CA_FORMAT_WITH_FLAG_IMMUTABLE | CA_FORMAT_WITH_FLAG_NOATIME;
        CHECK(file(&s, &imm, "frozen", 6) == 0);

        ca_node link = mk("link", S_IFLNK | 0777);
        link.symlink_target = "a.txt";
        link.mtime = T2;
        link.uid = 3;
        link.gid = 4;
        link.selinux_label = "system_u:object_r:lnk_t:s0";
        CHECK(leaf(&s, &link) == 0);

        /* A read-only directory with children and a time of its own. */
        ca_node ro = mk("ro", S_IFDIR | 0555);
        ro.mtime = T2;
        ro.uid = 7;
        ro.gid = 8;
        CHECK(begin(&s, &ro) == 0);
        ca_node ro_f = mk("ro/f", S_IFREG | 0444);
        CHECK(file(&s, &ro_f, "inside\n", 7) == 0);
        ca_node ro_sub = mk("ro/sub", S_IFDIR | 0500);
        CHECK(begin(&s, &ro_sub) == 0);
        ca_node ro_sub_g = mk("ro/sub/g", S_IFREG | 0600);
        CHECK(file(&s, &ro_sub_g, "deep", 4) == 0);
        CHECK(end(&s, &ro_sub) == 0);
        CHECK(end(&s, &ro) == 0);

        ca_node sock = mk("sock", S_IFSOCK | 0755);
        CHECK(leaf(&s, &sock) == 0);

        /* chown clears setuid: the mode must still come out 04755. */
        ca_node suid = mk("suid", S_IFREG | 04755);
        suid.uid = 1000;
        suid.gid = 1000;
        CHECK(file(&s, &suid, "x", 1) == 0);
        ca_node sgid = mk("zz_sgid_dir", S_IFDIR | 02775);
        sgid.gid = 50;
        CHECK(leaf(&s, &sgid) == 0);

        CHECK(end(&s, &root) == 0);
        CHECK(s.finish(s.userdata) == 0);
        CHECK(!exists(dest));
        CHECK(ca_extract_commit(e) == 0);
        e = ca_extract_free(e);
        CHECK_EQ_INT(count_prefixed(base, ".tree.acfetch-"), 0);

        struct stat st;
        char buf[4096];
        CHECK(lstat(dest, &st) == 0);
        CHECK(S_ISDIR(st.st_mode));
        CHECK_EQ_INT(st.st_mode & 07777, 0755);
        check_mtime(dest, T1);

        CHECK(lstat(at("tree/a.txt"), &st) == 0);
        CHECK(S_ISREG(st.st_mode));
        CHECK_EQ_INT(st.st_mode & 07777, 0644);
        CHECK_EQ_INT(st.st_uid, 1000);
        CHECK_EQ_INT(st.st_gid, 1001);
        check_mtime(at("tree/a.txt"), T0);
        read_file(at("tree/a.txt"), buf, sizeof(buf));
        CHECK_STREQ(buf, "hello\n");
        CHECK_EQ_INT(getxattr(at("tree/a.txt"), "user.alpha", buf, sizeof(buf)), 5);
        CHECK(memcmp(buf, "1\0two", 5) == 0);
        CHECK_EQ_INT(getxattr(at("tree/a.txt"), "trusted.t1", buf, sizeof(buf)), 1);
        CHECK(buf[0] == 'x');
        ssize_t n = getxattr(at("tree/a.txt"), "security.selinux", buf, sizeof(buf));
        if (n >= 0) /* kernels with an LSM refusing foreign labels only warn */
                CHECK_STREQ(buf, "system_u:object_r:bin_t:s0");

        if (run_getfacl(at("tree/acl_file"), buf, sizeof(buf)))
                CHECK_STREQ(buf, "user::rw-\nuser:101:rw-\ngroup::r--\ngroup:2000:--x\n"
                                 "mask::rwx\nother::r--\n\n");
        /* The kernel's own bytes: version 2, entries sorted by tag then id. */
        uint8_t raw[64];
        static const uint8_t want[] = {
                2, 0, 0, 0,                             /* version */
                0x01, 0, 6, 0, 0xff, 0xff, 0xff, 0xff,  /* user_obj rw- */
                0x02, 0, 6, 0, 101, 0, 0, 0,            /* user 101 rw- */
                0x04, 0, 4, 0, 0xff, 0xff, 0xff, 0xff,  /* group_obj r-- */
                0x08, 0, 1, 0, 0xd0, 0x07, 0, 0,        /* group 2000 --x */
                0x10, 0, 7, 0, 0xff, 0xff, 0xff, 0xff,  /* mask rwx */
                0x20, 0, 4, 0, 0xff, 0xff, 0xff, 0xff}; /* other r-- */
        CHECK_EQ_INT(getxattr(at("tree/acl_file"), "system.posix_acl_access", raw, sizeof(raw)),
                     sizeof(want));
        CHECK(memcmp(raw, want, sizeof(want)) == 0);
        CHECK(lstat(at("tree/acl_file"), &st) == 0);
        CHECK_EQ_INT(st.st_mode & 07777, 0674);

        if (run_getfacl(at("tree/acl_dir"), buf, sizeof(buf)))
                CHECK_STREQ(buf, "user::rwx\ngroup::r-x\nother::---\ndefault:user::rwx\n"
                                 "default:user:102:r-x\ndefault:group::r-x\n"
                                 "default:mask::rwx\ndefault:other::---\n\n");

        CHECK(lstat(at("tree/blk"), &st) == 0);
        CHECK(S_ISBLK(st.st_mode));
        CHECK_EQ_INT(st.st_rdev, makedev(8, 1));
        CHECK_EQ_INT(st.st_mode & 07777, 0660);
        CHECK_EQ_INT(st.st_gid, 6);
        CHECK_EQ_INT(lgetxattr(at("tree/blk"), "trusted.dev", buf, sizeof(buf)), 1);
        CHECK(buf[0] == 'd');
        CHECK(lstat(at("tree/chr"), &st) == 0);
        CHECK(S_ISCHR(st.st_mode));
        CHECK_EQ_INT(st.st_rdev, makedev(1, 3));
        CHECK_EQ_INT(st.st_mode & 07777, 0666);

        CHECK_EQ_INT(getxattr(at("tree/caps"), "security.capability", raw, sizeof(raw)), 20);
        CHECK(memcmp(raw, fcaps_net_raw, 20) == 0);
        CHECK(lstat(at("tree/caps"), &st) == 0);
        CHECK_EQ_INT(st.st_uid, 5);

        CHECK(lstat(at("tree/ro"), &st) == 0);
        CHECK_EQ_INT(st.st_mode & 07777, 0555);
        CHECK_EQ_INT(st.st_uid, 7);
        CHECK_EQ_INT(st.st_gid, 8);
        check_mtime(at("tree/ro"), T2); /* survived the children being written */
        check_mtime(at("tree/ro/sub"), T0);
        CHECK(lstat(at("tree/ro/sub"), &st) == 0);
        CHECK_EQ_INT(st.st_mode & 07777, 0500);
        read_file(at("tree/ro/sub/g"), buf, sizeof(buf));
        CHECK_STREQ(buf, "deep");
        CHECK(lstat(at("tree/ro/f"), &st) == 0);
        CHECK_EQ_INT(st.st_mode & 07777, 0444);

        CHECK(lstat(at("tree/fifo"), &st) == 0);
        CHECK(S_ISFIFO(st.st_mode));
        CHECK_EQ_INT(st.st_mode & 07777, 0640);
        check_mtime(at("tree/fifo"), T2);

        unsigned fl = get_chattr(at("tree/immutable"));
        CHECK(fl & FS_IMMUTABLE_FL);
        CHECK(fl & FS_NOATIME_FL);
        check_mtime(at("tree/immutable"), T0);
        CHECK(!(get_chattr(at("tree/a.txt")) & (FS_IMMUTABLE_FL | FS_NOATIME_FL)));

        CHECK(lstat(at("tree/link"), &st) == 0);
        CHECK(S_ISLNK(st.st_mode));
        CHECK_EQ_INT(st.st_uid, 3);
        CHECK_EQ_INT(st.st_gid, 4);
        check_mtime(at("tree/link"), T2);
        n = readlink(at("tree/link"), buf, sizeof(buf));
        CHECK_EQ_INT(n, 5);
        CHECK(memcmp(buf, "a.txt", 5) == 0);
        /* The link's owner, time and label must not have leaked to its target. */
        CHECK(lstat(at("tree/a.txt"), &st) == 0);
        CHECK_EQ_INT(st.st_uid, 1000);
        check_mtime(at("tree/a.txt"), T0);
        if (lgetxattr(at("tree/link"), "security.selinux", buf, sizeof(buf)) >= 0) {
                CHECK_STREQ(buf, "system_u:object_r:lnk_t:s0");
                CHECK(getxattr(at("tree/a.txt"), "security.selinux", buf, sizeof(buf)) > 0);
                CHECK_STREQ(buf, "system_u:object_r:bin_t:s0");
        }

        CHECK(lstat(at("tree/sock"), &st) == 0);
        CHECK(S_ISSOCK(st.st_mode));
        CHECK_EQ_INT(st.st_mode & 07777, 0755);

        CHECK(lstat(at("tree/suid"), &st) == 0);
        CHECK_EQ_INT(st.st_mode & 07777, 04755);
        CHECK_EQ_INT(st.st_uid, 1000);
        CHECK(lstat(at("tree/zz_sgid_dir"), &st) == 0);
        CHECK_EQ_INT(st.st_mode & 07777, 02775);
        CHECK_EQ_INT(st.st_gid, 50);

        remove_all(dest);
}

/* ------------------------------------------------------------------ sparse files */

static void test_sparse(bool no_sparse)
{
        char dest[PATH_MAX];
        snprintf(dest, sizeof(dest), "%s", at("sparse"));
        ca_extract *e = NULL;
        ca_sink s;
        CHECK(ca_extract_new(dest, &(ca_extract_options){.no_sparse = no_sparse}, &e, &s) == 0);
        ca_node root = mk(".", S_IFDIR | 0755);
        CHECK(begin(&s, &root) == 0);

        /* Data, 2 MiB of zeros, data, then zeros up to the end (a trailing hole). */
        size_t size = 3 * 1024 * 1024 + 123;
        uint8_t *data = calloc(1, size);
        CHECK(data);
        memset(data, 'a', 5000);
        memset(data + 2 * 1024 * 1024 + 10, 'b', 3000);
        ca_node f = mk("holes", S_IFREG | 0644);
        CHECK(file(&s, &f, data, size) == 0);
        ca_node z = mk("zeros", S_IFREG | 0644);
        CHECK(file(&s, &z, data + 8192, 300000) == 0);
        ca_node empty = mk("zz_empty", S_IFREG | 0644);
        CHECK(file(&s, &empty, "", 0) == 0);

        CHECK(end(&s, &root) == 0);
        CHECK(ca_extract_commit(e) == 0);
        e = ca_extract_free(e);

        struct stat st;
        CHECK(stat(at("sparse/holes"), &st) == 0);
        CHECK_EQ_INT(st.st_size, (long long)size);
        if (no_sparse)
                CHECK(st.st_blocks * 512 >= (long long)size);
        else
                CHECK(st.st_blocks * 512 <= 64 * 1024);
        uint8_t *back = malloc(size + 1);
        CHECK(back);
        int fd = open(at("sparse/holes"), O_RDONLY | O_CLOEXEC);
        CHECK(fd >= 0);
        CHECK_EQ_INT(read(fd, back, size + 1), (long long)size);
        close(fd);
        CHECK(memcmp(back, data, size) == 0);
        CHECK(stat(at("sparse/zeros"), &st) == 0);
        CHECK_EQ_INT(st.st_size, 300000);
        if (!no_sparse)
                CHECK_EQ_INT(st.st_blocks, 0);
        CHECK(stat(at("sparse/zz_empty"), &st) == 0);
        CHECK_EQ_INT(st.st_size, 0);
        free(back);
        free(data);
        remove_all(dest);
}

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

static void test_hostile(void)
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

/* ------------------------------------------------------------------ destination rules */

static void extract_small(const char *dest, const ca_extract_options *opts, int want_new)
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

static void test_dest(void)
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

static void test_in_place(void)
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

static void test_merge(void)
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
static void test_filter(void)
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

/* ------------------------------------------------------------------ unprivileged policy */

static int unprivileged_child(const char *dest)
{
        ca_extract *e = NULL;
        ca_sink s;
        if (ca_extract_new(dest, &(ca_extract_options){}, &e, &s) < 0)
                return 10;
        ca_node root = mk(".", S_IFDIR | 0755);
        ca_node dev = mk("dev", S_IFCHR | 0600);
        dev.device_major = 1;
        dev.device_minor = 3;
        ca_node f = mk("f", S_IFREG | 04755);
        f.uid = 0;
        f.gid = 0;
        ca_xattr x[] = {{"trusted.t", (const uint8_t *)"v", 1},
                        {"user.u", (const uint8_t *)"w", 1}};
        f.xattrs = x;
        f.n_xattrs = 2;
        f.fcaps = fcaps_net_raw;
        f.fcaps_size = sizeof(fcaps_net_raw);
        ca_node ro = mk("ro", S_IFREG | 0444);
        ro.xattrs = &x[1];
        ro.n_xattrs = 1;
        ro.flags = CA_FORMAT_WITH_FLAG_IMMUTABLE;
        if (begin(&s, &root) < 0 || leaf(&s, &dev) < 0 || file(&s, &f, "x", 1) < 0 ||
            file(&s, &ro, "r", 1) < 0 || end(&s, &root) < 0)
                return 11;
        if (ca_extract_commit(e) < 0)
                return 12;
        ca_extract_free(e);
        struct stat st;
        if (lstat(at("unpriv/dest/dev"), &st) == 0 || lstat(at("unpriv/dest/f"), &st) < 0)
                return 13;
        if ((st.st_mode & 07777) != 04755 || st.st_uid != 65534)
                return 14;
        char v;
        if (getxattr(at("unpriv/dest/ro"), "user.u", &v, 1) != 1 || v != 'w')
                return 15;

        /* An abort must also clean up read-only and unreadable directories of ours. */
        if (ca_extract_new(at("unpriv/aborted"), &(ca_extract_options){}, &e, &s) < 0)
                return 16;
        ca_node d = mk("d", S_IFDIR | 0555), d0 = mk("d/locked", S_IFDIR | 0000);
        ca_node d0f = mk("d/locked/f", S_IFREG | 0000);
        if (begin(&s, &root) < 0 || begin(&s, &d) < 0 || begin(&s, &d0) < 0 ||
            file(&s, &d0f, "z", 1) < 0 || end(&s, &d0) < 0 || end(&s, &d) < 0)
                return 17;
        ca_extract_free(e);
        if (count_entries(at("unpriv")) != 1)
                return 18;
        return 0;
}

static void test_unprivileged(void)
{
        CHECK(mkdir(at("unpriv"), 0755) == 0);
        CHECK(chown(at("unpriv"), 65534, 65534) == 0);
        int p[2];
        CHECK(pipe(p) == 0);
        fflush(stderr);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
                close(p[0]);
                if (dup2(p[1], STDERR_FILENO) < 0 || setgroups(0, NULL) < 0 ||
                    setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
                        _exit(9);
                _exit(unprivileged_child(at("unpriv/dest")));
        }
        close(p[1]);
        char out[4096];
        size_t len = 0;
        ssize_t n;
        while ((n = read(p[0], out + len, sizeof(out) - 1 - len)) > 0)
                len += (size_t)n;
        out[len] = '\0';
        close(p[0]);
        int status;
        CHECK(waitpid(pid, &status, 0) == pid);
        fprintf(stderr, "unprivileged run said: %s", out);
        CHECK(WIFEXITED(status));
        CHECK_EQ_INT(WEXITSTATUS(status), 0);
        unsigned lines = 0;
        for (size_t i = 0; i < len; i++)
                lines += out[i] == '\n';
        CHECK_EQ_INT(lines, 1);
        CHECK(strstr(out, "acfetch: warning: not running as root: "));
        CHECK(strstr(out, "ownership of 3 entries"));
        CHECK(strstr(out, "1 device node,"));
        CHECK(strstr(out, "2 privileged xattrs"));
        CHECK(strstr(out, "1 immutable/append-only flag were"));
        remove_all(at("unpriv"));
}

/* ------------------------------------------------------------------ disk full */

static void test_enospc(void)
{
        CHECK(mkdir(at("small"), 0755) == 0);
        if (mount("acfetch-test", at("small"), "tmpfs", 0, "size=256k") < 0) {
                fprintf(stderr, "skipping the ENOSPC check: cannot mount tmpfs: %m\n");
                return;
        }
        ca_extract *e = NULL;
        ca_sink s;
        CHECK(ca_extract_new(at("small/dest"), &(ca_extract_options){}, &e, &s) == 0);
        ca_node root = mk(".", S_IFDIR | 0755);
        CHECK(begin(&s, &root) == 0);
        size_t size = 1024 * 1024;
        uint8_t *data = malloc(size);
        CHECK(data);
        memset(data, 'z', size);
        ca_node big = mk("big", S_IFREG | 0644);
        fprintf(stderr, "-- expecting: No space left on device\n");
        CHECK_EQ_INT(file(&s, &big, data, size), -ENOSPC);
        e = ca_extract_free(e);
        free(data);
        CHECK_EQ_INT(count_entries(at("small")), 0);
        CHECK(umount(at("small")) == 0);
}

int main(void)
{
        if (geteuid() != 0) {
                fprintf(stderr, "test_extract: needs root (chown, devices, chattr); skipping\n");
                return 77;
        }
        const char *tmp = getenv("TMPDIR");
        snprintf(base, sizeof(base), "%s/test_extract.XXXXXX", tmp && *tmp ? tmp : "/var/tmp");
        CHECK(mkdtemp(base));
        /* Let the unprivileged child reach its own directory. */
        CHECK(chmod(base, 0711) == 0);

        test_tree();
        test_sparse(false);
        test_sparse(true);
        test_hostile();
        test_dest();
        test_in_place();
        test_merge();
        test_filter();
        test_unprivileged();
        test_enospc();

        remove_all(base);
        fprintf(stderr, "test_extract: OK\n");
        return 0;
}
