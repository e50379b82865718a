/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * `fetch FILE.aci`: a local ACI imported into the store (see pull.h). The file is copied first,
 * so that what is verified is what is read; its tar is untrusted input until then and after:
 * the reader bounds everything and the extraction never leaves its private directory. The
 * unpacked tree is archived with the flags `acfetch publish` uses by default, so the same tree
 * published and fetched by URL shares its chunks.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "casync/fs_safe.h"
#include "fetcher/pull/pull.h"

/* The .aci's tar (decompressed) may be at most this large. */
#define IMPORT_TAR_MAX (UINT64_C(64) * 1024 * 1024 * 1024)

/* rkt's rule: an ACI holds its manifest and rootfs/, nothing else. */
static int aci_entry_filter(void *userdata, const ca_tar_entry *e)
{
        const char *what = userdata;
        if (strcmp(e->path, "manifest") == 0) {
                if (e->type != CA_TAR_REGULAR)
                        return ca_bad("%s: \"manifest\" is not a regular file", what);
                return 1;
        }
        if (strcmp(e->path, "rootfs") == 0 && e->type != CA_TAR_DIRECTORY)
                return ca_bad("%s: \"rootfs\" is not a directory", what);
        if (strcmp(e->path, "rootfs") != 0 && strncmp(e->path, "rootfs/", 7) != 0)
                return ca_bad("%s: \"%s\": not part of an image (an ACI holds only manifest and "
                              "rootfs/)",
                              what, e->path);
        /* The archive is made as publish makes it, which honours .caexclude files: one in the
         * image would silently leave files out. */
        const char *base = strrchr(e->path, '/');
        if (base && strcmp(base + 1, ".caexclude") == 0)
                return ca_bad("%s: \"%s\": .caexclude files cannot be imported (the archive would "
                              "leave out what it names)",
                              what, e->path);
        return 1;
}

typedef struct copy_out {
        int fd;
        const char *what;
} copy_out;

static int copy_write(void *userdata, const void *data, size_t size)
{
        const copy_out *c = userdata;
        int r = write_full(c->fd, data, size);
        return r < 0 ? ca_log_write_error(c->what, r) : 0;
}

/* Copies location into work_fd/name (work_path names it in messages); returns the copy's fd
 * (read-write) and size. */
