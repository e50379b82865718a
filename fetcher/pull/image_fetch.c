/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fetching one image by name: the image resolved (image_resolve.c: pull policy, meta discovery,
 * the index revalidated with its ETag and max-age, its signature), then one pass over the archive that checks the ACI layout and the
 * manifest, writes the tree and hashes the canonical tar (the image ID) at once; then the
 * dependencies, and the rendered tree installed in the store.
 */
#include <fcntl.h>
#include <openssl/evp.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "casync/fs_safe.h"
#include "casync/writeback.h"
#include "fetcher/pull/pull.h"

/* ---------------------------------------------------------------- what the user sees */

void fetch_report_phase(fetch_context *ctx, const char *name, fetch_phase ph,
                        const archive_input *in, uint64_t tree_bytes)
{
        if (ctx->progress.phase)
                ctx->progress.phase(ctx->progress.userdata, name, ph, in, tree_bytes);
}

static double seconds_now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---------------------------------------------------------------- records */

void fetch_record_touch(aci_image_record *r)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        r->fetched = (int64_t)ts.tv_sec;
        r->fetched_nsec = (int64_t)ts.tv_nsec;
}

static int fill_record(aci_image_record *r, const aci_manifest *m, const uint8_t sha512[64],
                       uint64_t size, const char *url, const transfer_response *resp,
                       const void *index, size_t index_size, bool latest)
{
        memcpy(r->id, "sha512-", 7);
        hex_encode(sha512, 64, r->id + 7);
        aci_key_from_id(r->id, r->key);
        uint8_t d[32];
        if (EVP_Digest(index, index_size, d, NULL, EVP_sha256(), NULL) != 1)
                return -EIO;
        hex_encode(d, 32, r->index_digest);
        r->name = strdup(aci_manifest_name(m));
        r->index_url = strdup(url);
        r->etag = resp->etag ? strdup(resp->etag) : NULL;
        r->max_age = resp->max_age;
        fetch_record_touch(r);
        r->size = size;
        r->latest = latest;
        size_t n;
        const aci_label *l = aci_manifest_labels(m, &n);
        r->labels = calloc(n + 1, sizeof(*r->labels));
        if (!r->name || !r->index_url || (resp->etag && !r->etag) || !r->labels)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                r->labels[i].name = strdup(l[i].name);
                r->labels[i].value = strdup(l[i].value);
                r->n_labels++;
                if (!r->labels[i].name || !r->labels[i].value)
                        return -ENOMEM;
        }
        return 0;
}

/* ---------------------------------------------------------------- the archive pass */

int fetch_check_manifest(const fetch_context *ctx, const dc_image *img, const char *url,
                         const aci_manifest *m)
{
        _cleanup_(freep) aci_label *labels = aci_request_labels(img);
        _cleanup_(freep) char *why = NULL;
        if (!labels)
                return -ENOMEM;
        int r = aci_manifest_matches(m, img->name, labels, img->n_labels, &why);
        if (r < 0)
                return r;
        if (r == 0 && !(ctx->insecure & INSECURE_IMAGE))
                return ca_log_errno(CA_LOG_ERR, -EBADMSG,
                                    "%s: %s; refusing the image from %s (--insecure-options=image "
                                    "skips this check)",
                                    img->name, why ? why : "manifest mismatch", url);
        if (r == 0)
                ca_log_warning("%s: %s (accepted: --insecure-options=image)", img->name,
                               why ? why : "manifest mismatch");
        return 0;
}

typedef struct pass {
        fetch_context *ctx;
        const dc_image *img;
        const char *url;
        aci_layout *layout;
        aci_manifest *manifest; /* parsed when rootfs/ begins */
        aci_whitelist whitelist;
        ca_sink inner;
        EVP_MD_CTX *md;
} pass;

/* Checks the manifest as soon as it is complete: before rootfs/ begins, so a wrong image is
 * refused before most of its chunks are requested. */
static int pass_check_manifest(pass *p)
{
        size_t size = 0;
        const char *json = aci_layout_manifest(p->layout, &size);
        if (!json)
                return ca_bad("%s: the image's manifest is incomplete", p->url);
        _cleanup_(freep) char *what = NULL;
        if (asprintf(&what, "%s: manifest", p->url) < 0)
                return -ENOMEM;
        int r = aci_manifest_parse(json, size, what, &p->manifest);
        if (r < 0)
                return r;
        if (fetch_by_location(p->ctx)) /* the manifest names the image */
                r = fetch_verify_signer(p->ctx, aci_manifest_name(p->manifest));
        else
                r = fetch_check_manifest(p->ctx, p->img, p->url, p->manifest);
        p->whitelist.own = aci_manifest_path_whitelist(p->manifest, &p->whitelist.n_own);
        return r;
}

