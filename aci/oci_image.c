/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An OCI image layout read and unpacked (see oci.h). Blobs are opened only by a validated
 * "sha256:<64 hex>" digest, below the layout's blobs/sha256/ without following symlinks; a
 * document is parsed only after its digest and size match the descriptor naming it.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "casync/fs_safe.h"
#include "aci/oci.h"

#define MT_OCI_MANIFEST    "application/vnd.oci.image.manifest.v1+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_OCI_INDEX       "application/vnd.oci.image.index.v1+json"
#define MT_DOCKER_LIST     "application/vnd.docker.distribution.manifest.list.v2+json"
/* An image index listing more platforms than this is refused. */
#define PLATFORMS_MAX 256U
/* A refusal lists at most this many of the platforms an index has. */
#define PLATFORMS_LISTED 16U

static bool is_manifest_type(const char *t)
{
        return !t || strcmp(t, MT_OCI_MANIFEST) == 0 || strcmp(t, MT_DOCKER_MANIFEST) == 0;
}

static bool is_index_type(const char *t)
{
        return t && (strcmp(t, MT_OCI_INDEX) == 0 || strcmp(t, MT_DOCKER_LIST) == 0);
}

/* An OCI architecture (and variant) in appc spelling, or NULL when appc has no name for it. */
static const char *appc_arch(const char *arch, const char *variant)
{
        static const struct {
                const char *oci, *variant, *appc;
        } arches[] = {
            {"amd64", NULL, "amd64"},     {"arm64", NULL, "aarch64"}, {"arm", "v6", "armv6l"},
            {"arm", "v7", "armv7l"},      {"arm", NULL, "armv7l"},    {"386", NULL, "i386"},
            {"ppc64le", NULL, "ppc64le"}, {"s390x", NULL, "s390x"},   {"riscv64", NULL, "riscv64"},
            {"ppc64", NULL, "ppc64"},
        };
        if (!arch)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(arches); i++)
                if (strcmp(arch, arches[i].oci) == 0 &&
                    (!arches[i].variant || (variant && strcmp(variant, arches[i].variant) == 0)))
                        return arches[i].appc;
        return NULL;
}

bool oci_source_is(const char *source)
{
        return strncmp(source, "oci:", 4) == 0 || strncmp(source, "docker-archive:", 15) == 0;
}

oci_image *oci_image_free(oci_image *img)
{
        if (!img)
                return NULL;
        if (img->dir_fd >= 0)
                close(img->dir_fd);
        if (img->work_name) {
                (void)fs_remove_tree_at(img->work_fd, img->work_name);
                free(img->work_name);
        }
        free(img->dir);
        free(img->tag);
        free(img->ref);
        json_decref(img->manifest);
        json_decref(img->config);
        free(img);
        return NULL;
}

int oci_parse_desc(const char *what, json_t *d, oci_desc *ret)
{
        json_t *digest = json_object_get(d, "digest"), *size = json_object_get(d, "size");
        if (!json_is_object(d) || !json_is_string(digest) || !json_is_integer(size) ||
            json_integer_value(size) < 0)
                return ca_bad("%s: a descriptor without digest or size", what);
        ret->digest = json_string_value(digest);
        ret->size = (uint64_t)json_integer_value(size);
        ret->media_type = json_string_value(json_object_get(d, "mediaType"));
        ret->path = json_string_value(json_object_get(d, "path"));
        if (strncmp(ret->digest, "sha256:", 7) != 0 ||
            ca_chunk_id_from_hex(ret->digest + 7, &ret->id) < 0)
                return ca_bad("%s: digest \"%s\": only sha256:<64 lowercase hex digits> is taken",
                              what, ret->digest);
        return 0;
}

