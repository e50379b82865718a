/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The appc ImageManifest of an OCI image (see oci.h), mapped as docker2aci maps a Docker image:
 * exec = Entrypoint + Cmd, user and group from User (names resolved in the image's /etc/passwd
 * and /etc/group, numbers kept), workingDirectory, environment, ports named "PORT-PROTO" from
 * ExposedPorts, mountPoints named "volume-PATH" (slashes as dashes) from Volumes, and the
 * config's labels and the manifest's annotations as annotations.
 */
#include <ctype.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "casync/fs_safe.h"
#include "aci/oci.h"

/* /etc/passwd and /etc/group of the image are read up to this size. */
#define OCI_ETC_MAX (UINT64_C(4) << 20)

static bool is_number(const char *s)
{
        if (!*s)
                return false;
        for (; *s; s++)
                if (!isdigit((unsigned char)*s))
                        return false;
        return true;
}

/* Field `field` (0-based) of the line of etc/<file> whose first field is name: malloc'ed, or
 * NULL when there is none (-ENOENT). */
static int etc_lookup(int rootfs_fd, const char *file, const char *name, unsigned field, char **ret)
{
        _cleanup_(closep) int etc = fs_open_beneath(rootfs_fd, "etc", O_RDONLY | O_DIRECTORY, 0);
        _cleanup_(closep) int fd = etc < 0 ? etc : fs_open_beneath(etc, file, O_RDONLY, 0);
        if (fd < 0)
                return -ENOENT;
        _cleanup_(freep) uint8_t *data = NULL;
        size_t size = 0;
        int r = fs_read_all(fd, (size_t)OCI_ETC_MAX, &data, &size);
        if (r < 0)
                return r;
        size_t nl = strlen(name);
        for (size_t at = 0; at < size;) {
                const char *line = (const char *)data + at;
                const char *end = memchr(line, '\n', size - at);
                size_t len = end ? (size_t)(end - line) : size - at;
                at += len + 1;
                if (len <= nl || memcmp(line, name, nl) != 0 || line[nl] != ':')
                        continue;
                const char *p = line, *stop = line + len;
                for (unsigned f = 0; f < field && p; f++) {
                        p = memchr(p, ':', (size_t)(stop - p));
                        p = p ? p + 1 : NULL;
                }
                if (!p)
                        return -ENOENT;
                const char *q = memchr(p, ':', (size_t)(stop - p));
                *ret = strndup(p, (size_t)((q ? q : stop) - p));
                return *ret ? 0 : -ENOMEM;
        }
        return -ENOENT;
}

/* A numeric id as it is, or name's id from the image's /etc/FILE (passwd or group). */
static int resolve_id(const oci_image *img, int rootfs_fd, const char *file, const char *name,
                      char **ret)
{
        if (is_number(name)) {
                *ret = strdup(name);
                return *ret ? 0 : -ENOMEM;
        }
        int r = etc_lookup(rootfs_fd, file, name, 2, ret);
        if (r < 0)
                return ca_log_errno(CA_LOG_ERR, r, "%s: %s %s is not in the image's /etc/%s",
                                    img->dir, strcmp(file, "group") == 0 ? "group" : "user", name,
                                    file);
        return 0;
}

/* User "U[:G]": numeric ids; a name is looked up in the image. */
static int resolve_user(const oci_image *img, int rootfs_fd, const char *spec, char **ret_user,
                        char **ret_group)
{
        _cleanup_(freep) char *u = strdup(spec && *spec ? spec : "0");
        if (!u)
                return -ENOMEM;
        char *g = strchr(u, ':');
        if (g)
                *g++ = 0;
        int r = resolve_id(img, rootfs_fd, "passwd", u, ret_user);
        if (r < 0)
                return r;
        if (g && *g)
                return resolve_id(img, rootfs_fd, "group", g, ret_group);
        /* Docker's rule: the user's primary group (0 for a bare number not listed). */
        if (is_number(u)) {
                *ret_group = strdup("0");
                return *ret_group ? 0 : -ENOMEM;
        }
        return etc_lookup(rootfs_fd, "passwd", u, 3, ret_group);
}

/* An AC Name of s: lowercase letters, digits and dashes. */
static char *ac_name(const char *prefix, const char *s)
{
        char *n;
        if (asprintf(&n, "%s%s", prefix, s) < 0)
                return NULL;
        for (char *p = n; *p; p++)
                *p = isalnum((unsigned char)*p) ? (char)tolower((unsigned char)*p) : '-';
        return n;
}

static int add_strings(json_t *to, json_t *from)
{
        size_t i;
        json_t *v;
        json_array_foreach(from, i,
                           v) if (json_is_string(v) && json_array_append(to, v) < 0) return -ENOMEM;
        return 0;
}