static int pass_begin(void *userdata, const ca_node *n)
{
        pass *p = userdata;
        if (n->depth == 1 && strcmp(n->name, "rootfs") == 0 && !p->manifest) {
                int r = pass_check_manifest(p);
                if (r < 0)
                        return r;
        }
        return p->inner.node_begin(p->inner.userdata, n);
}

static int pass_payload(void *userdata, const ca_node *n, const void *data, size_t size)
{
        pass *p = userdata;
        return p->inner.payload(p->inner.userdata, n, data, size);
}

static int pass_end(void *userdata, const ca_node *n)
{
        pass *p = userdata;
        return p->inner.node_end(p->inner.userdata, n);
}

static int pass_finish(void *userdata)
{
        pass *p = userdata;
        return p->inner.finish(p->inner.userdata);
}

static int pass_filter(void *userdata, const ca_node *n)
{
        pass *p = userdata;
        return p->manifest ? aci_whitelist_filter(&p->whitelist, n) : 1;
}

static int hash_write(void *userdata, const void *data, size_t size)
{
        return EVP_DigestUpdate(userdata, data, size) == 1 ? 0 : -EIO;
}

typedef struct fetched {
        aci_image_record record;
        bool have_tree; /* tmp tree holds the image itself */
        char tree[32];  /* its name in our work directory */
        uint8_t *index;
        size_t index_size;
        char *manifest;
        size_t manifest_size;
} fetched;

static void fetched_done(fetched *f)
{
        aci_image_record_done(&f->record);
        free(f->index);
        free(f->manifest);
        *f = (fetched){};
}

/*
 * Seeds supply what they can before anything is downloaded: the --seed values, then the newest
 * rendered tree of the same name (the previous version, usually).
 */
static int apply_seeds(fetch_context *ctx, const dc_image *img)
{
        seed_target t = {
            .index = ctx->in.index,
            .store = ctx->store,
            .source = ctx->in.source,
        };
        _cleanup_(freep) char *tree =
            ctx->io->seeds.no_auto ? NULL : seed_newest_tree(ctx->store, img->name);
        if (tree || ctx->io->seeds.n > 0)
                fetch_report_phase(ctx, img->name, FETCH_SEEDING, NULL, 0);
        int r = seed_apply_list(&t, &ctx->io->seeds, tree);
        if (r > 0) {
                ctx->stats.chunks_seeded += (uint64_t)r;
                ctx->image_stats.chunks_seeded += (uint64_t)r;
        }
        return r;
}

/*
 * Streams the new index's chunks (the local chunk store first, then the remote stores) through
 * layout check + manifest check, the extraction into our work directory (when rendering) and
 * the tar hash. src is where the index is (its chunk stores beside it), url what the record
 * names (they differ for an imported .aci). local: every chunk is in the local store already (an
 * imported .aci, a mount whose prefetch completed): no other store is asked.
 */
