/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading a manifest's JSON fields: typed, bounded getters and the shared list shapes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "aci/manifest_fields.h"
#include "aci/show.h"
#include "casync/casync.h"
#include "discovery/discovery.h"

/* Optional member of an object: NULL when absent or JSON null (Go treats both as unset). */
json_t *mf_member(json_t *obj, const char *key)
{
        json_t *v = json_object_get(obj, key);
        return json_is_null(v) ? NULL : v;
}

int mf_get_string(const mf_ctx *c, json_t *obj, const char *field, const char *key, bool required,
                  const char **ret)
{
        json_t *v = mf_member(obj, key);
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
int mf_get_array(const mf_ctx *c, json_t *obj, const char *field, const char *key, size_t max,
                 json_t **ret)
{
        json_t *v = mf_member(obj, key);
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

int mf_get_bool(const mf_ctx *c, json_t *obj, const char *field, const char *key, bool *ret)
{
        json_t *v = mf_member(obj, key);
        *ret = false;
        if (!v)
                return 0;
        if (!json_is_boolean(v))
                return ca_bad("%s: %s.%s is not a boolean", c->what, field, key);
        *ret = json_is_true(v);
        return 0;
}

/* An optional integer member within [min, max]; *present tells whether it was there. */
int mf_get_int(const mf_ctx *c, json_t *obj, const char *field, const char *key, json_int_t min,
               json_int_t max, bool *present, json_int_t *ret)
{
        json_t *v = mf_member(obj, key);
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

int mf_check_object(const mf_ctx *c, json_t *v, const char *field)
{
        if (!json_is_object(v))
                return ca_bad("%s: %s is not an object", c->what, field);
        return 0;
}

/* Allocates n zeroed elements of size sz; n was bounded by the caller. */
int mf_alloc_array(size_t n, size_t sz, void *ret)
{
        void *p = calloc(n > 0 ? n : 1, sz);
        if (!p)
                return -ENOMEM;
        *(void **)ret = p;
        return 0;
}

/* {name, value} lists: labels (kind "label") and annotations (kind "annotation"). */
int mf_parse_name_value_list(const mf_ctx *c, json_t *obj, const char *field, const char *key,
                             size_t max, bool is_labels, aci_label **ret, size_t *ret_n)
{
        char sub[96];
        json_t *arr;
        int r;

        r = mf_get_array(c, obj, field, key, max, &arr);
        if (r < 0 || !arr)
                return r;
        size_t n = json_array_size(arr);
        r = mf_alloc_array(n, sizeof(aci_label), ret);
        if (r < 0)
                return r;
        *ret_n = n;

        const char *os = NULL, *arch = NULL;
        for (size_t i = 0; i < n; i++) {
                json_t *e = json_array_get(arr, i);
                aci_label *l = &(*ret)[i];
                snprintf(sub, sizeof(sub), "%s%s%s[%zu]", field, *field ? "." : "", key, i);
                r = mf_check_object(c, e, sub);
                if (r < 0)
                        return r;
                r = mf_get_string(c, e, sub, "name", true, &l->name);
                if (r < 0)
                        return r;
                r = mf_get_string(c, e, sub, "value", true, &l->value);
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
                if (!is_labels && strcmp(l->name, "created") == 0 && !dc_rfc3339_valid(l->value))
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
int mf_parse_string_list(const mf_ctx *c, json_t *obj, const char *field, const char *key,
                         size_t max, const char ***ret, size_t *ret_n)
{
        json_t *arr;
        int r = mf_get_array(c, obj, field, key, max, &arr);
        if (r < 0 || !arr)
                return r;
        size_t n = json_array_size(arr);
        r = mf_alloc_array(n, sizeof(char *), ret);
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
