/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * publish --to: one published image, copied from OUTDIR to an object store (s3+https://...).
 * Object stores have no symbolic links, so the bucket's layout is flat per image name (see
 * publish.h): its chunk store sits beside its indexes, as casync looks for it. The order keeps
 * readers safe: the chunks the bucket lacks, then the signatures and profile, the index, the
 * copies for "latest", and the discovery page last, so no reader finds an index whose chunks
 * are missing. A rerun asks again which chunks are there (HEAD) and sends only those missing, so
 * a publish killed midway is finished by running it again.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "casync/fs_safe.h"
#include "fetcher/publish/publish.h"

/* Requests in flight are the engine's (it adapts them to the link); these threads only keep
 * enough of them queued. */
#define UPLOAD_THREADS 32

/* Chunks never change: caches and CDNs may keep them for a year without asking again. */
static const char *const chunk_headers[] = {
    "Cache-Control: public, max-age=31536000, immutable",
    "Content-Type: application/octet-stream",
    NULL,
};
/* Indexes, signatures and pages change (latest, republishing): caches ask again. */
static const char *const document_headers[] = {
    "Cache-Control: no-cache",
    "Content-Type: application/octet-stream",
    NULL,
};
static const char *const page_headers[] = {
    "Cache-Control: no-cache",
    "Content-Type: text/html; charset=utf-8",
    NULL,
};

char *publish_upload_url(const char *to, const char *rel, const char *leaf)
{
        size_t n = strlen(to);
        while (n > 0 && to[n - 1] == '/')
                n--;
        char *url = NULL;
        if (asprintf(&url, "%.*s/%s%s%s", (int)n, to, rel, *rel && *leaf ? "/" : "", leaf) < 0)
                return NULL;
        return url;
}

int publish_read_file(const char *path, size_t max, uint8_t **ret, size_t *ret_size)
{
        _cleanup_(closep) int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        int r = fd < 0 ? negative_errno() : fs_read_all(fd, max, ret, ret_size);
        if (r == -EINVAL || r == -EFBIG)
                return ca_log_errno(CA_LOG_ERR, r, "%s: not a regular file of at most %zu bytes",
                                    path, max);
        if (r < 0)
                return ca_log_errno(CA_LOG_ERR, r, "%s: cannot read: %s", path, strerror(-r));
        return 0;
}

typedef struct parallel {
        int (*fn)(void *userdata, size_t i);
        void *userdata;
        size_t n;
        _Atomic size_t next;
        _Atomic int error;
} parallel;

static void *parallel_worker(void *userdata)
{
        parallel *p = userdata;
        for (;;) {
                if (p->error < 0)
                        break;
                size_t i = p->next++;
                if (i >= p->n)
                        break;
                int r = p->fn(p->userdata, i);
                if (r < 0) {
                        int expected = 0;
                        atomic_compare_exchange_strong(&p->error, &expected, r);
                }
        }
        return NULL;
}

int publish_parallel(size_t n, int (*fn)(void *userdata, size_t i), void *userdata)
{
        parallel p = {.fn = fn, .userdata = userdata, .n = n};
        pthread_t threads[UPLOAD_THREADS];
        unsigned started = 0;
        for (; started < UPLOAD_THREADS && started < n; started++)
                if (pthread_create(&threads[started], NULL, parallel_worker, &p) != 0)
                        break;
        if (started == 0)
                parallel_worker(&p);
        for (unsigned i = 0; i < started; i++)
                pthread_join(threads[i], NULL);
        return p.error;
}

/* Uploads a local file (transfer_put logs a failure, naming the URL). */
static int put_file(transfer_engine *e, const char *path, const char *url,
                    const char *const *headers, size_t max)
{
        _cleanup_(freep) uint8_t *data = NULL;
        size_t size = 0;
        int r = publish_read_file(path, max, &data, &size);
        if (r < 0)
                return r;
        transfer_response resp;
        r = transfer_put(e, url, data, size, headers, 0, &resp);
        transfer_response_clear(&resp);
        if (r >= 0)
                ca_log_debug("%s: uploaded (%zu bytes)", url, size);
        return r;
}

typedef struct chunk_upload {
        transfer_engine *engine;
        const char *store; /* OUTDIR/default.castr */
        char *store_url;   /* the bucket's store for this name */
        const ca_index *index;
        _Atomic uint64_t present, sent, sent_bytes;
} chunk_upload;

/* One chunk: HEAD, then PUT when the bucket lacks it. Duplicates in the index are skipped by
 * the caller's order (the first occurrence uploads; a later HEAD finds it). */
