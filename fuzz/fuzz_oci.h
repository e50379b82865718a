/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the OCI harnesses check of an image that opened, as publish goes on with it. */
#pragma once

#include <fcntl.h>

#include "aci/aci.h"
#include "aci/oci.h"
#include "fuzz/fuzz.h"

/* Its documents' shapes, its platform, and the appc manifest made from its config against the
 * image tree rootfs (parsed as appc reads it: it may be refused, never crash). */
static inline void fuzz_oci_check(oci_image *img, const char *rootfs)
{
        FUZZ_ASSERT(json_is_object(img->config) &&
                    json_is_array(json_object_get(img->manifest, "layers")));
        const char *os = NULL, *arch = NULL;
        if (oci_image_platform(img, &os, &arch) >= 0)
                FUZZ_ASSERT(os && arch);
        _cleanup_(dc_image_freep) dc_image *im = NULL;
        FUZZ_ASSERT(dc_image_parse("example.com/app,version=1.0,os=linux,arch=amd64", &im) >= 0);
        _cleanup_(closep) int rfd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        FUZZ_ASSERT(rfd >= 0);
        oci_manifest_options mo = {.image = im};
        _cleanup_(freep) char *text = NULL;
        size_t text_size = 0;
        if (oci_image_manifest(img, rfd, &mo, &text, &text_size) < 0)
                return;
        FUZZ_ASSERT(text_size == strlen(text));
        _cleanup_(aci_manifest_freep) aci_manifest *am = NULL;
        (void)aci_manifest_parse(text, text_size, "fuzz/oci", &am);
}
