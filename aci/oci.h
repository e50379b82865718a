/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * OCI images as a source of appc images (`acfetch publish oci:DIR[:TAG]`): an OCI image layout
 * (index.json, blobs/sha256/...) read as untrusted input (every JSON document bounded, every
 * blob's digest and size checked against what references it), its layers applied in order into
 * one rootfs (casync's tar reader and confined extraction, in OCI layer mode: whiteouts, opaque
 * directories), and an appc ImageManifest made from its config (oci_manifest.c).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "casync/casync.h"
#include "discovery/discovery.h"

/* JSON documents of a layout (index, manifest, config) may be at most this large. */
#define OCI_JSON_MAX (UINT64_C(4) << 20)
/* At most this many layers. */
#define OCI_LAYERS_MAX 1000U

typedef struct oci_image {
        char *dir, *tag;           /* from oci:DIR[:TAG]; tag NULL when not given */
        json_t *manifest, *config; /* verified and parsed */
} oci_image;

/* true for "oci:..." */
bool oci_source_is(const char *source);

/*
 * Opens the image source names ("oci:DIR[:TAG]"; without TAG the layout must hold exactly one
 * image) and checks its manifest and config. Logs its failures.
 */
int oci_image_open(const char *source, oci_image **ret);
oci_image *oci_image_free(oci_image *img);
static inline void oci_image_freep(oci_image **img)
{
        oci_image_free(*img);
}

/*
 * Applies the layers in order into rootfs_fd (an empty private directory): each layer's digest
 * is checked as it is read; a layer whose tar (decompressed) is larger than the free space of
 * rootfs_fd's file system is refused. Logs its failures.
 */
int oci_image_unpack(const oci_image *img, int rootfs_fd);

/* The config's os and arch in appc spelling (arm64 → aarch64, arm v7 → armv7l, 386 → i386). */
int oci_image_platform(const oci_image *img, const char **ret_os, const char **ret_arch);

typedef struct oci_manifest_options {
        const dc_image *image; /* name and labels (version, os, arch included) */
        char *const *exec;     /* overrides Entrypoint + Cmd when n_exec > 0 */
        size_t n_exec;
        const char *user, *group; /* override User when set */
} oci_manifest_options;

/*
 * The ImageManifest of the unpacked image (rootfs_fd: its /etc/passwd and /etc/group resolve user
 * and group names): app from the config's Entrypoint, Cmd, User, WorkingDir, Env, ExposedPorts
 * and Volumes; the config's labels and the manifest's annotations as annotations. *ret is
 * malloc'ed JSON ending in a newline.
 */
int oci_image_manifest(const oci_image *img, int rootfs_fd, const oci_manifest_options *o,
                       char **ret, size_t *ret_size);
