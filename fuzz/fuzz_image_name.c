/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * appc names and templates: the image string a user (or a manifest's dependency) gives, and a
 * discovery template to render with it. Input: the name (up to the first newline), then the
 * template. A parsed name must print in canonical form and parse back to the same string; a
 * rendered URL must pass the URL check it was rendered under; the two compared as versions
 * must give opposite answers either way round.
 */
#include "discovery/discovery.h"
#include "fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        fuzz_log_everything();
        return 0;
}

static void grammar(const char *s)
{
        (void)dc_identifier_valid(s);
        (void)dc_ac_name_valid(s);
        (void)dc_semver_valid(s);
        (void)dc_image_id_valid(s);
        (void)dc_rfc3339_valid(s);
        (void)dc_os_arch_valid(s, NULL);
        (void)dc_os_arch_valid("linux", s);
        (void)dc_url_allowed(s, true);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const uint8_t *nl = memchr(data, '\n', size);
        size_t name_size = nl ? (size_t)(nl - data) : size;
        _cleanup_(freep) char *name = fuzz_strndup(data, name_size);
        _cleanup_(freep) char *tmpl = nl ? fuzz_strndup(nl + 1, size - name_size - 1) : NULL;
        if (!name)
                return 0;
        grammar(name);
        if (tmpl) { /* the order of version labels: antisymmetric, reflexive */
                int ab = dc_version_compare(name, tmpl), ba = dc_version_compare(tmpl, name);
                FUZZ_ASSERT((ab > 0) == (ba < 0) && (ab == 0) == (ba == 0));
                FUZZ_ASSERT(dc_version_compare(name, name) == 0);
        }

        _cleanup_(dc_image_freep) dc_image *img = NULL;
        if (dc_image_parse(name, &img) < 0)
                return 0;
        _cleanup_(freep) char *canon = NULL;
        if (dc_image_to_string(img, &canon) < 0)
                return 0;
        _cleanup_(dc_image_freep) dc_image *again = NULL;
        FUZZ_ASSERT(dc_image_parse(canon, &again) == 0);
        _cleanup_(freep) char *canon2 = NULL;
        FUZZ_ASSERT(dc_image_to_string(again, &canon2) == 0);
        FUZZ_ASSERT(strcmp(canon, canon2) == 0);

        (void)dc_image_set_defaults(img);
        if (!tmpl)
                return 0;
        grammar(tmpl);
        for (int allow_http = 0; allow_http <= 1; allow_http++) {
                _cleanup_(freep) char *url = NULL;
                if (dc_template_render(tmpl, img, "aci", allow_http, &url) == 0)
                        FUZZ_ASSERT(dc_url_allowed(url, allow_http));
        }
        return 0;
}
