/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Resolving an image by name without decoding it: the pull policy, meta discovery, the index
 * (revalidated with its ETag and max-age) and its signature verified; the result is a stored
 * image or a new, verified index. fetch decodes the index next (image_fetch.c); a mount serves
 * it at once, after reading the manifest from the archive's first entries.
 */
#include <openssl/evp.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fetcher/pull/pull.h"

/* ---------------------------------------------------------------- discovery */

/* ret_pubkeys: also look for ac-discovery-pubkeys (NULL: don't); *ret_pubkeys may stay NULL. */
static int discover(fetch_context *ctx, const dc_image *img, char **ret_url, char **ret_pubkeys)
{
        bool allow_http = ctx->insecure & INSECURE_HTTP;
        discovery_http h = {.engine = ctx->engine, .auth = ctx->auth, .http_fallback = allow_http};
        dc_discover_options o = {
            .http_get = discovery_http_get,
            .userdata = &h,
            .allow_http = allow_http,
            .skip_pubkeys = !ret_pubkeys,
        };
        dc_endpoints e;
        int r = dc_discover(img, &o, &e);
        if (ca_log_get_max_level() >= CA_LOG_DEBUG)
                dc_endpoints_print_attempts(&e, stderr);
        if (r >= 0 && !image_url_is_index(e.image_url))
                r = ca_log_errno(CA_LOG_ERR, -EPROTONOSUPPORT,
                                 "%s: unsupported payload %s (acfetch fetches casync archive "
                                 "indexes, URLs ending in .caidx, and images in registries, "
                                 "oci://)",
                                 img->name, e.image_url);
        if (r >= 0) {
                ca_log_debug("%s: image index %s", img->name, e.image_url);
                *ret_url = TAKE_PTR(e.image_url);
                if (ret_pubkeys)
                        *ret_pubkeys = TAKE_PTR(e.pubkeys_url);
        }
        dc_endpoints_done(&e);
        return r;
}

/* ---------------------------------------------------------------- requests and records */

static int check_record(const fetch_context *ctx, const aci_image_record *r, const dc_image *img)
{
        if (fetch_by_location(ctx)) /* no name was asked for */
                return 0;
        _cleanup_(freep) char *why = NULL;
        _cleanup_(freep) aci_label *labels = aci_request_labels(img);
        if (!labels)
                return -ENOMEM;
        int k = aci_image_matches(r->name, r->labels, r->n_labels, img->name, labels, img->n_labels,
                                  "image", &why);
        if (k != 0)
                return MIN(k, 0);
        if (ctx->insecure & INSECURE_IMAGE) {
                ca_log_warning("%s: %s (accepted: --insecure-options=image)", img->name,
                               why ? why : "mismatch");
                return 0;
        }
        return ca_log_errno(CA_LOG_ERR, -EBADMSG, "%s: %s; refusing the image", img->name,
                            why ? why : "it is not the image requested");
}

static int from_store(fetch_context *ctx, const dc_image *img, aci_image_record *ret)
{
        if (fetch_by_location(ctx))
                return aci_store_find_by_url(ctx->store, ctx->location, ret);
        _cleanup_(freep) aci_label *labels = aci_request_labels(img);
        if (!labels)
                return -ENOMEM;
        return aci_store_find(ctx->store, img->name, labels, img->n_labels, ret);
}

void image_resolution_done(image_resolution *r)
{
        aci_image_record_done(&r->record);
        free(r->url);
        transfer_response_clear(&r->index);
        index_signature_done(&r->sig);
        aci_image_record_done(&r->prev);
        *r = (image_resolution){};
}

/*
 * The image stored from the same URL stays (fresh, or not modified): its record is checked
 * against the request and saved when save is set (new ETag, max-age, fetch time).
 */
