/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The appc image manifest: strict parsing, validation and the requested-image check. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "aci/aci.h"
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

/* Environment variable names: a letter or '_', then letters, digits, '_', '.', '-'. */
static bool env_name_is_valid(const char *s)
{
        if (!isalpha((unsigned char)*s) && *s != '_')
                return false;
        for (; *s; s++)
                if (!isalnum((unsigned char)*s) && !strchr("_.-", *s))
                        return false;
        return true;
}

/* ---------------------------------------------------------------- validation helpers */

/* Context while validating: `what` names the manifest, `field` the JSON path ("labels[2]"). */
typedef struct ctx {
        const char *what;
} ctx;

/* Optional member of an object: NULL when absent or JSON null (Go treats both as unset). */
static json_t *member(json_t *obj, const char *key)
{
        json_t *v = json_object_get(obj, key);
        return json_is_null(v) ? NULL : v;
}

static int get_string(const ctx *c, json_t *obj, const char *field, const char *key, bool required,
                      const char **ret)
{
        json_t *v = member(obj, key);
        if (!v) {
                if (required)
                        return ca_bad("%s: %s%s\"%s\" is missing", c->what, field,
                                      *field ? "." : "", key);
                *ret = NULL;
                return 0;
        }
        if (!json_is_string(v))
                return ca_bad("%s: %s%s%s is not a string", c->what, field, *field ? "." : "", key);
        *ret = json_string_value(v);
        return 0;
}

/* An optional array member with at most max elements; *ret NULL when absent. */
static int get_array(const ctx *c, json_t *obj, const char *field, const char *key, size_t max,
                     json_t **ret)
{
        json_t *v = member(obj, key);
        *ret = NULL;
        if (!v)
                return 0;
        if (!json_is_array(v))
                return ca_bad("%s: %s%s%s is not a list", c->what, field, *field ? "." : "", key);
        if (json_array_size(v) > max)
                return ca_bad("%s: %s%s%s has %zu entries, more than the limit of %zu", c->what,
                              field, *field ? "." : "", key, json_array_size(v), max);
        *ret = v;
        return 0;
}

static int get_bool(const ctx *c, json_t *obj, const char *field, const char *key, bool *ret)
{
        json_t *v = member(obj, key);
        *ret = false;
        if (!v)
                return 0;
        if (!json_is_boolean(v))
                return ca_bad("%s: %s.%s is not a boolean", c->what, field, key);
        *ret = json_is_true(v);
        return 0;
}

/* An optional integer member within [min, max]; *present tells whether it was there. */
static int get_int(const ctx *c, json_t *obj, const char *field, const char *key, json_int_t min,
                   json_int_t max, bool *present, json_int_t *ret)
{
        json_t *v = member(obj, key);
        *present = false;
        if (!v)
                return 0;
        if (!json_is_integer(v))
                return ca_bad("%s: %s.%s is not an integer", c->what, field, key);
        json_int_t i = json_integer_value(v);
        if (i < min || i > max)
                return ca_bad("%s: %s.%s %lld is out of range %lld..%lld", c->what, field, key,
                              (long long)i, (long long)min, (long long)max);
        *present = true;
        *ret = i;
        return 0;
}

static int check_object(const ctx *c, json_t *v, const char *field)
{
        if (!json_is_object(v))
                return ca_bad("%s: %s is not an object", c->what, field);
        return 0;
}

/* Allocates n zeroed elements of size sz; n was bounded by the caller. */
static int alloc_array(size_t n, size_t sz, void *ret)
{
        void *p = calloc(n > 0 ? n : 1, sz);
        if (!p)
                return -ENOMEM;
        *(void **)ret = p;
        return 0;
}