static int decode_new(fetch_context *ctx, const dc_image *img, const char *src, const char *url,
                      const transfer_response *resp, bool local, fetched *f)
{
        int r = ca_index_parse(resp->body, resp->size, src, &ctx->in.index);
        if (r < 0)
                return r;
        if (input_index_kind(src) != CA_INDEX_ARCHIVE || ctx->in.index->n_items == 0)
                return ca_bad("%s: not an archive index with chunks", src);

        ctx->in.location = src;
        ctx->in.kind = INPUT_CAIDX;
        if (local)
                r = chunk_source_new(ctx->in.cache, ctx->in.engine,
                                     ctx->in.jobs ? ctx->in.jobs : ca_default_jobs(),
                                     &ctx->in.source);
        else
                r = archive_input_sources(&ctx->in, src, ctx->io);
        if (r < 0)
                return r;
        r = apply_seeds(ctx, img);
        if (r < 0)
                return r;

        int work_fd;
        const char *work_path;
        r = aci_store_tmp(ctx->store, &work_fd, &work_path);
        if (r < 0)
                return r;

        pass p = {.ctx = ctx, .img = img, .url = url, .md = EVP_MD_CTX_new()};
        _cleanup_(aci_layout_freep) aci_layout *layout = NULL;
        _cleanup_(ca_tar_freep) ca_tar *tar = NULL;
        _cleanup_(ca_extract_freep) ca_extract *ex = NULL;
        _cleanup_(freep) char *dest = NULL, *trees = NULL;
        ca_sink layout_sink, tar_sink, extract_sink, both, sink;
        ca_tee t1, t2;
        if (!p.md || EVP_DigestInit_ex(p.md, EVP_sha512(), NULL) != 1) {
                r = -ENOMEM;
                goto out;
        }
        r = aci_layout_new(url, &layout, &layout_sink);
        if (r >= 0)
                r = ca_tar_new(hash_write, p.md, &tar, &tar_sink);
        if (r < 0)
                goto out;
        p.layout = layout;
        /* The layout sink goes first: it must hold the manifest before rootfs/ begins. */
        ca_tee_init(&t1, &layout_sink, &tar_sink, &p.inner);
        if (ctx->render) {
                snprintf(f->tree, sizeof(f->tree), "tree-%u", ctx->n_trees++);
                if (asprintf(&dest, "%s/%s", work_path, f->tree) < 0) {
                        r = -ENOMEM;
                        goto out;
                }
                /* A full file system is the store's trees/ to the user, not our work path. */
                if (asprintf(&trees, "%s/trees", aci_store_path(ctx->store)) < 0) {
                        r = -ENOMEM;
                        goto out;
                }
                ca_extract_options eo = {.no_same_owner = ctx->no_same_owner,
                                         .filter = pass_filter,
                                         .filter_userdata = &p,
                                         .dest_name = trees};
                r = ca_extract_new(dest, &eo, &ex, &extract_sink);
                if (r < 0)
                        goto out;
                both = p.inner;
                ca_tee_init(&t2, &both, &extract_sink, &p.inner);
        }
        sink = (ca_sink){.node_begin = pass_begin,
                         .payload = pass_payload,
                         .node_end = pass_end,
                         .finish = pass_finish,
                         .userdata = &p};

        fetch_report_phase(ctx, img->name, FETCH_DOWNLOADING, &ctx->in,
                           ctx->render ? ctx->in.index->total_size : 0);
        /*
         * While the download is the bound, the tree and the chunks written so far go to disk when
         * the CPUs have time to spare: otherwise all of it is written by the sync before the tree
         * is installed, after the last chunk came (see casync/writeback.h). Only when rendering:
         * chunks alone are not synced.
         */
        ca_writeback *wb = NULL;
        if (ex)
                (void)ca_writeback_start(work_fd, NULL, &wb);
        r = archive_input_decode(&ctx->in, &sink);
        wb = ca_writeback_stop(wb);
        fetch_report_phase(ctx, img->name, ctx->render ? FETCH_RENDERING : FETCH_STORING, NULL, 0);
        if (r < 0)
                goto out;
        if (ex) {
                r = ca_extract_commit(ex);
                if (r < 0)
                        goto out;
                f->have_tree = true;
        }
        if (ca_tar_sockets_skipped(tar) > 0)
                ca_log_warning("%s: %llu sockets are not part of the image (tar cannot hold "
                               "them)",
                               img->name, (unsigned long long)ca_tar_sockets_skipped(tar));
        uint8_t md[64];
        if (EVP_DigestFinal_ex(p.md, md, NULL) != 1) {
                r = -EIO;
                goto out;
        }
        size_t msize = 0;
        const char *mjson = aci_layout_manifest(layout, &msize);
        f->manifest = malloc(msize + 1);
        if (!f->manifest || !mjson) {
                r = -ENOMEM;
                goto out;
        }
        memcpy(f->manifest, mjson, msize);
        f->manifest_size = msize;
        r = fill_record(&f->record, p.manifest, md, ca_tar_bytes_written(tar), url, resp,
                        resp->body, resp->size,
                        !fetch_by_location(ctx) && !dc_image_label(img, "version"));
out:
        if (r < 0 && f->tree[0] && !f->have_tree)
                f->tree[0] = 0;
        EVP_MD_CTX_free(p.md);
        aci_manifest_free(p.manifest);
        return r;
}

/* ---------------------------------------------------------------- trees and dependencies */

