/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An image published to an OCI registry (`publish --to oci://`), as source.h describes it: an
 * OCI manifest whose layers are the index, its signature and profile, and every chunk file as a
 * blob annotated with its chunk ID. A registry addresses blobs by the SHA-256 of their bytes,
 * which for a compressed chunk file is not its chunk ID (that one hashes the uncompressed data):
 * the manifest is the map from one to the other, and the reference that keeps the registry's
 * garbage collector away from the chunks. Past REGISTRY_CHUNKS_PER_MANIFEST chunks, parts are
 * joined by an OCI image index.
 */
#include <jansson.h>
#include <string.h>
#include <strings.h>

#include "fetcher/source/source.h"

/* An image index of more parts than an index of CA_INDEX_ITEMS_MAX chunks needs is refused. */
#define PARTS_MAX                                                                                  \
        ((CA_INDEX_ITEMS_MAX + REGISTRY_CHUNKS_PER_MANIFEST - 1) / REGISTRY_CHUNKS_PER_MANIFEST)

void registry_image_clear(registry_image *img)
{
        free(img->chunks);
        *img = (registry_image){};
}

/* A descriptor's digest and size, checked; 0 or -EBADMSG. */
static int parse_blob(json_t *d, registry_blob *ret)
{
        json_t *digest = json_object_get(d, "digest"), *size = json_object_get(d, "size");
        if (!json_is_object(d) || !json_is_string(digest) || !json_is_integer(size) ||
            json_integer_value(size) < 0 || !registry_digest_valid(json_string_value(digest)))
                return -EBADMSG;
        snprintf(ret->digest, sizeof(ret->digest), "%s", json_string_value(digest));
        ret->size = (uint64_t)json_integer_value(size);
        return 0;
}

static int compare_chunks(const void *a, const void *b)
{
        return memcmp(&((const registry_chunk *)a)->id, &((const registry_chunk *)b)->id,
                      sizeof(ca_chunk_id));
}

/* One layer of a manifest into img: a document by its media type, a chunk by its annotation,
 * anything else ignored (a later version may add layers). */
static int parse_layer(registry_image *img, json_t *layer, size_t *cap)
{
        registry_blob blob;
        if (parse_blob(layer, &blob) < 0)
                return -EBADMSG;
        const char *type = json_string_value(json_object_get(layer, "mediaType"));
        if (!type)
                return -EBADMSG;
        registry_blob *doc =
            strcmp(type, REGISTRY_MEDIA_CAIDX) == 0       ? &img->index
            : strcmp(type, REGISTRY_MEDIA_CAIBX) == 0     ? (img->index_is_blob = true, &img->index)
            : strcmp(type, REGISTRY_MEDIA_SIGNATURE) == 0 ? &img->sig
            : strcmp(type, REGISTRY_MEDIA_PROFILE) == 0   ? &img->profile
            : strcmp(type, REGISTRY_MEDIA_PROFILE_SIGNATURE) == 0 ? &img->profile_sig
                                                                  : NULL;
        if (doc) {
                if (doc->digest[0])
                        return -EBADMSG; /* one of each */
                *doc = blob;
                return 0;
        }
        if (strcmp(type, REGISTRY_MEDIA_CHUNK) != 0)
                return 0;
        const char *hex = json_string_value(
            json_object_get(json_object_get(layer, "annotations"), REGISTRY_ANNOTATION_CHUNK));
        registry_chunk c = {.blob = blob};
        if (!hex || ca_chunk_id_from_hex(hex, &c.id) < 0 ||
            blob.size > (uint64_t)ca_chunk_compressed_size_max(CA_CHUNK_SIZE_LIMIT_MAX))
                return -EBADMSG;
        if (img->n_chunks >= CA_INDEX_ITEMS_MAX)
                return -E2BIG;
        if (img->n_chunks == *cap) {
                size_t n = *cap ? *cap * 2 : 256;
                registry_chunk *p = realloc(img->chunks, n * sizeof(*p));
                if (!p)
                        return -ENOMEM;
                img->chunks = p;
                *cap = n;
        }
        img->chunks[img->n_chunks++] = c;
        return 0;
}