/* {name, value} lists: labels (kind "label") and annotations (kind "annotation"). */
static int parse_name_value_list(const ctx *c, json_t *obj, const char *field, const char *key,
                                 size_t max, bool is_labels, aci_label **ret, size_t *ret_n)
{
        char sub[96];
        json_t *arr;
        int r;

        r = get_array(c, obj, field, key, max, &arr);
        if (r < 0 || !arr)
                return r;
        size_t n = json_array_size(arr);
        r = alloc_array(n, sizeof(aci_label), ret);
        if (r < 0)
                return r;
        *ret_n = n;

        const char *os = NULL, *arch = NULL;
        for (size_t i = 0; i < n; i++) {
                json_t *e = json_array_get(arr, i);
                aci_label *l = &(*ret)[i];
                snprintf(sub, sizeof(sub), "%s%s%s[%zu]", field, *field ? "." : "", key, i);
                r = check_object(c, e, sub);
                if (r < 0)
                        return r;
                r = get_string(c, e, sub, "name", true, &l->name);
                if (r < 0)
                        return r;
                r = get_string(c, e, sub, "value", true, &l->value);
                if (r < 0)
                        return r;
                if (!dc_identifier_valid(l->name))
                        return ca_bad("%s: %s.name \"%s\" is not an AC Identifier", c->what, sub,
                                      SHOW(l->name));
                if (is_labels && strcmp(l->name, "name") == 0)
                        return ca_bad("%s: %s: \"name\" is not allowed as a label name", c->what,
                                      sub);
                /* Quadratic, but n is capped at ACI_LABELS_MAX. */
                for (size_t j = 0; j < i; j++)
                        if (strcmp((*ret)[j].name, l->name) == 0)
                                return ca_bad("%s: %s%s%s: duplicate name \"%s\"", c->what, field,
                                              *field ? "." : "", key, SHOW(l->name));
                if (is_labels && strcmp(l->name, "os") == 0)
                        os = l->value;
                if (is_labels && strcmp(l->name, "arch") == 0)
                        arch = l->value;
                if (!is_labels && strcmp(l->name, "created") == 0 &&
                    !dc_rfc3339_valid(l->value))
                        return ca_bad("%s: %s: created \"%s\" is not an RFC 3339 date", c->what,
                                      sub, SHOW(l->value));
        }

        /* arch only means something next to os: checked as a pair when os is there. */
        if (os && !dc_os_arch_valid(os, NULL))
                return ca_bad("%s: %s%s%s: os \"%s\" is not a known appc OS", c->what, field,
                              *field ? "." : "", key, SHOW(os));
        if (os && arch && !dc_os_arch_valid(os, arch)) {
                char a[72];
                snprintf(a, sizeof(a), "%s", SHOW(arch));
                return ca_bad("%s: %s%s%s: arch \"%s\" is not valid for os \"%s\"", c->what, field,
                              *field ? "." : "", key, a, SHOW(os));
        }
        return 0;
}

/* A list of strings (exec). */
static int parse_string_list(const ctx *c, json_t *obj, const char *field, const char *key,
                             size_t max, const char ***ret, size_t *ret_n)
{
        json_t *arr;
        int r = get_array(c, obj, field, key, max, &arr);
        if (r < 0 || !arr)
                return r;
        size_t n = json_array_size(arr);
        r = alloc_array(n, sizeof(char *), ret);
        if (r < 0)
                return r;
        *ret_n = n;
        for (size_t i = 0; i < n; i++) {
                json_t *e = json_array_get(arr, i);
                if (!json_is_string(e))
                        return ca_bad("%s: %s%s%s[%zu] is not a string", c->what, field,
                                      *field ? "." : "", key, i);
                (*ret)[i] = json_string_value(e);
        }
        return 0;
}

static int parse_exec(const ctx *c, json_t *obj, const char *field, const char ***ret,
                      size_t *ret_n)
{
        int r = parse_string_list(c, obj, field, "exec", ACI_EXEC_MAX, ret, ret_n);
        if (r < 0)
                return r;
        if (*ret_n > 0 && (*ret)[0][0] != '/')
                return ca_bad("%s: %s.exec[0] \"%s\" is not an absolute path", c->what, field,
                              SHOW((*ret)[0]));
        return 0;
}

/* ---------------------------------------------------------------- app */

static void app_free(aci_app *a)
{
        if (!a)
                return;
        free(a->exec);
        free(a->environment);
        for (size_t i = 0; a->event_handlers && i < a->n_event_handlers; i++)
                free(a->event_handlers[i].exec);
        free(a->event_handlers);
        free(a->mount_points);
        free(a->ports);
        free(a->isolators);
        free(a->supplementary_gids);
        free(a);
}

