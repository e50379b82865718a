/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Helpers of the extract test (test_extract.h): paths under its base, files, removal. */
#include "test_extract.h"

char base[PATH_MAX];

const char *at(const char *fmt, ...)
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

bool exists(const char *path)
{
        struct stat st;
        return lstat(path, &st) == 0;
}

/* Entries of base whose name starts with prefix (left-over temporary directories). */
unsigned count_prefixed(const char *dir, const char *prefix)
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

unsigned count_entries(const char *dir)
{
        return count_prefixed(dir, "") - 2;
}

void read_file(const char *path, char *buf, size_t size)
{
        int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        CHECK(fd >= 0);
        ssize_t n = read(fd, buf, size - 1);
        CHECK(n >= 0);
        buf[n] = '\0';
        close(fd);
}

void check_mtime(const char *path, uint64_t ns)
{
        struct stat st;
        CHECK(lstat(path, &st) == 0);
        CHECK_EQ_INT(st.st_mtim.tv_sec, (long long)(ns / 1000000000U));
        CHECK_EQ_INT(st.st_mtim.tv_nsec, (long long)(ns % 1000000000U));
}

void remove_all(const char *path)
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

const uint8_t fcaps_net_raw[20] = {0x01, 0x00, 0x00, 0x02, 0x00, 0x20};