int registry_image_parse(const void *json, size_t size, const char *what, registry_image *img,
                         registry_blob *parts, size_t *n_parts)
{
        json_error_t err;
        _cleanup_(json_decrefp) json_t *j = json_loadb(json, size, JSON_REJECT_DUPLICATES, &err);
        if (!json_is_object(j))
                return ca_bad("%s: not a JSON object (%s)", what, j ? "" : err.text);
        const char *type = json_string_value(json_object_get(j, "mediaType"));
        json_t *manifests = json_object_get(j, "manifests"), *m;
        size_t i;
        if (json_is_array(manifests) && (!type || strcmp(type, REGISTRY_MEDIA_INDEX) == 0)) {
                /* An image index: the parts' digests, for the caller to fetch. */
                if (!parts)
                        return ca_bad("%s: an image index inside an image index", what);
                size_t n = json_array_size(manifests);
                if (n == 0 || n > PARTS_MAX)
                        return ca_bad("%s: an image index of %zu parts", what, n);
                json_array_foreach(manifests, i, m) if (parse_blob(m, &parts[i]) < 0) return ca_bad(
                    "%s: part %zu is not a valid descriptor", what, i);
                *n_parts = n;
                return 0;
        }
        if (n_parts)
                *n_parts = 0;
        json_t *config = json_object_get(j, "config"), *layers = json_object_get(j, "layers");
        const char *config_type = json_string_value(json_object_get(config, "mediaType"));
        if (!json_is_array(layers) || !config_type ||
            strcmp(config_type, REGISTRY_MEDIA_CONFIG) != 0)
                return ca_bad("%s: not an image published by acfetch (its config is %s)", what,
                              config_type ? config_type : "missing");
        size_t cap = img->n_chunks;
        json_array_foreach(layers, i, m)
        {
                int r = parse_layer(img, m, &cap);
                if (r == -E2BIG)
                        return ca_bad("%s: more than %llu chunks", what,
                                      (unsigned long long)CA_INDEX_ITEMS_MAX);
                if (r < 0 && r != -EBADMSG)
                        return r;
                if (r < 0)
                        return ca_bad("%s: layer %zu is not a valid descriptor", what, i);
        }
        return 0;
}

void registry_image_sort(registry_image *img)
{
        if (img->n_chunks == 0)
                return;
        qsort(img->chunks, img->n_chunks, sizeof(*img->chunks), compare_chunks);
        size_t n = 1;
        for (size_t i = 1; i < img->n_chunks; i++)
                if (memcmp(&img->chunks[i].id, &img->chunks[n - 1].id, sizeof(ca_chunk_id)) != 0)
                        img->chunks[n++] = img->chunks[i];
        img->n_chunks = n;
}

int registry_image_load(transfer_engine *e, const registry_ref *r, const char *reference,
                        registry_image *ret)
{
        *ret = (registry_image){};
        _cleanup_(freep) char *what = NULL;
        if (asprintf(&what, "%s/manifests/%s", r->api, reference) < 0)
                return -ENOMEM;
        transfer_response resp;
        int rr = registry_get_manifest(e, r, reference, 0, &resp);
        if (rr < 0) {
                transfer_response_clear(&resp);
                return rr; /* -ENOENT not logged: the caller says what was not found */
        }
        _cleanup_(freep) registry_blob *parts = calloc(PARTS_MAX, sizeof(*parts));
        size_t n_parts = 0;
        rr = parts ? registry_image_parse(resp.body, resp.size, what, ret, parts, &n_parts)
                   : -ENOMEM;
        transfer_response_clear(&resp);
        for (size_t i = 0; rr >= 0 && i < n_parts; i++) {
                rr = registry_get_manifest(e, r, parts[i].digest, 0, &resp);
                if (rr == -ENOENT)
                        rr = ca_log_errno(CA_LOG_ERR, rr, "%s: part %s is missing", what,
                                          parts[i].digest);
                if (rr >= 0)
                        rr = registry_image_parse(resp.body, resp.size, what, ret, NULL, NULL);
                transfer_response_clear(&resp);
        }
        if (rr >= 0 && !ret->index.digest[0])
                rr = ca_bad("%s: the image has no index", what);
        if (rr < 0) {
                registry_image_clear(ret);
                return rr;
        }
        registry_image_sort(ret);
        return 0;
}

