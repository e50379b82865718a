/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A discovery page as a server sends it: the meta tag parser, each tag's template rendered as
 * the walk renders it, and the whole walk (dc_discover) with every page request answered by
 * this page, so the walk's use of tags, prefixes and templates over several levels runs too.
 */
#include "discovery/discovery.h"
#include "fuzz/fuzz.h"

static dc_image *img;
static const uint8_t *page;
static size_t page_size;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        fuzz_log_everything();
        if (dc_image_parse("example.com/group/app:1.0.0,os=linux,arch=amd64,channel=beta", &img) <
            0)
                abort();
        return 0;
}

static int serve_page(void *userdata, const char *url, size_t max_size, long *status,
                      uint8_t **body, size_t *size)
{
        if (page_size > max_size)
                return -EFBIG;
        *body = malloc(page_size ? page_size : 1);
        if (!*body)
                return -ENOMEM;
        memcpy(*body, page, page_size);
        *size = page_size;
        *status = 200;
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        dc_meta_tag *tags = NULL;
        size_t n = 0;
        if (dc_meta_parse(data, size, &tags, &n) < 0)
                return 0;
        FUZZ_ASSERT(n <= DC_TAGS_MAX);
        for (size_t i = 0; i < n; i++) {
                FUZZ_ASSERT(tags[i].prefix[0] && tags[i].template[0]);
                (void)dc_prefix_matches(tags[i].prefix, img->name);
                (void)dc_url_allowed(tags[i].template, false);
                static const char *const exts[] = {"aci", "aci.asc", NULL};
                for (size_t e = 0; e < ELEMENTSOF(exts); e++) {
                        _cleanup_(freep) char *url = NULL;
                        if (dc_template_render(tags[i].template, img, exts[e], e == 2, &url) == 0)
                                FUZZ_ASSERT(dc_url_allowed(url, e == 2));
                }
        }
        dc_meta_tags_free(tags, n);

        page = data;
        page_size = size;
        dc_discover_options o = {.http_get = serve_page};
        dc_endpoints ep;
        if (dc_discover(img, &o, &ep) == 0) {
                FUZZ_ASSERT(dc_url_allowed(ep.image_url, false));
                FUZZ_ASSERT(dc_url_allowed(ep.signature_url, false));
        }
        for (size_t i = 0; i < ep.n_attempts; i++) {
                _cleanup_(freep) char *line = NULL;
                (void)dc_attempt_format(&ep.attempts[i], &line);
        }
        dc_endpoints_done(&ep);
        return 0;
}