static int parse_event_handlers(const ctx *c, json_t *app, aci_app *a)
{
        char sub[64];
        json_t *arr;
        int r = get_array(c, app, "app", "eventHandlers", 2, &arr);
        if (r < 0 || !arr)
                return r;
        size_t n = json_array_size(arr);
        r = alloc_array(n, sizeof(aci_event_handler), &a->event_handlers);
        if (r < 0)
                return r;
        a->n_event_handlers = n;
        for (size_t i = 0; i < n; i++) {
                json_t *e = json_array_get(arr, i);
                aci_event_handler *h = &a->event_handlers[i];
                snprintf(sub, sizeof(sub), "app.eventHandlers[%zu]", i);
                r = check_object(c, e, sub);
                if (r < 0)
                        return r;
                r = get_string(c, e, sub, "name", true, &h->name);
                if (r < 0)
                        return r;
                if (strcmp(h->name, "pre-start") != 0 && strcmp(h->name, "post-stop") != 0)
                        return ca_bad("%s: %s.name \"%s\" is neither pre-start nor post-stop",
                                      c->what, sub, SHOW(h->name));
                if (i > 0 && strcmp(a->event_handlers[0].name, h->name) == 0)
                        return ca_bad("%s: app.eventHandlers: more than one \"%s\"", c->what,
                                      h->name);
                r = parse_exec(c, e, sub, &h->exec, &h->n_exec);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_environment(const ctx *c, json_t *app, aci_app *a)
{
        char sub[64];
        json_t *arr;
        int r = get_array(c, app, "app", "environment", ACI_APP_ITEMS_MAX, &arr);
        if (r < 0 || !arr)
                return r;
        size_t n = json_array_size(arr);
        r = alloc_array(n, sizeof(aci_label), &a->environment);
        if (r < 0)
                return r;
        a->n_environment = n;
        for (size_t i = 0; i < n; i++) {
                json_t *e = json_array_get(arr, i);
                aci_label *v = &a->environment[i];
                snprintf(sub, sizeof(sub), "app.environment[%zu]", i);
                r = check_object(c, e, sub);
                if (r < 0)
                        return r;
                r = get_string(c, e, sub, "name", true, &v->name);
                if (r < 0)
                        return r;
                r = get_string(c, e, sub, "value", true, &v->value);
                if (r < 0)
                        return r;
                if (!env_name_is_valid(v->name))
                        return ca_bad("%s: %s.name \"%s\" is not a valid environment variable "
                                      "name",
                                      c->what, sub, SHOW(v->name));
                for (size_t j = 0; j < i; j++)
                        if (strcmp(a->environment[j].name, v->name) == 0)
                                return ca_bad("%s: app.environment: duplicate name \"%s\"", c->what,
                                              SHOW(v->name));
        }
        return 0;
}

static int parse_mount_points(const ctx *c, json_t *app, aci_app *a)
{
        char sub[64];
        json_t *arr;
        int r = get_array(c, app, "app", "mountPoints", ACI_APP_ITEMS_MAX, &arr);
        if (r < 0 || !arr)
                return r;
        size_t n = json_array_size(arr);
        r = alloc_array(n, sizeof(aci_mount_point), &a->mount_points);
        if (r < 0)
                return r;
        a->n_mount_points = n;
        for (size_t i = 0; i < n; i++) {
                json_t *e = json_array_get(arr, i);
                aci_mount_point *mp = &a->mount_points[i];
                snprintf(sub, sizeof(sub), "app.mountPoints[%zu]", i);
                r = check_object(c, e, sub);
                if (r < 0)
                        return r;
                r = get_string(c, e, sub, "name", true, &mp->name);
                if (r < 0)
                        return r;
                if (!dc_ac_name_valid(mp->name))
                        return ca_bad("%s: %s.name \"%s\" is not an AC Name", c->what, sub,
                                      SHOW(mp->name));
                r = get_string(c, e, sub, "path", true, &mp->path);
                if (r < 0)
                        return r;
                if (mp->path[0] == '\0')
                        return ca_bad("%s: %s.path is empty", c->what, sub);
                r = get_bool(c, e, sub, "readOnly", &mp->read_only);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_ports(const ctx *c, json_t *app, aci_app *a)
{
        char sub[64];
        json_t *arr;
        int r = get_array(c, app, "app", "ports", ACI_APP_ITEMS_MAX, &arr);
        if (r < 0 || !arr)
                return r;
        size_t n = json_array_size(arr);
        r = alloc_array(n, sizeof(aci_port), &a->ports);
        if (r < 0)
                return r;
        a->n_ports = n;
        for (size_t i = 0; i < n; i++) {
                json_t *e = json_array_get(arr, i);
                aci_port *p = &a->ports[i];
                bool present;
                json_int_t v;
                snprintf(sub, sizeof(sub), "app.ports[%zu]", i);
                r = check_object(c, e, sub);
                if (r < 0)
                        return r;
                r = get_string(c, e, sub, "name", true, &p->name);
                if (r < 0)
                        return r;
                if (!dc_ac_name_valid(p->name))
                        return ca_bad("%s: %s.name \"%s\" is not an AC Name", c->what, sub,
                                      SHOW(p->name));
                r = get_string(c, e, sub, "protocol", true, &p->protocol);
                if (r < 0)
                        return r;
                if (p->protocol[0] == '\0')
                        return ca_bad("%s: %s.protocol is empty", c->what, sub);
                r = get_int(c, e, sub, "port", 1, 65535, &present, &v);
                if (r < 0)
                        return r;
                if (!present)
                        return ca_bad("%s: %s.\"port\" is missing", c->what, sub);
                p->port = (uint16_t)v;
                r = get_int(c, e, sub, "count", 1, 65535, &present, &v);
                if (r < 0)
                        return r;
                p->count = present ? (uint32_t)v : 1;
                if ((uint32_t)p->port + p->count > 65536)
                        return ca_bad("%s: %s: port range %u+%" PRIu32 " ends past 65535", c->what,
                                      sub, p->port, p->count);
                r = get_bool(c, e, sub, "socketActivated", &p->socket_activated);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_isolators(const ctx *c, json_t *app, aci_app *a)
{
        char sub[64];
        json_t *arr;
        int r = get_array(c, app, "app", "isolators", ACI_APP_ITEMS_MAX, &arr);
        if (r < 0 || !arr)
                return r;
        size_t n = json_array_size(arr);
        r = alloc_array(n, sizeof(aci_isolator), &a->isolators);
        if (r < 0)
                return r;
        a->n_isolators = n;
        for (size_t i = 0; i < n; i++) {
                json_t *e = json_array_get(arr, i);
                aci_isolator *iso = &a->isolators[i];
                snprintf(sub, sizeof(sub), "app.isolators[%zu]", i);
                r = check_object(c, e, sub);
                if (r < 0)
                        return r;
                r = get_string(c, e, sub, "name", true, &iso->name);
                if (r < 0)
                        return r;
                if (!dc_identifier_valid(iso->name))
                        return ca_bad("%s: %s.name \"%s\" is not an AC Identifier", c->what, sub,
                                      SHOW(iso->name));
                iso->value = member(e, "value");
        }
        return 0;
}

static int parse_gids(const ctx *c, json_t *app, aci_app *a)
{
        json_t *arr;
        int r = get_array(c, app, "app", "supplementaryGIDs", ACI_APP_ITEMS_MAX, &arr);
        if (r < 0 || !arr)
                return r;
        size_t n = json_array_size(arr);
        r = alloc_array(n, sizeof(uint32_t), &a->supplementary_gids);
        if (r < 0)
                return r;
        a->n_supplementary_gids = n;
        for (size_t i = 0; i < n; i++) {
                json_t *e = json_array_get(arr, i);
                /* (gid_t)-1 means "no change" to the kernel: never a real group. */
                if (!json_is_integer(e) || json_integer_value(e) < 0 ||
                    json_integer_value(e) >= (json_int_t)UINT32_MAX)
                        return ca_bad("%s: app.supplementaryGIDs[%zu] is not a group ID", c->what,
                                      i);
                a->supplementary_gids[i] = (uint32_t)json_integer_value(e);
        }
        return 0;
}

static int parse_app(const ctx *c, json_t *root, aci_app **ret)
{
        json_t *app = member(root, "app");
        int r;

        *ret = NULL;
        if (!app)
                return 0;
        r = check_object(c, app, "app");
        if (r < 0)
                return r;
        aci_app *a = calloc(1, sizeof(aci_app));
        if (!a)
                return -ENOMEM;
        *ret = a; /* the caller frees it, also on failure */

        r = parse_exec(c, app, "app", &a->exec, &a->n_exec);
        if (r < 0)
                return r;
        r = get_string(c, app, "app", "user", true, &a->user);
        if (r < 0)
                return r;
        if (a->user[0] == '\0')
                return ca_bad("%s: app.user is empty", c->what);
        r = get_string(c, app, "app", "group", true, &a->group);
        if (r < 0)
                return r;
        if (a->group[0] == '\0')
                return ca_bad("%s: app.group is empty", c->what);
        r = get_string(c, app, "app", "workingDirectory", false, &a->working_directory);
        if (r < 0)
                return r;
        if (a->working_directory && a->working_directory[0] == '\0')
                a->working_directory = NULL; /* Go: empty means unset */
        if (a->working_directory && a->working_directory[0] != '/')
                return ca_bad("%s: app.workingDirectory \"%s\" is not an absolute path", c->what,
                              SHOW(a->working_directory));
        r = parse_event_handlers(c, app, a);
        if (r < 0)
                return r;
        r = parse_environment(c, app, a);
        if (r < 0)
                return r;
        r = parse_mount_points(c, app, a);
        if (r < 0)
                return r;
        r = parse_ports(c, app, a);
        if (r < 0)
                return r;
        r = parse_isolators(c, app, a);
        if (r < 0)
                return r;
        return parse_gids(c, app, a);
}

/* ---------------------------------------------------------------- dependencies, whitelist */

static int parse_dependencies(const ctx *c, json_t *root, aci_manifest *m)
{
        char sub[64];
        json_t *arr;
        int r = get_array(c, root, "", "dependencies", ACI_DEPENDENCIES_MAX, &arr);
        if (r < 0 || !arr)
                return r;
        size_t n = json_array_size(arr);
        r = alloc_array(n, sizeof(aci_dependency), &m->dependencies);
        if (r < 0)
                return r;
        m->n_dependencies = n;
        for (size_t i = 0; i < n; i++) {
                json_t *e = json_array_get(arr, i);
                aci_dependency *d = &m->dependencies[i];
                json_int_t size;
                snprintf(sub, sizeof(sub), "dependencies[%zu]", i);
                r = check_object(c, e, sub);
                if (r < 0)
                        return r;
                r = get_string(c, e, sub, "imageName", true, &d->image_name);
                if (r < 0)
                        return r;
                if (!dc_identifier_valid(d->image_name))
                        return ca_bad("%s: %s.imageName \"%s\" is not an AC Identifier", c->what,
                                      sub, SHOW(d->image_name));
                r = get_string(c, e, sub, "imageID", false, &d->image_id);
                if (r < 0)
                        return r;
                if (d->image_id && !dc_image_id_valid(d->image_id))
                        return ca_bad("%s: %s.imageID \"%s\" is not sha512- and 2 to 128 "
                                      "lowercase hex digits",
                                      c->what, sub, SHOW(d->image_id));
                r = parse_name_value_list(c, e, sub, "labels", ACI_LABELS_MAX, true, &d->labels,
                                          &d->n_labels);
                if (r < 0)
                        return r;
                r = get_int(c, e, sub, "size", 0, INT64_MAX, &d->has_size, &size);
                if (r < 0)
                        return r;
                d->size = d->has_size ? (uint64_t)size : 0;
        }
        return 0;
}

static int parse_path_whitelist(const ctx *c, json_t *root, aci_manifest *m)
{
        int r = parse_string_list(c, root, "", "pathWhitelist", ACI_PATH_WHITELIST_MAX,
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
        app_free(m->app);
        json_decref(m->root);
        free(m);
        return NULL;
}

static int validate(const ctx *c, aci_manifest *m)
{
        json_t *root = m->root;
        const char *kind;
        int r;

        r = get_string(c, root, "", "acKind", true, &kind);
        if (r < 0)
                return r;
        if (strcmp(kind, "ImageManifest") != 0)
                return ca_bad("%s: acKind is \"%s\", expected \"ImageManifest\"", c->what,
                              SHOW(kind));
        r = get_string(c, root, "", "acVersion", true, &m->ac_version);
        if (r < 0)
                return r;
        if (!dc_semver_valid(m->ac_version))
                return ca_bad("%s: acVersion \"%s\" is not a SemVer 2.0.0 version", c->what,
                              SHOW(m->ac_version));
        r = get_string(c, root, "", "name", true, &m->name);
        if (r < 0)
                return r;
        if (!dc_identifier_valid(m->name))
                return ca_bad("%s: name \"%s\" is not an AC Identifier", c->what, SHOW(m->name));
        r = parse_name_value_list(c, root, "", "labels", ACI_LABELS_MAX, true, &m->labels,
                                  &m->n_labels);
        if (r < 0)
                return r;
        r = parse_app(c, root, &m->app);
        if (r < 0)
                return r;
        r = parse_name_value_list(c, root, "", "annotations", ACI_ANNOTATIONS_MAX, false,
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
        ctx c = {.what = what};
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
        r = check_object(&c, m->root, "the manifest");
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
