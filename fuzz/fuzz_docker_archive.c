/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A docker-archive's manifest.json and config as `publish docker-archive:FILE` reads them once
 * the archive is unpacked (two parts, fuzz_split2). The config is written under its own digest
 * and one layer.tar beside it, "@CONFIG@" in manifest.json becoming the config's file name and
 * "@LAYER@" in the config the layer's digest, so the fuzzer reaches past the digest checks.
 * Then the platform and the appc manifest made from the config.
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aci/aci.h"
#include "aci/oci.h"
#include "fuzz/fuzz.h"
#include "fuzz/fuzz_oci.h"

static char dir[4096], rootfs[4096];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        fuzz_log_everything();
        snprintf(dir, sizeof(dir), "%s/archive", fuzz_tmpdir());
        snprintf(rootfs, sizeof(rootfs), "%s/rootfs", fuzz_tmpdir());
        FUZZ_ASSERT(mkdir(dir, 0700) == 0 && mkdir(rootfs, 0700) == 0);
        return 0;
}

static void write_at(const char *name, const void *data, size_t size)
{
        char p[4400];
        snprintf(p, sizeof(p), "%s/%s", dir, name);
        fuzz_write_file(p, data, size);
}

static void hex_digest(const void *data, size_t size, char hex[static CA_CHUNK_ID_HEX_SIZE])
{
        ca_chunk_id id;
        FUZZ_ASSERT(ca_digest_once(CA_DIGEST_SHA256, data, size, &id) >= 0);
        ca_chunk_id_to_hex(&id, hex);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const uint8_t *manifest, *config;
        size_t manifest_size, config_size;
        fuzz_split2(data, size, &manifest, &manifest_size, &config, &config_size);

        static const uint8_t layer[1024]; /* an empty tar */
        char lhex[CA_CHUNK_ID_HEX_SIZE], chex[CA_CHUNK_ID_HEX_SIZE], lid[80], cname[80];
        hex_digest(layer, sizeof(layer), lhex);
        snprintf(lid, sizeof(lid), "sha256:%s", lhex);
        write_at("layer.tar", layer, sizeof(layer));
        _cleanup_(freep) char *c = fuzz_replace(config, config_size, "@LAYER@", lid);
        hex_digest(c, strlen(c), chex);
        snprintf(cname, sizeof(cname), "%s.json", chex);
        write_at(cname, c, strlen(c));
        _cleanup_(freep) char *m = fuzz_replace(manifest, manifest_size, "@CONFIG@", cname);
        write_at("manifest.json", m, strlen(m));

        _cleanup_(oci_image_freep) oci_image *img = NULL;
        FUZZ_ASSERT(oci_image_new(&img) >= 0);
        img->dir = strdup("fuzz/docker-archive");
        img->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        FUZZ_ASSERT(img->dir && img->dir_fd >= 0);
        int r = oci_archive_read(img);
        char p[4400];
        snprintf(p, sizeof(p), "%s/%s", dir, cname);
        unlink(p);
        if (r < 0)
                return 0;
        fuzz_oci_check(img, rootfs);
        return 0;
}
