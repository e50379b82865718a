/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Streams a .caidx/.caibx in casync's layout (spec §2): header, table header with the all-ones
 * size casync writes (the table is open-ended), one {end offset, id} per chunk, then the tail.
 * The file is a ca_atomic_file: it appears under its name, synced, only when complete.
 */
#include <inttypes.h>
#include <string.h>

#include "casync/casync.h"

#define WRITE_BUFFER_SIZE (64 * 1024)

struct ca_index_writer {
        char *path;
        ca_atomic_file *file;
        uint64_t max, end, n;
        size_t fill;
        uint8_t buf[WRITE_BUFFER_SIZE];
};

static int flush_buffer(ca_index_writer *w)
{
        int r = ca_atomic_file_write(w->file, w->buf, w->fill);

        if (r < 0)
                return ca_log_errno(CA_LOG_ERR, r, "%s: write failed: %s", w->path, strerror(-r));
        w->fill = 0;
        return 0;
}

static int put_le64(ca_index_writer *w, uint64_t v)
{
        if (w->fill + 8 > sizeof(w->buf)) {
                int r = flush_buffer(w);
                if (r < 0)
                        return r;
        }
        write_le64(w->buf + w->fill, v);
        w->fill += 8;
        return 0;
}

int ca_index_writer_new(const char *path, uint64_t feature_flags, uint64_t chunk_size_min,
                        uint64_t chunk_size_avg, uint64_t chunk_size_max, ca_index_writer **ret)
{
        _cleanup_(ca_index_writer_freep) ca_index_writer *w = NULL;
        int r;

        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->max = chunk_size_max;
        w->path = strdup(path);
        if (!w->path)
                return -ENOMEM;
        /* Readable as casync leaves its indexes (a web server serves them), whatever the
         * umask; a killed writer's temporary file is reclaimed. */
        r = ca_atomic_file_new(path, 0644, CA_ATOMIC_SYNC | CA_ATOMIC_RECLAIM, &w->file);
        if (r < 0)
                return r;

        if ((r = put_le64(w, CA_INDEX_HEADER_SIZE)) < 0 || (r = put_le64(w, CA_FORMAT_INDEX)) < 0 ||
            (r = put_le64(w, feature_flags)) < 0 || (r = put_le64(w, chunk_size_min)) < 0 ||
            (r = put_le64(w, chunk_size_avg)) < 0 || (r = put_le64(w, chunk_size_max)) < 0 ||
            (r = put_le64(w, UINT64_MAX)) < 0 || (r = put_le64(w, CA_FORMAT_TABLE)) < 0)
                return r;

        *ret = TAKE_PTR(w);
        return 0;
}

int ca_index_writer_add(ca_index_writer *w, uint64_t size, const ca_chunk_id *id)
{
        int r;

        if (size == 0 || size > w->max)
                return ca_log_errno(CA_LOG_ERR, -EINVAL,
                                    "%s: chunk of %" PRIu64 " bytes does not fit the index's "
                                    "maximum of %" PRIu64,
                                    w->path, size, w->max);
        if (w->n >= CA_INDEX_ITEMS_MAX || ADD_OVERFLOW(w->end, size, &w->end))
                return ca_log_errno(CA_LOG_ERR, -EFBIG, "%s: too many chunks", w->path);
        if (w->fill + CA_INDEX_ITEM_SIZE > sizeof(w->buf) && (r = flush_buffer(w)) < 0)
                return r;
        write_le64(w->buf + w->fill, w->end);
        memcpy(w->buf + w->fill + 8, id->bytes, CA_CHUNK_ID_SIZE);
        w->fill += CA_INDEX_ITEM_SIZE;
        w->n++;
        return 0;
}

uint64_t ca_index_writer_chunks(const ca_index_writer *w)
{
        return w->n;
}

int ca_index_writer_finish(ca_index_writer *w)
{
        int r;

        if ((r = put_le64(w, 0)) < 0 || (r = put_le64(w, 0)) < 0 ||
            (r = put_le64(w, CA_INDEX_HEADER_SIZE)) < 0 ||
            (r = put_le64(w, CA_INDEX_TABLE_HEADER_SIZE + w->n * CA_INDEX_ITEM_SIZE +
                                 CA_INDEX_TAIL_SIZE)) < 0 ||
            (r = put_le64(w, CA_FORMAT_TABLE_TAIL_MARKER)) < 0 || (r = flush_buffer(w)) < 0)
                return r;
        return ca_atomic_file_commit(w->file);
}

ca_index_writer *ca_index_writer_free(ca_index_writer *w)
{
        if (!w)
                return NULL;
        ca_atomic_file_free(w->file);
        free(w->path);
        free(w);
        return NULL;
}
