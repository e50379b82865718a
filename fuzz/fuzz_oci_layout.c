/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An OCI image layout's JSON documents as `publish oci:DIR` reads them: index.json, the image
 * manifest and the config (three parts: fuzz_split2 of index.json and the rest, the rest split
 * again). The blobs are written under their own digests, and "@MANIFEST@" in index.json and
 * "@CONFIG@" in the manifest become the descriptor fields ("digest":..., "size":...) of the
 * other documents, so the fuzzer reaches past the digest checks. Then the platform and the
 * appc manifest made from the config (names resolved in a small /etc/passwd and /etc/group).
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aci/aci.h"
#include "aci/oci.h"
#include "fuzz/fuzz.h"
#include "fuzz/fuzz_oci.h"

static char layout[4096], rootfs[4096];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        fuzz_log_everything();
        const char *t = fuzz_tmpdir();
        snprintf(layout, sizeof(layout), "%s/layout", t);
        snprintf(rootfs, sizeof(rootfs), "%s/rootfs", t);
        char p[4200];
        mkdir(layout, 0700);
        snprintf(p, sizeof(p), "%s/blobs", layout);
        mkdir(p, 0700);
        snprintf(p, sizeof(p), "%s/blobs/sha256", layout);
        mkdir(p, 0700);
        snprintf(p, sizeof(p), "%s/etc", rootfs);
        mkdir(rootfs, 0700);
        mkdir(p, 0700);
        static const struct {
                const char *name, *text;
        } etc[] = {{"passwd", "root:x:0:0::/:/bin/sh\napp:x:1234:4321::/:/bin/sh\nodd\n"},
                   {"group", "root:x:0:\nstaff:x:50:\n::\n"}};
        for (size_t i = 0; i < ELEMENTSOF(etc); i++) {
                snprintf(p, sizeof(p), "%s/etc/%s", rootfs, etc[i].name);
                FILE *f = fopen(p, "we");
                FUZZ_ASSERT(f && fputs(etc[i].text, f) >= 0 && fclose(f) == 0);
        }
        return 0;
}

/* Writes the blob; *ret: its descriptor fields. */
static char *put_blob(const char *data, size_t size)
{
        ca_chunk_id id;
        char hex[CA_CHUNK_ID_HEX_SIZE], path[4200], *fields;
        FUZZ_ASSERT(ca_digest_once(CA_DIGEST_SHA256, data, size, &id) >= 0);
        ca_chunk_id_to_hex(&id, hex);
        snprintf(path, sizeof(path), "%s/blobs/sha256/%s", layout, hex);
        fuzz_write_file(path, data, size);
        FUZZ_ASSERT(asprintf(&fields, "\"digest\":\"sha256:%s\",\"size\":%zu", hex, size) >= 0);
        return fields;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const uint8_t *index, *rest, *manifest, *config;
        size_t index_size, rest_size, manifest_size, config_size;
        fuzz_split2(data, size, &index, &index_size, &rest, &rest_size);
        fuzz_split2(rest, rest_size, &manifest, &manifest_size, &config, &config_size);

        _cleanup_(freep) char *cfields = put_blob((const char *)config, config_size);
        _cleanup_(freep) char *m = fuzz_replace(manifest, manifest_size, "@CONFIG@", cfields);
        _cleanup_(freep) char *mfields = put_blob(m, strlen(m));
        _cleanup_(freep) char *ix = fuzz_replace(index, index_size, "@MANIFEST@", mfields);
        char path[4200];
        snprintf(path, sizeof(path), "%s/index.json", layout);
        fuzz_write_file(path, ix, strlen(ix));

        snprintf(path, sizeof(path), "oci:%s", layout);
        _cleanup_(oci_image_freep) oci_image *img = NULL;
        if (oci_image_open(path, AT_FDCWD, NULL, &img) < 0)
                return 0;
        fuzz_oci_check(img, rootfs);
        return 0;
}
