/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Where fuzz targets write: their private directory (on tmpfs when there is one, since some
 * targets write files for every input; removed at exit, so a long run leaves nothing behind),
 * and /dev/null for printers. */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "casync/fs_safe.h"
#include "fuzz/fuzz.h"

static const char *base;
static char dir[64];

static void remove_dir(void)
{
        _cleanup_(closep) int fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0)
                (void)fs_remove_tree_at(fd, dir + strlen(base) + 1);
}

const char *fuzz_tmpdir(void)
{
        if (dir[0])
                return dir;
        base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(dir, sizeof(dir), "%s/acfetch-fuzz-XXXXXX", base);
        if (!mkdtemp(dir)) {
                perror("mkdtemp");
                abort();
        }
        atexit(remove_dir);
        return dir;
}

FILE *fuzz_devnull(void)
{
        static FILE *f;
        if (!f && !(f = fopen("/dev/null", "we"))) {
                perror("/dev/null");
                abort();
        }
        return f;
}
