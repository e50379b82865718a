/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * publish --to oci://REGISTRY/REPOSITORY[:TAG]: one published image, copied from OUTDIR to a
 * registry in the form fetcher/source/registry_store.c reads (source.h). The order keeps readers
 * safe: the blobs the repository lacks (chunks, then index, signature and profile), the
 * manifest's parts, and the tags last, so no tag names an image with a blob missing. A rerun
 * asks again which blobs are there (HEAD) and sends only those missing.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdatomic.h>
#include <string.h>

#include "fetcher/publish/publish.h"

typedef struct blob_upload {
        transfer_engine *engine;
        const registry_ref *ref;
        const char *store; /* OUTDIR/default.castr */
        registry_image *image;
        _Atomic uint64_t present, sent, sent_bytes;
} blob_upload;

/* One blob: HEAD, then pushed when the repository lacks it. */
static int push_blob(blob_upload *u, const uint8_t *data, size_t size, registry_blob *ret)
{
        registry_digest(data, size, ret->digest);
        ret->size = size;
        int r = registry_has_blob(u->engine, u->ref, ret->digest);
        if (r > 0) {
                u->present++;
                return 0;
        }
        if (r == 0)
                r = registry_push_blob(u->engine, u->ref, ret->digest, data, size);
        if (r < 0)
                return r;
        u->sent++;
        u->sent_bytes += size;
        return 0;
}

static int push_chunk(void *userdata, size_t i)
{
        blob_upload *u = userdata;
        registry_chunk *c = &u->image->chunks[i];
        char hex[CA_CHUNK_ID_HEX_SIZE];
        ca_chunk_id_to_hex(&c->id, hex);
        _cleanup_(freep) char *path = NULL;
        if (asprintf(&path, "%s/%.4s/%s.cacnk", u->store, hex, hex) < 0)
                return -ENOMEM;
        _cleanup_(freep) uint8_t *data = NULL;
        size_t size = 0;
        int r = publish_read_file(path, PUBLISH_CHUNK_FILE_MAX, &data, &size);
        return r < 0 ? r : push_blob(u, data, size, &c->blob);
}

static int push_file(blob_upload *u, const char *path, size_t max, registry_blob *ret)
{
        if (!path)
                return 0;
        _cleanup_(freep) uint8_t *data = NULL;
        size_t size = 0;
        int r = publish_read_file(path, max, &data, &size);
        return r < 0 ? r : push_blob(u, data, size, ret);
}

/* The index's chunks, each once, sorted by ID as the manifest lists them. */
static int unique_chunks(const ca_index *index, registry_image *img)
{
        img->chunks = calloc(MAX(index->n_items, (size_t)1), sizeof(*img->chunks));
        if (!img->chunks)
                return -ENOMEM;
        for (size_t i = 0; i < index->n_items; i++)
                img->chunks[i].id = index->items[i].id;
        img->n_chunks = index->n_items;
        registry_image_sort(img);
        return 0;
}

/* What a registry shows of the image: which acfetch image it is. */
static int push_config(blob_upload *u, const publish_upload_files *f, registry_blob *ret)
{
        _cleanup_(json_decrefp) json_t *j =
            json_pack("{s:s, s:s, s:s, s:s, s:I}", "name", f->name, "version", f->version, "os",
                      f->os, "arch", f->arch, "chunks", (json_int_t)u->image->n_chunks);
        _cleanup_(freep) char *text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        if (!text)
                return -ENOMEM;
        return push_blob(u, (const uint8_t *)text, strlen(text), ret);
}

/* The tags the image is found by: VERSION-OS-ARCH (what the page's template names), the
 * index's digest (what a --store without a tag asks), latest-OS-ARCH when OUTDIR's latest is
 * this version, and the one given in --to. */
