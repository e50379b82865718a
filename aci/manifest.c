/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The appc image manifest: the top level (name, labels, dependencies, pathWhitelist), loading
 * it from a tree, and its accessors. Field readers: manifest_fields.c; the app: manifest_app.c. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "aci/aci.h"
#include "aci/manifest_fields.h"
#include "aci/show.h"
#include "casync/casync.h"
#include "discovery/discovery.h"

struct aci_manifest {
        json_t *root;
        const char *ac_version, *name;
        aci_label *labels;
        size_t n_labels;
        aci_label *annotations;
        size_t n_annotations;
        aci_dependency *dependencies;
        size_t n_dependencies;
        const char **path_whitelist;
        size_t n_path_whitelist;
        aci_app *app;
};

/* ---------------------------------------------------------------- dependencies, whitelist */

static int parse_dependencies(const mf_ctx *c, json_t *root, aci_manifest *m)
{
        char sub[64];
        json_t *arr;
        int r = mf_get_array(c, root, "", "dependencies", ACI_DEPENDENCIES_MAX, &arr);
        if (r < 0 || !arr)
                return r;
        size_t n = json_array_size(arr);
        r = mf_alloc_array(n, sizeof(aci_dependency), &m->dependencies);
        if (r < 0)
                return r;
        m->n_dependencies = n;
        for (size_t i = 0; i < n; i++) {
                json_t *e = json_array_get(arr, i);
                aci_dependency *d = &m->dependencies[i];
                json_int_t size;
                snprintf(sub, sizeof(sub), "dependencies[%zu]", i);
                r = mf_check_object(c, e, sub);
                if (r < 0)
                        return r;
                r = mf_get_string(c, e, sub, "imageName", true, &d->image_name);
                if (r < 0)
                        return r;
                if (!dc_identifier_valid(d->image_name))
                        return ca_bad("%s: %s.imageName \"%s\" is not an AC Identifier", c->what,
                                      sub, SHOW(d->image_name));
                r = mf_get_string(c, e, sub, "imageID", false, &d->image_id);
                if (r < 0)
                        return r;
                if (d->image_id && !dc_image_id_valid(d->image_id))
                        return ca_bad("%s: %s.imageID \"%s\" is not sha512- and 2 to 128 "
                                      "lowercase hex digits",
                                      c->what, sub, SHOW(d->image_id));
                r = mf_parse_name_value_list(c, e, sub, "labels", ACI_LABELS_MAX, true, &d->labels,
                                             &d->n_labels);
                if (r < 0)
                        return r;
                r = mf_get_int(c, e, sub, "size", 0, INT64_MAX, &d->has_size, &size);
                if (r < 0)
                        return r;
                d->size = d->has_size ? (uint64_t)size : 0;
        }
        return 0;
}

static int parse_path_whitelist(const mf_ctx *c, json_t *root, aci_manifest *m)
{
        int r = mf_parse_string_list(c, root, "", "pathWhitelist", ACI_PATH_WHITELIST_MAX,
                                     &m->path_whitelist, &m->n_path_whitelist);
        if (r < 0)
                return r;
        for (size_t i = 0; i < m->n_path_whitelist; i++)
                if (m->path_whitelist[i][0] != '/')
                        return ca_bad("%s: pathWhitelist[%zu] \"%s\" is not an absolute path",
                                      c->what, i, SHOW(m->path_whitelist[i]));
        return 0;
}

/* ---------------------------------------------------------------- manifest */

aci_manifest *aci_manifest_free(aci_manifest *m)
{
        if (!m)
                return NULL;
        free(m->labels);
        free(m->annotations);
        for (size_t i = 0; m->dependencies && i < m->n_dependencies; i++)
                free(m->dependencies[i].labels);
        free(m->dependencies);
        free(m->path_whitelist);
        mf_app_free(m->app);
        json_decref(m->root);
        free(m);
        return NULL;
}

static int validate(const mf_ctx *c, aci_manifest *m)
{
        json_t *root = m->root;
        const char *kind;
        int r;

        r = mf_get_string(c, root, "", "acKind", true, &kind);
        if (r < 0)
                return r;
        if (strcmp(kind, "ImageManifest") != 0)
                return ca_bad("%s: acKind is \"%s\", expected \"ImageManifest\"", c->what,
                              SHOW(kind));
        r = mf_get_string(c, root, "", "acVersion", true, &m->ac_version);
        if (r < 0)
                return r;
        if (!dc_semver_valid(m->ac_version))
                return ca_bad("%s: acVersion \"%s\" is not a SemVer 2.0.0 version", c->what,
                              SHOW(m->ac_version));
        r = mf_get_string(c, root, "", "name", true, &m->name);
        if (r < 0)
                return r;
        if (!dc_identifier_valid(m->name))
                return ca_bad("%s: name \"%s\" is not an AC Identifier", c->what, SHOW(m->name));
        r = mf_parse_name_value_list(c, root, "", "labels", ACI_LABELS_MAX, true, &m->labels,
                                     &m->n_labels);
        if (r < 0)
                return r;
        r = mf_parse_app(c, root, &m->app);
        if (r < 0)
                return r;
        r = mf_parse_name_value_list(c, root, "", "annotations", ACI_ANNOTATIONS_MAX, false,
                                     &m->annotations, &m->n_annotations);
        if (r < 0)
                return r;
        r = parse_dependencies(c, root, m);
        if (r < 0)
                return r;
        return parse_path_whitelist(c, root, m);
}

