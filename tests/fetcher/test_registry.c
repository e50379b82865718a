/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Registries (fetcher/transfer/registry.c, fetcher/source/registry_store.c): oci:// references,
 * and the manifests an image is published as, read back (one manifest, and parts joined by an
 * image index), with malformed ones refused.
 */
#include <string.h>

#include "fetcher/source/source.h"
#include "tests/test.h"

static void test_refs(void)
{
        registry_ref r;
        CHECK_EQ_INT(registry_ref_parse("oci://Reg.Example:5000/team/app:1.0-linux-amd64", &r), 0);
        CHECK_STREQ(r.api, "https://reg.example:5000/v2/team/app");
        CHECK_STREQ(r.host, "reg.example:5000");
        CHECK_STREQ(r.name, "team/app");
        CHECK_STREQ(r.reference, "1.0-linux-amd64");
        registry_ref_clear(&r);
        CHECK_EQ_INT(registry_ref_parse("oci+http://127.0.0.1:5000/app", &r), 0);
        CHECK_STREQ(r.api, "http://127.0.0.1:5000/v2/app");
        CHECK(r.reference == NULL);
        registry_ref_clear(&r);
        char digest[REGISTRY_DIGEST_SIZE], url[200];
        registry_digest("", 0, digest);
        CHECK_STREQ(digest,
                    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        snprintf(url, sizeof(url), "oci://r/a/b@%s", digest);
        CHECK_EQ_INT(registry_ref_parse(url, &r), 0);
        CHECK_STREQ(r.name, "a/b");
        CHECK_STREQ(r.reference, digest);
        registry_ref_clear(&r);
        const char *bad[] = {
            "https://r/app",         "oci://r",           "oci:///app",
            "oci://r/App",           "oci://r/app/",      "oci://r//app",
            "oci://r/app:",          "oci://r/app:-x",    "oci://r/a..b",
            "oci://r/app@sha256:12", "oci://r/app:t/x",   "oci://r/-app",
            "oci://r@x/app",         "oci://r/app:a%2fb",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                CHECK_EQ_INT(registry_ref_parse(bad[i], &r), -EINVAL);
                CHECK(r.api == NULL);
        }
        char tag[REGISTRY_TAG_MAX + 2];
        memset(tag, 'a', sizeof(tag) - 1);
        tag[sizeof(tag) - 1] = 0;
        CHECK(!registry_tag_valid(tag));
        tag[REGISTRY_TAG_MAX] = 0;
        CHECK(registry_tag_valid(tag));
}

static void fill(registry_image *img, size_t n)
{
        *img = (registry_image){};
        img->chunks = calloc(n, sizeof(*img->chunks));
        CHECK(img->chunks);
        for (size_t i = 0; i < n; i++) {
                uint32_t v = (uint32_t)i * 2654435761u;
                memcpy(img->chunks[i].id.bytes, &v, sizeof(v));
                memcpy(img->chunks[i].id.bytes + 8, &i, sizeof(i));
                registry_digest(&v, sizeof(v), img->chunks[i].blob.digest);
                img->chunks[i].blob.size = 100 + i;
        }
        img->n_chunks = n;
        registry_digest("index", 5, img->index.digest);
        img->index.size = 5;
        registry_digest("sig", 3, img->sig.digest);
        img->sig.size = 3;
}

/* img serialized and parsed back, as a reader gets it: the tagged document, then its parts. */
static void round_trip(size_t n)
{
        registry_image img, back = {};
        fill(&img, n);
        registry_blob config = {.size = 2};
        registry_digest("{}", 2, config.digest);
        registry_manifest *m;
        size_t n_m;
        CHECK_EQ_INT(registry_image_serialize(&img, &config, &m, &n_m), 0);
        size_t parts_expected =
            (n + REGISTRY_CHUNKS_PER_MANIFEST - 1) / REGISTRY_CHUNKS_PER_MANIFEST;
        CHECK_EQ_INT(n_m, parts_expected == 1 ? 1 : parts_expected + 1);
        for (size_t i = 0; i < n_m; i++)
                CHECK(m[i].size < REGISTRY_MANIFEST_MAX);
        registry_blob parts[64];
        size_t n_parts = 0;
        registry_manifest *top = &m[n_m - 1];
        CHECK_EQ_INT(registry_image_parse(top->json, top->size, "top", &back, parts, &n_parts), 0);
        if (n_m == 1) {
                CHECK_EQ_INT(n_parts, 0);
                CHECK_STREQ(top->media_type, REGISTRY_MEDIA_MANIFEST);
        } else {
                CHECK_STREQ(top->media_type, REGISTRY_MEDIA_INDEX);
                CHECK_EQ_INT(n_parts, n_m - 1);
                for (size_t i = 0; i < n_parts; i++) {
                        CHECK_STREQ(parts[i].digest, m[i].digest);
                        CHECK_EQ_INT(
                            registry_image_parse(m[i].json, m[i].size, "part", &back, NULL, NULL),
                            0);
                }
        }
        CHECK_EQ_INT(back.n_chunks, n);
        CHECK_STREQ(back.index.digest, img.index.digest);
        CHECK_STREQ(back.sig.digest, img.sig.digest);
        CHECK(back.profile.digest[0] == 0);
        /* Every chunk found by its ID, with its blob. */
        registry_image_sort(&back);
        for (size_t i = 0; i < n; i++) {
                const registry_chunk *c = registry_image_chunk(&back, &img.chunks[i].id);
                CHECK(c);
                CHECK_STREQ(c->blob.digest, img.chunks[i].blob.digest);
                CHECK_EQ_INT(c->blob.size, img.chunks[i].blob.size);
        }
        ca_chunk_id absent = {.bytes = {0xff, 0xfe}};
        CHECK(registry_image_chunk(&back, &absent) == NULL);
        registry_image_clear(&back);
        registry_manifests_free(m, n_m);
        registry_image_clear(&img);
}

int main(void)
{
        test_refs();
        round_trip(3);
        round_trip(REGISTRY_CHUNKS_PER_MANIFEST * 2 + 5);
        return 0;
}
