/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Private to aci/manifest*.c: reading a manifest's JSON. Every getter checks the member's type
 * and bounds, logs once naming c->what and the field's JSON path ("app.ports[2]"), and gives
 * -EBADMSG; strings are borrowed from the JSON.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "aci/aci.h"

typedef struct mf_ctx {
        const char *what; /* names the manifest in messages */
} mf_ctx;

/* Optional member of an object: NULL when absent or JSON null (Go treats both as unset). */
json_t *mf_member(json_t *obj, const char *key);
/* A string member; *ret NULL when absent and not required. */
int mf_get_string(const mf_ctx *c, json_t *obj, const char *field, const char *key, bool required,
                  const char **ret);
/* An optional array member with at most max elements; *ret NULL when absent. */
int mf_get_array(const mf_ctx *c, json_t *obj, const char *field, const char *key, size_t max,
                 json_t **ret);
/* An optional boolean member, false when absent. */
int mf_get_bool(const mf_ctx *c, json_t *obj, const char *field, const char *key, bool *ret);
/* An optional integer member within [min, max]; *present tells whether it was there. */
int mf_get_int(const mf_ctx *c, json_t *obj, const char *field, const char *key, json_int_t min,
               json_int_t max, bool *present, json_int_t *ret);
int mf_check_object(const mf_ctx *c, json_t *v, const char *field);
/* Allocates n zeroed elements of size sz into *(void **)ret; n was bounded by the caller. */
int mf_alloc_array(size_t n, size_t sz, void *ret);
/* {name, value} lists: labels (is_labels: os/arch checked as a pair) and annotations. */
int mf_parse_name_value_list(const mf_ctx *c, json_t *obj, const char *field, const char *key,
                             size_t max, bool is_labels, aci_label **ret, size_t *ret_n);
/* A list of strings (exec). */
int mf_parse_string_list(const mf_ctx *c, json_t *obj, const char *field, const char *key,
                         size_t max, const char ***ret, size_t *ret_n);

/* The app section (manifest_app.c); *ret NULL when the manifest has none. */
int mf_parse_app(const mf_ctx *c, json_t *root, aci_app **ret);
void mf_app_free(aci_app *a);
