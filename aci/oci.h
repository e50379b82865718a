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
        char *dir, *tag;           /* DIR (or FILE) and TAG (NULL when not given) */
        char *ref;                 /* docker-archive: REF, the image asked for (NULL: the one) */
        int dir_fd;                /* docker-archive: the archive unpacked; else -1 (dir) */
        int work_fd;               /* docker-archive: where work_name is */
        char *work_name;           /* docker-archive: the private directory, removed by free */
        json_t *manifest, *config; /* verified and parsed; "layers" lists the descriptors */
} oci_image;

/* true for "oci:..." and "docker-archive:..." */
bool oci_source_is(const char *source);

/* Which image of a multi-platform index to take, in appc spelling (os "linux", arch
 * "aarch64"); NULL (or NULL fields): this machine's, as `docker pull` takes. */
typedef struct oci_open_options {
        const char *os, *arch;
} oci_open_options;

/*
 * Opens the image source names and checks its manifest and config; logs its failures.
 * "oci:DIR[:TAG]": without TAG the layout must hold exactly one image; a TAG (or the one image)
 * that is an image index of several platforms gives the image of o's platform.
 * "docker-archive:FILE[:REF]" (`docker save`, `skopeo copy ... docker-archive:FILE`): REF, one
 * of the archive's RepoTags (":latest" when it names no tag) or @N (the Nth image, from 0),
 * is needed when the archive holds several images. The archive is unpacked into a private
 * directory under work_fd first (see oci_archive.c).
 */
int oci_image_open(const char *source, int work_fd, const oci_open_options *o, oci_image **ret);
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

/* ---------------------------------------------------------------- between the oci files */

/* A descriptor's digest (sha256 only), size and media type, checked; path: docker-archive's
 * file of the blob (else NULL: blobs/sha256/HEX). Strings borrowed from the JSON. */
typedef struct oci_desc {
        const char *digest, *media_type, *path;
        uint64_t size;
        ca_chunk_id id;
} oci_desc;
int oci_image_new(oci_image **ret);
int oci_parse_desc(const char *what, json_t *d, oci_desc *ret);
/* JSON bytes that must hold an object; `what` names them in the one message. */
int oci_parse_json(const char *what, const uint8_t *data, size_t size, json_t **ret);
/* A JSON blob (at most OCI_JSON_MAX) read, its size and digest checked, then parsed. */
int oci_read_json_blob(const oci_image *img, const oci_desc *d, const char *what, json_t **ret);
/* The file at path ('/'-separated components) below dir_fd, never through a symlink; not logged. */
int oci_open_path(int dir_fd, const char *path);
/* spec: FILE[:REF] */
int oci_archive_open(const char *spec, int work_fd, oci_image **ret);
/* The unpacked docker-archive at img->dir_fd: manifest.json's image (the one, or img->ref's),
 * the config checked against its name, the layers' descriptors (their diff_ids) into
 * img->manifest. */
int oci_archive_read(oci_image *img);
