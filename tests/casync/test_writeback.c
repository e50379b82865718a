/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Early writeback and the sync in a thread. Whether a file's data went to disk is read from its
 * extents: on a file system with delayed allocation (ext4, xfs, btrfs) a file just written has
 * no blocks yet (FIEMAP flags its extents "delalloc") until writeback allocates them. The idle
 * decision is forced through the option meant for tests, so nothing depends on the machine's
 * load; waits are bounded only against a hang.
 */
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "casync/casync.h"
#include "casync/writeback.h"
#include "tests/test.h"

#define FILE_SIZE (4u << 20)
#define WAIT_MS   60000 /* against a hang only */

static char tmpdir[] = "/tmp/test_writeback.XXXXXX";
static unsigned n_files;

/* Whether any part of path's data is still waiting for writeback. */
static bool delalloc(const char *path)
{
        _cleanup_(closep) int fd = open(path, O_RDONLY | O_CLOEXEC);
        CHECK(fd >= 0);
        enum { N = 64 };
        struct fiemap *fm = calloc(1, sizeof(*fm) + N * sizeof(struct fiemap_extent));
        CHECK(fm);
        fm->fm_length = FIEMAP_MAX_OFFSET;
        fm->fm_extent_count = N;
        CHECK(ioctl(fd, FS_IOC_FIEMAP, fm) == 0);
        bool pending = false;
        for (unsigned i = 0; i < fm->fm_mapped_extents && i < N; i++)
                pending |= (fm->fm_extents[i].fe_flags & FIEMAP_EXTENT_DELALLOC) != 0;
        free(fm);
        return pending;
}

/* A new file, its path in path. */
static void write_file(char *path, size_t size)
{
        snprintf(path, size, "%s/file%u", tmpdir, n_files++);
        _cleanup_(closep) int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        CHECK(fd >= 0);
        static uint8_t buf[64 * 1024];
        for (size_t done = 0; done < FILE_SIZE; done += sizeof(buf)) {
                memset(buf, (int)(done / sizeof(buf)), sizeof(buf));
                CHECK(write(fd, buf, sizeof(buf)) == (ssize_t)sizeof(buf));
        }
}

/* A new file whose data is not on disk yet (anyone's sync(1) may flush one: then another). */
static void write_pending(char *path, size_t size)
{
        for (unsigned i = 0; i < 20; i++) {
                write_file(path, size);
                if (delalloc(path))
                        return;
        }
        CHECK(!"a file written stays waiting for writeback");
}

static void sleep_ms(unsigned ms)
{
        nanosleep(&(struct timespec){.tv_nsec = (long)ms * 1000 * 1000}, NULL);
}

/* Waits until w has looked at `periods` periods (more than enough for any sync to be done). */
static void wait_periods(ca_writeback *w, uint64_t periods, ca_writeback_stats *ret)
{
        for (unsigned waited = 0;; waited += 5) {
                ca_writeback_get_stats(w, ret);
                if (ret->periods >= periods)
                        return;
                CHECK(waited < WAIT_MS);
                sleep_ms(5);
        }
}

static void test_idle_syncs(int dir_fd)
{
        char path[128];
        write_pending(path, sizeof(path));
        ca_writeback *w = NULL;
        CHECK_EQ_INT(
            ca_writeback_start(
                dir_fd, &(ca_writeback_options){.period_ms = 10, .idle = CA_WRITEBACK_ALWAYS}, &w),
            0);
        ca_writeback_stats st;
        wait_periods(w, 2, &st);
        CHECK(st.syncs >= 2);
        CHECK(!delalloc(path));
        /* Data written while it runs goes too. */
        write_pending(path, sizeof(path));
        /* The second period from now begins its sync after the write (the first may not). */
        ca_writeback_get_stats(w, &st);
        wait_periods(w, st.periods + 2, &st);
        CHECK(!delalloc(path));
        w = ca_writeback_stop(w);
        CHECK(!w);
}

static void test_busy_waits(int dir_fd)
{
        ca_writeback *w = NULL;
        CHECK_EQ_INT(
            ca_writeback_start(
                dir_fd, &(ca_writeback_options){.period_ms = 10, .idle = CA_WRITEBACK_NEVER}, &w),
            0);
        ca_writeback_stats st;
        wait_periods(w, 3, &st);
        CHECK_EQ_INT(st.syncs, 0);
        ca_writeback_stop(w);
}

/* The real measure reads /proc/stat every period: a failed read would stop the periods. */
static void test_measure(int dir_fd)
{
        ca_writeback *w = NULL;
        CHECK_EQ_INT(ca_writeback_start(dir_fd, &(ca_writeback_options){.period_ms = 10}, &w), 0);
        ca_writeback_stats st;
        wait_periods(w, 3, &st);
        ca_writeback_stop(w);
}

/* Stopping does not wait out the period (an hour here: the test's timeout catches a wait). */
static void test_stop(int dir_fd)
{
        ca_writeback *w = NULL;
        CHECK_EQ_INT(ca_writeback_start(dir_fd, &(ca_writeback_options){.period_ms = 3600000}, &w),
                     0);
        sleep_ms(20);
        ca_writeback_stop(w);
        CHECK(!ca_writeback_stop(NULL));
        CHECK_EQ_INT(ca_writeback_start(-1, NULL, &w), -EBADF);
}

static void test_sync_job(int dir_fd)
{
        char path[128];
        write_pending(path, sizeof(path));
        ca_sync_job j;
        ca_sync_begin(&j, dir_fd);
        CHECK_EQ_INT(ca_sync_end(&j), 0);
        CHECK(!delalloc(path));
        ca_sync_begin(&j, -1);
        CHECK_EQ_INT(ca_sync_end(&j), -EBADF);
}

static void cleanup(int dir_fd)
{
        for (unsigned i = 0; i < n_files; i++) {
                char name[32];
                snprintf(name, sizeof(name), "file%u", i);
                CHECK(unlinkat(dir_fd, name, 0) == 0);
        }
        CHECK(rmdir(tmpdir) == 0);
}

int main(void)
{
        CHECK(mkdtemp(tmpdir));
        _cleanup_(closep) int dir_fd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(dir_fd >= 0);
        char path[128];
        bool delays = false;
        for (unsigned i = 0; i < 5 && !delays; i++) {
                write_file(path, sizeof(path));
                delays = delalloc(path);
        }
        if (!delays) {
                fprintf(stderr, "%s: no delayed allocation on this file system; skipped\n", tmpdir);
                cleanup(dir_fd);
                return 77;
        }
        test_stop(dir_fd);
        test_measure(dir_fd);
        test_busy_waits(dir_fd);
        test_idle_syncs(dir_fd);
        test_sync_job(dir_fd);
        cleanup(dir_fd);
        return 0;
}