static int upload_chunk(chunk_upload *u, const ca_chunk_id *id)
{
        char hex[CA_CHUNK_ID_HEX_SIZE];
        ca_chunk_id_to_hex(id, hex);
        _cleanup_(freep) char *url = NULL, *path = NULL;
        if (asprintf(&url, "%s/%.4s/%s.cacnk", u->store_url, hex, hex) < 0 ||
            asprintf(&path, "%s/%.4s/%s.cacnk", u->store, hex, hex) < 0)
                return -ENOMEM;
        transfer_response resp;
        int r = transfer_head(u->engine, url, NULL, TRANSFER_NO_DEADLINE, &resp);
        transfer_response_clear(&resp);
        if (r >= 0) {
                u->present++;
                return 0;
        }
        if (r != -ENOENT)
                return r;
        _cleanup_(freep) uint8_t *data = NULL;
        size_t size = 0;
        r = publish_read_file(path, PUBLISH_CHUNK_FILE_MAX, &data, &size);
        if (r < 0)
                return r;
        r = transfer_put(u->engine, url, data, size, chunk_headers, TRANSFER_NO_DEADLINE, &resp);
        transfer_response_clear(&resp);
        if (r < 0)
                return r;
        u->sent++;
        u->sent_bytes += size;
        return 0;
}

static int upload_one(void *userdata, size_t i)
{
        chunk_upload *u = userdata;
        /* The index is in stream order: the same chunk twice is usually adjacent, and a chunk
         * seen before in the index is left to its first occurrence. */
        const ca_chunk_id *id = &u->index->items[i].id;
        for (size_t j = i; j-- > 0 && j + 64 > i;)
                if (memcmp(&u->index->items[j].id, id, sizeof(*id)) == 0)
                        return 0;
        return upload_chunk(u, id);
}

static int upload_chunks(transfer_engine *e, const char *to, const publish_upload_files *f)
{
        _cleanup_(ca_index_freep) ca_index *index = NULL;
        int r = ca_index_load(f->index, &index);
        if (r < 0)
                return r;
        chunk_upload u = {.engine = e, .store = f->store, .index = index};
        u.store_url = publish_upload_url(to, f->rel, "default.castr");
        if (!u.store_url)
                return -ENOMEM;
        r = publish_parallel(index->n_items, upload_one, &u);
        if (r >= 0)
                ca_log_info("%s: %" PRIu64 " chunks uploaded (%" PRIu64 " bytes), %" PRIu64
                            " already there",
                            u.store_url, (uint64_t)u.sent, (uint64_t)u.sent_bytes,
                            (uint64_t)u.present);
        free(u.store_url);
        return r;
}

/* The index and what goes with it, under one leaf name ("1.0-linux-amd64.caidx"): signature
 * and profile first, the index last. */
static int upload_index_as(transfer_engine *e, const char *to, const publish_upload_files *f,
                           const char *leaf)
{
        struct {
                const char *path, *suffix;
        } files[] = {
            {f->sig, ".asc"},
            {f->profile_sig, ".profile.asc"},
            {f->profile, ".profile"},
            {f->index, ""},
        };
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                if (!files[i].path)
                        continue;
                _cleanup_(freep) char *name = NULL, *url = NULL;
                if (asprintf(&name, "%s%s", leaf, files[i].suffix) < 0)
                        return -ENOMEM;
                url = publish_upload_url(to, f->rel, name);
                if (!url)
                        return -ENOMEM;
                int r = put_file(e, files[i].path, url, document_headers,
                                 (size_t)CA_INDEX_FILE_SIZE_MAX);
                if (r < 0)
                        return r;
        }
        return 0;
}

int publish_upload(transfer_engine *e, const char *to, const publish_upload_files *f)
{
        int r = upload_chunks(e, to, f);
        if (r < 0)
                return r;
        _cleanup_(freep) char *leaf = NULL, *latest = NULL;
        if (asprintf(&leaf, "%s-%s-%s.caidx", f->version, f->os, f->arch) < 0 ||
            asprintf(&latest, "latest-%s-%s.caidx", f->os, f->arch) < 0)
                return -ENOMEM;
        r = upload_index_as(e, to, f, leaf);
        if (r >= 0 && f->latest && strcmp(f->version, "latest") != 0)
                r = upload_index_as(e, to, f, latest);
        if (r < 0)
                return r;
        /* The page twice: as NAME (what a path-style GET of NAME?ac-discovery=1 reads) and as
         * NAME/index.html (what a web server or a bucket website serves for NAME/). */
        const char *leaves[] = {"", "index.html"};
        for (size_t i = 0; i < ELEMENTSOF(leaves); i++) {
                if (!*f->rel && !*leaves[i])
                        continue; /* a name that is only a host: the prefix itself is no key */
                _cleanup_(freep) char *url = publish_upload_url(to, f->rel, leaves[i]);
                if (!url)
                        return -ENOMEM;
                transfer_response resp;
                r = transfer_put(e, url, f->page, strlen(f->page), page_headers, 0, &resp);
                transfer_response_clear(&resp);
                if (r < 0)
                        return r;
        }
        return 0;
}
