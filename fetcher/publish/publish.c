/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One publish: the name and labels, the manifest (read, or generated for a bare rootfs) checked
 * against them, the archive made into the shared store, then the signature, the index, the
 * discovery page and the latest link put in place, in that order (layout in publish.h).
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "casync/fs_safe.h"
#include "aci/aci.h"
#include "aci/oci.h"
#include "discovery/discovery.h"
#include "fetcher/publish/publish.h"

/* ---------------------------------------------------------------- the manifest */

typedef struct image_manifest {
        char *bytes;
        size_t size;
        int fd; /* the file it was read from, or -1 (generated) */
        aci_manifest *parsed;
} image_manifest;

static void image_manifest_done(image_manifest *m)
{
        free(m->bytes);
        if (m->fd >= 0)
                close(m->fd);
        aci_manifest_free(m->parsed);
}

static int read_manifest(int dir_fd, const char *name, const char *what, image_manifest *m)
{
        struct stat st;
        int r;

        m->fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (m->fd < 0 || fstat(m->fd, &st) < 0) {
                r = negative_errno();
                return ca_log_errno(CA_LOG_ERR, r, "%s: cannot open: %s", what, strerror(-r));
        }
        if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > ACI_MANIFEST_SIZE_MAX)
                return ca_log_errno(CA_LOG_ERR, -EINVAL,
                                    "%s: not a regular file of at most %" PRIu64 " bytes", what,
                                    ACI_MANIFEST_SIZE_MAX);
        m->size = (size_t)st.st_size;
        m->bytes = malloc(m->size + 1);
        if (!m->bytes)
                return -ENOMEM;
        r = read_full(m->fd, m->bytes, m->size);
        if (r < 0)
                return ca_log_errno(CA_LOG_ERR, r, "%s: read failed: %s", what, strerror(-r));
        return 0;
}

/* An ImageManifest for the name, its labels (version first, then os, arch, the others) and the
 * app given on the command line. */
static int generate_manifest(const publish_options *a, const dc_image *img, image_manifest *m)
{
        static const char *const first[] = {"version", "os", "arch"};
        json_t *root = json_object(), *labels = json_array();
        char *text;
        int r = -ENOMEM;

        if (!root || !labels)
                goto out;
        json_object_set_new(root, "acKind", json_string("ImageManifest"));
        json_object_set_new(root, "acVersion", json_string("0.8.11"));
        json_object_set_new(root, "name", json_string(img->name));
        /* version, os, arch first (as image manifests usually list them), then the rest. */
        for (size_t k = 0; k <= ELEMENTSOF(first); k++)
                for (size_t i = 0; i < img->n_labels; i++) {
                        const char *key = img->labels[i].key;
                        bool is_first = false;

                        for (size_t f = 0; f < ELEMENTSOF(first); f++)
                                is_first = is_first || strcmp(key, first[f]) == 0;
                        if (k < ELEMENTSOF(first) ? strcmp(key, first[k]) != 0 : is_first)
                                continue;
                        json_array_append_new(labels, json_pack("{s:s,s:s}", "name", key, "value",
                                                                img->labels[i].value));
                }
        json_object_set(root, "labels", labels);
        if (a->n_exec > 0 || a->user || a->group) {
                json_t *app = json_object(), *exec = json_array();
                if (!app || !exec) {
                        json_decref(app);
                        json_decref(exec);
                        goto out;
                }
                for (size_t i = 0; i < a->n_exec; i++)
                        json_array_append_new(exec, json_string(a->exec[i]));
                if (a->n_exec > 0)
                        json_object_set(app, "exec", exec);
                json_decref(exec);
                json_object_set_new(app, "user", json_string(a->user ? a->user : "0"));
                json_object_set_new(app, "group", json_string(a->group ? a->group : "0"));
                json_object_set_new(root, "app", app);
        }
        text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (!text)
                goto out;
        m->size = strlen(text) + 1;
        m->bytes = malloc(m->size);
        if (m->bytes) {
                memcpy(m->bytes, text, m->size - 1);
                m->bytes[m->size - 1] = '\n';
                r = 0;
        }
        free(text);
out:
        json_decref(labels);
        json_decref(root);
        return r;
}

