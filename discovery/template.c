/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ac-discovery URL templates. Values are percent-encoded so a label cannot inject a query, a
 * fragment or another host, and only http(s) results are followed: a page must not be able to
 * send the fetcher to file://, hdfs:// or a plain-http URL the operator did not allow.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "casync/casync.h"
#include "discovery/discovery.h"

bool dc_url_allowed(const char *url, bool allow_http)
{
        size_t skip;

        /* An S3 store's URL (s3+https://ENDPOINT/BUCKET/...) is https too, and so is a
         * registry's (oci://REGISTRY/REPOSITORY:TAG; oci+http:// is plain http). */
        const char *u = strncasecmp(url, "s3+", 3) == 0 ? url + 3 : url;
        if (strncasecmp(u, "https://", strlen("https://")) == 0)
                skip = strlen("https://");
        else if (strncasecmp(u, "oci://", strlen("oci://")) == 0)
                skip = strlen("oci://");
        else if (allow_http && strncasecmp(u, "oci+http://", strlen("oci+http://")) == 0)
                skip = strlen("oci+http://");
        else if (allow_http && strncasecmp(u, "http://", strlen("http://")) == 0)
                skip = strlen("http://");
        else
                return false;
        skip += (size_t)(u - url);

        /* A host must follow the scheme. */
        if (url[skip] == '\0' || url[skip] == '/' || url[skip] == '?' || url[skip] == '#')
                return false;
        if (strlen(url) > DC_URL_MAX)
                return false;
        for (const unsigned char *p = (const unsigned char *)url; *p; p++)
                if (*p <= 0x20 || *p >= 0x7f || *p == '{' || *p == '}' || *p == '\\')
                        return false;
        return true;
}

static bool url_safe(unsigned char c, bool keep_slash)
{
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/');
}

static void put_encoded(FILE *f, const char *v, bool keep_slash)
{
        for (const unsigned char *p = (const unsigned char *)v; *p; p++)
                if (url_safe(*p, keep_slash))
                        fputc(*p, f);
                else
                        fprintf(f, "%%%02X", *p);
}

/* The value of variable var (len bytes), and whether '/' stays literal; NULL if unknown. */
static const char *lookup(const char *var, size_t len, const dc_image *img, const char *ext,
                          bool *keep_slash)
{
        *keep_slash = false;
        if (len == 4 && strncmp(var, "name", 4) == 0) {
                *keep_slash = true;
                return img->name;
        }
        if (len == 3 && strncmp(var, "ext", 3) == 0)
                return ext;
        for (size_t i = 0; i < img->n_labels; i++)
                if (strlen(img->labels[i].key) == len && strncmp(img->labels[i].key, var, len) == 0)
                        return img->labels[i].value;
        if (len == 7 && strncmp(var, "version", 7) == 0)
                return "latest";
        return NULL;
}

int dc_template_render(const char *tmpl, const dc_image *img, const char *ext, bool allow_http,
                       char **ret)
{
        _cleanup_(freep) char *buf = NULL;
        size_t size = 0;
        bool leftover = false, too_long = false;
        FILE *f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;

        for (const char *p = tmpl; *p;) {
                /* Bound the output: many {name} in a long template would multiply the page. */
                if (ftell(f) > DC_URL_MAX) {
                        too_long = true;
                        break;
                }
                const char *close = *p == '{' ? strchr(p + 1, '}') : NULL;
                if (*p == '}' || (*p == '{' && !close)) {
                        leftover = true;
                        break;
                }
                if (*p != '{') {
                        fputc(*p++, f);
                        continue;
                }
                /* A '{' inside the braces means the outer one is unmatched. */
                size_t len = (size_t)(close - p - 1);
                bool keep_slash;
                const char *value =
                    memchr(p + 1, '{', len) ? NULL : lookup(p + 1, len, img, ext, &keep_slash);
                if (!value) {
                        leftover = true;
                        break;
                }
                put_encoded(f, value, keep_slash);
                p = close + 1;
        }
        if (fclose(f) != 0)
                return -ENOMEM;

        if (too_long) {
                ca_log_debug("discovery: skipping a template rendering to over %d bytes",
                             DC_URL_MAX);
                return -E2BIG;
        }
        if (leftover) {
                ca_log_debug("discovery: skipping template %s: a variable is left unrendered",
                             tmpl);
                return -ENOENT;
        }
        if (!dc_url_allowed(buf, allow_http)) {
                ca_log_debug("discovery: skipping %s: not an %s URL", buf,
                             allow_http ? "http(s)" : "https");
                return -EPROTONOSUPPORT;
        }
        *ret = TAKE_PTR(buf);
        return 0;
}