/* The file at path (components separated by '/'), below dir_fd, never through a symlink. */
int oci_open_path(int dir_fd, const char *path)
{
        int fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return negative_errno();
        for (const char *p = path;;) {
                size_t len = strcspn(p, "/");
                char comp[FS_NAME_MAX + 1];
                if (len > FS_NAME_MAX) {
                        close(fd);
                        return -ENAMETOOLONG;
                }
                memcpy(comp, p, len);
                comp[len] = 0;
                if (!fs_name_is_valid(comp)) {
                        close(fd);
                        return -EINVAL;
                }
                int sub = fs_open_beneath(fd, comp, p[len] ? O_RDONLY | O_DIRECTORY : O_RDONLY, 0);
                close(fd);
                if (sub < 0 || !p[len])
                        return sub;
                fd = sub;
                p += len + 1;
        }
}

/* The blob of d opened for reading, its size checked. */
static int open_blob(const oci_image *img, const oci_desc *d)
{
        _cleanup_(closep) int dir = img->dir_fd >= 0
                                        ? fcntl(img->dir_fd, F_DUPFD_CLOEXEC, 3)
                                        : open(img->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir < 0)
                return ca_log_errno(CA_LOG_ERR, negative_errno(), "%s: %m", img->dir);
        char path[7 + 64 + 16];
        snprintf(path, sizeof(path), "blobs/sha256/%s", d->digest + 7);
        const char *name = d->path ? d->path : path;
        int fd = oci_open_path(dir, name);
        if (fd < 0)
                return ca_log_errno(CA_LOG_ERR, fd, "%s: %s: %s", img->dir, name, strerror(-fd));
        struct stat st;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != d->size) {
                close(fd);
                return ca_bad("%s: %s is not a regular file of %" PRIu64 " bytes", img->dir, name,
                              d->size);
        }
        return fd;
}

static int check_digest(const oci_image *img, const oci_desc *d, const ca_chunk_id *got)
{
        if (memcmp(got->bytes, d->id.bytes, CA_CHUNK_ID_SIZE) == 0)
                return 0;
        char hex[CA_CHUNK_ID_HEX_SIZE];
        return ca_bad("%s: blob %s hashes to sha256:%s (corrupt or altered)", img->dir, d->digest,
                      ca_chunk_id_to_hex(got, hex));
}

int oci_parse_json(const char *what, const uint8_t *data, size_t size, json_t **ret)
{
        json_error_t err;
        json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &err);
        if (!j)
                return ca_bad("%s: not valid JSON: %s (line %d)", what, err.text, err.line);
        if (!json_is_object(j)) {
                json_decref(j);
                return ca_bad("%s: not a JSON object", what);
        }
        *ret = j;
        return 0;
}

/* A JSON blob, verified, then parsed. */
int oci_read_json_blob(const oci_image *img, const oci_desc *d, const char *what, json_t **ret)
{
        if (d->size > OCI_JSON_MAX)
                return ca_bad("%s: %s of %" PRIu64 " bytes: more than %" PRIu64 " is refused",
                              img->dir, what, d->size, OCI_JSON_MAX);
        _cleanup_(closep) int fd = open_blob(img, d);
        if (fd < 0)
                return fd;
        _cleanup_(freep) uint8_t *data = NULL;
        size_t size = 0;
        int r = fs_read_all(fd, (size_t)OCI_JSON_MAX, &data, &size);
        if (r < 0)
                return ca_log_errno(CA_LOG_ERR, r, "%s: %s: %s", img->dir, d->digest, strerror(-r));
        ca_chunk_id got;
        r = ca_digest_once(CA_DIGEST_SHA256, data, size, &got);
        if (r >= 0)
                r = check_digest(img, d, &got);
        if (r < 0)
                return r;
        _cleanup_(freep) char *w = NULL;
        if (asprintf(&w, "%s: %s %s", img->dir, what, d->digest) < 0)
                return -ENOMEM;
        return oci_parse_json(w, data, size, ret);
}

