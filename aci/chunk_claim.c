/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Chunk claims: several processes filling one store (two fetches of the same image) would each
 * download every chunk they lack. Before downloading a chunk a process takes an flock on
 * locks/chunk-<id>.claim; another process finding it held waits for that download instead. The
 * kernel drops the flock when its owner dies, so a dead owner never blocks anyone; the owner
 * removes the file when done, so claims leave nothing behind but a crashed process's files,
 * which the next claim of the same chunk, or gc, takes over and removes.
 */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "aci/aci.h"
#include "casync/fs_safe.h"

#define CLAIM_NAME_MAX (sizeof("chunk-.claim") + CA_CHUNK_ID_HEX_SIZE)

static void claim_name(const ca_chunk_id *id, char name[static CLAIM_NAME_MAX])
{
        char hex[CA_CHUNK_ID_HEX_SIZE];
        snprintf(name, CLAIM_NAME_MAX, "chunk-%s.claim", ca_chunk_id_to_hex(id, hex));
}

int aci_store_claims_open(aci_store *s)
{
        return fs_open_beneath(aci_store_fd(s), "locks", O_RDONLY | O_DIRECTORY, 0);
}

int aci_chunk_claim_try(int claims_fd, const ca_chunk_id *id, int *ret_fd)
{
        char name[CLAIM_NAME_MAX];
        claim_name(id, name);
        /* Bounded: each retry means an owner released its claim in between. */
        for (unsigned attempt = 0; attempt < 16; attempt++) {
                _cleanup_(closep) int fd =
                    openat(claims_fd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (fd < 0)
                        return -errno;
                if (flock(fd, LOCK_EX | LOCK_NB) < 0)
                        return errno == EWOULDBLOCK ? 0 : -errno;
                /* The owner we waited for removes the file before its flock goes: a lock on a
                 * removed file claims nothing, since the next process creates a new one. */
                struct stat a, b;
                if (fstat(fd, &a) < 0)
                        return -errno;
                if (fstatat(claims_fd, name, &b, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno != ENOENT)
                                return -errno;
                        continue;
                }
                if (a.st_dev != b.st_dev || a.st_ino != b.st_ino)
                        continue;
                *ret_fd = TAKE_FD(fd);
                return 1;
        }
        return -EAGAIN;
}

void aci_chunk_claim_release(int claims_fd, const ca_chunk_id *id, int fd)
{
        if (fd < 0)
                return;
        char name[CLAIM_NAME_MAX];
        claim_name(id, name);
        /* Removed while still locked: see aci_chunk_claim_try. */
        (void)unlinkat(claims_fd, name, 0);
        close(fd);
}

uint64_t aci_chunk_claims_sweep(aci_store *s)
{
        _cleanup_(closep) int dfd = aci_store_claims_open(s);
        if (dfd < 0)
                return 0;
        DIR *d = fs_opendir_at(dfd);
        if (!d)
                return 0;
        uint64_t n = 0;
        struct dirent *de;
        while (fs_readdir(d, &de) > 0) {
                const char *name = de->d_name;
                size_t len = strlen(name);
                if (len < 12 || strncmp(name, "chunk-", 6) != 0 ||
                    strcmp(name + len - 6, ".claim") != 0)
                        continue;
                /* A free lock means its owner is gone; removed while we hold it, as a release
                 * does, so a process that opened it meanwhile sees the inode change. */
                _cleanup_(closep) int fd =
                    openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
                if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0)
                        continue;
                if (unlinkat(dfd, name, 0) == 0)
                        n++;
        }
        closedir(d);
        return n;
}