static int copy_aci(const char *location, int work_fd, const char *work_path, const char *name,
                    uint64_t *ret_size)
{
        _cleanup_(closep) int src = open(location, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (src < 0)
                return ca_log_errno(CA_LOG_ERR, negative_errno(), "%s: %m", location);
        struct stat st;
        if (fstat(src, &st) < 0)
                return ca_log_errno(CA_LOG_ERR, negative_errno(), "%s: %m", location);
        if (!S_ISREG(st.st_mode))
                return ca_log_errno(CA_LOG_ERR, -EINVAL, "%s: not a regular file", location);
        if (st.st_size == 0)
                return ca_bad("%s: empty file", location);
        int fd = openat(work_fd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
                return ca_log_errno(CA_LOG_ERR, negative_errno(), "%s/%s: %m", work_path, name);
        copy_out c = {fd, work_path};
        int r = ca_stream_fd(src, location, copy_write, &c);
        if (r < 0) {
                close(fd);
                return r;
        }
        if (fstat(fd, &st) < 0) {
                r = negative_errno();
                close(fd);
                return r;
        }
        *ret_size = (uint64_t)st.st_size;
        return fd;
}

/* The index just written (bounded as any index). */
static int read_index(int dir_fd, const char *name, uint8_t **ret, size_t *ret_size)
{
        _cleanup_(closep) int fd = fs_open_beneath(dir_fd, name, O_RDONLY, 0);
        if (fd < 0)
                return fd;
        return fs_read_all(fd, (size_t)CA_INDEX_FILE_SIZE_MAX, ret, ret_size);
}

typedef struct produce_job {
        int dir_fd;
        const char *what;
} produce_job;

static int produce_tree(void *userdata, ca_stream_writer write, void *write_userdata)
{
        const produce_job *j = userdata;
        /* As `acfetch publish` archives a tree by default. */
        ca_make_index_options mo;
        ca_make_index_options_default(&mo);
        uint64_t flags = mo.feature_flags;
        _cleanup_(ca_encoder_freep) ca_encoder *e = NULL;
        int r = ca_encoder_new(flags, write, write_userdata, &e);
        if (r < 0)
                return r;
        return ca_encoder_run(e, j->dir_fd, j->what);
}

static int unpack(const char *location, const uint8_t *data, uint64_t size, int dir_fd)
{
        _cleanup_(ca_tar_extract_freep) ca_tar_extract *x = NULL;
        _cleanup_(ca_tar_reader_freep) ca_tar_reader *rd = NULL;
        ca_tar_handler h;
        /* Owners are part of the image: restored whenever possible (--no-same-owner is about
         * the rendered tree, which is made from the index like any other). */
        ca_tar_extract_options eo = {.filter = aci_entry_filter,
                                     .filter_userdata = (void *)location};
        int r = ca_tar_extract_new(dir_fd, location, &eo, &x, &h);
        if (r >= 0)
                r = ca_tar_reader_new(&h, location, IMPORT_TAR_MAX, &rd);
        for (uint64_t off = 0; r >= 0 && off < size; off += 1024 * 1024)
                r = ca_tar_reader_feed(rd, data + off, (size_t)MIN(size - off, 1024 * 1024));
        if (r >= 0)
                r = ca_tar_reader_finish(rd);
        if (r >= 0)
                r = ca_tar_extract_finish(x);
        if (r < 0)
                return r;
        struct stat st;
        if (fstatat(dir_fd, "manifest", &st, AT_SYMLINK_NOFOLLOW) < 0)
                return ca_bad("%s: no manifest: not an image", location);
        if (fstatat(dir_fd, "rootfs", &st, AT_SYMLINK_NOFOLLOW) < 0) {
                /* An image may have an empty rootfs the tar did not name. */
                if (mkdirat(dir_fd, "rootfs", 0755) < 0)
                        return ca_log_errno(CA_LOG_ERR, negative_errno(), "%s: rootfs: %m",
                                            location);
        }
        return 0;
}

int fetch_import_aci(fetch_context *ctx, const char *location, aci_image_record *ret)
{
        int work_fd;
        const char *work_path;
        int r = aci_store_tmp(ctx->store, &work_fd, &work_path);
        if (r < 0)
                return r;
        unsigned n = ctx->n_trees++;
        char copy[32], dir[32], idx[40];
        snprintf(copy, sizeof(copy), "import-%u.aci", n);
        snprintf(dir, sizeof(dir), "import-%u", n);
        snprintf(idx, sizeof(idx), "import-%u.caidx", n);
        _cleanup_(freep) char *idx_path = NULL;
        if (asprintf(&idx_path, "%s/%s", work_path, idx) < 0)
                return -ENOMEM;

        uint64_t size = 0;
        _cleanup_(closep) int fd = copy_aci(location, work_fd, work_path, copy, &size);
        if (fd < 0)
                return fd;
        unlinkat(work_fd, copy, 0); /* the open fd is all that is needed */
        void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED)
                return ca_log_errno(CA_LOG_ERR, negative_errno(), "%s: cannot map: %m", location);

        /* Nothing of the tar is read before its signature verifies. */
        dc_image img = {.name = (char *)location};
        _cleanup_(index_signature_done) index_signature sig = {};
        uint8_t *index = NULL;
        size_t index_size = 0;
        int dir_fd = -1;
        ctx->location = location;
        r = fetch_verify_index(ctx, &img, location, NULL, map, size, NULL, &sig);
        if (r < 0)
                goto out;
        if (mkdirat(work_fd, dir, 0700) < 0) {
                r = ca_log_errno(CA_LOG_ERR, negative_errno(), "%s/%s: %m", work_path, dir);
                goto out;
        }
        dir_fd = fs_open_beneath(work_fd, dir, O_RDONLY | O_DIRECTORY, 0);
        if (dir_fd < 0) {
                r = ca_log_errno(CA_LOG_ERR, dir_fd, "%s/%s: %s", work_path, dir,
                                 strerror(-dir_fd));
                goto out;
        }
        r = unpack(location, map, size, dir_fd);
        if (r < 0)
                goto out;
        ca_make_index_options mo;
        ca_make_index_options_default(&mo);
        mo.store = aci_store_chunks(ctx->store);
        r = ca_make_index(&mo, idx_path, produce_tree, &(produce_job){dir_fd, location}, NULL,
                          NULL);
        /* The unpacked tree has served: the image is rendered from the index, as fetched. */
        fs_remove_tree_at(work_fd, dir);
        if (r < 0)
                goto out;
        r = read_index(work_fd, idx, &index, &index_size);
        if (r < 0) {
                r = ca_log_errno(CA_LOG_ERR, r, "%s: %s", idx_path, strerror(-r));
                goto out;
        }
        r = fetch_import_index(ctx, idx_path, location, index, index_size, &sig, ret);
out:
        ctx->location = NULL;
        ctx->loc_index = ctx->loc_sig = NULL;
        if (dir_fd >= 0)
                close(dir_fd);
        fs_remove_tree_at(work_fd, dir);
        unlinkat(work_fd, idx, 0);
        free(index);
        munmap(map, size);
        return r;
}
