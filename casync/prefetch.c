/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Read-ahead for the encoder: a thread walks the tree in the encoder's order (directories
 * through fds, never following symlinks, names in strcmp order) and asks the kernel to start
 * reading each regular file (POSIX_FADV_WILLNEED), staying at most `budget` bytes ahead of what
 * the encoder has consumed. On a cold page cache the disk then works while the encoder
 * computes; on a warm one it costs a second listing of each directory. It only ever reads.
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>

#include "casync/encode.h"
#include "casync/fs_safe.h"

struct ca_prefetch {
        int fd;
        uint64_t budget;
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        uint64_t consumed, requested; /* under lock */
        bool stop;
};

/* Only files and directories are ever opened (a device might mind). */
static bool is_file_or_dir(int dir_fd, const struct dirent *de, void *userdata)
{
        unsigned char type = de->d_type;
        struct stat st;
        if (type == DT_UNKNOWN && fstatat(dir_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
                type = S_ISREG(st.st_mode) ? DT_REG : S_ISDIR(st.st_mode) ? DT_DIR : 0;
        return type == DT_DIR || type == DT_REG;
}

/* Blocks while the encoder is more than budget behind; false when stopping. */
static bool wait_for_room(ca_prefetch *p, uint64_t size)
{
        bool go;

        pthread_mutex_lock(&p->lock);
        while (!p->stop && p->requested > p->consumed &&
               p->requested - p->consumed + size > p->budget)
                pthread_cond_wait(&p->cond, &p->lock);
        go = !p->stop;
        if (go)
                p->requested += size;
        pthread_mutex_unlock(&p->lock);
        return go;
}

static bool walk(ca_prefetch *p, int dir_fd, unsigned depth)
{
        char **names;
        size_t n;
        bool go = true;

        if (depth >= CA_NODES_MAX)
                return true;
        if (fs_list_sorted(dir_fd, is_file_or_dir, NULL, SIZE_MAX, &names, &n) < 0)
                return true;
        for (size_t i = 0; i < n && go; i++) {
                struct stat st;
                int fd = openat(dir_fd, names[i],
                                O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);

                if (fd < 0)
                        continue;
                if (fstat(fd, &st) == 0) {
                        if (S_ISREG(st.st_mode) && st.st_size > 0) {
                                go = wait_for_room(p, (uint64_t)st.st_size);
                                if (go)
                                        (void)posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
                        } else if (S_ISDIR(st.st_mode))
                                go = walk(p, fd, depth + 1);
                }
                close(fd);
        }
        fs_names_free(names, n);
        return go;
}

static void *prefetch_thread(void *userdata)
{
        ca_prefetch *p = userdata;

        (void)walk(p, p->fd, 1);
        return NULL;
}

int ca_prefetch_start(int dir_fd, uint64_t budget, ca_prefetch **ret)
{
        ca_prefetch *p = calloc(1, sizeof(*p));
        int r;

        if (!p)
                return -ENOMEM;
        p->budget = budget;
        p->fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
        if (p->fd < 0) {
                r = negative_errno();
                free(p);
                return r;
        }
        pthread_mutex_init(&p->lock, NULL);
        pthread_cond_init(&p->cond, NULL);
        r = -pthread_create(&p->thread, NULL, prefetch_thread, p);
        if (r < 0) {
                pthread_cond_destroy(&p->cond);
                pthread_mutex_destroy(&p->lock);
                close(p->fd);
                free(p);
                return r;
        }
        *ret = p;
        return 0;
}

void ca_prefetch_consumed(ca_prefetch *p, uint64_t bytes)
{
        if (!p || bytes == 0)
                return;
        pthread_mutex_lock(&p->lock);
        p->consumed += bytes;
        pthread_cond_signal(&p->cond);
        pthread_mutex_unlock(&p->lock);
}

ca_prefetch *ca_prefetch_stop(ca_prefetch *p)
{
        if (!p)
                return NULL;
        pthread_mutex_lock(&p->lock);
        p->stop = true;
        pthread_cond_signal(&p->cond);
        pthread_mutex_unlock(&p->lock);
        pthread_join(p->thread, NULL);
        pthread_cond_destroy(&p->cond);
        pthread_mutex_destroy(&p->lock);
        close(p->fd);
        free(p);
        return NULL;
}
