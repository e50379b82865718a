/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Atomic files: the name shows the old content or the whole new one, never a temporary file. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "casync/casync.h"
#include "tests/test.h"

static char tmpdir[] = "/tmp/test_atomic_file.XXXXXX";

static size_t entries(void)
{
        DIR *d = opendir(tmpdir);
        CHECK(d);
        size_t n = 0;
        struct dirent *de;
        while ((de = readdir(d)))
                n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
        closedir(d);
        return n;
}

static void check_content(const char *path, const char *want, mode_t mode)
{
        char buf[64] = {};
        _cleanup_(closep) int fd = open(path, O_RDONLY | O_CLOEXEC);
        CHECK(fd >= 0);
        CHECK(read(fd, buf, sizeof(buf) - 1) == (ssize_t)strlen(want));
        CHECK_STREQ(buf, want);
        struct stat st;
        CHECK(fstat(fd, &st) == 0);
        CHECK_EQ_INT(st.st_mode & 07777, mode);
}

static int produce_two(void *userdata, ca_stream_writer write, void *write_userdata)
{
        int r = write(write_userdata, "hello ", 6);
        return r < 0 ? r : write(write_userdata, userdata, strlen(userdata));
}

static int produce_fail(void *userdata, ca_stream_writer write, void *write_userdata)
{
        (void)userdata;
        int r = write(write_userdata, "partial", 7);
        return r < 0 ? r : -EIO;
}

static void test_producer(void)
{
        char path[128];
        snprintf(path, sizeof(path), "%s/out", tmpdir);
        umask(022);
        CHECK_EQ_INT(ca_write_file_atomic(path, CA_ATOMIC_MODE_DEFAULT, 0, produce_two, "world"),
                     0);
        check_content(path, "hello world", 0644);
        CHECK_EQ_INT(ca_write_file_atomic(path, 0600, CA_ATOMIC_SYNC | CA_ATOMIC_SYNC_DIR,
                                          produce_two, "again"),
                     0);
        check_content(path, "hello again", 0600);
        /* A failing producer leaves the old file and nothing else. */
        CHECK_EQ_INT(ca_write_file_atomic(path, 0644, 0, produce_fail, NULL), -EIO);
        check_content(path, "hello again", 0600);
        CHECK_EQ_INT(entries(), 1);
        /* A missing directory is a logged failure. */
        snprintf(path, sizeof(path), "%s/missing/out", tmpdir);
        CHECK_EQ_INT(ca_write_file_atomic(path, 0644, 0, produce_two, "x"), -ENOENT);
        CHECK(unlink(strcat(strcpy(path, tmpdir), "/out")) == 0);
}

static void test_at(void)
{
        _cleanup_(closep) int dfd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(dfd >= 0);
        CHECK_EQ_INT(ca_write_file_atomic_at(dfd, "f", NULL, 0640, CA_ATOMIC_SYNC, "data", 4), 0);
        char path[128];
        snprintf(path, sizeof(path), "%s/f", tmpdir);
        check_content(path, "data", 0640);

        /* Abandoned before commit: the temporary file goes, the old file stays. */
        ca_atomic_file *f = NULL;
        CHECK_EQ_INT(ca_atomic_file_new_at(dfd, "f", path, 0644, 0, &f), 0);
        CHECK(ca_atomic_file_write(f, "new", 3) == 0);
        CHECK_EQ_INT(entries(), 2);
        ca_atomic_file_free(f);
        CHECK_EQ_INT(entries(), 1);
        check_content(path, "data", 0640);

        /* The file does not need dir_fd after creation; a second commit is a no-op. */
        CHECK_EQ_INT(ca_atomic_file_new_at(dfd, "f", path, 0644, 0, &f), 0);
        int fd2 = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
        CHECK(fd2 >= 0 && close(dfd) == 0);
        dfd = -1;
        CHECK(write(ca_atomic_file_fd(f), "fresh", 5) == 5);
        CHECK_EQ_INT(ca_atomic_file_commit(f), 0);
        CHECK_EQ_INT(ca_atomic_file_commit(f), 0);
        ca_atomic_file_free(f);
        check_content(path, "fresh", 0644);
        CHECK_EQ_INT(entries(), 1);
        close(fd2);
}

static void cleanup_tmpdir(void)
{
        char cmd[512];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        (void)!system(cmd);
}

int main(void)
{
        CHECK(mkdtemp(tmpdir));
        atexit(cleanup_tmpdir);
        test_producer();
        test_at();
        printf("test_atomic_file: all checks passed\n");
        return 0;
}
