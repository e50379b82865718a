/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The extract test's limits: the unprivileged policy and a destination whose disk is full. */
#include "test_extract.h"

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
        /* Root's setuid bit on a file that now belongs to nobody: dropped. */
        if ((st.st_mode & 07777) != 0755 || st.st_uid != 65534)
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

void test_unprivileged(void)
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
        CHECK(strstr(out, "1 immutable/append-only flag and setuid/setgid bits of 1 file were"));
        remove_all(at("unpriv"));
}

/* ------------------------------------------------------------------ --no-same-owner as root */

/* Root without ownership: a user's set-id file must not become a set-id root file, and no
 * device node appears; root's own set-id file keeps its bits (it is owned as archived). */
void test_no_same_owner(void)
{
        if (geteuid() != 0) {
                fprintf(stderr, "skipping the --no-same-owner check: not root\n");
                return;
        }
        ca_extract *e = NULL;
        ca_sink s;
        CHECK(ca_extract_new(at("nso"), &(ca_extract_options){.no_same_owner = true}, &e, &s) == 0);
        ca_node root = mk(".", S_IFDIR | 0755);
        ca_node dev = mk("dev", S_IFBLK | 0660);
        dev.device_major = 7;
        dev.device_minor = 0;
        ca_node user = mk("user", S_IFREG | 06755);
        user.uid = 1000;
        user.gid = 1000;
        ca_node mixed = mk("mixed", S_IFREG | 06755); /* root's user, another group */
        mixed.uid = 0;
        mixed.gid = 1000;
        ca_node own = mk("own", S_IFREG | 04755);
        own.uid = 0;
        own.gid = 0;
        ca_node sgid_dir = mk("shared", S_IFDIR | 02775);
        sgid_dir.gid = 1000;
        CHECK(begin(&s, &root) == 0);
        CHECK(leaf(&s, &dev) == 0);
        CHECK(file(&s, &mixed, "m", 1) == 0);
        CHECK(file(&s, &own, "o", 1) == 0);
        CHECK(begin(&s, &sgid_dir) == 0);
        CHECK(end(&s, &sgid_dir) == 0);
        CHECK(file(&s, &user, "u", 1) == 0);
        CHECK(end(&s, &root) == 0);
        CHECK(ca_extract_commit(e) == 0);
        ca_extract_free(e);
        struct stat st;
        CHECK(lstat(at("nso/dev"), &st) < 0 && errno == ENOENT);
        CHECK(lstat(at("nso/user"), &st) == 0);
        CHECK_EQ_INT(st.st_uid, 0);
        CHECK_EQ_INT(st.st_mode & 07777, 0755);
        CHECK(lstat(at("nso/mixed"), &st) == 0);
        CHECK_EQ_INT(st.st_mode & 07777, 04755); /* the user is as archived, the group is not */
        CHECK(lstat(at("nso/own"), &st) == 0);
        CHECK_EQ_INT(st.st_mode & 07777, 04755);
        CHECK(lstat(at("nso/shared"), &st) == 0);
        CHECK_EQ_INT(st.st_mode & 07777, 02775); /* a setgid directory grants nothing */
        remove_all(at("nso"));
}

/* ------------------------------------------------------------------ disk full */

void test_enospc(void)
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