int aci_manifest_parse(const char *json, size_t size, const char *what, aci_manifest **ret)
{
        _cleanup_(aci_manifest_freep) aci_manifest *m = NULL;
        json_error_t err;
        mf_ctx c = {.what = what};
        int r;

        if (size > ACI_MANIFEST_SIZE_MAX)
                return ca_bad("%s: manifest is %zu bytes, more than the limit of %" PRIu64, what,
                              size, ACI_MANIFEST_SIZE_MAX);
        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        /* Strings with NUL and anything after the top-level value are refused by default. */
        m->root = json_loadb(json, size, JSON_REJECT_DUPLICATES, &err);
        if (!m->root)
                return ca_bad("%s: invalid JSON at line %d, column %d: %s", what, err.line,
                              err.column, err.text);
        r = mf_check_object(&c, m->root, "the manifest");
        if (r < 0)
                return r;
        r = validate(&c, m);
        if (r == -ENOMEM)
                return ca_log_errno(CA_LOG_ERR, r, "%s: out of memory", what);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

int aci_manifest_load_at(int dir_fd, const char *name, const char *what, aci_manifest **ret)
{
        _cleanup_(closep) int fd = -1;
        _cleanup_(freep) char *buf = NULL;
        struct stat st;
        size_t size = 0;

        if (!name || !*name || strchr(name, '/'))
                return ca_log_errno(CA_LOG_ERR, -EINVAL, "%s: not a single file name", what);
        /* O_NONBLOCK: opening a FIFO must not wait for a writer; we refuse it just after. */
        fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                if (errno == ELOOP)
                        return ca_bad("%s: is a symlink, refusing to follow it", what);
                return ca_log_errno(CA_LOG_ERR, negative_errno(), "%s: cannot open: %m", what);
        }
        if (fstat(fd, &st) < 0)
                return ca_log_errno(CA_LOG_ERR, negative_errno(), "%s: cannot stat: %m", what);
        if (!S_ISREG(st.st_mode))
                return ca_bad("%s: not a regular file, refusing to read it", what);
        if ((uint64_t)st.st_size > ACI_MANIFEST_SIZE_MAX)
                return ca_bad("%s: manifest is %" PRIu64 " bytes, more than the limit of %" PRIu64,
                              what, (uint64_t)st.st_size, ACI_MANIFEST_SIZE_MAX);

        /* Read up to one byte past the cap: the file may have grown since fstat. */
        buf = malloc(ACI_MANIFEST_SIZE_MAX + 1);
        if (!buf)
                return -ENOMEM;
        while (size <= ACI_MANIFEST_SIZE_MAX) {
                ssize_t l = read(fd, buf + size, ACI_MANIFEST_SIZE_MAX + 1 - size);
                if (l < 0) {
                        if (errno == EINTR)
                                continue;
                        return ca_log_errno(CA_LOG_ERR, negative_errno(), "%s: cannot read: %m",
                                            what);
                }
                if (l == 0)
                        break;
                size += (size_t)l;
        }
        if (size > ACI_MANIFEST_SIZE_MAX)
                return ca_bad("%s: manifest is more than %" PRIu64 " bytes", what,
                              ACI_MANIFEST_SIZE_MAX);
        return aci_manifest_parse(buf, size, what, ret);
}

const char *aci_manifest_name(const aci_manifest *m)
{
        return m->name;
}

const char *aci_manifest_ac_version(const aci_manifest *m)
{
        return m->ac_version;
}

const aci_label *aci_manifest_labels(const aci_manifest *m, size_t *n)
{
        *n = m->n_labels;
        return m->labels;
}

const char *aci_manifest_label(const aci_manifest *m, const char *name)
{
        return aci_labels_get(m->labels, m->n_labels, name);
}

const aci_label *aci_manifest_annotations(const aci_manifest *m, size_t *n)
{
        *n = m->n_annotations;
        return m->annotations;
}

const char *aci_manifest_annotation(const aci_manifest *m, const char *name)
{
        return aci_labels_get(m->annotations, m->n_annotations, name);
}

const aci_dependency *aci_manifest_dependencies(const aci_manifest *m, size_t *n)
{
        *n = m->n_dependencies;
        return m->dependencies;
}

const char *const *aci_manifest_path_whitelist(const aci_manifest *m, size_t *n)
{
        *n = m->n_path_whitelist;
        return m->path_whitelist;
}

const aci_app *aci_manifest_app(const aci_manifest *m)
{
        return m->app;
}

json_t *aci_manifest_json(const aci_manifest *m)
{
        return m->root;
}

int aci_manifest_matches(const aci_manifest *m, const char *name, const aci_label *labels,
                         size_t n_labels, char **why)
{
        return aci_image_matches(m->name, m->labels, m->n_labels, name, labels, n_labels,
                                 "manifest", why);
}
