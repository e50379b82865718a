/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Temporary names, and telling a dead owner's temporaries from a live one's (see fs_safe.h).
 * The temporary siblings of a name carry the identity of the process that made them: its pid and
 * its start time (clock ticks since boot, /proc/PID/stat), so a later run reclaims what a killed
 * process left (the pid is gone, or now names a process that started at another time) and never
 * what a live one is writing. A pid means nothing in another pid namespace (a container sharing
 * the directory): there the maker's flock, held while it writes, keeps its temporaries safe.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "casync/casync.h"
#include "casync/fs_safe.h"

static const char temp_marker[] = ".acfetch-";
/* The random part after the owner: 6 characters of this set. */
static const char temp_chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
#define TEMP_RANDOM_LEN 6
/* ".", the marker, "<pid>-<start>-" at their longest, the random part. */
#define TEMP_OVERHEAD (1 + sizeof(temp_marker) - 1 + 10 + 1 + 20 + 1 + TEMP_RANDOM_LEN)
/* Temporaries of temporaries (render composes in a temp of DEST, extracting into a temp of
 * that) are recognised this many levels down. */
#define TEMP_NESTING_MAX 2

static uint64_t random_u64(void)
{
        uint64_t v;
        if (getrandom(&v, sizeof(v), GRND_NONBLOCK) == (ssize_t)sizeof(v))
                return v;
        /* No entropy yet (early boot): names only need to be unlikely to collide, and
         * every creation is O_EXCL or mkdir, so a collision is retried, never reused. */
        static atomic_uint_fast64_t counter;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        v = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ ((uint64_t)getpid() << 44);
        return v ^ (atomic_fetch_add(&counter, 1) * UINT64_C(0x9e3779b97f4a7c15));
}

void fs_temp_name(char buf[static FS_TEMP_NAME_MAX])
{
        snprintf(buf, FS_TEMP_NAME_MAX, ".acfetch-%016llx", (unsigned long long)random_u64());
}

/*
 * The start time of process pid (field 22 of /proc/PID/stat): 0 with *ret set, -ESRCH when no
 * such process runs (a zombie counts as gone), another negative errno when /proc cannot tell.
 */
static int process_start_time(pid_t pid, unsigned long long *ret)
{
        char path[64], buf[1024];
        snprintf(path, sizeof(path), "/proc/%lu/stat", (unsigned long)pid);
        _cleanup_(closep) int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? -ESRCH : negative_errno();
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        if (n < 0)
                return negative_errno(); /* ESRCH: it ended meanwhile */
        buf[n] = '\0';
        /* "PID (COMM) STATE ...": COMM may hold anything, so fields count from the last ')'. */
        char *p = strrchr(buf, ')');
        if (!p || p[1] != ' ')
                return -EBADMSG;
        p += 2;
        if (*p == 'Z' || *p == 'X')
                return -ESRCH;
        for (unsigned field = 3; field < 22; field++) {
                p = strchr(p, ' ');
                if (!p)
                        return -EBADMSG;
                p++;
        }
        char *end;
        errno = 0;
        unsigned long long v = strtoull(p, &end, 10);
        if (errno != 0 || end == p || (*end != ' ' && *end != '\n' && *end != '\0'))
                return -EBADMSG;
        *ret = v;
        return 0;
}

/* This process's identity; recomputed after a fork (the pid changes). start 0: unknown. */
static void own_identity(pid_t *ret_pid, unsigned long long *ret_start)
{
        static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
        static pid_t cached_pid;
        static unsigned long long cached_start;
        pid_t pid = getpid();
        pthread_mutex_lock(&lock);
        if (cached_pid != pid) {
                unsigned long long start = 0;
                if (process_start_time(pid, &start) < 0)
                        start = 0;
                cached_pid = pid;
                cached_start = start;
        }
        *ret_start = cached_start;
        pthread_mutex_unlock(&lock);
        *ret_pid = pid;
}

int fs_temp_prefix(const char *name, char **ret)
{
        pid_t pid;
        unsigned long long start;
        own_identity(&pid, &start);
        size_t n = MIN(strlen(name), (size_t)FS_NAME_MAX - TEMP_OVERHEAD);
        return asprintf(ret, ".%.*s%s%lu-%llu-", (int)n, name, temp_marker, (unsigned long)pid,
                        start) < 0
                   ? -ENOMEM
                   : 0;
}

/* Digits up to `stop`: the number and the character after stop, or NULL. */
static const char *parse_number(const char *p, char stop, unsigned long long max,
                                unsigned long long *ret)
{
        unsigned long long v = 0;
        const char *q = p;
        for (; *q >= '0' && *q <= '9'; q++) {
                if (v > (max - (unsigned long long)(*q - '0')) / 10)
                        return NULL;
                v = v * 10 + (unsigned long long)(*q - '0');
        }
        if (q == p || *q != stop)
                return NULL;
        *ret = v;
        return q + 1;
}

/*
 * Parses ".<inner>.acfetch-<pid>-<start>-XXXXXX": true with the length of <inner> (which starts
 * at name + 1) and the owner.
 */