/* Values that become one path component: no '/', no leading dot, nothing a URL would mangle
 * beyond what nginx decodes back. */
static bool path_value_ok(const char *s)
{
        if (!*s || s[0] == '.' || strcmp(s, "index.html") == 0 || strcmp(s, "default.castr") == 0)
                return false;
        for (; *s; s++)
                if (!(('a' <= *s && *s <= 'z') || ('A' <= *s && *s <= 'Z') ||
                      ('0' <= *s && *s <= '9') || strchr("._~+-", *s)))
                        return false;
        return true;
}

/* ---------------------------------------------------------------- the run */

/* Entries of a directory besides "." and "..", or a negative errno. */
static int count_entries(int fd)
{
        struct dirent *de;
        DIR *d = fs_opendir_at(fd);
        int n = 0, r;

        if (!d)
                return negative_errno();
        while ((r = fs_readdir(d, &de)) > 0)
                n++;
        closedir(d);
        return r < 0 ? r : n;
}

/* Everything one publish works out, step by step. */
typedef struct publish_ctx {
        const char *source, *outdir;
        dc_image *img;
        char *rel; /* the name without its host: the page's directory under OUTDIR */
        int src_fd, rootfs_fd;
        int outdir_fd; /* oci: OUTDIR, holding oci_tmp */
        char *oci_tmp; /* oci: the private directory the layers are applied into */
        struct stat src_st;
        bool image_dir; /* SOURCE holds a manifest (and rootfs/) */
        image_manifest m;
        const char *version, *os, *arch; /* borrowed from the manifest or constants */
        char *vrel, *index, *tmp_index, *sig, *tmp_sig, *store, *page_path, *template, *url;
        char *profile, *tmp_profile, *profile_sig, *tmp_profile_sig; /* --profile */
        char *profile_text; /* the profile as published (checked, then written anew) */
        size_t profile_size;
} publish_ctx;

static void publish_ctx_done(publish_ctx *c)
{
        dc_image_free(c->img);
        if (c->src_fd >= 0)
                close(c->src_fd);
        if (c->rootfs_fd >= 0)
                close(c->rootfs_fd);
        if (c->oci_tmp) {
                int r = fs_remove_tree_at(c->outdir_fd, c->oci_tmp);
                if (r < 0)
                        ca_log_warning("%s/%s: cannot remove the unpacked image: %s", c->outdir,
                                       c->oci_tmp, strerror(-r));
                free(c->oci_tmp);
        }
        if (c->outdir_fd >= 0)
                close(c->outdir_fd);
        image_manifest_done(&c->m);
        free(c->rel);
        free(c->vrel);
        free(c->index);
        free(c->tmp_index);
        free(c->sig);
        free(c->tmp_sig);
        free(c->profile);
        free(c->tmp_profile);
        free(c->profile_sig);
        free(c->tmp_profile_sig);
        free(c->profile_text);
        free(c->store);
        free(c->page_path);
        free(c->template);
        free(c->url);
}

/* SOURCE a directory: an image (manifest and rootfs/) or a bare rootfs, for which the manifest
 * is generated. */
