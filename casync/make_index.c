/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A stream chunked into a store with its index, as `casync make` does it: the chunking pipeline
 * (cut, hash, compress, store) feeding the index writer, the stream's digest on the way. Shared
 * by `acfetch make`/`publish` (a directory or a file) and the import of a local .aci (the tree
 * unpacked from its tar).
 */
#include <unistd.h>

#include "casync/casync.h"

typedef struct make_index {
        ca_digest *digest;
        ca_chunk_pipeline *pipeline;
} make_index;

static int make_index_write(void *userdata, const void *data, size_t size)
{
        make_index *m = userdata;
        int r;

        if (m->digest && (r = ca_digest_update(m->digest, data, size)) < 0)
                return r;
        return ca_chunk_pipeline_write(m->pipeline, data, size);
}

static int index_chunk(void *userdata, uint64_t size, const ca_chunk_id *id)
{
        return ca_index_writer_add(userdata, size, id);
}

void ca_make_index_options_default(ca_make_index_options *o)
{
        /* Hashing and compressing chunks is work for the CPU: one job per core. */
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        *o = (ca_make_index_options){
            .feature_flags =
                ca_feature_flags_normalize(CA_FORMAT_WITH_DEFAULT | CA_FORMAT_EXCLUDE_NODUMP |
                                           CA_FORMAT_EXCLUDE_FILE | CA_FORMAT_SHA512_256),
            .chunk_size_min = CA_CHUNK_SIZE_AVG_DEFAULT / 4,
            .chunk_size_avg = CA_CHUNK_SIZE_AVG_DEFAULT,
            .chunk_size_max = CA_CHUNK_SIZE_AVG_DEFAULT * 4,
            .compression = CA_COMPRESSION_ZSTD,
            .compression_level = CA_COMPRESSION_LEVEL_DEFAULT,
            .jobs = (unsigned)MAX(MIN(n, 64L), 1L),
        };
}

int ca_make_index(const ca_make_index_options *o, const char *output, ca_stream_producer produce,
                  void *userdata, ca_digest *digest, ca_chunk_pipeline_stats *ret_stats)
{
        _cleanup_(ca_index_writer_freep) ca_index_writer *iw = NULL;
        _cleanup_(ca_chunk_pipeline_freep) ca_chunk_pipeline *p = NULL;
        ca_chunk_pipeline_stats stats = {0};
        int r = ca_index_writer_new(output, o->feature_flags, o->chunk_size_min, o->chunk_size_avg,
                                    o->chunk_size_max, &iw);
        if (r < 0)
                return r;
        r = ca_chunk_pipeline_new(
            &(ca_chunk_pipeline_options){
                .chunk_size_min = o->chunk_size_min,
                .chunk_size_avg = o->chunk_size_avg,
                .chunk_size_max = o->chunk_size_max,
                .digest = ca_digest_type_from_flags(o->feature_flags),
                .store = o->store,
                .compression = o->compression,
                .compression_level = o->compression_level,
                .jobs = o->jobs,
                .chunk = index_chunk,
                .userdata = iw,
            },
            &p);
        if (r < 0)
                return r;
        make_index m = {.digest = digest, .pipeline = p};
        r = produce(userdata, make_index_write, &m);
        if (r >= 0)
                r = ca_chunk_pipeline_finish(p, &stats);
        if (r >= 0)
                r = ca_index_writer_finish(iw);
        if (r >= 0 && ret_stats)
                *ret_stats = stats;
        return r;
}