static void stats_add(fetch_context *ctx)
{
        if (!ctx->in.source)
                return;
        const chunk_source_stats *s = chunk_source_get_stats(ctx->in.source);
        ctx->stats.chunks += ctx->in.index ? ctx->in.index->n_items : 0;
        ctx->stats.chunks_local += s->local_chunks;
        ctx->stats.chunks_downloaded += s->remote_chunks;
        ctx->stats.bytes_downloaded += s->wire_bytes;
        ctx->image_stats.chunks += ctx->in.index ? ctx->in.index->n_items : 0;
        ctx->image_stats.chunks_local += s->local_chunks;
        ctx->image_stats.chunks_downloaded += s->remote_chunks;
        ctx->image_stats.bytes_downloaded += s->wire_bytes;
}

static void input_reset(fetch_context *ctx)
{
        stats_add(ctx);
        chunk_source_free(ctx->in.source);
        ca_index_free(ctx->in.index);
        ctx->in.source = NULL;
        ctx->in.index = NULL;
}

/*
 * Makes sure trees/<key> is complete: the image's own tree from this fetch (tree, in our work
 * directory) or a fresh render from the store, with the dependencies merged in.
 */
static int ensure_tree(fetch_context *ctx, const aci_image_record *r, const char *tree)
{
        int work_fd;
        const char *work_path;
        int k = aci_store_tmp(ctx->store, &work_fd, &work_path);
        if (k < 0)
                return k;
        /* A tree a runtime wrote into is rendered again (rkt's ondisk check). */
        k = aci_store_tree_intact(ctx->store, r->key, !(ctx->insecure & INSECURE_ONDISK));
        if (k != 0) {
                if (tree) /* the same image's tree is there already */
                        fs_remove_tree_at(work_fd, tree);
                return k < 0 ? k : 0;
        }
        aci_render_list l = {};
        k = aci_render_list_build(ctx->store, r, &l);
        if (k < 0)
                return k;
        char name[32];
        if (tree)
                snprintf(name, sizeof(name), "%s", tree);
        else
                snprintf(name, sizeof(name), "tree-%u", ctx->n_trees++);
        _cleanup_(freep) char *path = NULL;
        if (asprintf(&path, "%s/%s", work_path, name) < 0) {
                aci_render_list_done(&l);
                return -ENOMEM;
        }
        _cleanup_(freep) char *trees = NULL;
        if (asprintf(&trees, "%s/trees", aci_store_path(ctx->store)) < 0) {
                aci_render_list_done(&l);
                return -ENOMEM;
        }
        fetch_report_phase(ctx, r->name, FETCH_RENDERING, NULL, tree ? 0 : r->size);
        aci_render_options o = {
            .no_same_owner = ctx->no_same_owner, .jobs = ca_default_jobs(), .dest_name = trees};
        if (tree)
                k = aci_render_merge(ctx->store, &l, 1, path, &o);
        else
                k = aci_render(ctx->store, &l, path, &o);
        if (l.n > 1 && k >= 0)
                ca_log_debug("%s: rendered with %zu dependencies", r->name, l.n - 1);
        aci_render_list_done(&l);
        if (k >= 0)
                k = aci_store_install_tree(ctx->store, r->key, work_fd, name, &o);
        if (k < 0)
                fs_remove_tree_at(work_fd, name);
        return k;
}

