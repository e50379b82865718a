/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * docker-archive:FILE (see oci.h): the tar `docker save` and `skopeo copy ... docker-archive:`
 * write, holding manifest.json ([{"Config": "<sha256>.json", "RepoTags": [...], "Layers":
 * [paths]}], one entry per image), the config and uncompressed layer tars. The archive is
 * unpacked first into a private directory (by the bounded tar reader and the confined
 * extraction; its size bounded by the free space), since its members come in any order; then
 * the config is checked against its name (its SHA-256) and each layer against the config's
 * rootfs.diff_ids, which is what a docker-archive layer's digest is.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "casync/fs_safe.h"
#include "aci/oci.h"

static int feed(void *userdata, const void *data, size_t size)
{
        return ca_tar_reader_feed(userdata, data, size);
}

static int unpack_archive(oci_image *img, int work_fd)
{
        struct statvfs sv;
        if (fstatvfs(work_fd, &sv) < 0)
                return ca_log_errno(CA_LOG_ERR, negative_errno(), "%s: %m", img->dir);
        uint64_t room = (uint64_t)sv.f_bavail * sv.f_frsize;
        _cleanup_(freep) char *prefix = NULL;
        int r = fs_temp_prefix("docker-archive", &prefix);
        if (r >= 0)
                r = fs_mkdtemp_at(work_fd, prefix, &img->work_name);
        if (r < 0)
                return ca_log_errno(CA_LOG_ERR, r, "%s: cannot make a private directory: %s",
                                    img->dir, strerror(-r));
        img->work_fd = work_fd;
        img->dir_fd = fs_open_beneath(work_fd, img->work_name, O_RDONLY | O_DIRECTORY, 0);
        if (img->dir_fd < 0)
                return ca_log_errno(CA_LOG_ERR, img->dir_fd, "%s: %s", img->work_name,
                                    strerror(-img->dir_fd));
        _cleanup_(closep) int fd = open(img->dir, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return ca_log_errno(CA_LOG_ERR, negative_errno(), "%s: %m", img->dir);
        _cleanup_(ca_tar_extract_freep) ca_tar_extract *x = NULL;
        _cleanup_(ca_tar_reader_freep) ca_tar_reader *rd = NULL;
        ca_tar_handler h;
        ca_tar_extract_options eo = {.no_same_owner = true};
        r = ca_tar_extract_new(img->dir_fd, img->dir, &eo, &x, &h);
        if (r >= 0)
                r = ca_tar_reader_new(&h, img->dir, room ? room : 1, &rd);
        if (r >= 0)
                r = ca_stream_fd(fd, img->dir, feed, rd);
        if (r >= 0)
                r = ca_tar_reader_finish(rd);
        return r < 0 ? r : ca_tar_extract_finish(x);
}

/* A descriptor for the file at path, whose digest is digest. */
static int file_desc(const oci_image *img, const char *path, const char *digest, json_t **ret)
{
        _cleanup_(closep) int fd = oci_open_path(img->dir_fd, path);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                return ca_bad("%s: %s, named by manifest.json, is not a file of the archive",
                              img->dir, path);
        *ret = json_pack("{s:s,s:I,s:s}", "digest", digest, "size", (json_int_t)st.st_size, "path",
                         path);
        return *ret ? 0 : -ENOMEM;
}

int oci_archive_open(const char *spec, int work_fd, oci_image **ret)
{
        _cleanup_(oci_image_freep) oci_image *img = NULL;
        int r = oci_image_new(&img);
        if (r < 0)
                return r;
        /* FILE[:REF], as skopeo spells it: a file name with a colon cannot be given. */
        const char *colon = strchr(spec, ':');
        img->dir = colon ? strndup(spec, (size_t)(colon - spec)) : strdup(spec);
        if (!img->dir || (colon && !(img->ref = strdup(colon + 1))))
                return -ENOMEM;
        if (!*img->dir || (img->ref && !*img->ref))
                return ca_log_errno(CA_LOG_ERR, -EINVAL,
                                    "docker-archive:%s: wants docker-archive:FILE or "
                                    "docker-archive:FILE:REF",
                                    spec);
        r = unpack_archive(img, work_fd);
        if (r >= 0)
                r = oci_archive_read(img);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(img);
        return 0;
}

/* A reference in Docker's short form: "docker.io/library/debian:12" is "debian:12" (docker
 * save writes the short form, skopeo the long one). */
static const char *familiar(const char *ref)
{
        static const char *const prefixes[] = {"docker.io/library/", "docker.io/",
                                               "index.docker.io/library/", "index.docker.io/"};
        for (size_t i = 0; i < ELEMENTSOF(prefixes); i++)
                if (strncmp(ref, prefixes[i], strlen(prefixes[i])) == 0)
                        return ref + strlen(prefixes[i]);
        return ref;
}

/* Whether the RepoTag tag is what ref names: the same (each in its short form), or ref without
 * a tag and tag ":latest". */
static bool ref_names(const char *ref, const char *tag)
{
        ref = familiar(ref);
        tag = familiar(tag);
        if (strcmp(ref, tag) == 0)
                return true;
        const char *slash = strrchr(ref, '/');
        size_t n = strlen(ref);
        return !strchr(slash ? slash : ref, ':') && strncmp(tag, ref, n) == 0 &&
               strcmp(tag + n, ":latest") == 0;
}

/* The first RepoTags entry of a manifest.json image, or NULL. */
static const char *first_repo_tag(json_t *image)
{
        return json_string_value(json_array_get(json_object_get(image, "RepoTags"), 0));
}

/* manifest.json's image: the only one, or the one img->ref names (a RepoTag, or @N); *ret_tag:
 * the RepoTag that names it (its first when no REF by name), or NULL. Strings are list's. */
static int pick_image(const oci_image *img, json_t *list, json_t **ret, const char **ret_tag)
{
        const char *file = img->dir;
        size_t n = json_is_array(list) ? json_array_size(list) : 0, i, k;
        json_t *m, *t;
        if (n == 0 || n > OCI_LAYERS_MAX)
                return ca_bad("%s: manifest.json lists no image (or more than %u)", file,
                              OCI_LAYERS_MAX);
        if (!img->ref) {
                if (n != 1)
                        return ca_bad("%s: the archive holds %zu images: say which one with "
                                      "docker-archive:FILE:REF (a tag, or @0 to @%zu)",
                                      file, n, n - 1);
                *ret = json_array_get(list, 0);
                *ret_tag = first_repo_tag(*ret);
                return 0;
        }
        if (img->ref[0] == '@') {
                char *end;
                errno = 0;
                unsigned long long at = strtoull(img->ref + 1, &end, 10);
                if (!(img->ref[1] >= '0' && img->ref[1] <= '9') || *end || errno || at >= n)
                        return ca_log_errno(CA_LOG_ERR, -ENOENT,
                                            "%s: no image %s: the archive holds %zu (@0 to @%zu)",
                                            file, img->ref, n, n - 1);
                *ret = json_array_get(list, (size_t)at);
                *ret_tag = first_repo_tag(*ret);
                return 0;
        }
        json_array_foreach(list, i, m)
        {
                json_array_foreach(json_object_get(m, "RepoTags"), k, t)
                {
                        const char *tag = json_string_value(t);
                        if (!tag || !ref_names(img->ref, tag))
                                continue;
                        if (*ret && *ret != m)
                                return ca_bad("%s: manifest.json names %s twice", file, img->ref);
                        *ret = m;
                        *ret_tag = tag;
                }
        }
        if (!*ret)
                return ca_log_errno(CA_LOG_ERR, -ENOENT, "%s: no image tagged %s in the archive",
                                    file, img->ref);
        return 0;
}

int oci_archive_read(oci_image *img)
{
        const char *file = img->dir;
        int r;
        _cleanup_(closep) int fd = fs_open_beneath(img->dir_fd, "manifest.json", O_RDONLY, 0);
        if (fd < 0)
                return ca_bad("%s: no manifest.json: not a docker-archive", file);
        _cleanup_(freep) uint8_t *data = NULL;
        size_t size = 0;
        r = fs_read_all(fd, (size_t)OCI_JSON_MAX, &data, &size);
        if (r < 0)
                return ca_log_errno(CA_LOG_ERR, r, "%s: manifest.json: %s", file, strerror(-r));
        json_error_t err;
        json_t *list = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &err);
        if (!list)
                return ca_bad("%s: manifest.json: not valid JSON: %s (line %d)", file, err.text,
                              err.line);
        json_t *m = NULL;
        const char *tag = NULL;
        r = pick_image(img, list, &m, &tag);
        const char *config = json_string_value(json_object_get(m, "Config"));
        json_t *layers = json_object_get(m, "Layers");
        if (r >= 0 &&
            (!config || !json_is_array(layers) || json_array_size(layers) > OCI_LAYERS_MAX))
                r = ca_bad("%s: manifest.json: no Config or Layers", file);
        const char *colon = tag ? strrchr(tag, ':') : NULL;
        if (r >= 0 && colon && !strchr(colon, '/') && colon[1] && !(img->tag = strdup(colon + 1)))
                r = -ENOMEM;

        /* The config is named by its digest. */
        _cleanup_(freep) char *digest = NULL;
        size_t cl = config ? strlen(config) : 0;
        if (r >= 0 && (cl != 64 + 5 || strcmp(config + 64, ".json") != 0))
                r = ca_bad("%s: the config %s is not named by its digest (<sha256>.json)", file,
                           config);
        json_t *cdesc = NULL;
        if (r >= 0 && asprintf(&digest, "sha256:%.64s", config) < 0)
                r = -ENOMEM;
        if (r >= 0)
                r = file_desc(img, config, digest, &cdesc);
        oci_desc cd;
        if (r >= 0)
                r = oci_parse_desc(file, cdesc, &cd);
        if (r >= 0)
                r = oci_read_json_blob(img, &cd, "config", &img->config);
        json_decref(cdesc);

        /* Each layer's digest is its diff_id. */
        json_t *diff_ids = json_object_get(json_object_get(img->config, "rootfs"), "diff_ids");
        json_t *descs = json_array();
        if (!descs)
                r = -ENOMEM;
        if (r >= 0 && json_array_size(diff_ids) != json_array_size(layers))
                r = ca_bad("%s: manifest.json lists %zu layers, the config %zu", file,
                           json_array_size(layers), json_array_size(diff_ids));
        for (size_t i = 0; r >= 0 && i < json_array_size(layers); i++) {
                const char *path = json_string_value(json_array_get(layers, i));
                const char *id = json_string_value(json_array_get(diff_ids, i));
                json_t *d = NULL;
                if (!path || !id)
                        r = ca_bad("%s: layer %zu: no file or no diff_id", file, i + 1);
                else
                        r = file_desc(img, path, id, &d);
                if (r >= 0)
                        r = json_array_append_new(descs, d) < 0 ? -ENOMEM : 0;
        }
        json_decref(list);
        if (r >= 0) {
                img->manifest = json_pack("{s:o}", "layers", descs);
                descs = NULL;
                if (!img->manifest)
                        r = -ENOMEM;
        }
        json_decref(descs);
        return r;
}
