/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What `extract` and `mtree` share: name → kind, index → chunk sources → stream → decoder. */
#include <fcntl.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "fetcher/source/source.h"

ca_index_kind input_index_kind(const char *location)
{
        /* A registry holds images published by acfetch: archive indexes. */
        return url_is_oci(location) ? CA_INDEX_ARCHIVE : ca_index_kind_from_name(location);
}

static int kind_from_name(const char *location, input_kind *ret)
{
        ca_index_kind k = input_index_kind(location);
        if (k == CA_INDEX_ARCHIVE) {
                *ret = INPUT_CAIDX;
                return 0;
        }
        if (k == CA_INDEX_BLOB) {
                *ret = INPUT_CAIBX;
                return 0;
        }
        size_t n = strcspn(location, "?#");
        if (n >= 6 && strncmp(location + n - 6, ".catar", 6) == 0) {
                *ret = INPUT_CATAR;
                return 0;
        }
        return ca_log_errno(CA_LOG_ERR, -EINVAL,
                            "%s: cannot tell what this is from its name "
                            "(expected .caidx, .caibx or .catar)",
                            location);
}

/* casync's default: default.castr beside the index (query dropped). */
static char *default_store(const char *location)
{
        _cleanup_(freep) char *copy = strndup(location, strcspn(location, "?#"));
        if (!copy)
                return NULL;
        char *slash = strrchr(copy, '/');
        char *s = NULL;
        if (!slash)
                return strdup("default.castr");
        if (asprintf(&s, "%.*s/default.castr", (int)(slash - copy), copy) < 0)
                return NULL;
        return s;
}

static int load_remote_index(archive_input *in, const char *url)
{
        transfer_response resp = {};
        int r = url_is_oci(url)
                    ? registry_document_get(in->engine, url, (size_t)CA_INDEX_FILE_SIZE_MAX, &resp)
                    : transfer_get(in->engine, url, (size_t)CA_INDEX_FILE_SIZE_MAX, NULL, &resp);
        char note[1024];
        if (r == -ENOENT)
                r = ca_log_errno(CA_LOG_ERR, r, "%s: not found (HTTP %ld)%s",
                                 transfer_response_url(&resp, url), resp.status,
                                 transfer_redirect_note(&resp, url, note, sizeof(note)));
        if (r < 0) {
                transfer_response_clear(&resp);
                return r;
        }
        r = ca_index_parse(resp.body, resp.size, url, &in->index);
        transfer_response_clear(&resp);
        return r;
}

/* Refuses plain http once, up front, rather than once per chunk. */
static int check_plain_http(const char *location, const input_options *o)
{
        for (size_t i = 0; i <= o->n_stores; i++) {
                const char *u = i < o->n_stores ? o->stores[i] : location;
                if (u && url_is_plain_http(u) && !o->transfer.allow_http)
                        return ca_log_errno(CA_LOG_ERR, -EPROTO,
                                            "%s: plain http needs --insecure-options=http", u);
        }
        return 0;
}

static bool any_remote(const char *location, const input_options *o)
{
        bool remote = location && (url_is_remote(location) || url_is_oci(location));
        for (size_t i = 0; i < o->n_stores; i++)
                remote = remote || url_is_remote(o->stores[i]) || url_is_oci(o->stores[i]);
        return remote;
}

/* The transfer engine for remote work, with auth.d loaded (only now: a broken auth.d never
 * stops local work). */
int input_options_open_engine(const input_options *o, auth_config **ret_auth, transfer_engine **ret)
{
        int r = auth_config_load(o->config.system, o->config.local, ret_auth);
        if (r < 0)
                return r;
        transfer_options t = o->transfer;
        t.auth = *ret_auth;
        /* --jobs pins the number of requests in flight; without it the limit adapts. */
        if (o->jobs) {
                t.max_in_flight = o->jobs;
                t.fixed_in_flight = true;
        }
        return transfer_engine_new(&t, ret);
}

/* The image store, held while its chunks/ is filled (a gc waits), unless the caller lent one. */
static int open_cache(archive_input *in, aci_store *store, const input_options *o)
{
        if (!store) {
                int r = aci_store_open(o->store_dir, &store);
                if (r < 0)
                        return r;
                in->own_store = true;
        }
        in->store = store;
        in->cache = aci_store_chunks(store);
        return 0;
}