/* The manifest descriptor of index.json the tag picks. */
static int pick_manifest(oci_image *img, json_t *index, oci_desc *ret)
{
        json_t *manifests = json_object_get(index, "manifests"), *found = NULL, *m;
        size_t i;
        if (!json_is_array(manifests) || json_array_size(manifests) == 0)
                return ca_bad("%s: index.json lists no image", img->dir);
        json_array_foreach(manifests, i, m)
        {
                json_t *ann = json_object_get(m, "annotations");
                const char *ref =
                    json_string_value(json_object_get(ann, "org.opencontainers.image.ref.name"));
                if (img->tag ? !(ref && strcmp(ref, img->tag) == 0) : false)
                        continue;
                if (found)
                        return ca_bad(img->tag ? "%s: index.json names the tag %s twice"
                                               : "%s: the layout holds several images: "
                                                 "say which one with oci:DIR:TAG",
                                      img->dir, img->tag);
                found = m;
        }
        if (!found)
                return ca_log_errno(CA_LOG_ERR, -ENOENT, "%s: no image tagged %s", img->dir,
                                    img->tag);
        int r = oci_parse_desc("index.json", found, ret);
        if (r < 0)
                return r;
        if (!is_manifest_type(ret->media_type) && !is_index_type(ret->media_type))
                return ca_bad("%s: %s is a %s, not an image manifest or index", img->dir,
                              ret->digest, ret->media_type);
        return 0;
}

/* The image of o's platform in the image index d names: its manifest's descriptor, whose
 * strings are *ret_index's. */
static int pick_platform(const oci_image *img, const oci_desc *d, const oci_open_options *o,
                         json_t **ret_index, oci_desc *ret)
{
        const char *want_os = o ? o->os : NULL, *want_arch = o ? o->arch : NULL;
        if (!want_os || !want_arch) {
                const char *host_os, *host_arch;
                int r = dc_host_os_arch(&host_os, &host_arch);
                if (r < 0)
                        return r;
                want_os = want_os ? want_os : host_os;
                want_arch = want_arch ? want_arch : host_arch;
        }
        json_t *index = NULL;
        int r = oci_read_json_blob(img, d, "image index", &index);
        if (r < 0)
                return r;
        *ret_index = index;
        json_t *manifests = json_object_get(index, "manifests"), *m;
        if (!json_is_array(manifests) || json_array_size(manifests) > PLATFORMS_MAX)
                return ca_bad("%s: the image index %s has no list of images (or more than %u)",
                              img->dir, d->digest, PLATFORMS_MAX);
        _cleanup_(freep) char *have = NULL;
        size_t have_len = 0, listed = 0, i;
        _cleanup_(fclosep) FILE *f = open_memstream(&have, &have_len);
        if (!f)
                return -ENOMEM;
        json_array_foreach(manifests, i, m)
        {
                json_t *p = json_object_get(m, "platform");
                const char *os = json_string_value(json_object_get(p, "os"));
                const char *arch = json_string_value(json_object_get(p, "architecture"));
                const char *variant = json_string_value(json_object_get(p, "variant"));
                const char *appc = appc_arch(arch, variant);
                const char *type = json_string_value(json_object_get(m, "mediaType"));
                /* Not images (attestations say "unknown/unknown"; nested indexes). */
                if (!os || !arch || !is_manifest_type(type) || strcmp(os, "unknown") == 0)
                        continue;
                if (appc && strcmp(os, want_os) == 0 && strcmp(appc, want_arch) == 0) {
                        r = oci_parse_desc("image index", m, ret);
                        if (r >= 0)
                                ca_log_debug("%s: %s/%s of the image index %s", img->dir, os, appc,
                                             d->digest);
                        return r;
                }
                if (listed++ < PLATFORMS_LISTED)
                        fprintf(f, "%s%s/%s", listed > 1 ? ", " : "", os, appc ? appc : arch);
        }
        if (listed > PLATFORMS_LISTED)
                fprintf(f, ", and %zu more", listed - PLATFORMS_LISTED);
        if (fflush(f) != 0)
                return -ENOMEM;
        return ca_log_errno(CA_LOG_ERR, -ENOENT,
                            "%s: the image index %s has no image for %s/%s (it has %s); choose "
                            "one with --label os= and --label arch=",
                            img->dir, img->tag ? img->tag : d->digest, want_os, want_arch,
                            listed ? have : "none");
}

