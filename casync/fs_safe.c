/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Symlink-proof file system primitives (see fs_safe.h). */
#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "casync/fs_safe.h"
#include "casync/util.h"

bool fs_name_is_valid(const char *name)
{
        if (!name || name[0] == '\0')
                return false;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
                return false;
        size_t len = strnlen(name, FS_NAME_MAX + 1);
        if (len > FS_NAME_MAX)
                return false;
        return memchr(name, '/', len) == NULL;
}

/* 1 unknown, 0 unusable (ENOSYS or filtered), 2 works. Shared by all threads. */
static atomic_int openat2_state = 1;

int fs_open_beneath(int dir_fd, const char *name, int flags, mode_t mode)
{
        flags |= O_NOFOLLOW | O_CLOEXEC;
        if (!(flags & (O_CREAT | O_TMPFILE)))
                mode = 0;

        if (atomic_load(&openat2_state) != 0) {
                struct open_how how = {
                    .flags = (uint64_t)flags,
                    .mode = mode,
                    .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
                };
                long fd = syscall(SYS_openat2, dir_fd, name, &how, sizeof(how));
                if (fd >= 0) {
                        atomic_store(&openat2_state, 2);
                        return (int)fd;
                }
                /* Seccomp filters of older container runtimes answer EPERM for unknown
                 * syscalls: retry with openat, and stop trying openat2 if that works. */
                if (errno != ENOSYS && !(errno == EPERM && atomic_load(&openat2_state) == 1))
                        return negative_errno();
                int fd2 = openat(dir_fd, name, flags, mode);
                if (fd2 < 0)
                        return negative_errno();
                atomic_store(&openat2_state, 0);
                return fd2;
        }

        int fd = openat(dir_fd, name, flags, mode);
        return fd < 0 ? negative_errno() : fd;
}

void fs_proc_fd_path(int fd, char buf[static FS_PROC_FD_PATH_MAX])
{
        snprintf(buf, FS_PROC_FD_PATH_MAX, "/proc/self/fd/%i", fd);
}

DIR *fs_opendir_at(int dir_fd)
{
        /* A fresh open, not a dup: a dup shares the file offset, so a second listing of the
         * same held directory would start where the first one ended. */
        int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return NULL;
        DIR *d = fdopendir(fd);
        if (!d) {
                int saved = errno;
                close(fd);
                errno = saved;
        }
        return d;
}

int fs_readdir(DIR *d, struct dirent **ret)
{
        for (;;) {
                errno = 0;
                struct dirent *de = readdir(d);
                if (!de)
                        return errno != 0 ? negative_errno() : 0;
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
                        *ret = de;
                        return 1;
                }
        }
}

void fs_names_free(char **names, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
}