const registry_chunk *registry_image_chunk(const registry_image *img, const ca_chunk_id *id)
{
        registry_chunk key = {.id = *id};
        return bsearch(&key, img->chunks, img->n_chunks, sizeof(key), compare_chunks);
}

int registry_index_tag(const ca_index *index, char ret[REGISTRY_INDEX_TAG_SIZE])
{
        _cleanup_(freep) void *data = NULL;
        size_t size = 0;
        int r = ca_index_serialize(index, &data, &size);
        if (r < 0)
                return r;
        char digest[REGISTRY_DIGEST_SIZE];
        registry_digest(data, size, digest);
        snprintf(ret, REGISTRY_INDEX_TAG_SIZE, "index-%s", digest + 7);
        return 0;
}

/* The document a suffix of the tag names: none the index, .asc its signature, ... */
static const registry_blob *document_for(const registry_image *img, const char *suffix)
{
        if (!*suffix)
                return &img->index;
        if (strcmp(suffix, ".asc") == 0)
                return &img->sig;
        if (strcmp(suffix, ".profile") == 0)
                return &img->profile;
        if (strcmp(suffix, ".profile.asc") == 0)
                return &img->profile_sig;
        return NULL;
}

int registry_document_get(transfer_engine *e, const char *url, size_t max, transfer_response *ret)
{
        *ret = (transfer_response){.max_age = -1};
        _cleanup_(registry_ref_clear) registry_ref r = {};
        int rr = registry_ref_parse(url, &r);
        if (rr < 0)
                return rr;
        if (!r.reference || registry_digest_valid(r.reference))
                return ca_log_errno(CA_LOG_ERR, -EINVAL,
                                    "%s: name the image by its tag (oci://HOST/REPOSITORY:TAG)",
                                    url);
        /* TAG.asc is the signature of the image tagged TAG, and so on. */
        static const char *const suffixes[] = {".profile.asc", ".profile", ".asc"};
        const char *suffix = "";
        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
                size_t n = strlen(r.reference), m = strlen(suffixes[i]);
                if (n > m && strcmp(r.reference + n - m, suffixes[i]) == 0) {
                        suffix = suffixes[i];
                        r.reference[n - m] = 0;
                        break;
                }
        }
        _cleanup_(registry_image_clear) registry_image img = {};
        rr = registry_image_load(e, &r, r.reference, &img);
        if (rr < 0)
                return rr == -ENOENT && *suffix ? -ENOENT : rr;
        const registry_blob *doc = document_for(&img, suffix);
        if (!doc || !doc->digest[0])
                return -ENOENT; /* not published with one: "not found", as a missing file */
        if (doc->size > max)
                return ca_log_errno(CA_LOG_ERR, -EFBIG, "%s: larger than %zu bytes", url, max);
        rr = registry_get_blob(e, &r, doc->digest, max, 0, ret);
        if (rr == -ENOENT)
                return ca_log_errno(CA_LOG_ERR, -EBADMSG, "%s: blob %s is missing", url,
                                    doc->digest);
        return rr;
}

static json_t *descriptor(const char *media_type, const registry_blob *b)
{
        return json_pack("{s:s, s:s, s:I}", "mediaType", media_type, "digest", b->digest, "size",
                         (json_int_t)b->size);
}