int oci_image_new(oci_image **ret)
{
        oci_image *img = calloc(1, sizeof(*img));
        if (!img)
                return -ENOMEM;
        img->dir_fd = img->work_fd = -1;
        *ret = img;
        return 0;
}

int oci_image_open(const char *source, int work_fd, const oci_open_options *o, oci_image **ret)
{
        if (strncmp(source, "docker-archive:", 15) == 0)
                return oci_archive_open(source + 15, work_fd, ret);
        _cleanup_(oci_image_freep) oci_image *img = NULL;
        int r = oci_image_new(&img);
        if (r < 0)
                return r;
        const char *spec = source + 4, *colon = strrchr(spec, ':');
        if (colon && !strchr(colon, '/')) {
                img->dir = strndup(spec, (size_t)(colon - spec));
                img->tag = strdup(colon + 1);
                if (!img->tag)
                        return -ENOMEM;
        } else
                img->dir = strdup(spec);
        if (!img->dir)
                return -ENOMEM;
        if (!*img->dir || (img->tag && !*img->tag))
                return ca_log_errno(CA_LOG_ERR, -EINVAL, "%s: wants oci:DIR or oci:DIR:TAG",
                                    source);

        _cleanup_(closep) int dir = open(img->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir < 0)
                return ca_log_errno(CA_LOG_ERR, negative_errno(),
                                    "%s: cannot open the image layout: %m", img->dir);
        _cleanup_(closep) int fd = fs_open_beneath(dir, "index.json", O_RDONLY, 0);
        if (fd < 0)
                return ca_log_errno(CA_LOG_ERR, fd, "%s/index.json: %s (not an OCI image layout?)",
                                    img->dir, strerror(-fd));
        _cleanup_(freep) uint8_t *data = NULL;
        size_t size = 0;
        r = fs_read_all(fd, (size_t)OCI_JSON_MAX, &data, &size);
        if (r < 0)
                return ca_log_errno(CA_LOG_ERR, r, "%s/index.json: %s", img->dir, strerror(-r));
        _cleanup_(freep) char *what = NULL;
        if (asprintf(&what, "%s/index.json", img->dir) < 0)
                return -ENOMEM;
        json_t *index = NULL;
        r = oci_parse_json(what, data, size, &index);
        if (r < 0)
                return r;
        oci_desc md, cd;
        json_t *platforms = NULL;
        r = pick_manifest(img, index, &md);
        if (r >= 0 && is_index_type(md.media_type)) {
                oci_desc id = md;
                r = pick_platform(img, &id, o, &platforms, &md);
        }
        if (r >= 0)
                r = oci_read_json_blob(img, &md, "manifest", &img->manifest);
        json_decref(platforms); /* md's strings were index's or platforms' */
        json_decref(index);
        if (r < 0)
                return r;
        json_t *layers = json_object_get(img->manifest, "layers");
        if (!json_is_array(layers) || json_array_size(layers) > OCI_LAYERS_MAX)
                return ca_bad("%s: the manifest has no list of layers (or more than %u)", img->dir,
                              OCI_LAYERS_MAX);
        r = oci_parse_desc("manifest", json_object_get(img->manifest, "config"), &cd);
        if (r >= 0)
                r = oci_read_json_blob(img, &cd, "config", &img->config);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(img);
        return 0;
}

/* ---------------------------------------------------------------- layers */

typedef struct layer_feed {
        ca_tar_reader *rd;
        ca_digest *dg;
} layer_feed;

static int layer_write(void *userdata, const void *data, size_t size)
{
        layer_feed *f = userdata;
        int r = ca_digest_update(f->dg, data, size);
        return r < 0 ? r : ca_tar_reader_feed(f->rd, data, size);
}

