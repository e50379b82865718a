/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What `extract` and `mtree` share: name → kind, index → stores → stream → decoder. */
#include <fcntl.h>
#include <libgen.h>
#include <string.h>
#include <sys/stat.h>

#include "fetcher/acfetch.h"

static int kind_from_name(const char *path, input_kind *ret)
{
        ca_index_kind k = ca_index_kind_from_name(path);
        if (k == CA_INDEX_ARCHIVE) {
                *ret = INPUT_CAIDX;
                return 0;
        }
        if (k == CA_INDEX_BLOB) {
                *ret = INPUT_CAIBX;
                return 0;
        }
        size_t n = strlen(path);
        if (n >= 6 && strcmp(path + n - 6, ".catar") == 0) {
                *ret = INPUT_CATAR;
                return 0;
        }
        return ca_log_errno(CA_LOG_ERR, -EINVAL,
                            "%s: cannot tell what this is from its name "
                            "(expected .caidx, .caibx or .catar)",
                            path);
}

static bool is_url(const char *s)
{
        return strstr(s, "://") != NULL;
}

static int add_store(archive_input *in, const char *path)
{
        if (is_url(path) && strncmp(path, "file://", 7) != 0)
                return ca_log_errno(CA_LOG_ERR, -EPROTONOSUPPORT,
                                    "%s: remote stores are not supported by this build", path);
        if (strncmp(path, "file://", 7) == 0)
                path += 7;

        ca_store **p = realloc(in->stores.stores, (in->stores.n_stores + 1) * sizeof(*p));
        if (!p)
                return -ENOMEM;
        in->stores.stores = p;
        int r = ca_store_open(path, CA_STORE_READ_ONLY, &p[in->stores.n_stores]);
        if (r < 0)
                return ca_log_errno(CA_LOG_ERR, r, "%s: cannot open chunk store: %s", path,
                                    strerror(-r));
        in->stores.n_stores++;
        return 0;
}

int archive_input_open(archive_input *in, const char *path, char **store_paths,
                       size_t n_store_paths, unsigned jobs)
{
        *in = (archive_input){.path = path, .jobs = jobs};
        int r = kind_from_name(path, &in->kind);
        if (r < 0)
                return r;
        if (in->kind == INPUT_CATAR)
                return 0;
        if (is_url(path))
                return ca_log_errno(CA_LOG_ERR, -EPROTONOSUPPORT,
                                    "%s: remote indexes are not supported by this build", path);

        r = ca_index_load(path, &in->index);
        if (r < 0)
                return r;
        if (in->kind == INPUT_CAIDX && in->index->n_items == 0)
                return ca_bad("%s: archive index lists no chunks (an archive always has a root "
                              "entry)",
                              path);

        for (size_t i = 0; i < n_store_paths; i++) {
                r = add_store(in, store_paths[i]);
                if (r < 0)
                        return r;
        }
        if (n_store_paths == 0) {
                /* As casync: the store sits beside the index. */
                _cleanup_(freep) char *copy = strdup(path);
                _cleanup_(freep) char *def = NULL;
                if (!copy || asprintf(&def, "%s/default.castr", dirname(copy)) < 0)
                        return -ENOMEM;
                r = add_store(in, def);
                if (r < 0)
                        return r;
        }
        return 0;
}

void archive_input_close(archive_input *in)
{
        for (size_t i = 0; i < in->stores.n_stores; i++)
                ca_store_free(in->stores.stores[i]);
        free(in->stores.stores);
        ca_index_free(in->index);
        *in = (archive_input){};
}

static int store_list_get_named(void *userdata, const ca_index_item *item, ca_digest_type t,
                                void *buf)
{
        int r = ca_store_list_get(userdata, item, t, buf);
        if (r == -ENOENT) {
                char hex[CA_CHUNK_ID_HEX_SIZE];
                ca_log_error("chunk %s not found in any store", ca_chunk_id_to_hex(&item->id, hex));
        }
        return r;
}

static int read_file_stream(const char *path, ca_stream_writer write, void *userdata)
{
        _cleanup_(closep) int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return ca_log_errno(CA_LOG_ERR, negative_errno(), "%s: %m", path);
        const size_t bufsize = 1 << 20;
        _cleanup_(freep) uint8_t *buf = malloc(bufsize);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t n = read(fd, buf, bufsize);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return ca_log_errno(CA_LOG_ERR, negative_errno(), "%s: read: %m", path);
                }
                if (n == 0)
                        return 0;
                int r = write(userdata, buf, (size_t)n);
                if (r < 0)
                        return r;
        }
}

int archive_input_stream(archive_input *in, ca_stream_writer write, void *userdata)
{
        if (in->kind == INPUT_CATAR)
                return read_file_stream(in->path, write, userdata);
        return ca_assemble(in->index, in->jobs, store_list_get_named, &in->stores, write,
                           userdata, NULL);
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
                                    in->path);

        _cleanup_(ca_decoder_freep) ca_decoder *d = NULL;
        uint64_t expected = in->kind == INPUT_CAIDX ? in->index->feature_flags : UINT64_MAX;
        int r = ca_decoder_new(sink, expected, in->path, &d);
        if (r < 0)
                return r;
        r = archive_input_stream(in, feed_decoder, d);
        if (r < 0)
                return r;
        return ca_decoder_finish(d);
}