static int fetch_dependencies(fetch_context *ctx, const aci_image_record *r)
{
        _cleanup_(freep) char *dir = aci_store_image_file(ctx->store, r->key, "");
        if (!dir)
                return -ENOMEM;
        _cleanup_(closep) int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return ca_log_errno(CA_LOG_ERR, negative_errno(), "%s: %m", dir);
        _cleanup_(aci_manifest_freep) aci_manifest *m = NULL;
        int k = aci_manifest_load_at(fd, "manifest", dir, &m);
        if (k < 0)
                return k;
        size_t n;
        const aci_dependency *deps = aci_manifest_dependencies(m, &n);
        if (n > 0 && ctx->depth >= ACI_RENDER_DEPTH_MAX)
                return ca_bad("%s: dependencies nest deeper than %d levels", r->name,
                              ACI_RENDER_DEPTH_MAX);
        for (size_t i = 0; i < n; i++) {
                aci_image_record dep;
                if (deps[i].image_id &&
                    aci_store_resolve_id_quiet(ctx->store, deps[i].image_id, &dep) >= 0) {
                        aci_image_record_done(&dep);
                        continue;
                }
                for (unsigned d = 0; d < ctx->depth; d++)
                        if (strcmp(ctx->chain[d], deps[i].image_name) == 0)
                                return ca_bad("%s: dependency cycle through %s", r->name,
                                              deps[i].image_name);
                _cleanup_(dc_image_freep) dc_image *img = NULL;
                k = dc_image_parse(deps[i].image_name, &img);
                for (size_t j = 0; k >= 0 && j < deps[i].n_labels; j++)
                        k = dc_image_set_label(img, deps[i].labels[j].name,
                                               deps[i].labels[j].value);
                if (k < 0)
                        return ca_log_errno(CA_LOG_ERR, k, "%s: bad dependency %s", r->name,
                                            deps[i].image_name);
                ca_log_info("%s: fetching dependency %s", r->name, deps[i].image_name);
                ctx->chain[ctx->depth++] = r->name;
                k = fetch_image(ctx, img, &dep);
                ctx->depth--;
                if (k < 0)
                        return k;
                if (deps[i].image_id &&
                    strncmp(dep.key, deps[i].image_id,
                            MIN(strlen(deps[i].image_id), (size_t)ACI_KEY_SIZE - 1)) != 0) {
                        k = ca_bad("%s: dependency %s is %s, but the manifest wants %s", r->name,
                                   deps[i].image_name, dep.id, deps[i].image_id);
                        aci_image_record_done(&dep);
                        return k;
                }
                aci_image_record_done(&dep);
        }
        return 0;
}

/* ---------------------------------------------------------------- one image */

static int discard(void *userdata, const void *data, size_t size)
{
        return 0;
}

/*
 * A stored image whose chunks went missing (verify removed a corrupt one, or the store was
 * cleaned by hand) is repaired from where its index came from: only the missing chunks move.
 */
static int ensure_chunks(fetch_context *ctx, const aci_image_record *r)
{
        _cleanup_(freep) char *path = aci_store_image_file(ctx->store, r->key, "index.caidx");
        if (!path)
                return -ENOMEM;
        ca_index *idx = NULL;
        int k = ca_index_load(path, &idx);
        if (k < 0)
                return k;
        size_t n = 0;
        for (size_t i = 0; i < idx->n_items; i++) {
                k = ca_store_has(aci_store_chunks(ctx->store), &idx->items[i].id);
                if (k < 0) {
                        ca_index_free(idx);
                        return ca_log_errno(CA_LOG_ERR, k, "%s: %s",
                                            ca_store_path(aci_store_chunks(ctx->store)),
                                            strerror(-k));
                }
                if (k == 0)
                        idx->items[n++] = idx->items[i];
        }
        if (n == 0) {
                ca_index_free(idx);
                return 0;
        }
        if (!r->index_url || ctx->policy == PULL_NEVER) {
                ca_index_free(idx);
                return ca_log_errno(CA_LOG_ERR, -ENOENT,
                                    "image %s (%s): %zu chunks are missing from the store and "
                                    "cannot be fetched again%s",
                                    r->key, r->name, n,
                                    ctx->policy == PULL_NEVER ? " with --pull-policy=never" : "");
        }
        ca_log_info("%s: %zu chunks are missing from the store; fetching them again", r->name, n);
        idx->n_items = n;
        ctx->in.index = idx;
        ctx->in.location = r->index_url;
        ctx->in.kind = INPUT_CAIDX;
        k = archive_input_sources(&ctx->in, r->index_url, ctx->io);
        if (k >= 0) {
                fetch_report_phase(ctx, r->name, FETCH_DOWNLOADING, &ctx->in, 0);
                k = ca_assemble(idx, ctx->in.jobs, chunk_source_get, ctx->in.source, discard, NULL,
                                NULL);
                fetch_report_phase(ctx, r->name, ctx->render ? FETCH_RENDERING : FETCH_STORING,
                                   NULL, 0);
        }
        input_reset(ctx);
        return k;
}

static int finish_image(fetch_context *ctx, const aci_image_record *r, const char *tree)
{
        int k = tree ? 0 : ensure_chunks(ctx, r);
        if (k >= 0)
                k = fetch_dependencies(ctx, r);
        if (k >= 0 && ctx->render)
                k = ensure_tree(ctx, r, tree);
        return k;
}

