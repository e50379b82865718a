/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Atomic files: the name shows the old content or the whole new one, never a temporary file. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "casync/casync.h"
#include "casync/fs_safe.h"
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

/* What a writer killed part-way leaves: made by a child that exits without cleaning up. Returns
 * the names, one per line: a temp file of "out", a temp directory of "out" holding a file, a
 * temp directory nested in that one (as render's extraction makes), a second temp file of
 * "out" (the parent holds it flocked), and a temp file of "other". */
static char *killed_writer_leftovers(void)
{
        int p[2];
        CHECK(pipe(p) == 0);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
                char line[4 * FS_NAME_MAX];
                int dfd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                char *prefix = NULL, *nested_prefix = NULL, *dir = NULL, *nested = NULL,
                     *file2 = NULL, *other_prefix = NULL, *other = NULL;
                ca_atomic_file *f = NULL;
                if (dfd < 0 || ca_atomic_file_new_at(dfd, "out", NULL, 0644, 0, &f) < 0 ||
                    ca_atomic_file_write(f, "partial", 7) < 0 ||
                    fs_temp_prefix("out", &prefix) < 0 || fs_mkdtemp_at(dfd, prefix, &dir) < 0 ||
                    fs_temp_prefix(dir, &nested_prefix) < 0 ||
                    fs_mkdtemp_at(dfd, nested_prefix, &nested) < 0 ||
                    fs_mkstemp_at(dfd, prefix, &file2) < 0 ||
                    fs_temp_prefix("other", &other_prefix) < 0 ||
                    fs_mkstemp_at(dfd, other_prefix, &other) < 0)
                        _exit(1);
                char path[2 * FS_NAME_MAX];
                snprintf(path, sizeof(path), "%s/%s/f", tmpdir, dir);
                FILE *g = fopen(path, "we");
                if (!g || fclose(g) != 0)
                        _exit(1);
                /* The atomic file's temporary name is the only one in tmpdir not listed here:
                 * the parent finds it. */
                int n = snprintf(line, sizeof(line), "%s\n%s\n%s\n%s\n", dir, nested, file2, other);
                _exit(write(p[1], line, (size_t)n) == n ? 0 : 1);
        }
        close(p[1]);
        char *buf = calloc(1, 4 * FS_NAME_MAX + 1);
        CHECK(buf);
        CHECK(read(p[0], buf, 4 * FS_NAME_MAX) > 0);
        close(p[0]);
        int status;
        CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
        return buf;
}

static bool present(const char *name)
{
        char path[2 * FS_NAME_MAX];
        snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
        struct stat st;
        return lstat(path, &st) == 0;
}

/* Temporaries of a killed writer go when the next writer of the name starts (CA_ATOMIC_RECLAIM);
 * those of a live writer, of another name or not of our form stay. */
static void test_reclaim(void)
{
        _cleanup_(freep) char *names = killed_writer_leftovers();
        char *dir = strtok(names, "\n"), *nested = strtok(NULL, "\n"), *file2 = strtok(NULL, "\n"),
             *other = strtok(NULL, "\n");
        CHECK(dir && nested && file2 && other);
        CHECK(fs_temp_owner_gone(dir) && fs_temp_owner_gone(nested) && fs_temp_owner_gone(file2));
        /* Our own temporaries: live. */
        _cleanup_(freep) char *prefix = NULL;
        CHECK_EQ_INT(fs_temp_prefix("out", &prefix), 0);
        CHECK(strlen(prefix) > 0 && !fs_temp_owner_gone(prefix));
        _cleanup_(closep) int dfd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(dfd >= 0);
        _cleanup_(freep) char *live_name = NULL;
        _cleanup_(closep) int live_fd = fs_mkstemp_at(dfd, prefix, &live_name);
        CHECK(live_fd >= 0);
        /* A dead owner's name, but flocked: a live writer in another pid namespace. */
        char held_path[2 * FS_NAME_MAX];
        snprintf(held_path, sizeof(held_path), "%s/%s", tmpdir, file2);
        _cleanup_(closep) int held = open(held_path, O_RDONLY | O_CLOEXEC);
        CHECK(held >= 0 && flock(held, LOCK_SH) == 0);
        /* Names of the old form, or casync's, are not ours to judge. */
        char legacy[2 * FS_NAME_MAX];
        snprintf(legacy, sizeof(legacy), "%s/.out.acfetch-AAAAAA", tmpdir);
        FILE *g = fopen(legacy, "we");
        CHECK(g && fclose(g) == 0);
        CHECK(!fs_temp_owner_gone(".out.acfetch-AAAAAA"));
        CHECK(!fs_temp_owner_gone(".out.acfetch-1-0-AAAAAA")); /* start unknown */
        CHECK(!fs_temp_owner_gone(".out.acfetch-x-1-AAAAAA"));
        CHECK(!fs_temp_owner_gone("out.acfetch-1-1-AAAAAA"));
        /* The killed writer's atomic temp file: the one name the child did not list. */
        char killed[FS_NAME_MAX + 1] = "";
        DIR *d = opendir(tmpdir);
        CHECK(d);
        struct dirent *de;
        while ((de = readdir(d)))
                if (strncmp(de->d_name, ".out.acfetch-", 13) == 0 && strcmp(de->d_name, dir) &&
                    strcmp(de->d_name, file2) && strcmp(de->d_name, live_name) &&
                    strcmp(de->d_name, ".out.acfetch-AAAAAA"))
                        snprintf(killed, sizeof(killed), "%s", de->d_name);
        closedir(d);
        CHECK(killed[0] && fs_temp_owner_gone(killed));

        char out[2 * FS_NAME_MAX];
        snprintf(out, sizeof(out), "%s/out", tmpdir);
        CHECK_EQ_INT(ca_write_file_atomic(out, 0644, CA_ATOMIC_RECLAIM, produce_two, "world"), 0);
        check_content(out, "hello world", 0644);
        CHECK(!present(killed));
        CHECK(!present(dir));
        CHECK(!present(nested));
        CHECK(present(file2));
        CHECK(present(live_name));
        CHECK(present(other));
        CHECK(present(".out.acfetch-AAAAAA"));
        /* Once its holder lets go, the last one goes too. */
        close(TAKE_FD(held));
        CHECK_EQ_INT(fs_temp_reclaim_at(dfd, file2), 1);
        CHECK(!present(file2));
        CHECK_EQ_INT(fs_temp_reclaim_at(dfd, live_name), 0);
        CHECK_EQ_INT(fs_temp_reclaim_at(dfd, other), 1);
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
        test_reclaim();
        printf("test_atomic_file: all checks passed\n");
        return 0;
}