/* One part: the documents (first part only) and chunks [from, to). */
static int part_manifest(const registry_image *img, const registry_blob *config, bool documents,
                         size_t from, size_t to, registry_manifest *ret)
{
        _cleanup_(json_decrefp) json_t *layers = json_array();
        if (!layers)
                return -ENOMEM;
        struct {
                const char *type;
                const registry_blob *blob;
        } docs[] = {
            {img->index_is_blob ? REGISTRY_MEDIA_CAIBX : REGISTRY_MEDIA_CAIDX, &img->index},
            {REGISTRY_MEDIA_SIGNATURE, &img->sig},
            {REGISTRY_MEDIA_PROFILE, &img->profile},
            {REGISTRY_MEDIA_PROFILE_SIGNATURE, &img->profile_sig},
        };
        for (size_t i = 0; documents && i < ELEMENTSOF(docs); i++)
                if (docs[i].blob->digest[0] &&
                    json_array_append_new(layers, descriptor(docs[i].type, docs[i].blob)) < 0)
                        return -ENOMEM;
        for (size_t i = from; i < to; i++) {
                char hex[CA_CHUNK_ID_HEX_SIZE];
                json_t *d = descriptor(REGISTRY_MEDIA_CHUNK, &img->chunks[i].blob);
                if (!d ||
                    json_object_set_new(d, "annotations",
                                        json_pack("{s:s}", REGISTRY_ANNOTATION_CHUNK,
                                                  ca_chunk_id_to_hex(&img->chunks[i].id, hex))) <
                        0 ||
                    json_array_append_new(layers, d) < 0)
                        return -ENOMEM;
        }
        _cleanup_(json_decrefp) json_t *m = json_pack(
            "{s:i, s:s, s:o, s:O}", "schemaVersion", 2, "mediaType", REGISTRY_MEDIA_MANIFEST,
            "config", descriptor(REGISTRY_MEDIA_CONFIG, config), "layers", layers);
        char *text = m ? json_dumps(m, JSON_COMPACT) : NULL;
        if (!text)
                return -ENOMEM;
        *ret = (registry_manifest){
            .json = text, .size = strlen(text), .media_type = REGISTRY_MEDIA_MANIFEST};
        registry_digest(text, ret->size, ret->digest);
        return 0;
}

void registry_manifests_free(registry_manifest *m, size_t n)
{
        for (size_t i = 0; m && i < n; i++)
                free(m[i].json);
        free(m);
}

int registry_image_serialize(const registry_image *img, const registry_blob *config,
                             registry_manifest **ret, size_t *ret_n)
{
        size_t per = REGISTRY_CHUNKS_PER_MANIFEST;
        size_t parts = img->n_chunks <= per ? 1 : (img->n_chunks + per - 1) / per;
        size_t n = parts == 1 ? 1 : parts + 1, done = 0;
        registry_manifest *m = calloc(n, sizeof(*m));
        if (!m)
                return -ENOMEM;
        int r = 0;
        for (; r >= 0 && done < parts; done++)
                r = part_manifest(img, config, done == 0, done * per,
                                  MIN((done + 1) * per, img->n_chunks), &m[done]);
        if (r >= 0 && parts > 1) {
                /* The parts joined: an image index, which keeps them (and their blobs) from
                 * the registry's garbage collector too. */
                _cleanup_(json_decrefp) json_t *list = json_array();
                for (size_t i = 0; r >= 0 && list && i < parts; i++) {
                        registry_blob b = {.size = m[i].size};
                        memcpy(b.digest, m[i].digest, sizeof(b.digest));
                        r = json_array_append_new(list, descriptor(REGISTRY_MEDIA_MANIFEST, &b)) < 0
                                ? -ENOMEM
                                : 0;
                }
                _cleanup_(json_decrefp) json_t *index =
                    list && r >= 0 ? json_pack("{s:i, s:s, s:O}", "schemaVersion", 2, "mediaType",
                                               REGISTRY_MEDIA_INDEX, "manifests", list)
                                   : NULL;
                char *text = index ? json_dumps(index, JSON_COMPACT) : NULL;
                if (!text)
                        r = -ENOMEM;
                else {
                        m[parts] = (registry_manifest){
                            .json = text, .size = strlen(text), .media_type = REGISTRY_MEDIA_INDEX};
                        registry_digest(text, m[parts].size, m[parts].digest);
                }
        }
        if (r < 0) {
                registry_manifests_free(m, n);
                return r;
        }
        *ret = m;
        *ret_n = n;
        return 0;
}