static int reuse_stored(fetch_context *ctx, const dc_image *img, image_resolution *res, bool save)
{
        int k = check_record(ctx, &res->prev, img);
        if (k >= 0 && save)
                k = aci_store_update_record(ctx->store, &res->prev);
        if (k < 0)
                return k;
        res->record = res->prev;
        res->prev = (aci_image_record){.max_age = -1};
        res->have_prev = false;
        return 0;
}

static int resolve(fetch_context *ctx, const dc_image *img, image_resolution *res)
{
        int k;
        if (ctx->policy != PULL_UPDATE) {
                k = from_store(ctx, img, &res->record);
                if (k >= 0) {
                        res->how = FETCH_FROM_STORE;
                        ca_log_debug("%s: using %s from the store", img->name, res->record.key);
                        return 0;
                }
                if (k != -ENOENT)
                        return k;
                if (ctx->policy == PULL_NEVER)
                        return ca_log_errno(CA_LOG_ERR, -ENOENT,
                                            "%s: not in the store %s (--pull-policy=never)",
                                            img->name, aci_store_path(ctx->store));
        }

        /* Templates usually name {os} and {arch}: discovery always has them (a dependency's own
         * labels may leave them out; its manifest is checked against those labels only). */
        _cleanup_(freep) char *text = NULL;
        _cleanup_(dc_image_freep) dc_image *disc = NULL;
        _cleanup_(freep) char *pubkeys = NULL;
        if (fetch_by_location(ctx)) {
                res->url = strdup(ctx->location);
                k = res->url ? 0 : -ENOMEM;
        } else {
                k = dc_image_to_string(img, &text);
                if (k >= 0)
                        k = dc_image_parse(text, &disc);
                if (k >= 0)
                        k = dc_image_set_defaults(disc);
                if (k >= 0) {
                        fetch_report_phase(ctx, img->name, FETCH_DISCOVERING, NULL, 0);
                        k = discover(ctx, disc, &res->url,
                                     fetch_wants_pubkeys(ctx, img) ? &pubkeys : NULL);
                }
        }
        if (k < 0)
                return k;
        const char *url = res->url;

        /* What we have from this URL: reused while fresh, else revalidated with its ETag. */
        res->have_prev = aci_store_find_by_url(ctx->store, url, &res->prev) >= 0;
        /* An index stored without its signature checked is not reused unchecked. */
        if (res->have_prev && fetch_verifying(ctx) && !res->prev.signer_fingerprint) {
                ca_log_debug("%s: %s was stored unverified: fetching it again", img->name, url);
                aci_image_record_done(&res->prev);
                res->have_prev = false;
        }
        aci_image_record *prev = &res->prev;
        int64_t now = (int64_t)time(NULL);
        if (res->have_prev && prev->max_age > 0 && now - prev->fetched < prev->max_age) {
                ca_log_debug("%s: %s is fresh for %llds more, not asking again", img->name, url,
                             (long long)(prev->max_age - (now - prev->fetched)));
                res->how = FETCH_FRESH;
                return reuse_stored(ctx, img, res, false);
        }

        _cleanup_(freep) char *inm = NULL;
        if (res->have_prev && prev->etag && asprintf(&inm, "If-None-Match: %s", prev->etag) < 0)
                return -ENOMEM;
        const char *headers[] = {inm, NULL};
        transfer_response *resp = &res->index;
        /* A new index needs its signature: asked for at once. An index we have is usually not
         * modified, so its signature is asked for only once a new one came. */
        _cleanup_(transfer_request_cancelp) transfer_request *sig_q =
            res->have_prev ? NULL : fetch_signature_submit(ctx, url);
        k = image_source_get(ctx->engine, url, (size_t)CA_INDEX_FILE_SIZE_MAX, headers, resp);
        char note[1024];
        if (k == -ENOENT)
                k = ca_log_errno(CA_LOG_ERR, k, "%s: index %s not found (HTTP %ld)%s", img->name,
                                 transfer_response_url(resp, url), resp->status,
                                 transfer_redirect_note(resp, url, note, sizeof(note)));
        if (k < 0)
                return k;

        /* A server without ETags may send the same index again: that is "not modified" too. */
        bool same = false;
        if (res->have_prev && resp->status == 200) {
                uint8_t d[32];
                char dhex[65];
                if (EVP_Digest(resp->body, resp->size, d, NULL, EVP_sha256(), NULL) == 1) {
                        hex_encode(d, 32, dhex);
                        same = strcmp(dhex, prev->index_digest) == 0;
                }
        }
        if (res->have_prev && (resp->status == 304 || same)) {
                ca_log_debug("%s: %s not modified", img->name, url);
                fetch_record_touch(prev);
                prev->max_age = resp->max_age;
                if (resp->etag) {
                        free(prev->etag);
                        prev->etag = TAKE_PTR(resp->etag);
                }
                transfer_response_clear(resp);
                res->how = FETCH_NOT_MODIFIED;
                return reuse_stored(ctx, img, res, true);
        }
        if (resp->status != 200)
                return ca_log_errno(CA_LOG_ERR, -EIO, "%s: unexpected HTTP %ld for %s", img->name,
                                    resp->status, url);

        /* Nothing under the index is requested before its signature verifies. */
        res->how = FETCH_NEW;
        if (fetch_verifying(ctx))
                fetch_report_phase(ctx, img->name, FETCH_VERIFYING, NULL, 0);
        return fetch_verify_index(ctx, img, url, pubkeys, resp->body, resp->size, TAKE_PTR(sig_q),
                                  &res->sig);
}