static int image_tags(const registry_ref *ref, const publish_upload_files *f, const ca_index *index,
                      char tags[4][REGISTRY_INDEX_TAG_SIZE], size_t *n)
{
        *n = 0;
        snprintf(tags[(*n)++], REGISTRY_INDEX_TAG_SIZE, "%s-%s-%s", f->version, f->os, f->arch);
        if (!registry_tag_valid(tags[0]) || strlen(tags[0]) >= REGISTRY_INDEX_TAG_SIZE - 1)
                return ca_log_errno(CA_LOG_ERR, -EINVAL,
                                    "%s-%s-%s: not a valid registry tag (letters, digits, . _ -; "
                                    "a version with + or ~ cannot be published to a registry)",
                                    f->version, f->os, f->arch);
        int r = registry_index_tag(index, tags[(*n)++]);
        if (r < 0)
                return r;
        if (f->latest && strcmp(f->version, "latest") != 0)
                snprintf(tags[(*n)++], REGISTRY_INDEX_TAG_SIZE, "latest-%s-%s", f->os, f->arch);
        if (ref->reference && !registry_digest_valid(ref->reference))
                snprintf(tags[(*n)++], REGISTRY_INDEX_TAG_SIZE, "%s", ref->reference);
        return 0;
}

int publish_registry(transfer_engine *e, const char *to, const publish_upload_files *f)
{
        _cleanup_(registry_ref_clear) registry_ref ref = {};
        int r = registry_ref_parse(to, &ref);
        if (r < 0)
                return r;
        if (ref.reference && registry_digest_valid(ref.reference))
                return ca_log_errno(CA_LOG_ERR, -EINVAL,
                                    "%s: images are published under tags, not a digest", to);
        _cleanup_(ca_index_freep) ca_index *index = NULL;
        r = ca_index_load(f->index, &index);
        if (r < 0)
                return r;
        char tags[4][REGISTRY_INDEX_TAG_SIZE];
        size_t n_tags;
        r = image_tags(&ref, f, index, tags, &n_tags);
        if (r < 0)
                return r;

        _cleanup_(registry_image_clear) registry_image img = {};
        r = unique_chunks(index, &img);
        if (r < 0)
                return r;
        blob_upload u = {.engine = e, .ref = &ref, .store = f->store, .image = &img};
        r = publish_parallel(img.n_chunks, push_chunk, &u);
        size_t max = (size_t)CA_INDEX_FILE_SIZE_MAX;
        if (r >= 0)
                r = push_file(&u, f->index, max, &img.index);
        if (r >= 0)
                r = push_file(&u, f->sig, max, &img.sig);
        if (r >= 0)
                r = push_file(&u, f->profile, max, &img.profile);
        if (r >= 0)
                r = push_file(&u, f->profile_sig, max, &img.profile_sig);
        registry_blob config;
        if (r >= 0)
                r = push_config(&u, f, &config);
        if (r < 0)
                return r;
        ca_log_info(
            "%s/%s: %" PRIu64 " blobs uploaded (%" PRIu64 " bytes), %" PRIu64 " already there",
            ref.host, ref.name, (uint64_t)u.sent, (uint64_t)u.sent_bytes, (uint64_t)u.present);

        registry_manifest *m = NULL;
        size_t n = 0;
        r = registry_image_serialize(&img, &config, &m, &n);
        if (r < 0)
                return r;
        /* Parts by digest first, then the image under each of its tags. */
        for (size_t i = 0; r >= 0 && i + 1 < n; i++)
                r = registry_put_manifest(e, &ref, m[i].digest, m[i].media_type, m[i].json,
                                          m[i].size);
        for (size_t i = 0; r >= 0 && i < n_tags; i++) {
                r = registry_put_manifest(e, &ref, tags[i], m[n - 1].media_type, m[n - 1].json,
                                          m[n - 1].size);
                if (r >= 0)
                        ca_log_debug("%s/%s:%s: tagged", ref.host, ref.name, tags[i]);
        }
        registry_manifests_free(m, n);
        return r;
}
