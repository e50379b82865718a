/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libaci: the appc image manifest. Parses and validates a manifest (strict JSON, every rule of
 * the appc schema the fetcher relies on, every count bounded), answers "is this the image that
 * was asked for", and reads the manifest out of an extracted tree without following links.
 *
 * Conventions as in casync.h: functions return 0 (or a documented non-negative value) or a
 * negative errno; bad input is logged once, naming `what` (a path or URL), and gives -EBADMSG.
 * All strings handed out are borrowed from the manifest and live as long as it does.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

/* Input caps: refused with a clear message before anything is allocated for them. */
#define ACI_MANIFEST_SIZE_MAX  (UINT64_C(1) << 20) /* bytes of JSON */
#define ACI_LABELS_MAX         1024                /* labels (also per dependency) */
#define ACI_ANNOTATIONS_MAX    1024
#define ACI_DEPENDENCIES_MAX   256
#define ACI_PATH_WHITELIST_MAX 65536
#define ACI_EXEC_MAX           4096 /* arguments of exec (app and event handlers) */
#define ACI_APP_ITEMS_MAX      1024 /* environment, mountPoints, ports, isolators, GIDs each */

/* ---------------------------------------------------------------- grammar (manifest.c) */
/* AC Identifier: ^[a-z0-9]+([-._~/][a-z0-9]+)*$ (image names, label and annotation names). */
bool aci_identifier_is_valid(const char *s);
/* AC Name: ^[a-z0-9]+(-[a-z0-9]+)*$ (mount-point and port names). */
bool aci_name_is_valid(const char *s);
/* Strict SemVer 2.0.0, no leading 'v'. */
bool aci_semver_is_valid(const char *s);
/* "sha512-" followed by 2..128 lowercase hex digits (a full ID or a prefix, as rkt resolves). */
bool aci_image_id_is_valid(const char *s);
/* RFC 3339 date-time ("2015-01-02T03:04:05Z", fraction and numeric offset allowed). */
bool aci_rfc3339_is_valid(const char *s);
/* true if os is on the appc whitelist and, when arch is non-NULL, the pair is too. */
bool aci_os_arch_is_valid(const char *os, const char *arch);

/* ---------------------------------------------------------------- manifest (manifest.c) */
typedef struct aci_label {
        const char *name;
        const char *value;
} aci_label;

typedef struct aci_dependency {
        const char *image_name; /* AC Identifier */
        const char *image_id;   /* NULL when absent */
        aci_label *labels;
        size_t n_labels;
        bool has_size;
        uint64_t size; /* meaningful when has_size */
} aci_dependency;

typedef struct aci_event_handler {
        const char *name; /* "pre-start" or "post-stop" */
        const char **exec;
        size_t n_exec;
} aci_event_handler;

typedef struct aci_mount_point {
        const char *name; /* AC Name */
        const char *path;
        bool read_only;
} aci_mount_point;

typedef struct aci_port {
        const char *name; /* AC Name */
        const char *protocol;
        uint16_t port;  /* 1..65535 */
        uint32_t count; /* >= 1, port + count - 1 <= 65535 */
        bool socket_activated;
} aci_port;

typedef struct aci_isolator {
        const char *name; /* AC Identifier */
        json_t *value;    /* borrowed, not interpreted */
} aci_isolator;

typedef struct aci_app {
        const char **exec; /* may be empty; exec[0] is absolute when present */
        size_t n_exec;
        const char *user, *group;
        const char *working_directory; /* NULL when unset, else absolute */
        aci_label *environment;        /* {name, value} */
        size_t n_environment;
        aci_event_handler *event_handlers;
        size_t n_event_handlers;
        aci_mount_point *mount_points;
        size_t n_mount_points;
        aci_port *ports;
        size_t n_ports;
        aci_isolator *isolators;
        size_t n_isolators;
        uint32_t *supplementary_gids;
        size_t n_supplementary_gids;
} aci_app;

typedef struct aci_manifest aci_manifest;

/*
 * Parses and validates an image manifest held in memory (need not be NUL-terminated). `what`
 * names it in messages. Input over ACI_MANIFEST_SIZE_MAX is refused before parsing; syntax errors
 * name the line and column; duplicate keys and trailing data are errors; unknown fields are kept
 * in the JSON but otherwise ignored.
 */
int aci_manifest_parse(const char *json, size_t size, const char *what, aci_manifest **ret);
/*
 * Reads dir_fd/name (one path component, e.g. "manifest") and parses it. Refuses a symlink, any
 * non-regular file (a FIFO is never waited on) and a file over ACI_MANIFEST_SIZE_MAX, with a
 * message naming `what`. -EBADMSG for those, the real errno for I/O failures (-ENOENT, ...),
 * -EINVAL if name is not a single component. Every failure is logged.
 */
int aci_manifest_load_at(int dir_fd, const char *name, const char *what, aci_manifest **ret);
aci_manifest *aci_manifest_free(aci_manifest *m);
static inline void aci_manifest_freep(aci_manifest **m)
{
        aci_manifest_free(*m);
}

const char *aci_manifest_name(const aci_manifest *m);
const char *aci_manifest_ac_version(const aci_manifest *m);
/* Labels in manifest order; *n may not be NULL. */
const aci_label *aci_manifest_labels(const aci_manifest *m, size_t *n);
/* The value of label `name`, or NULL. */
const char *aci_manifest_label(const aci_manifest *m, const char *name);
const aci_label *aci_manifest_annotations(const aci_manifest *m, size_t *n);
const char *aci_manifest_annotation(const aci_manifest *m, const char *name);
/* Dependencies in manifest order (the order rendering depends on). */
const aci_dependency *aci_manifest_dependencies(const aci_manifest *m, size_t *n);
/* Absolute paths; *n == 0 means "keep everything", as the spec says of an empty list. */
const char *const *aci_manifest_path_whitelist(const aci_manifest *m, size_t *n);
/* NULL when the manifest has no app. */
const aci_app *aci_manifest_app(const aci_manifest *m);
/* The parsed JSON object (borrowed: json_incref it to keep it past aci_manifest_free). */
json_t *aci_manifest_json(const aci_manifest *m);

/*
 * Is this the image that was asked for? The name must be equal and every requested label must
 * be in the manifest with the same value (extra manifest labels are fine). Returns 1 on a match,
 * 0 on a mismatch (then, if why is non-NULL, *why is a malloc'ed one-line reason, e.g. "label
 * version=2.0 requested, manifest has version=1.0"), -ENOMEM if the reason can't be allocated.
 */
int aci_manifest_matches(const aci_manifest *m, const char *name, const aci_label *labels,
                         size_t n_labels, char **why);
