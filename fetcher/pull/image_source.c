/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What `fetch` takes besides names, as rkt tells them apart: an https:// (or http://) URL of an
 * index, a local index path, a local .aci file (imported: image_import.c); docker: is refused
 * with one line. A URL or path never goes to discovery: its index comes from there, its chunks
 * from --store or default.castr beside it, its signature from beside it (+ ".asc").
 */
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "casync/fs_safe.h"
#include "fetcher/pull/pull.h"

static bool ends_with(const char *s, const char *suffix)
{
        size_t n = strlen(s), m = strlen(suffix);
        return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The length of a URL scheme at the start of s ("https" of "https://..."), 0 when none. */
static size_t scheme_length(const char *s)
{
        size_t n = 0;
        if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
                return 0;
        while (s[n] && (strchr("+-.", s[n]) || (s[n] >= 'a' && s[n] <= 'z') ||
                        (s[n] >= 'A' && s[n] <= 'Z') || (s[n] >= '0' && s[n] <= '9')))
                n++;
        return s[n] == ':' ? n : 0;
}

int image_source_classify(const char *arg, image_source_kind *ret)
{
        size_t scheme = scheme_length(arg);
        /* "docker:" is a URL even without "//" (rkt takes docker:busybox); any other scheme
         * needs "://", so that a name without a dot before its version (app:1.0) stays one. */
        if (scheme == 6 && strncasecmp(arg, "docker", 6) == 0)
                return ca_log_errno(CA_LOG_ERR, -EPROTONOSUPPORT,
                                    "%s: Docker images are not supported: acfetch fetches appc "
                                    "images (by name, or a .caidx index URL or path)",
                                    arg);
        if (scheme > 0 && strncmp(arg + scheme, "://", 3) == 0) {
                if ((scheme == 5 && strncasecmp(arg, "https", 5) == 0) ||
                    (scheme == 4 && strncasecmp(arg, "http", 4) == 0) ||
                    (scheme == 8 && strncasecmp(arg, "s3+https", 8) == 0) ||
                    (scheme == 7 && strncasecmp(arg, "s3+http", 7) == 0) ||
                    (scheme == 3 && strncasecmp(arg, "oci", 3) == 0) ||
                    (scheme == 8 && strncasecmp(arg, "oci+http", 8) == 0))
                        *ret = IMAGE_SOURCE_URL;
                else if (scheme == 4 && strncasecmp(arg, "file", 4) == 0)
                        *ret = ends_with(arg, ".caidx") ? IMAGE_SOURCE_INDEX_PATH
                                                        : IMAGE_SOURCE_ACI_PATH;
                else
                        return ca_log_errno(CA_LOG_ERR, -EPROTONOSUPPORT,
                                            "%s: unsupported URL scheme (https, http, s3+https, "
                                            "s3+http, oci, oci+http and file are taken)",
                                            arg);
                return 0;
        }
        struct stat st;
        bool path = arg[0] == '/' || (stat(arg, &st) == 0 && S_ISREG(st.st_mode));
        if (!path && strchr(arg, ':'))
                path = false;
        else if (!path)
                path = strstr(arg, "./") || ends_with(arg, ".aci") || ends_with(arg, ".caidx");
        if (!path)
                *ret = IMAGE_SOURCE_NAME;
        else
                *ret = ends_with(arg, ".caidx") ? IMAGE_SOURCE_INDEX_PATH : IMAGE_SOURCE_ACI_PATH;
        return 0;
}

bool image_url_is_index(const char *url)
{
        size_t n = strcspn(url, "?#");
        return url_is_oci(url) || (n >= 6 && strncmp(url + n - 6, ".caidx", 6) == 0);
}

bool image_source_is_path(const char *location)
{
        return location[0] == '/';
}

int image_source_get(transfer_engine *e, const char *location, size_t max,
                     const char *const *headers, transfer_response *ret)
{
        if (url_is_oci(location)) /* no conditional request: the tag's manifest is small */
                return registry_document_get(e, location, max, ret);
        if (!image_source_is_path(location))
                return transfer_get(e, location, max, headers, ret);
        *ret = (transfer_response){.max_age = -1};
        _cleanup_(closep) int fd = open(location, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0 && errno == ENOENT)
                return -ENOENT;
        if (fd < 0)
                return ca_log_errno(CA_LOG_ERR, negative_errno(), "%s: %m", location);
        int r = fs_read_all(fd, max, &ret->body, &ret->size);
        if (r == -EINVAL)
                return ca_log_errno(CA_LOG_ERR, r, "%s: not a regular file", location);
        if (r == -EFBIG)
                return ca_log_errno(CA_LOG_ERR, r, "%s: larger than %zu bytes", location, max);
        if (r < 0)
                return ca_log_errno(CA_LOG_ERR, r, "%s: %s", location, strerror(-r));
        ret->status = 200;
        return 0;
}

/* The location fetch_image reads: the URL as given, or the absolute path of a local file. */
static int make_location(const fetch_context *ctx, const char *arg, image_source_kind kind,
                         char **ret)
{
        if (kind == IMAGE_SOURCE_URL) {
                if (url_is_plain_http(arg) && !(ctx->insecure & INSECURE_HTTP))
                        return ca_log_errno(CA_LOG_ERR, -EPROTO,
                                            "%s: plain http needs --insecure-options=http", arg);
                if (!image_url_is_index(arg))
                        return ca_log_errno(CA_LOG_ERR, -EPROTONOSUPPORT,
                                            "%s: unsupported payload (acfetch fetches casync "
                                            "archive indexes, URLs ending in .caidx, and "
                                            "images in registries, oci://)",
                                            arg);
                *ret = strdup(arg);
                return *ret ? 0 : -ENOMEM;
        }
        const char *path = strncasecmp(arg, "file://", 7) == 0 ? arg + 7 : arg;
        char *abs = realpath(path, NULL);
        if (!abs)
                return ca_log_errno(CA_LOG_ERR, negative_errno(), "%s: %m", path);
        struct stat st;
        if (stat(abs, &st) < 0 || !S_ISREG(st.st_mode)) {
                free(abs);
                return ca_log_errno(CA_LOG_ERR, -EINVAL, "%s: not a regular file", path);
        }
        *ret = abs;
        return 0;
}

int fetch_location(fetch_context *ctx, const char *arg, image_source_kind kind,
                   aci_image_record *ret)
{
        _cleanup_(freep) char *location = NULL;
        int r = make_location(ctx, arg, kind, &location);
        if (r < 0)
                return r;
        if (kind == IMAGE_SOURCE_ACI_PATH)
                return fetch_import_aci(ctx, location, ret);
        /* fetch_image names the image by its location until the manifest names it. */
        dc_image img = {.name = location};
        ctx->location = location;
        r = fetch_image(ctx, &img, ret);
        ctx->location = NULL;
        ctx->loc_index = ctx->loc_sig = NULL;
        return r;
}