static int apply_layer(const oci_image *img, size_t n, json_t *desc, ca_tar_extract *x,
                       const ca_tar_handler *h, int rootfs_fd)
{
        _cleanup_(freep) char *what = NULL;
        if (asprintf(&what, "%s: layer %zu", img->dir, n + 1) < 0)
                return -ENOMEM;
        int r = ca_tar_extract_next_layer(x, what);
        if (r < 0)
                return r;
        oci_desc d;
        r = oci_parse_desc(what, desc, &d);
        if (r < 0)
                return r;
        if (d.media_type && !strstr(d.media_type, "tar"))
                return ca_bad("%s: media type %s is not a tar", what, d.media_type);
        struct statvfs sv;
        if (fstatvfs(rootfs_fd, &sv) < 0)
                return ca_log_errno(CA_LOG_ERR, negative_errno(), "%s: %m", what);
        uint64_t room = (uint64_t)sv.f_bavail * sv.f_frsize;
        _cleanup_(closep) int fd = open_blob(img, &d);
        if (fd < 0)
                return fd;
        /* The blob is read whole, by a thread that also hashes and inflates it: have the kernel
         * read ahead meanwhile instead of waiting for each read (a hint; failure is harmless). */
        (void)posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
        _cleanup_(ca_tar_reader_freep) ca_tar_reader *rd = NULL;
        _cleanup_(ca_digest_freep) ca_digest *dg = NULL;
        /* What a layer unpacks to may not exceed the room left (nor the format's bound). */
        r = ca_tar_reader_new(h, what, room ? room : 1, &rd);
        /* Decompression (and the digest) on one core, the files written on another. */
        if (r >= 0)
                r = ca_tar_reader_pipeline(rd);
        if (r >= 0)
                r = ca_digest_new(CA_DIGEST_SHA256, &dg);
        if (r < 0)
                return r;
        layer_feed f = {rd, dg};
        r = ca_stream_fd(fd, what, layer_write, &f);
        ca_chunk_id got;
        /* A corrupt blob is reported as such, not as the tar error it may cause. */
        if (r == -EBADMSG || r >= 0) {
                char buf[65536];
                ssize_t k;
                while (r < 0 && (k = read(fd, buf, sizeof(buf))) > 0)
                        (void)ca_digest_update(dg, buf, (size_t)k);
                int q = ca_digest_final(dg, got.bytes);
                if (q >= 0)
                        q = check_digest(img, &d, &got);
                if (q < 0)
                        return q;
        }
        if (r >= 0)
                r = ca_tar_reader_finish(rd);
        if (r >= 0)
                ca_log_debug("%s: %s, %" PRIu64 " entries", what, ca_tar_reader_compression(rd),
                             ca_tar_reader_entries(rd));
        return r;
}

int oci_image_unpack(const oci_image *img, int rootfs_fd)
{
        _cleanup_(ca_tar_extract_freep) ca_tar_extract *x = NULL;
        ca_tar_handler h;
        ca_tar_extract_options eo = {.layers = true};
        int r = ca_tar_extract_new(rootfs_fd, img->dir, &eo, &x, &h);
        if (r < 0)
                return r;
        json_t *layers = json_object_get(img->manifest, "layers"), *l;
        size_t i;
        json_array_foreach(layers, i, l)
        {
                r = apply_layer(img, i, l, x, &h, rootfs_fd);
                if (r < 0)
                        return r;
        }
        return ca_tar_extract_finish(x);
}

int oci_image_platform(const oci_image *img, const char **ret_os, const char **ret_arch)
{
        const char *os = json_string_value(json_object_get(img->config, "os"));
        const char *arch = json_string_value(json_object_get(img->config, "architecture"));
        const char *variant = json_string_value(json_object_get(img->config, "variant"));
        if (!os || !arch)
                return ca_bad("%s: the image config names no os or architecture", img->dir);
        const char *appc = appc_arch(arch, variant);
        if (!appc)
                return ca_bad("%s: architecture %s%s%s has no appc name", img->dir, arch,
                              variant ? " " : "", variant ? variant : "");
        *ret_os = os;
        *ret_arch = appc;
        return 0;
}
