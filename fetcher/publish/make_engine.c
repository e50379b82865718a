/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What `casync make` does, shared by `acfetch make` and `acfetch publish`: the options casync
 * takes (feature flags, chunk sizes, digest, compression), and the run: a directory (or a
 * synthetic root) encoded as catar, or a regular file read as a blob, into a .catar file or
 * chunked into a store with its .caidx/.caibx. The archive digest casync prints is computed on
 * the way.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "casync/fs_safe.h"
#include "fetcher/publish/publish.h"

void make_options_init(make_options *o)
{
        ca_make_index_options d;
        ca_make_index_options_default(&d);
        *o = (make_options){
            .exclude_nodump = d.feature_flags & CA_FORMAT_EXCLUDE_NODUMP,
            .exclude_file = d.feature_flags & CA_FORMAT_EXCLUDE_FILE,
            .digest =
                d.feature_flags & CA_FORMAT_SHA512_256 ? CA_DIGEST_SHA512_256 : CA_DIGEST_SHA256,
            .chunk_size_min = d.chunk_size_min,
            .chunk_size_avg = d.chunk_size_avg,
            .chunk_size_max = d.chunk_size_max,
            .compression = d.compression,
            .compression_level = d.compression_level,
            .jobs = d.jobs,
        };
}

int make_options_check(const make_options *o)
{
        if (ca_compression_check_level(o->compression, o->compression_level) < 0)
                return ca_log_errno(CA_LOG_ERR, -EINVAL,
                                    "--compression-level=%d does not exist for %s",
                                    o->compression_level, ca_compression_name(o->compression));
        return 0;
}

uint64_t make_feature_flags(const make_options *o, bool blob)
{
        /* casync: the --with set (or the default), minus --without, plus the exclusion and
         * digest bits, normalized. */
        uint64_t f = (o->with ? o->with : (blob ? 0 : CA_FORMAT_WITH_DEFAULT)) & ~o->without;

        if (o->exclude_nodump)
                f |= CA_FORMAT_EXCLUDE_NODUMP;
        if (o->exclude_submounts)
                f |= CA_FORMAT_EXCLUDE_SUBMOUNTS;
        if (o->exclude_file)
                f |= CA_FORMAT_EXCLUDE_FILE;
        if (o->digest == CA_DIGEST_SHA512_256)
                f |= CA_FORMAT_SHA512_256;
        return ca_feature_flags_normalize(f);
}

char *make_default_store(const char *index_path)
{
        const char *slash;
        char *r;

        /* casync replaces the last path component: "x.caidx" gives "default.castr". */
        slash = strrchr(index_path, '/');
        if (!slash)
                return strdup("default.castr");
        if (asprintf(&r, "%.*sdefault.castr", (int)(slash - index_path + 1), index_path) < 0)
                return NULL;
        return r;
}

/* Where the stream goes: the archive digest and a .catar file, or (index) the writer of
 * ca_make_index, which digests and chunks it itself. */
typedef struct make_sink {
        ca_digest *digest;
        ca_stream_writer out;
        void *out_userdata;
        const char *what;
        bool index;
} make_sink;

static int sink_write(void *userdata, const void *data, size_t size)
{
        make_sink *s = userdata;
        int r;

        if (s->index)
                return s->out(s->out_userdata, data, size);
        if (s->digest && (r = ca_digest_update(s->digest, data, size)) < 0)
                return r;
        r = s->out(s->out_userdata, data, size);
        if (r < 0)
                return ca_log_errno(CA_LOG_ERR, r, "%s: write failed: %s", s->what, strerror(-r));
        return 0;
}

static int encode(make_sink *s, uint64_t flags, const make_target *t, ca_encode_stats *stats)
{
        _cleanup_(ca_encoder_freep) ca_encoder *e = NULL;
        int r = ca_encoder_new(flags, sink_write, s, &e);

        if (r < 0)
                return r;
        if (t->source_fd >= 0)
                r = ca_encoder_run(e, t->source_fd, t->source_name);
        else
                r = ca_encoder_run_synthetic(e, t->root, t->entries, t->n_entries);
        ca_encoder_get_stats(e, stats);
        return r;
}

typedef struct catar_job {
        make_sink *sink;
        uint64_t flags;
        const make_target *target;
        make_stats *stats;
} catar_job;

static int produce_catar(void *userdata, ca_stream_writer write, void *write_userdata)
{
        const catar_job *j = userdata;
        j->sink->out = write;
        j->sink->out_userdata = write_userdata;
        if (j->sink->index && j->target->blob)
                return ca_stream_fd(j->target->source_fd, j->target->source_name, sink_write,
                                    j->sink);
        return encode(j->sink, j->flags, j->target, &j->stats->encode);
}

/* Writes a .catar: temp file beside it, renamed when complete. */
static int make_catar(make_sink *s, uint64_t flags, const make_target *t, make_stats *stats)
{
        s->what = t->output;
        return ca_write_file_atomic(t->output, CA_ATOMIC_MODE_DEFAULT, CA_ATOMIC_RECLAIM,
                                    produce_catar, &(catar_job){s, flags, t, stats});
}

int make_run(const make_options *o, const make_target *t, ca_chunk_id *ret_digest,
             make_stats *ret_stats)
{
        _cleanup_(ca_digest_freep) ca_digest *digest = NULL;
        _cleanup_(ca_store_freep) ca_store *store = NULL;
        _cleanup_(freep) char *default_store = NULL;
        ca_index_kind kind = ca_index_kind_from_name(t->output);
        bool catar = kind == CA_INDEX_UNKNOWN;
        bool blob = kind == CA_INDEX_BLOB;
        uint64_t flags = make_feature_flags(o, blob);
        make_sink s = {0};
        make_stats stats = {0};
        int r;

        if (catar) {
                size_t l = strlen(t->output);
                if (l < 6 || strcmp(t->output + l - 6, ".catar") != 0)
                        return ca_log_errno(CA_LOG_ERR, -EINVAL,
                                            "%s: the output must end in .catar, .caidx or .caibx",
                                            t->output);
        }
        if (blob != (t->source_fd >= 0 && t->blob))
                return ca_log_errno(CA_LOG_ERR, -EINVAL,
                                    blob ? "%s: a blob index (.caibx) is made from a regular file"
                                         : "%s: a directory archive (.catar, .caidx) is made "
                                           "from a directory",
                                    t->output);

        if (ret_digest) {
                r = ca_digest_new(ca_digest_type_from_flags(flags), &digest);
                if (r < 0)
                        return r;
                s.digest = digest;
        }

        if (catar) {
                r = make_catar(&s, flags, t, &stats);
                goto done;
        }

        if (!o->store) {
                default_store = make_default_store(t->output);
                if (!default_store)
                        return -ENOMEM;
        }
        r = ca_store_open(o->store ? o->store : default_store, CA_STORE_CREATE, &store);
        if (r < 0)
                return r;
        s.index = true;
        r = ca_make_index(
            &(ca_make_index_options){
                .feature_flags = flags,
                .chunk_size_min = o->chunk_size_min,
                .chunk_size_avg = o->chunk_size_avg,
                .chunk_size_max = o->chunk_size_max,
                .store = store,
                .compression = o->compression,
                .compression_level = o->compression_level,
                .jobs = o->jobs,
            },
            t->output, produce_catar, &(catar_job){&s, flags, t, &stats}, digest, &stats.chunks);
done:
        if (r < 0)
                return r;
        if (ret_digest) {
                r = ca_digest_final(digest, ret_digest->bytes);
                if (r < 0)
                        return r;
        }
        if (ret_stats)
                *ret_stats = stats;
        return 0;
}