int fetch_resolve(fetch_context *ctx, const dc_image *img, image_resolution *ret)
{
        *ret = (image_resolution){.record.max_age = -1, .prev.max_age = -1};
        int k = resolve(ctx, img, ret);
        if (k < 0)
                image_resolution_done(ret);
        return k;
}

/* ---------------------------------------------------------------- the manifest, read ahead */

/* Few chunks: the manifest is among the archive's first bytes. */
#define PEEK_CACHE_CHUNKS 4

int fetch_peek_manifest(fetch_context *ctx, const dc_image *img, archive_input *in)
{
        const char *what = in->location;
        uint64_t flags = in->index->feature_flags;
        _cleanup_(ca_archive_reader_freep) ca_archive_reader *reader = NULL;
        _cleanup_(ca_seek_entry_freep) ca_seek_entry *root = NULL, *entry = NULL;
        _cleanup_(ca_seek_dir_freep) ca_seek_dir *dir = NULL;
        int r = ca_archive_reader_new(in->index, chunk_source_get, in->source, PEEK_CACHE_CHUNKS,
                                      what, &reader);
        if (r >= 0)
                r = ca_seek_root(reader, flags, &root);
        if (r >= 0)
                r = ca_seek_dir_open(reader, root, &dir);
        if (r >= 0)
                r = ca_seek_dir_lookup(reader, flags, dir, "manifest", &entry);
        if (r == -ENOENT || (r >= 0 && !S_ISREG(entry->node.mode)))
                return ca_bad("%s: the image has no manifest", what);
        if (r < 0)
                return r;
        if (entry->node.payload_size > ACI_MANIFEST_SIZE_MAX)
                return ca_bad("%s: the manifest is larger than %llu bytes", what,
                              (unsigned long long)ACI_MANIFEST_SIZE_MAX);
        size_t size = (size_t)entry->node.payload_size;
        _cleanup_(freep) char *json = malloc(size + 1);
        if (!json)
                return -ENOMEM;
        r = ca_archive_reader_read(reader, entry->payload_offset, json, size);
        if (r < 0)
                return r;
        json[size] = 0;
        _cleanup_(freep) char *subject = NULL;
        if (asprintf(&subject, "%s: manifest", what) < 0)
                return -ENOMEM;
        _cleanup_(aci_manifest_freep) aci_manifest *m = NULL;
        r = aci_manifest_parse(json, size, subject, &m);
        return r < 0 ? r : fetch_check_manifest(ctx, img, what, m);
}
