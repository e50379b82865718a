/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The manifest's app section: exec, event handlers, environment, mount points, ports,
 * isolators, supplementary GIDs. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "aci/manifest_fields.h"
#include "aci/show.h"
#include "casync/casync.h"
#include "discovery/discovery.h"

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

static int parse_exec(const mf_ctx *c, json_t *obj, const char *field, const char ***ret,
                      size_t *ret_n)
{
        int r = mf_parse_string_list(c, obj, field, "exec", ACI_EXEC_MAX, ret, ret_n);
        if (r < 0)
                return r;
        if (*ret_n > 0 && (*ret)[0][0] != '/')
                return ca_bad("%s: %s.exec[0] \"%s\" is not an absolute path", c->what, field,
                              SHOW((*ret)[0]));
        return 0;
}

void mf_app_free(aci_app *a)
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

static int parse_event_handlers(const mf_ctx *c, json_t *app, aci_app *a)
{
        char sub[64];
        json_t *arr;
        int r = mf_get_array(c, app, "app", "eventHandlers", 2, &arr);
        if (r < 0 || !arr)
                return r;
        size_t n = json_array_size(arr);
        r = mf_alloc_array(n, sizeof(aci_event_handler), &a->event_handlers);
        if (r < 0)
                return r;
        a->n_event_handlers = n;
        for (size_t i = 0; i < n; i++) {
                json_t *e = json_array_get(arr, i);
                aci_event_handler *h = &a->event_handlers[i];
                snprintf(sub, sizeof(sub), "app.eventHandlers[%zu]", i);
                r = mf_check_object(c, e, sub);
                if (r < 0)
                        return r;
                r = mf_get_string(c, e, sub, "name", true, &h->name);
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

static int parse_environment(const mf_ctx *c, json_t *app, aci_app *a)
{
        char sub[64];
        json_t *arr;
        int r = mf_get_array(c, app, "app", "environment", ACI_APP_ITEMS_MAX, &arr);
        if (r < 0 || !arr)
                return r;
        size_t n = json_array_size(arr);
        r = mf_alloc_array(n, sizeof(aci_label), &a->environment);
        if (r < 0)
                return r;
        a->n_environment = n;
        for (size_t i = 0; i < n; i++) {
                json_t *e = json_array_get(arr, i);
                aci_label *v = &a->environment[i];
                snprintf(sub, sizeof(sub), "app.environment[%zu]", i);
                r = mf_check_object(c, e, sub);
                if (r < 0)
                        return r;
                r = mf_get_string(c, e, sub, "name", true, &v->name);
                if (r < 0)
                        return r;
                r = mf_get_string(c, e, sub, "value", true, &v->value);
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

static int parse_mount_points(const mf_ctx *c, json_t *app, aci_app *a)
{
        char sub[64];
        json_t *arr;
        int r = mf_get_array(c, app, "app", "mountPoints", ACI_APP_ITEMS_MAX, &arr);
        if (r < 0 || !arr)
                return r;
        size_t n = json_array_size(arr);
        r = mf_alloc_array(n, sizeof(aci_mount_point), &a->mount_points);
        if (r < 0)
                return r;
        a->n_mount_points = n;
        for (size_t i = 0; i < n; i++) {
                json_t *e = json_array_get(arr, i);
                aci_mount_point *mp = &a->mount_points[i];
                snprintf(sub, sizeof(sub), "app.mountPoints[%zu]", i);
                r = mf_check_object(c, e, sub);
                if (r < 0)
                        return r;
                r = mf_get_string(c, e, sub, "name", true, &mp->name);
                if (r < 0)
                        return r;
                if (!dc_ac_name_valid(mp->name))
                        return ca_bad("%s: %s.name \"%s\" is not an AC Name", c->what, sub,
                                      SHOW(mp->name));
                r = mf_get_string(c, e, sub, "path", true, &mp->path);
                if (r < 0)
                        return r;
                if (mp->path[0] == '\0')
                        return ca_bad("%s: %s.path is empty", c->what, sub);
                r = mf_get_bool(c, e, sub, "readOnly", &mp->read_only);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_ports(const mf_ctx *c, json_t *app, aci_app *a)
{
        char sub[64];
        json_t *arr;
        int r = mf_get_array(c, app, "app", "ports", ACI_APP_ITEMS_MAX, &arr);
        if (r < 0 || !arr)
                return r;
        size_t n = json_array_size(arr);
        r = mf_alloc_array(n, sizeof(aci_port), &a->ports);
        if (r < 0)
                return r;
        a->n_ports = n;
        for (size_t i = 0; i < n; i++) {
                json_t *e = json_array_get(arr, i);
                aci_port *p = &a->ports[i];
                bool present;
                json_int_t v;
                snprintf(sub, sizeof(sub), "app.ports[%zu]", i);
                r = mf_check_object(c, e, sub);
                if (r < 0)
                        return r;
                r = mf_get_string(c, e, sub, "name", true, &p->name);
                if (r < 0)
                        return r;
                if (!dc_ac_name_valid(p->name))
                        return ca_bad("%s: %s.name \"%s\" is not an AC Name", c->what, sub,
                                      SHOW(p->name));
                r = mf_get_string(c, e, sub, "protocol", true, &p->protocol);
                if (r < 0)
                        return r;
                if (p->protocol[0] == '\0')
                        return ca_bad("%s: %s.protocol is empty", c->what, sub);
                r = mf_get_int(c, e, sub, "port", 1, 65535, &present, &v);
                if (r < 0)
                        return r;
                if (!present)
                        return ca_bad("%s: %s.\"port\" is missing", c->what, sub);
                p->port = (uint16_t)v;
                r = mf_get_int(c, e, sub, "count", 1, 65535, &present, &v);
                if (r < 0)
                        return r;
                p->count = present ? (uint32_t)v : 1;
                if ((uint32_t)p->port + p->count > 65536)
                        return ca_bad("%s: %s: port range %u+%" PRIu32 " ends past 65535", c->what,
                                      sub, p->port, p->count);
                r = mf_get_bool(c, e, sub, "socketActivated", &p->socket_activated);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_isolators(const mf_ctx *c, json_t *app, aci_app *a)
{
        char sub[64];
        json_t *arr;
        int r = mf_get_array(c, app, "app", "isolators", ACI_APP_ITEMS_MAX, &arr);
        if (r < 0 || !arr)
                return r;
        size_t n = json_array_size(arr);
        r = mf_alloc_array(n, sizeof(aci_isolator), &a->isolators);
        if (r < 0)
                return r;
        a->n_isolators = n;
        for (size_t i = 0; i < n; i++) {
                json_t *e = json_array_get(arr, i);
                aci_isolator *iso = &a->isolators[i];
                snprintf(sub, sizeof(sub), "app.isolators[%zu]", i);
                r = mf_check_object(c, e, sub);
                if (r < 0)
                        return r;
                r = mf_get_string(c, e, sub, "name", true, &iso->name);
                if (r < 0)
                        return r;
                if (!dc_identifier_valid(iso->name))
                        return ca_bad("%s: %s.name \"%s\" is not an AC Identifier", c->what, sub,
                                      SHOW(iso->name));
                iso->value = mf_member(e, "value");
        }
        return 0;
}

static int parse_gids(const mf_ctx *c, json_t *app, aci_app *a)
{
        json_t *arr;
        int r = mf_get_array(c, app, "app", "supplementaryGIDs", ACI_APP_ITEMS_MAX, &arr);
        if (r < 0 || !arr)
                return r;
        size_t n = json_array_size(arr);
        r = mf_alloc_array(n, sizeof(uint32_t), &a->supplementary_gids);
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

int mf_parse_app(const mf_ctx *c, json_t *root, aci_app **ret)
{
        json_t *app = mf_member(root, "app");
        int r;

        *ret = NULL;
        if (!app)
                return 0;
        r = mf_check_object(c, app, "app");
        if (r < 0)
                return r;
        aci_app *a = calloc(1, sizeof(aci_app));
        if (!a)
                return -ENOMEM;
        *ret = a; /* the caller frees it, also on failure */

        r = parse_exec(c, app, "app", &a->exec, &a->n_exec);
        if (r < 0)
                return r;
        r = mf_get_string(c, app, "app", "user", true, &a->user);
        if (r < 0)
                return r;
        if (a->user[0] == '\0')
                return ca_bad("%s: app.user is empty", c->what);
        r = mf_get_string(c, app, "app", "group", true, &a->group);
        if (r < 0)
                return r;
        if (a->group[0] == '\0')
                return ca_bad("%s: app.group is empty", c->what);
        r = mf_get_string(c, app, "app", "workingDirectory", false, &a->working_directory);
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