static bool parse_temp(const char *name, size_t *ret_inner_len, pid_t *ret_pid,
                       unsigned long long *ret_start)
{
        if (name[0] != '.')
                return false;
        const char *marker = NULL;
        for (const char *p = name + 1; (p = strstr(p, temp_marker)); p++)
                marker = p;
        if (!marker)
                return false;
        unsigned long long pid, start;
        const char *p = parse_number(marker + sizeof(temp_marker) - 1, '-', INT32_MAX, &pid);
        if (p)
                p = parse_number(p, '-', ULLONG_MAX, &start);
        if (!p || pid == 0 || strspn(p, temp_chars) != TEMP_RANDOM_LEN || p[TEMP_RANDOM_LEN])
                return false;
        *ret_inner_len = (size_t)(marker - name - 1);
        *ret_pid = (pid_t)pid;
        *ret_start = start;
        return true;
}

bool fs_temp_owner_gone(const char *name)
{
        size_t len;
        pid_t pid;
        unsigned long long start;
        if (!parse_temp(name, &len, &pid, &start) || start == 0)
                return false; /* not ours, or made where /proc could not tell */
        /* Without a readable /proc nobody can be judged. */
        pid_t self;
        unsigned long long self_start;
        own_identity(&self, &self_start);
        if (self_start == 0)
                return false;
        unsigned long long now;
        int r = process_start_time(pid, &now);
        if (r == -ESRCH)
                return true;
        return r >= 0 && now != start;
}

/* true if entry is a temporary of name, or of one of its temporaries (depth levels). */
static bool is_temp_of(const char *entry, const char *name, unsigned depth)
{
        size_t len;
        pid_t pid;
        unsigned long long start;
        if (!parse_temp(entry, &len, &pid, &start))
                return false;
        size_t n = MIN(strlen(name), (size_t)FS_NAME_MAX - TEMP_OVERHEAD);
        if (len == n && strncmp(entry + 1, name, n) == 0)
                return true;
        if (depth == 0)
                return false;
        char inner[FS_NAME_MAX + 1];
        memcpy(inner, entry + 1, len);
        inner[len] = '\0';
        return is_temp_of(inner, name, depth - 1);
}

int fs_temp_reclaim_at(int dir_fd, const char *entry)
{
        if (!fs_temp_owner_gone(entry))
                return 0;
        struct stat st;
        if (fstatat(dir_fd, entry, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : negative_errno();
        /* Only what make_temp_at makes; the flock check needs an open, and opening anything
         * else could have side effects. */
        if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
                return 0;
        _cleanup_(closep) int fd = fs_open_beneath(
            dir_fd, entry,
            S_ISDIR(st.st_mode) ? O_RDONLY | O_DIRECTORY : O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
        if (fd == -ENOENT)
                return 0;
        if (fd < 0)
                return fd;
        if (flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK)
                return 0; /* its maker holds it: alive in another pid namespace */
        int r = fs_remove_tree_at(dir_fd, entry);
        return r < 0 ? r : 1;
}

void fs_temp_reclaim_siblings(int dir_fd, const char *name, const char *what)
{
        DIR *d = fs_opendir_at(dir_fd);
        if (!d)
                return;
        struct dirent *de;
        while (fs_readdir(d, &de) > 0) {
                if (!is_temp_of(de->d_name, name, TEMP_NESTING_MAX))
                        continue;
                int r = fs_temp_reclaim_at(dir_fd, de->d_name);
                if (r < 0)
                        ca_log_warning("%s: cannot remove %s, left by a process that is gone: %s",
                                       what, de->d_name, strerror(-r));
                else if (r > 0)
                        ca_log_debug("%s: removed %s, left by a process that is gone", what,
                                     de->d_name);
        }
        closedir(d);
}

/* Creates prefix + 6 random characters under dir_fd (a directory, or a file returned open and
 * flocked), retrying on collisions. */
static int make_temp_at(int dir_fd, const char *prefix, bool dir, int *ret_fd, char **ret_name)
{
        size_t len = strlen(prefix);
        if (len + TEMP_RANDOM_LEN > FS_NAME_MAX)
                return -ENAMETOOLONG;
        _cleanup_(freep) char *name = malloc(len + TEMP_RANDOM_LEN + 1);
        if (!name)
                return -ENOMEM;
        memcpy(name, prefix, len);

        for (unsigned attempt = 0; attempt < 100; attempt++) {
                uint64_t v = random_u64();
                for (size_t i = 0; i < TEMP_RANDOM_LEN; i++, v /= (sizeof(temp_chars) - 1))
                        name[len + i] = temp_chars[v % (sizeof(temp_chars) - 1)];
                name[len + TEMP_RANDOM_LEN] = '\0';
                int fd = dir ? mkdirat(dir_fd, name, 0700)
                             : openat(dir_fd, name,
                                      O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (fd >= 0) {
                        /* Held while the file is open: tells a reclaimer in another pid
                         * namespace that the file is in use. Best effort: where flock is not
                         * supported, the owner's pid and start time still speak for it. */
                        if (!dir)
                                (void)flock(fd, LOCK_SH | LOCK_NB);
                        if (ret_fd)
                                *ret_fd = fd;
                        *ret_name = TAKE_PTR(name);
                        return 0;
                }
                if (errno != EEXIST)
                        return negative_errno();
        }
        return -EEXIST;
}

int fs_mkdtemp_at(int dir_fd, const char *prefix, char **ret_name)
{
        return make_temp_at(dir_fd, prefix, true, NULL, ret_name);
}

int fs_mkstemp_at(int dir_fd, const char *prefix, char **ret_name)
{
        int fd = -1;
        int r = make_temp_at(dir_fd, prefix, false, &fd, ret_name);
        return r < 0 ? r : fd;
}