/*
 * An index whose signature verified (or that is not checked): decoded, stored with its record
 * (the signature beside it when keep_sig), then its dependencies and tree. prev: what the same
 * URL gave before, if anything. local: every chunk is in the local store (see decode_new).
 */
static int store_new(fetch_context *ctx, const dc_image *img, const char *src, const char *url,
                     const transfer_response *resp, const index_signature *sig, bool keep_sig,
                     const aci_image_record *prev, bool local, aci_image_record *ret)
{
        fetched f = {};
        int k = decode_new(ctx, img, src, url, resp, local, &f);
        input_reset(ctx);
        if (k >= 0)
                k = index_signature_accept(sig, &f.record);
        if (k >= 0) {
                if (ctx->depth == 0)
                        ctx->changed = !prev || strcmp(prev->id, f.record.id) != 0;
                k = aci_store_add_signed(ctx->store, &f.record, resp->body, resp->size,
                                         keep_sig ? sig->data : NULL, keep_sig ? sig->size : 0,
                                         f.manifest, f.manifest_size);
        }
        if (k >= 0)
                k = finish_image(ctx, &f.record, f.have_tree ? f.tree : NULL);
        if (k < 0 && f.have_tree) {
                int work_fd;
                if (aci_store_tmp(ctx->store, &work_fd, NULL) >= 0)
                        fs_remove_tree_at(work_fd, f.tree);
        }
        if (k >= 0) {
                *ret = f.record;
                f.record = (aci_image_record){};
        }
        fetched_done(&f);
        return k;
}

int fetch_import_index(fetch_context *ctx, const char *index_path, const char *url,
                       const void *index, size_t index_size, const index_signature *sig,
                       aci_image_record *ret)
{
        dc_image img = {.name = (char *)url};
        transfer_response resp = {
            .status = 200, .body = (uint8_t *)index, .size = index_size, .max_age = -1};
        *ret = (aci_image_record){.max_age = -1};
        fetch_stats outer = ctx->image_stats;
        ctx->image_stats = (fetch_stats){};
        double start = seconds_now();
        int k = store_new(ctx, &img, index_path, url, &resp, sig, false, NULL, true, ret);
        if (ctx->progress.done)
                ctx->progress.done(ctx->progress.userdata, url, k, FETCH_NEW, k >= 0 ? ret : NULL,
                                   &ctx->image_stats, seconds_now() - start);
        ctx->image_stats = outer;
        return k;
}

static int fetch_one(fetch_context *ctx, const dc_image *img, fetch_outcome *how,
                     aci_image_record *ret)
{
        *ret = (aci_image_record){.max_age = -1};
        image_resolution res;
        int k = fetch_resolve(ctx, img, &res);
        if (k < 0)
                return k;
        *how = res.how;
        if (res.how == FETCH_NEW) {
                k = store_new(ctx, img, res.url, res.url, &res.index, &res.sig, true,
                              res.have_prev ? &res.prev : NULL, false, ret);
        } else {
                /* The stored image: its chunks, dependencies and tree made ready. */
                k = finish_image(ctx, &res.record, NULL);
                if (k >= 0) {
                        *ret = res.record;
                        res.record = (aci_image_record){};
                }
        }
        image_resolution_done(&res);
        return k;
}

int fetch_record_local(fetch_context *ctx, const dc_image *img, const image_resolution *res,
                       aci_image_record *ret)
{
        *ret = (aci_image_record){.max_age = -1};
        if (res->how != FETCH_NEW)
                return -EINVAL;
        return store_new(ctx, img, res->url, res->url, &res->index, &res->sig, true,
                         res->have_prev ? &res->prev : NULL, true, ret);
}

int fetch_image(fetch_context *ctx, const dc_image *img, aci_image_record *ret)
{
        /* The figures of this image alone: a dependency's fetch keeps its own. */
        fetch_stats outer = ctx->image_stats;
        ctx->image_stats = (fetch_stats){};
        double start = seconds_now();
        fetch_outcome how = FETCH_NEW;
        int k = fetch_one(ctx, img, &how, ret);
        if (ctx->progress.done)
                ctx->progress.done(ctx->progress.userdata, img->name, k, how, k >= 0 ? ret : NULL,
                                   &ctx->image_stats, seconds_now() - start);
        ctx->image_stats = outer;
        return k;
}
