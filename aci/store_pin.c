/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Pins: a process that serves an index for long (mount) cannot hold the shared store lock all
 * that time, since gc would wait for it. It copies the index into its own work directory
 * (tmp/work-*, flocked while the process lives) and drops the store lock; gc keeps every chunk a
 * pin of a live work directory lists. The pins go with the directory when the process is gone.
 */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>

#include "aci/aci.h"
#include "casync/fs_safe.h"

/* Pin names are unique within a work directory, which only this process writes. */
static unsigned long pin_seq;

int aci_store_pin_index(aci_store *s, const ca_index *index)
{
        int fd;
        const char *dir;
        int r = aci_store_tmp(s, &fd, &dir);
        if (r < 0)
                return r;
        unsigned long n = __atomic_fetch_add(&pin_seq, 1, __ATOMIC_RELAXED);
        _cleanup_(freep) char *path = NULL;
        if (asprintf(&path, "%s/pin-%lu.caidx", dir, n) < 0)
                return -ENOMEM;
        /* The writer fills a temp file and renames it: gc never sees half a pin. */
        _cleanup_(ca_index_writer_freep) ca_index_writer *w = NULL;
        r = ca_index_writer_new(path, index->feature_flags, index->chunk_size_min,
                                index->chunk_size_avg, index->chunk_size_max, &w);
        for (size_t i = 0; r >= 0 && i < index->n_items; i++)
                r = ca_index_writer_add(w, index->items[i].size, &index->items[i].id);
        if (r >= 0)
                r = ca_index_writer_finish(w);
        return r;
}

static bool is_pin_name(const char *n)
{
        size_t len = strlen(n);
        return strncmp(n, "pin-", 4) == 0 && len > 10 && strcmp(n + len - 6, ".caidx") == 0;
}

/* Calls fn for each pin in tmp/<work>; 0, or the first error (logged). */
static int pins_of(aci_store *s, int tmp_fd, const char *work,
                   int (*fn)(const ca_index *index, void *userdata), void *userdata)
{
        _cleanup_(closep) int fd = fs_open_beneath(tmp_fd, work, O_RDONLY | O_DIRECTORY, 0);
        if (fd < 0)
                return 0; /* gone meanwhile, or not a directory */
        /* A free lock means no owner: its pins protect nothing (the next open reclaims it). */
        if (flock(fd, LOCK_SH | LOCK_NB) >= 0 || errno != EWOULDBLOCK)
                return 0;
        DIR *d = fs_opendir_at(fd);
        if (!d)
                return ca_log_errno(CA_LOG_ERR, negative_errno(), "%s/tmp/%s: %m",
                                    aci_store_path(s), work);
        struct dirent *de;
        int r;
        while ((r = fs_readdir(d, &de)) > 0) {
                if (!is_pin_name(de->d_name))
                        continue;
                _cleanup_(freep) char *path = NULL;
                if (asprintf(&path, "%s/tmp/%s/%s", aci_store_path(s), work, de->d_name) < 0) {
                        r = -ENOMEM;
                        break;
                }
                _cleanup_(ca_index_freep) ca_index *index = NULL;
                r = ca_index_load(path, &index);
                if (r >= 0)
                        r = fn(index, userdata);
                if (r < 0)
                        break;
        }
        closedir(d);
        return r;
}

int aci_store_pins(aci_store *s, int (*fn)(const ca_index *index, void *userdata), void *userdata)
{
        _cleanup_(closep) int tmp_fd =
            fs_open_beneath(aci_store_fd(s), "tmp", O_RDONLY | O_DIRECTORY, 0);
        if (tmp_fd < 0)
                return ca_log_errno(CA_LOG_ERR, tmp_fd, "%s/tmp: %s", aci_store_path(s),
                                    strerror(-tmp_fd));
        DIR *d = fs_opendir_at(tmp_fd);
        if (!d)
                return ca_log_errno(CA_LOG_ERR, negative_errno(), "%s/tmp: %m", aci_store_path(s));
        struct dirent *de;
        int r;
        while ((r = fs_readdir(d, &de)) > 0) {
                r = pins_of(s, tmp_fd, de->d_name, fn, userdata);
                if (r < 0)
                        break;
        }
        closedir(d);
        return r;
}
