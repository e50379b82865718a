/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libdiscovery: appc image names and meta discovery (appc spec "Image Discovery").
 *
 * Turns `example.com/app:1.0,os=linux,arch=amd64` into the URLs of its image, its signature and
 * its public keys by fetching `https://<prefix>?ac-discovery=1` pages and reading their
 * `ac-discovery` / `ac-discovery-pubkeys` meta tags. Knows nothing of HTTP: pages are fetched
 * through a callback supplied by the caller, so this library never touches the network itself.
 *
 * Conventions: functions return 0 on success and a negative errno on failure. Bad input (an image
 * string, a hostile page) is logged once with ca_log (casync/casync.h, the project's one logging
 * facility; --debug shows the walk's attempts) and gives -EINVAL / -EBADMSG.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Bounds on everything derived from input. */
#define DC_PAGE_MAX         (1024 * 1024) /* discovery pages larger than this are refused unparsed */
#define DC_TAGS_MAX         256           /* meta tags kept per page; the rest are ignored */
#define DC_LEVELS_MAX       16            /* path components a discovered name may have */
#define DC_NAME_MAX         512           /* bytes in an image name */
#define DC_LABELS_MAX       32            /* labels in one image request */
#define DC_LABEL_VALUE_MAX  512           /* bytes in one label value */
#define DC_IMAGE_STRING_MAX 4096          /* bytes in a whole `name[:version][,k=v...]` string */
#define DC_URL_MAX          8192          /* bytes in a rendered URL */

/* ---------------------------------------------------------------- appc grammar (grammar.c) */
/* AC Identifier: ^[a-z0-9]+([-._~/][a-z0-9]+)*$ (image names, label and annotation names). */
bool dc_identifier_valid(const char *s);
/* AC Name: ^[a-z0-9]+(-[a-z0-9]+)*$ (mount-point and port names). */
bool dc_ac_name_valid(const char *s);
/* Strict SemVer 2.0.0, no leading 'v'. */
bool dc_semver_valid(const char *s);
/* "sha512-" followed by 2..128 lowercase hex digits (a full ID or a prefix, as rkt resolves). */
bool dc_image_id_valid(const char *s);
/* RFC 3339 date-time ("2015-01-02T03:04:05Z", fraction and numeric offset allowed). */
bool dc_rfc3339_valid(const char *s);
/* true if os is on the appc whitelist and, when arch is non-NULL, the pair is too. */
bool dc_os_arch_valid(const char *os, const char *arch);

/* ---------------------------------------------------------------- version order (version.c) */
/*
 * <0, 0 or >0 as version a comes before, with or after b. Both SemVer: SemVer 2.0.0 precedence
 * (build metadata ignored). Otherwise piece by piece: runs of digits compared as numbers, other
 * runs byte by byte, a number before text, a version before its own extensions ("1.9" < "1.10"
 * < "1.10.1" < "1.10a").
 */
int dc_version_compare(const char *a, const char *b);

/* ---------------------------------------------------------------- names and labels (name.c) */
typedef struct dc_label {
        char *key;   /* an AC Identifier, never "name" */
        char *value; /* non-empty; never contains ',', ':', '=' or control characters */
} dc_label;

typedef struct dc_image {
        char *name;       /* an AC Identifier (strict spec regex) */
        dc_label *labels; /* sorted by key, keys unique */
        size_t n_labels;
} dc_image;

/*
 * Parses `name[:version][,key=value...]` (appc's command-line image string): at most one ':',
 * before the first ','; it becomes the label `version`. Every ','-separated part is key=value with
 * an AC Identifier key, a non-empty value without ',', ':', '=' or control characters; duplicate
 * keys and the key `name` are rejected. A version "latest" is no version label at all (NAME:latest
 * is NAME, as discovery's {version} renders it). Logs and returns -EINVAL on bad input.
 */
int dc_image_parse(const char *s, dc_image **ret);
dc_image *dc_image_free(dc_image *img);
static inline void dc_image_freep(dc_image **p)
{
        dc_image_free(*p);
}

/* Adds or replaces a label (same rules as dc_image_parse). */
int dc_image_set_label(dc_image *img, const char *key, const char *value);
/* The label's value, or NULL. */
const char *dc_image_label(const dc_image *img, const char *key);

/*
 * The host's os and arch in appc spelling (uname: Linux → linux; x86_64 → amd64, i386..i686 →
 * i386, aarch64, aarch64_be, armv6l, armv7l, armv7b, ppc64, ppc64le, s390x). -EOPNOTSUPP for
 * other machines.
 */
int dc_host_os_arch(const char **os, const char **arch);
/* Sets labels os and arch to the host's when missing (rkt does the same); version stays unset. */
int dc_image_set_defaults(dc_image *img);

/* Canonical form: `name[:version][,key=value...]`, other labels sorted by key. Round-trips. */
int dc_image_to_string(const dc_image *img, char **ret);

/* ---------------------------------------------------------------- meta tags (meta.c) */
typedef enum dc_meta_kind {
        DC_META_DISCOVERY, /* <meta name="ac-discovery" content="PREFIX TEMPLATE"> */
        DC_META_PUBKEYS,   /* <meta name="ac-discovery-pubkeys" content="PREFIX URL"> */
} dc_meta_kind;

typedef struct dc_meta_tag {
        dc_meta_kind kind;
        char *prefix;   /* non-empty, no whitespace */
        char *template; /* non-empty (a URL for DC_META_PUBKEYS) */
} dc_meta_tag;

/*
 * Parses an HTML page with libxml2's HTML parser (no network, errors muted, broken HTML
 * recovered, never XML_PARSE_HUGE) and returns its ac-discovery and ac-discovery-pubkeys meta
 * elements in document order, at most DC_TAGS_MAX. The name attribute is compared
 * case-insensitively; content is trimmed and split at the first run of whitespace. Only elements
 * of the parsed tree count: markup inside comments or <script> does not, nor inside the other
 * elements HTML5 reads as text (<title>, <textarea>, <noscript>, <style>, ...). A page larger than
 * DC_PAGE_MAX gives -EFBIG without being parsed; an unparseable page gives zero tags.
 */
int dc_meta_parse(const uint8_t *html, size_t size, dc_meta_tag **ret, size_t *n);
void dc_meta_tags_free(dc_meta_tag *tags, size_t n);

/* Whole-component prefix match: name == prefix, or name starts with prefix + "/". */
bool dc_prefix_matches(const char *prefix, const char *name);

/* ---------------------------------------------------------------- templates (template.c) */
/*
 * True if url is https:// (or http:// when allow_http) with a non-empty host part, at most
 * DC_URL_MAX bytes, and free of whitespace, control characters and braces.
 */
bool dc_url_allowed(const char *url, bool allow_http);

/*
 * Renders an ac-discovery template: {name} (the name, '/' kept: an AC Identifier holds only
 * URL-safe bytes and can form no "." or ".." segment), {version} (the label, or "latest"), {ext}
 * (ext; left unrendered when ext is NULL) and {KEY} for every label of img, {os} and {arch}
 * included. Label values are percent-encoded: every byte outside A-Za-z0-9-._~ (so also '/')
 * becomes %XX. Returns -ENOENT when a '{' or '}' is left over (the tag is to be skipped), and
 * -EPROTONOSUPPORT when the result fails dc_url_allowed (skipped too; a debug message says why),
 * -E2BIG when it would exceed DC_URL_MAX.
 */
int dc_template_render(const char *tmpl, const dc_image *img, const char *ext, bool allow_http,
                       char **ret);

/* ---------------------------------------------------------------- the walk (walk.c) */
/*
 * Fetches url; at most max_size bytes of body may be returned (a larger body must fail with
 * -EFBIG). Returns 0 when a response arrived, whatever its status (*status, *body malloc'd,
 * *size), or a negative errno on a network failure (for the summary's words: -ECONNREFUSED,
 * -ETIMEDOUT, -EADDRNOTAVAIL name not resolved, -EPERM TLS verification failed, -ECANCELED not
 * asked because the host gave no response before, -EIO other). Redirect policy is the
 * callback's: it must not follow https → http unless http was allowed.
 */
typedef int (*dc_http_get)(void *userdata, const char *url, size_t max_size, long *status,
                           uint8_t **body, size_t *size);

typedef struct dc_discover_options {
        dc_http_get http_get;
        void *userdata;
        bool allow_http;   /* retry each level over http:// (--insecure-options=http) */
        bool skip_pubkeys; /* don't look for ac-discovery-pubkeys */
        /*
         * Test and demo override ("connect-to"): image names cannot carry a port, so the
         * discovery page URLs may be pointed elsewhere. authority ("host[:port]") replaces the
         * name's first component in every discovery URL, e.g. authority "127.0.0.1:8443" turns
         * https://example.com/app?ac-discovery=1 into https://127.0.0.1:8443/app?ac-discovery=1.
         * Otherwise, a non-zero port is appended to the name's host
         * (https://example.com:8443/app?ac-discovery=1). Rendered template URLs are never
         * rewritten: the pages name their own hosts.
         */
        const char *authority;
        uint16_t port;
} dc_discover_options;

/* One page request of the walk, in order. */
typedef struct dc_attempt {
        char *url;
        int error;   /* negative errno of the callback, or 0 when a response arrived */
        long status; /* HTTP status when error == 0 */
        char *note;  /* what came of it: "no matching tag", "image https://...", ... */
} dc_attempt;

typedef struct dc_endpoints {
        char *image_url;     /* rendered with {ext} = "aci" */
        char *signature_url; /* rendered with {ext} = "aci.asc" (equal to image_url without {ext},
                              * e.g. a casync .caidx endpoint: the caller decides) */
        char *pubkeys_url;   /* NULL if no level had a matching ac-discovery-pubkeys tag */
        dc_attempt *attempts;
        size_t n_attempts;
} dc_endpoints;

/*
 * Meta discovery. For each prefix of img->name, from the whole name up to the host, GETs
 * https://PREFIX?ac-discovery=1 (then http:// when allowed, after a network error or a non-200
 * status). A 200 page's ac-discovery tags whose prefix matches the name (whole components) are
 * tried longest prefix first; the first whose template renders for "aci" and "aci.asc" gives the
 * endpoints; otherwise the walk moves up. ac-discovery-pubkeys is looked up by the same walk
 * independently (it may come from a parent page), unless skip_pubkeys.
 * *ret is always initialized and holds the attempt list, also on failure; free with
 * dc_endpoints_done. Returns 0, -ENOENT when no level gave an image endpoint (logged as one line
 * "discovery failed for NAME: tried URL (404), URL (no matching tag), ..."), -EINVAL for a name
 * with more than DC_LEVELS_MAX components, or -ENOMEM.
 */
int dc_discover(const dc_image *img, const dc_discover_options *o, dc_endpoints *ret);
void dc_endpoints_done(dc_endpoints *e);

/* "URL (404)", "URL (Connection refused)", "URL (200, no matching tag)", ... */
int dc_attempt_format(const dc_attempt *a, char **ret);
/* Writes one attempt per line, for --debug. */
void dc_endpoints_print_attempts(const dc_endpoints *e, FILE *f);