int archive_input_open(archive_input *in, const char *location, const input_options *o)
{
        *in = (archive_input){.location = location};
        int r = kind_from_name(location, &in->kind);
        if (r < 0)
                return r;
        r = check_plain_http(location, o);
        if (r < 0)
                return r;
        bool remote = any_remote(location, o);
        in->jobs = o->jobs ? o->jobs : remote ? INPUT_REMOTE_JOBS_DEFAULT : ca_default_jobs();

        if (in->kind == INPUT_CATAR) {
                if (strstr(location, "://") && strncasecmp(location, "file://", 7) != 0)
                        return ca_log_errno(CA_LOG_ERR, -EPROTONOSUPPORT,
                                            "%s: remote archives are not supported; publish an "
                                            "index (.caidx) and a chunk store instead",
                                            location);
                if (strncasecmp(location, "file://", 7) == 0)
                        in->location = location + 7;
                return 0;
        }

        if (remote) {
                r = input_options_open_engine(o, &in->auth, &in->engine);
                if (r < 0)
                        return r;
        }

        if (url_is_remote(location) || url_is_oci(location))
                r = load_remote_index(in, location);
        else
                r = ca_index_load(
                    strncasecmp(location, "file://", 7) == 0 ? location + 7 : location, &in->index);
        if (r < 0)
                return r;
        if (in->kind == INPUT_CAIDX && in->index->n_items == 0)
                return ca_bad("%s: archive index lists no chunks (an archive always has a root "
                              "entry)",
                              location);

        /* Downloads are kept for next time; local-only work needs no cache, unless seeds
         * are to supply chunks. */
        if ((remote || o->cache_local) && !o->no_cache) {
                r = open_cache(in, NULL, o);
                if (r < 0)
                        return r;
        }
        return archive_input_sources(in, location, o);
}

int archive_input_open_index(archive_input *in, ca_index *index, const char *location,
                             const char *index_url, aci_store *store, const input_options *o)
{
        *in = (archive_input){.location = location, .index = index};
        in->kind = input_index_kind(location) == CA_INDEX_BLOB ? INPUT_CAIBX : INPUT_CAIDX;
        int r = check_plain_http(index_url, o);
        if (r < 0)
                return r;
        bool remote = any_remote(index_url, o);
        in->jobs = o->jobs ? o->jobs : INPUT_REMOTE_JOBS_DEFAULT;
        if (remote) {
                r = input_options_open_engine(o, &in->auth, &in->engine);
                if (r < 0)
                        return r;
        }
        r = open_cache(in, store, o);
        if (r < 0)
                return r;
        /* With no --store and no index URL (a local import), the cache is all there is. */
        if (!index_url && o->n_stores == 0)
                return chunk_source_new(in->cache, in->engine, in->jobs, &in->source);
        return archive_input_sources(in, index_url ? index_url : location, o);
}

int archive_input_sources(archive_input *in, const char *location, const input_options *o)
{
        if (!in->jobs)
                in->jobs = o->jobs ? o->jobs : INPUT_REMOTE_JOBS_DEFAULT;
        int r = chunk_source_new(in->cache, in->engine, in->jobs, &in->source);
        if (r < 0)
                return r;
        /* Concurrent fetches into one store download each chunk once. A claim held longer than
         * the stall timeout belongs to a stuck owner: the chunk is downloaded anyway. */
        if (in->store && in->cache == aci_store_chunks(in->store) && in->engine) {
                r = chunk_source_set_claims(in->source, in->store, o->transfer.stall_timeout);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < o->n_stores; i++) {
                r = url_is_oci(o->stores[i])
                        ? chunk_source_add_registry(in->source, o->stores[i], in->index)
                        : chunk_source_add(in->source, o->stores[i]);
                if (r < 0)
                        return r;
        }
        /* An index in a registry: its chunks are listed by the same manifest. */
        if (o->n_stores == 0 && url_is_oci(location))
                return chunk_source_add_registry(in->source, location, in->index);
        if (o->n_stores == 0) {
                _cleanup_(freep) char *def = default_store(location);
                if (!def)
                        return -ENOMEM;
                r = chunk_source_add(in->source, def);
                if (r < 0)
                        return r;
        }
        return 0;
}

void archive_input_close(archive_input *in)
{
        chunk_source_free(in->source);
        transfer_engine_free(in->engine);
        auth_config_free(in->auth);
        if (in->own_store)
                aci_store_free(in->store);
        ca_index_free(in->index);
        *in = (archive_input){};
}

static int read_file_stream(const char *path, ca_stream_writer write, void *userdata)
{
        _cleanup_(closep) int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return ca_log_errno(CA_LOG_ERR, negative_errno(), "%s: %m", path);
        return ca_stream_fd(fd, path, write, userdata);
}

int archive_input_stream(archive_input *in, ca_stream_writer write, void *userdata)
{
        if (in->kind == INPUT_CATAR)
                return read_file_stream(in->location, write, userdata);
        return ca_assemble(in->index, in->jobs, chunk_source_get, in->source, write, userdata,
                           NULL);
}

static int feed_decoder(void *userdata, const void *data, size_t size)
{
        return ca_decoder_feed(userdata, data, size);
}

int archive_input_decode(archive_input *in, const ca_sink *sink)
{
        if (in->kind == INPUT_CAIBX)
                return ca_log_errno(CA_LOG_ERR, -EMEDIUMTYPE,
                                    "%s: a blob index holds a file, not a directory archive",
                                    in->location);

        _cleanup_(ca_decoder_freep) ca_decoder *d = NULL;
        uint64_t expected = in->kind == INPUT_CAIDX ? in->index->feature_flags : UINT64_MAX;
        int r = ca_decoder_new(sink, expected, in->location, &d);
        if (r < 0)
                return r;
        r = archive_input_stream(in, feed_decoder, d);
        if (r < 0)
                return r;
        return ca_decoder_finish(d);
}
