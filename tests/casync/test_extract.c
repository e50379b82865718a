/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The extract sink driven directly with hand-built ca_node events (no decoder): node types,
 * metadata, sparse files, hostile names and symlinks, abort, commit rules, in-place extraction,
 * merging and filtering, and the unprivileged policy. Needs root (chown, devices, trusted xattrs,
 * chattr).
 *
 * This file has complete trees, sparse files and main; test_extract_hostile.c hostile event
 * sequences, test_extract_dest.c the destination rules and in-place extraction,
 * test_extract_merge.c merging and filtering, test_extract_policy.c the unprivileged policy and
 * a full disk, test_extract_util.c the file helpers they share (declared in test_extract.h).
 */
#include "test_extract.h"

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
        static const uint8_t want[] = {2,    0, 0, 0,                          /* version */
                                       0x01, 0, 6, 0, 0xff, 0xff, 0xff, 0xff,  /* user_obj rw- */
                                       0x02, 0, 6, 0, 101,  0,    0,    0,     /* user 101 rw- */
                                       0x04, 0, 4, 0, 0xff, 0xff, 0xff, 0xff,  /* group_obj r-- */
                                       0x08, 0, 1, 0, 0xd0, 0x07, 0,    0,     /* group 2000 --x */
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
        test_no_same_owner();
        test_enospc();

        remove_all(base);
        fprintf(stderr, "test_extract: OK\n");
        return 0;
}