static int compare_names(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

int fs_list_sorted(int dir_fd, bool (*keep)(int dir_fd, const struct dirent *de, void *userdata),
                   void *userdata, size_t max, char ***ret, size_t *ret_n)
{
        DIR *d = fs_opendir_at(dir_fd);
        if (!d)
                return negative_errno();
        char **names = NULL;
        size_t n = 0, alloc = 0;
        struct dirent *de;
        int r;
        while ((r = fs_readdir(d, &de)) > 0) {
                if (keep && !keep(dir_fd, de, userdata))
                        continue;
                if (n >= max) {
                        r = -E2BIG;
                        break;
                }
                if (n == alloc) {
                        size_t a = alloc ? 2 * alloc : 32;
                        char **m = reallocarray(names, a, sizeof(*names));
                        if (!m) {
                                r = -ENOMEM;
                                break;
                        }
                        names = m;
                        alloc = a;
                }
                if (!(names[n] = strdup(de->d_name))) {
                        r = -ENOMEM;
                        break;
                }
                n++;
        }
        closedir(d);
        if (r < 0) {
                fs_names_free(names, n);
                return r;
        }
        if (n > 1)
                qsort(names, n, sizeof(*names), compare_names);
        *ret = names;
        *ret_n = n;
        return 0;
}

int fs_dir_is_empty(int dir_fd)
{
        DIR *d = fs_opendir_at(dir_fd);
        if (!d)
                return negative_errno();
        struct dirent *de;
        int r = fs_readdir(d, &de);
        closedir(d);
        return r < 0 ? r : r == 0;
}

int fs_chattr_get(int fd, unsigned *ret)
{
        int v;
        if (ioctl(fd, FS_IOC_GETFLAGS, &v) < 0)
                return negative_errno();
        *ret = (unsigned)v;
        return 0;
}

int fs_chattr_merge(int fd, unsigned value, unsigned mask)
{
        unsigned old;
        int r = fs_chattr_get(fd, &old);
        if (r < 0)
                return r;
        unsigned new = (old & ~mask) | (value & mask);
        if (new == old)
                return 0;
        int v = (int)new;
        return ioctl(fd, FS_IOC_SETFLAGS, &v) < 0 ? negative_errno() : 0;
}

mode_t fs_get_umask(void)
{
        /* Linux ≥ 4.7 reports it; umask() itself can only be read by changing it. */
        _cleanup_(fclosep) FILE *f = fopen("/proc/self/status", "re");
        if (f) {
                char line[256];
                while (fgets(line, sizeof(line), f)) {
                        unsigned m;
                        if (sscanf(line, "Umask: %o", &m) == 1)
                                return (mode_t)(m & 0777);
                }
        }
        mode_t m = umask(022);
        umask(m);
        return m;
}

/*
 * Removing may be blocked by chattr flags of the entry or of its directory: drop them. The
 * directory is touched only when it belongs to the tree being removed.
 */
static void undo_immutable(int dir_fd, const char *name, bool own_dir)
{
        if (own_dir)
                (void)fs_chattr_merge(dir_fd, 0, FS_IMMUTABLE_FL | FS_APPEND_FL);
        /* Only regular files and directories carry these flags; opening anything else
         * (a device, a fifo) could have side effects, hence O_PATH first. */
        _cleanup_(closep) int pfd = openat(dir_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        if (pfd < 0 || fstat(pfd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)))
                return;
        char path[FS_PROC_FD_PATH_MAX];
        fs_proc_fd_path(pfd, path);
        _cleanup_(closep) int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (fd >= 0)
                (void)fs_chattr_merge(fd, 0, FS_IMMUTABLE_FL | FS_APPEND_FL);
}

/* Our trees are at most CA_NODES_MAX deep; anything far deeper is not ours. */
#define FS_REMOVE_DEPTH_MAX 256

static int remove_children(int dir_fd, unsigned depth);

static int remove_entry(int dir_fd, const char *name, unsigned char d_type, unsigned depth)
{
        bool opened_up = false, unblocked = false;
        for (;;) {
                if (d_type != DT_DIR && unlinkat(dir_fd, name, 0) >= 0)
                        return 0;
                int err = d_type == DT_DIR ? EISDIR : errno;
                if (err == ENOENT)
                        return 0;
                if (err == EISDIR) {
                        if (depth > FS_REMOVE_DEPTH_MAX)
                                return -ELOOP;
                        int fd = fs_open_beneath(dir_fd, name, O_RDONLY | O_DIRECTORY, 0);
                        if (fd == -EACCES && !opened_up) {
                                /* A 0000 directory of ours: make it readable first. */
                                (void)fchmodat(dir_fd, name, 0700, AT_SYMLINK_NOFOLLOW);
                                opened_up = true;
                                continue;
                        }
                        if (fd == -ENOTDIR || fd == -ELOOP) {
                                d_type = DT_UNKNOWN; /* not a directory after all */
                                continue;
                        }
                        if (fd == -ENOENT)
                                return 0;
                        if (fd < 0)
                                return fd;
                        int r = remove_children(fd, depth + 1);
                        close(fd);
                        if (r < 0)
                                return r;
                        if (unlinkat(dir_fd, name, AT_REMOVEDIR) >= 0 || errno == ENOENT)
                                return 0;
                        err = errno;
                }
                if ((err == EPERM || err == EACCES) && !unblocked) {
                        undo_immutable(dir_fd, name, depth > 0);
                        if (depth > 0) /* a 0555 directory of the tree */
                                (void)fchmod(dir_fd, 0700);
                        unblocked = true;
                        continue;
                }
                return -err;
        }
}

static int remove_children(int dir_fd, unsigned depth)
{
        DIR *d = fs_opendir_at(dir_fd);
        if (!d)
                return negative_errno();
        struct dirent *de;
        int r;
        while ((r = fs_readdir(d, &de)) > 0) {
                r = remove_entry(dir_fd, de->d_name, de->d_type, depth);
                if (r < 0)
                        break;
        }
        closedir(d);
        return r;
}

int fs_remove_tree_at(int dir_fd, const char *name)
{
        return remove_entry(dir_fd, name, DT_UNKNOWN, 0);
}

int fs_read_all(int fd, size_t max, uint8_t **ret, size_t *ret_size)
{
        struct stat st;
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        if ((uint64_t)st.st_size > max)
                return -EFBIG;
        uint8_t *b = malloc(MAX((size_t)st.st_size, (size_t)1));
        if (!b)
                return -ENOMEM;
        int r = read_full(fd, b, (size_t)st.st_size);
        if (r < 0) {
                free(b);
                return r;
        }
        *ret = b;
        *ret_size = (size_t)st.st_size;
        return 0;
}

int fs_mkdir_parents(const char *path, mode_t mode)
{
        _cleanup_(freep) char *p = strdup(path);
        if (!p)
                return -ENOMEM;
        for (size_t n = strlen(p); n > 1 && p[n - 1] == '/'; n--)
                p[n - 1] = 0;
        for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
                *s = 0;
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        return negative_errno();
                *s = '/';
        }
        if (mkdir(p, mode) >= 0)
                return chmod(p, mode) < 0 ? negative_errno() : 0; /* the umask may have cut it */
        return errno == EEXIST ? 0 : negative_errno();
}

int fs_mkdir_at(int dir_fd, const char *name, mode_t mode)
{
        bool made = mkdirat(dir_fd, name, mode) >= 0;
        if (!made && errno != EEXIST)
                return negative_errno();
        int fd = fs_open_beneath(dir_fd, name, O_RDONLY | O_DIRECTORY, 0);
        if (fd >= 0 && made && fchmod(fd, mode) < 0) {
                int r = negative_errno();
                close(fd);
                return r;
        }
        return fd;
}