static int dir_source(const publish_options *a, publish_ctx *c)
{
        const char *host_os = NULL, *host_arch = NULL;
        struct stat st;
        int r = 0;

        c->src_fd = open(c->source, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (c->src_fd < 0 || fstat(c->src_fd, &c->src_st) < 0) {
                r = negative_errno();
                return ca_log_errno(CA_LOG_ERR, r, "%s: cannot open directory: %s", c->source,
                                    strerror(-r));
        }
        c->image_dir = fstatat(c->src_fd, "manifest", &st, AT_SYMLINK_NOFOLLOW) == 0;
        if (c->image_dir) {
                c->rootfs_fd =
                    openat(c->src_fd, "rootfs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (c->rootfs_fd < 0) {
                        r = negative_errno();
                        return ca_log_errno(CA_LOG_ERR, r,
                                            "%s holds a manifest but no rootfs directory: %s",
                                            c->source, strerror(-r));
                }
        } else
                c->rootfs_fd = fcntl(c->src_fd, F_DUPFD_CLOEXEC, 3);
        if (c->rootfs_fd < 0)
                return negative_errno();

        if (a->manifest)
                r = read_manifest(AT_FDCWD, a->manifest, a->manifest, &c->m);
        else if (c->image_dir) {
                _cleanup_(freep) char *what = NULL;
                if (a->n_exec > 0 || a->user || a->group)
                        return ca_log_errno(CA_LOG_ERR, -EINVAL,
                                            "%s: the image has a manifest; --exec, --user and "
                                            "--group describe a generated one",
                                            c->source);
                if (asprintf(&what, "%s/manifest", c->source) < 0)
                        return -ENOMEM;
                r = read_manifest(c->src_fd, "manifest", what, &c->m);
        } else {
                if (!dc_image_label(c->img, "os") || !dc_image_label(c->img, "arch")) {
                        r = dc_host_os_arch(&host_os, &host_arch);
                        if (r >= 0 && !dc_image_label(c->img, "os"))
                                r = dc_image_set_label(c->img, "os", host_os);
                        if (r >= 0 && !dc_image_label(c->img, "arch"))
                                r = dc_image_set_label(c->img, "arch", host_arch);
                }
                if (r >= 0)
                        r = generate_manifest(a, c->img, &c->m);
        }
        return r;
}

/* SOURCE oci:DIR[:TAG] or docker-archive:FILE: the layers applied into a private directory under OUTDIR (removed when
 * done), the labels version (the tag), os and arch (the config) unless given, and the manifest
 * made from the image config unless --manifest. */
static int oci_source(const publish_options *a, publish_ctx *c)
{
        _cleanup_(oci_image_freep) oci_image *img = NULL;
        _cleanup_(freep) char *prefix = NULL;
        const char *os, *arch;
        int r = fs_mkdir_parents(c->outdir, 0755);
        if (r < 0)
                return ca_log_errno(CA_LOG_ERR, r, "%s: %s", c->outdir, strerror(-r));
        c->outdir_fd = open(c->outdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (c->outdir_fd < 0)
                return ca_log_errno(CA_LOG_ERR, negative_errno(), "%s: %m", c->outdir);
        fs_temp_reclaim_siblings(c->outdir_fd, "oci-rootfs", "an unpacked OCI image");
        fs_temp_reclaim_siblings(c->outdir_fd, "docker-archive", "an unpacked docker-archive");
        /* --label os= and arch= choose among the platforms of an image index. */
        oci_open_options oo = {.os = dc_image_label(c->img, "os"),
                               .arch = dc_image_label(c->img, "arch")};
        r = oci_image_open(c->source, c->outdir_fd, &oo, &img);
        if (r < 0)
                return r;
        r = fs_temp_prefix("oci-rootfs", &prefix);
        if (r >= 0)
                r = fs_mkdtemp_at(c->outdir_fd, prefix, &c->oci_tmp);
        if (r < 0)
                return ca_log_errno(CA_LOG_ERR, r, "%s: cannot make a private directory: %s",
                                    c->outdir, strerror(-r));
        c->rootfs_fd = fs_open_beneath(c->outdir_fd, c->oci_tmp, O_RDONLY | O_DIRECTORY, 0);
        if (c->rootfs_fd < 0)
                return ca_log_errno(CA_LOG_ERR, c->rootfs_fd, "%s/%s: %s", c->outdir, c->oci_tmp,
                                    strerror(-c->rootfs_fd));
        r = oci_image_unpack(img, c->rootfs_fd);
        if (r < 0)
                return r;
        if (a->manifest)
                return read_manifest(AT_FDCWD, a->manifest, a->manifest, &c->m);
        if (img->tag && !dc_image_label(c->img, "version")) {
                r = dc_image_set_label(c->img, "version", img->tag);
                if (r < 0)
                        return ca_log_errno(CA_LOG_ERR, r,
                                            "%s: the tag %s cannot be a version label", c->source,
                                            img->tag);
        }
        r = oci_image_platform(img, &os, &arch);
        if (r >= 0 && !dc_image_label(c->img, "os"))
                r = dc_image_set_label(c->img, "os", os);
        if (r >= 0 && !dc_image_label(c->img, "arch"))
                r = dc_image_set_label(c->img, "arch", arch);
        if (r < 0)
                return r;
        oci_manifest_options mo = {.image = c->img,
                                   .exec = a->exec,
                                   .n_exec = a->n_exec,
                                   .user = a->user,
                                   .group = a->group};
        return oci_image_manifest(img, c->rootfs_fd, &mo, &c->m.bytes, &c->m.size);
}

/* The name and labels (validated as discovery reads them), SOURCE, and the manifest: read, or
 * generated for a bare rootfs; it must agree with the name and the labels. */
static int resolve_image(const publish_options *a, publish_ctx *c)
{
        _cleanup_(freep) char *image_string = NULL, *why = NULL;
        _cleanup_(freep) aci_label *labels = NULL;
        const char *host_os = NULL, *host_arch = NULL, *slash;
        int r;

        if (asprintf(&image_string, "%s%s", a->name, a->labels ? a->labels : "") < 0)
                return -ENOMEM;
        r = dc_image_parse(image_string, &c->img);
        if (r < 0)
                return r;
        slash = strchr(c->img->name, '/');
        c->rel = strdup(slash ? slash + 1 : "");
        if (!c->rel)
                return -ENOMEM;
        if (strcmp(c->rel, "default.castr") == 0 || strncmp(c->rel, "default.castr/", 14) == 0)
                return ca_log_errno(CA_LOG_ERR, -EINVAL,
                                    "%s: the path default.castr is the chunk store's",
                                    c->img->name);

        r = oci_source_is(c->source) ? oci_source(a, c) : dir_source(a, c);
        if (r >= 0)
                r = aci_manifest_parse(c->m.bytes, c->m.size,
                                       a->manifest ? a->manifest : "manifest", &c->m.parsed);
        if (r < 0)
                return r;

        labels = aci_request_labels(c->img);
        if (!labels)
                return -ENOMEM;
        r = aci_manifest_matches(c->m.parsed, c->img->name, labels, c->img->n_labels, &why);
        if (r == 0)
                return ca_log_errno(CA_LOG_ERR, -EINVAL, "the manifest does not agree: %s",
                                    why ? why : "mismatch");
        if (r < 0)
                return r;

        c->version = aci_manifest_label(c->m.parsed, "version");
        c->os = aci_manifest_label(c->m.parsed, "os");
        c->arch = aci_manifest_label(c->m.parsed, "arch");
        if (!c->version) {
                ca_log_warning("%s has no version label: published as \"latest\"", c->img->name);
                c->version = "latest";
        }
        if (!c->os || !c->arch) {
                r = dc_host_os_arch(&host_os, &host_arch);
                if (r < 0)
                        return r;
                ca_log_warning("%s: the manifest has no %s label, which fetchers ask for; "
                               "published under the host's",
                               c->img->name, !c->os ? "os" : "arch");
                c->os = c->os ? c->os : host_os;
                c->arch = c->arch ? c->arch : host_arch;
        }
        if (!path_value_ok(c->version) || !path_value_ok(c->os) || !path_value_ok(c->arch))
                return ca_log_errno(CA_LOG_ERR, -EINVAL,
                                    "version, os and arch become path components: letters, "
                                    "digits and ._~+- only, no leading dot (got %s, %s, %s)",
                                    c->version, c->os, c->arch);
        return 0;
}

/* The page's template for an image in a registry: its repository, tagged VERSION-OS-ARCH. */
static int plan_registry(const publish_options *a, publish_ctx *c)
{
        if (a->base_url)
                return ca_log_errno(CA_LOG_ERR, -EINVAL,
                                    "--base-url: the page of an image in a registry points at "
                                    "the registry (--to)");
        _cleanup_(registry_ref_clear) registry_ref ref = {};
        int r = registry_ref_parse(a->to, &ref);
        if (r < 0)
                return r;
        const char *scheme = strncasecmp(a->to, "oci+http://", 11) == 0 ? "oci+http" : "oci";
        if (asprintf(&c->template, "%s://%s/%s:{version}-{os}-{arch}", scheme, ref.host, ref.name) <
                0 ||
            asprintf(&c->url, "%s://%s/%s:%s-%s-%s", scheme, ref.host, ref.name, c->version, c->os,
                     c->arch) < 0)
                return -ENOMEM;
        return 0;
}

/* Paths and URLs (layout in publish.h). */
static int plan_site(const publish_options *a, publish_ctx *c)
{
        _cleanup_(freep) char *base = NULL;
        const char *rel = c->rel, *sep = *c->rel ? "/" : "", *slash = strchr(c->img->name, '/');
        int r;

        if (asprintf(&c->vrel, "%s%s%s", rel, sep, c->version) < 0 ||
            asprintf(&c->index, "%s/%s/%s-%s.caidx", c->outdir, c->vrel, c->os, c->arch) < 0 ||
            asprintf(&c->tmp_index, "%s/%s/.%s-%s.publishing.caidx", c->outdir, c->vrel, c->os,
                     c->arch) < 0 ||
            asprintf(&c->sig, "%s.asc", c->index) < 0 ||
            asprintf(&c->tmp_sig, "%s.asc", c->tmp_index) < 0 ||
            asprintf(&c->profile, "%s.profile", c->index) < 0 ||
            asprintf(&c->tmp_profile, "%s.profile", c->tmp_index) < 0 ||
            asprintf(&c->profile_sig, "%s.asc", c->profile) < 0 ||
            asprintf(&c->tmp_profile_sig, "%s.asc", c->tmp_profile) < 0 ||
            asprintf(&c->store, "%s/default.castr", c->outdir) < 0 ||
            asprintf(&c->page_path, "%s/%s%sindex.html", c->outdir, rel, sep) < 0)
                return -ENOMEM;
        if (a->to && url_is_oci(a->to))
                return plan_registry(a, c);
        const char *given = a->base_url ? a->base_url : a->to;
        if (given) {
                size_t l = strlen(given);
                r = asprintf(&base, "%s%s", given, l > 0 && given[l - 1] == '/' ? "" : "/");
        } else
                r = asprintf(&base, "https://%.*s/",
                             (int)(slash ? (size_t)(slash - c->img->name) : strlen(c->img->name)),
                             c->img->name);
        if (r < 0)
                return -ENOMEM;
        if (!url_is_remote(base))
                return ca_log_errno(CA_LOG_ERR, -EINVAL, "--base-url wants an https:// URL");
        /* An object store's layout is flat per name (publish.h). */
        const char *vsep = a->to ? "-" : "/";
        if (asprintf(&c->template, "%s%s%s{version}%s{os}-{arch}.caidx", base, rel, sep, vsep) <
                0 ||
            asprintf(&c->url, "%s%s%s%s%s%s-%s.caidx", base, rel, sep, c->version, vsep, c->os,
                     c->arch) < 0)
                return -ENOMEM;
        return 0;
}

/* The version directory with its link to the shared store. */
static int prepare_site(const publish_ctx *c)
{
        int r;

        /* An image without a version owns "latest": a link left by versioned ones goes. */
        if (strcmp(c->version, "latest") == 0) {
                _cleanup_(freep) char *link = NULL;
                struct stat st;
                if (asprintf(&link, "%s/%s", c->outdir, c->vrel) < 0)
                        return -ENOMEM;
                if (lstat(link, &st) == 0 && S_ISLNK(st.st_mode) && unlink(link) < 0) {
                        r = negative_errno();
                        return ca_log_errno(CA_LOG_ERR, r, "%s: cannot remove: %s", link,
                                            strerror(-r));
                }
        }
        r = publish_mkdirs(c->outdir, c->vrel);
        return r < 0 ? r : publish_store_link(c->outdir, c->vrel);
}

/* The archive, into tmp_index: exactly manifest and rootfs/. An image directory holding nothing
 * else is archived as it is (what `casync make` of it gives); otherwise the root is made up,
 * from SOURCE's metadata or, for a bare rootfs, with its mtime (so that republishing an
 * unchanged rootfs makes the same archive). */
static int make_image(publish_options *a, publish_ctx *c)
{
        ca_encode_entry entries[2] = {
            {.name = "manifest",
             .fd = c->m.fd,
             .data = c->m.bytes,
             .size = c->m.size,
             .mode = S_IFREG | 0644},
            {.name = "rootfs", .fd = c->rootfs_fd},
        };
        struct stat root = {.st_mode = S_IFDIR | 0755}, st;
        make_target t = {.output = c->tmp_index,
                         .source_fd = -1,
                         .source_name = c->source,
                         .root = &root,
                         .entries = entries,
                         .n_entries = ELEMENTSOF(entries)};
        make_stats stats;
        int r;

        if (c->image_dir && !a->manifest && count_entries(c->src_fd) == 2) {
                t.source_fd = c->src_fd;
                t.root = NULL;
                t.n_entries = 0;
        } else if (c->image_dir) {
                root.st_mode = c->src_st.st_mode;
                root.st_uid = c->src_st.st_uid;
                root.st_gid = c->src_st.st_gid;
                root.st_mtim = c->src_st.st_mtim;
        } else {
                if (fstat(c->rootfs_fd, &st) < 0)
                        return negative_errno();
                root.st_mtim = st.st_mtim;
                entries[0].mtime =
                    (uint64_t)st.st_mtim.tv_sec * 1000000000 + (uint64_t)st.st_mtim.tv_nsec;
        }
        a->make.store = c->store;
        r = make_run(&a->make, &t, NULL, &stats);
        if (r < 0)
                return r;
        ca_log_debug("%s: %" PRIu64 " chunks, %" PRIu64 " new (%" PRIu64 " bytes compressed), "
                     "%" PRIu64 " already in %s",
                     c->index, stats.chunks.chunks, stats.chunks.stored, stats.chunks.stored_bytes,
                     stats.chunks.present, c->store);
        return 0;
}

/* --profile: checked as a mount would read it, before anything is made. */
static int read_profile(const publish_options *a, publish_ctx *c)
{
        _cleanup_(aci_profile_done) aci_profile p = {};
        int r = aci_profile_load(a->profile, CA_LOG_ERR, &p);
        if (r < 0)
                return r;
        if (p.n == 0)
                return ca_log_errno(CA_LOG_ERR, -EINVAL, "%s: the profile lists no file",
                                    a->profile);
        return aci_profile_format(&p, &c->profile_text, &c->profile_size);
}

static int rename_into_place(const char *from, const char *to)
{
        if (rename(from, to) < 0) {
                int r = negative_errno();
                return ca_log_errno(CA_LOG_ERR, r, "%s: cannot rename into place: %s", to,
                                    strerror(-r));
        }
        return 0;
}

/* INDEX.profile (and its signature) before the index: a client never finds the index with the
 * previous publish's profile beside it. Without --profile, a previous one is removed. */
static int install_profile(const publish_options *a, const publish_ctx *c)
{
        int r;
        if (!c->profile_text) {
                const char *old[] = {c->profile_sig, c->profile};
                for (size_t i = 0; i < ELEMENTSOF(old); i++)
                        if (unlink(old[i]) < 0 && errno != ENOENT)
                                return ca_log_errno(CA_LOG_ERR, negative_errno(),
                                                    "%s: cannot remove: %m", old[i]);
                return 0;
        }
        r = publish_write_file(c->tmp_profile, c->profile_text, c->profile_size);
        if (r < 0)
                return r;
        if (a->sign) {
                r = publish_sign(a->sign, c->tmp_profile, c->tmp_profile_sig);
                if (r >= 0)
                        r = rename_into_place(c->tmp_profile_sig, c->profile_sig);
        } else if (unlink(c->profile_sig) < 0 && errno != ENOENT)
                r = ca_log_errno(CA_LOG_ERR, negative_errno(), "%s: cannot remove: %m",
                                 c->profile_sig);
        if (r >= 0)
                r = rename_into_place(c->tmp_profile, c->profile);
        return r;
}

/* Whether OUTDIR/rel/latest now points to this version. */
static bool latest_is_this(const publish_ctx *c)
{
        _cleanup_(freep) char *link = NULL;
        char target[PATH_MAX];
        if (asprintf(&link, "%s/%s%slatest", c->outdir, c->rel, *c->rel ? "/" : "") < 0)
                return false;
        ssize_t n = readlink(link, target, sizeof(target) - 1);
        if (n < 0)
                return false;
        target[n] = 0;
        return strcmp(target, c->version) == 0;
}

/* --to: what was put in OUTDIR, copied to the object store. */
static int upload(const publish_options *a, const publish_ctx *c, const char *page)
{
        bool profile = c->profile_text != NULL;
        publish_upload_files f = {
            .store = c->store,
            .index = c->index,
            .sig = a->sign ? c->sig : NULL,
            .profile = profile ? c->profile : NULL,
            .profile_sig = profile && a->sign ? c->profile_sig : NULL,
            .name = c->img->name,
            .rel = c->rel,
            .version = c->version,
            .os = c->os,
            .arch = c->arch,
            .page = page,
            .latest = latest_is_this(c),
        };
        return url_is_oci(a->to) ? publish_registry(a->engine, a->to, &f)
                                 : publish_upload(a->engine, a->to, &f);
}

/* Signature first, then the profile, the index under its name, the page, latest. */
static int install(const publish_options *a, const publish_ctx *c)
{
        _cleanup_(freep) char *page = NULL;
        int r;

        if (a->sign) {
                r = publish_sign(a->sign, c->tmp_index, c->tmp_sig);
                if (r < 0)
                        return r;
                r = rename_into_place(c->tmp_sig, c->sig);
                if (r < 0)
                        return r;
        }
        r = install_profile(a, c);
        if (r >= 0)
                r = rename_into_place(c->tmp_index, c->index);
        if (r < 0)
                return r;
        r = publish_page(c->img->name, c->template, a->pubkeys, &page);
        if (r >= 0)
                r = publish_write_file(c->page_path, page, strlen(page));
        if (r >= 0)
                r = publish_latest_link(c->outdir, c->rel, c->version, a->latest);
        if (r >= 0 && a->to)
                r = upload(a, c, page);
        return r;
}

int publish_image(publish_options *a, const char *source, const char *outdir, char **ret_url)
{
        publish_ctx c = {
            .source = source, .outdir = outdir, .src_fd = -1, .rootfs_fd = -1, .outdir_fd = -1};
        int r;

        c.m.fd = -1;
        /* A key gpg does not have would fail the publish after every chunk was stored. */
        r = a->sign ? publish_check_key(a->sign) : 0;
        if (r >= 0 && a->profile)
                r = read_profile(a, &c);
        if (r >= 0)
                r = resolve_image(a, &c);
        if (r >= 0)
                r = plan_site(a, &c);
        if (r >= 0)
                r = prepare_site(&c);
        if (r >= 0)
                r = make_image(a, &c);
        if (r >= 0)
                r = install(a, &c);
        if (r >= 0)
                *ret_url = TAKE_PTR(c.url);
        if (r < 0 && c.tmp_index)
                (void)unlink(c.tmp_index);
        if (r < 0 && c.tmp_sig)
                (void)unlink(c.tmp_sig);
        if (r < 0 && c.tmp_profile)
                (void)unlink(c.tmp_profile);
        if (r < 0 && c.tmp_profile_sig)
                (void)unlink(c.tmp_profile_sig);
        publish_ctx_done(&c);
        return r;
}