static int app_json(const oci_image *img, int rootfs_fd, const oci_manifest_options *o, json_t *app)
{
        json_t *cfg = json_object_get(img->config, "config");
        json_t *exec = json_array(), *env = json_array(), *ports = json_array(),
               *mps = json_array();
        char *user = NULL, *group = NULL;
        int r = -ENOMEM;
        if (!exec || !env || !ports || !mps)
                goto out;
        if (o->n_exec > 0) {
                for (size_t i = 0; i < o->n_exec; i++)
                        json_array_append_new(exec, json_string(o->exec[i]));
        } else if (add_strings(exec, json_object_get(cfg, "Entrypoint")) < 0 ||
                   add_strings(exec, json_object_get(cfg, "Cmd")) < 0)
                goto out;
        if (json_array_size(exec) > 0)
                json_object_set(app, "exec", exec);

        r = resolve_user(img, rootfs_fd, json_string_value(json_object_get(cfg, "User")), &user,
                         &group);
        if (r < 0)
                goto out;
        json_object_set_new(app, "user", json_string(o->user ? o->user : user));
        json_object_set_new(app, "group", json_string(o->group ? o->group : group));
        r = -ENOMEM;

        const char *wd = json_string_value(json_object_get(cfg, "WorkingDir"));
        if (wd && *wd)
                json_object_set_new(app, "workingDirectory", json_string(wd));

        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(cfg, "Env"), i, v)
        {
                const char *s = json_string_value(v), *eq = s ? strchr(s, '=') : NULL;
                if (!eq || eq == s)
                        continue;
                _cleanup_(freep) char *name = strndup(s, (size_t)(eq - s));
                if (!name)
                        goto out;
                json_array_append_new(env, json_pack("{s:s,s:s}", "name", name, "value", eq + 1));
        }
        if (json_array_size(env) > 0)
                json_object_set(app, "environment", env);

        const char *key;
        json_object_foreach(json_object_get(cfg, "ExposedPorts"), key, v)
        {
                char *end;
                unsigned long port = strtoul(key, &end, 10);
                const char *proto = *end == '/' ? end + 1 : "tcp";
                if (end == key || port == 0 || port > 65535 || (*end && *end != '/') || !*proto ||
                    !dc_identifier_valid(proto)) {
                        r = ca_bad("%s: exposed port \"%s\" is not PORT[/PROTO]", img->dir, key);
                        goto out;
                }
                _cleanup_(freep) char *raw = NULL, *name = NULL;
                if (asprintf(&raw, "%lu-%s", port, proto) < 0 || !(name = ac_name("", raw)))
                        goto out;
                json_array_append_new(ports, json_pack("{s:s,s:s,s:I}", "name", name, "protocol",
                                                       proto, "port", (json_int_t)port));
        }
        if (json_array_size(ports) > 0)
                json_object_set(app, "ports", ports);

        json_object_foreach(json_object_get(cfg, "Volumes"), key, v)
        {
                _cleanup_(freep) char *name = ac_name("volume", key);
                if (!name)
                        goto out;
                json_array_append_new(mps, json_pack("{s:s,s:s}", "name", name, "path", key));
        }
        if (json_array_size(mps) > 0)
                json_object_set(app, "mountPoints", mps);
        r = 0;
out:
        free(user);
        free(group);
        json_decref(exec);
        json_decref(env);
        json_decref(ports);
        json_decref(mps);
        return r;
}

/* The config's labels, then the manifest's annotations; names made AC Identifiers. */
static void add_annotations(json_t *to, json_t *from)
{
        const char *key;
        json_t *v;
        json_object_foreach(from, key, v)
        {
                _cleanup_(freep) char *name = NULL;
                if (!json_is_string(v) || !(name = strdup(key)))
                        continue;
                for (char *p = name; *p; p++)
                        if (!(isalnum((unsigned char)*p) || strchr("-._~/", *p)))
                                *p = '-';
                        else
                                *p = (char)tolower((unsigned char)*p);
                if (dc_identifier_valid(name)) /* else appc has no name for it */
                        json_array_append_new(to, json_pack("{s:s,s:O}", "name", name, "value", v));
        }
}

int oci_image_manifest(const oci_image *img, int rootfs_fd, const oci_manifest_options *o,
                       char **ret, size_t *ret_size)
{
        static const char *const first[] = {"version", "os", "arch"};
        const dc_image *im = o->image;
        json_t *root = json_object(), *labels = json_array(), *app = json_object(),
               *ann = json_array();
        int r = -ENOMEM;
        if (!root || !labels || !app || !ann)
                goto out;
        json_object_set_new(root, "acKind", json_string("ImageManifest"));
        json_object_set_new(root, "acVersion", json_string("0.8.11"));
        json_object_set_new(root, "name", json_string(im->name));
        for (size_t k = 0; k <= ELEMENTSOF(first); k++)
                for (size_t i = 0; i < im->n_labels; i++) {
                        bool is_first = false;
                        for (size_t f = 0; f < ELEMENTSOF(first); f++)
                                is_first = is_first || strcmp(im->labels[i].key, first[f]) == 0;
                        if (k < ELEMENTSOF(first) ? strcmp(im->labels[i].key, first[k]) != 0
                                                  : is_first)
                                continue;
                        json_array_append_new(labels,
                                              json_pack("{s:s,s:s}", "name", im->labels[i].key,
                                                        "value", im->labels[i].value));
                }
        json_object_set(root, "labels", labels);
        r = app_json(img, rootfs_fd, o, app);
        if (r < 0)
                goto out;
        json_object_set(root, "app", app);
        add_annotations(ann, json_object_get(json_object_get(img->config, "config"), "Labels"));
        add_annotations(ann, json_object_get(img->manifest, "annotations"));
        if (json_array_size(ann) > 0)
                json_object_set(root, "annotations", ann);
        r = -ENOMEM;
        char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (!text)
                goto out;
        size_t n = strlen(text);
        char *t = realloc(text, n + 2);
        if (!t) {
                free(text);
                goto out;
        }
        t[n] = '\n';
        t[n + 1] = 0;
        *ret = t;
        *ret_size = n + 1;
        r = 0;
out:
        json_decref(root);
        json_decref(labels);
        json_decref(app);
        json_decref(ann);
        return r;
}
