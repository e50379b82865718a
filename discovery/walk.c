/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The discovery walk: from the whole name up to its host, one discovery page per level, until a
 * level yields the image endpoints (and, independently, a public-key URL). Every request is
 * recorded so a failure can say exactly what was tried.
 */
#include <errno.h>
#include <string.h>

#include "casync/casync.h"
#include "discovery/discovery.h"

/* https and http for each level. */
#define ATTEMPTS_MAX (2 * DC_LEVELS_MAX)

void dc_endpoints_done(dc_endpoints *e)
{
        for (size_t i = 0; i < e->n_attempts; i++) {
                free(e->attempts[i].url);
                free(e->attempts[i].note);
        }
        free(e->attempts);
        free(e->image_url);
        free(e->signature_url);
        free(e->pubkeys_url);
        *e = (dc_endpoints){};
}

/* A failed attempt's error in words: the callback's errnos as the transfer engine gives them. */
static const char *error_words(int error)
{
        switch (error) {
        case -ECANCELED:
                return "not asked: no response from this host above";
        case -EADDRNOTAVAIL:
                return "cannot resolve host name";
        case -EPERM:
                return "TLS verification failed";
        case -EIO:
                return "network error";
        case -EFBIG:
                return "page too large";
        default:
                return strerror(-error);
        }
}

int dc_attempt_format(const dc_attempt *a, char **ret)
{
        int r;

        if (a->error < 0)
                r = asprintf(ret, "%s (%s)", a->url, error_words(a->error));
        else if (a->status != 200 || !a->note)
                r = asprintf(ret, "%s (%ld)", a->url, a->status);
        else
                r = asprintf(ret, "%s (%s)", a->url, a->note);
        return r < 0 ? -ENOMEM : 0;
}

void dc_endpoints_print_attempts(const dc_endpoints *e, FILE *f)
{
        for (size_t i = 0; i < e->n_attempts; i++) {
                _cleanup_(freep) char *s = NULL;
                if (dc_attempt_format(&e->attempts[i], &s) >= 0)
                        fprintf(f, "discovery: tried %s\n", s);
        }
}

typedef struct page_tags {
        dc_meta_tag *tags;
        size_t n;
} page_tags;

static void page_tags_done(page_tags *p)
{
        dc_meta_tags_free(p->tags, p->n);
}

/*
 * Indexes (into tags) of the tags of this kind whose prefix matches name, longest prefix first,
 * document order among equals. Returns the count.
 */
static size_t matching_tags(const page_tags *p, dc_meta_kind kind, const char *name,
                            size_t idx[static DC_TAGS_MAX])
{
        size_t n = 0;

        for (size_t i = 0; i < p->n && n < DC_TAGS_MAX; i++) {
                if (p->tags[i].kind != kind || !dc_prefix_matches(p->tags[i].prefix, name))
                        continue;
                /* Insertion sort, stable: at most DC_TAGS_MAX entries. */
                size_t len = strlen(p->tags[i].prefix), j = n++;
                while (j > 0 && strlen(p->tags[idx[j - 1]].prefix) < len) {
                        idx[j] = idx[j - 1];
                        j--;
                }
                idx[j] = i;
        }
        return n;
}

/*
 * Fills image_url and signature_url from the first matching tag that renders. 1 if found.
 * *http_refused: a tag would have rendered but for its plain-http URL.
 */
static int find_image(const page_tags *p, const dc_image *img, bool allow_http, dc_endpoints *e,
                      bool *matched, bool *http_refused)
{
        size_t idx[DC_TAGS_MAX];
        size_t n = matching_tags(p, DC_META_DISCOVERY, img->name, idx);

        *matched = n > 0;
        for (size_t i = 0; i < n; i++) {
                const char *tmpl = p->tags[idx[i]].template;
                _cleanup_(freep) char *aci = NULL, *asc = NULL;
                int r = dc_template_render(tmpl, img, "aci", allow_http, &aci);
                if (r == -ENOMEM)
                        return r;
                if (r == -EPROTONOSUPPORT && !allow_http && !*http_refused) {
                        _cleanup_(freep) char *plain = NULL;
                        *http_refused = dc_template_render(tmpl, img, "aci", true, &plain) >= 0;
                }
                if (r < 0)
                        continue;
                r = dc_template_render(tmpl, img, "aci.asc", allow_http, &asc);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        continue;
                e->image_url = TAKE_PTR(aci);
                e->signature_url = TAKE_PTR(asc);
                return 1;
        }
        return 0;
}

/* Fills pubkeys_url from the first matching ac-discovery-pubkeys tag. 1 if found. */
static int find_pubkeys(const page_tags *p, const dc_image *img, bool allow_http, dc_endpoints *e,
                        bool *matched)
{
        size_t idx[DC_TAGS_MAX];
        size_t n = matching_tags(p, DC_META_PUBKEYS, img->name, idx);

        *matched = n > 0;
        for (size_t i = 0; i < n; i++) {
                const char *url = p->tags[idx[i]].template;
                /* Not a template: taken verbatim, but the same schemes only. */
                if (!dc_url_allowed(url, allow_http)) {
                        ca_log_debug("discovery: skipping public keys URL %s: not an %s URL", url,
                                     allow_http ? "http(s)" : "https");
                        continue;
                }
                e->pubkeys_url = strdup(url);
                return e->pubkeys_url ? 1 : -ENOMEM;
        }
        return 0;
}

/* Records one request and returns it. */
static dc_attempt *record(dc_endpoints *e, char *url, int error, long status)
{
        dc_attempt *a = &e->attempts[e->n_attempts++];
        *a = (dc_attempt){.url = url, .error = error, .status = status};
        if (error < 0)
                ca_log_debug("discovery: %s: %s", url, strerror(-error));
        else
                ca_log_debug("discovery: %s: HTTP %ld", url, status);
        return a;
}

/*
 * GETs the discovery page of prefix (plen bytes of name): https, then http when allowed. Returns 1
 * with the page and its attempt on a 200, 0 when this level gave none, or -ENOMEM.
 */
static int fetch_level(const char *name, size_t plen, const dc_discover_options *o, dc_endpoints *e,
                       uint8_t **page, size_t *page_size, dc_attempt **ok)
{
        size_t hlen = strcspn(name, "/");
        _cleanup_(freep) char *authority = NULL;
        int r;

        if (o->authority)
                authority = strdup(o->authority);
        else if (o->port) {
                if (asprintf(&authority, "%.*s:%u", (int)hlen, name, (unsigned)o->port) < 0)
                        authority = NULL;
        } else
                authority = strndup(name, hlen);
        if (!authority)
                return -ENOMEM;

        for (int http = 0; http <= (o->allow_http ? 1 : 0); http++) {
                char *url;
                if (asprintf(&url, "%s://%s%.*s?ac-discovery=1", http ? "http" : "https", authority,
                             (int)(plen - MIN(hlen, plen)), name + hlen) < 0)
                        return -ENOMEM;

                _cleanup_(freep) uint8_t *body = NULL;
                size_t size = 0;
                long status = 0;
                r = o->http_get(o->userdata, url, DC_PAGE_MAX, &status, &body, &size);
                if (r == -ENOMEM) {
                        free(url);
                        return r;
                }
                dc_attempt *a = record(e, url, r < 0 ? r : 0, r < 0 ? 0 : status);
                if (r >= 0 && status == 200) {
                        *page = TAKE_PTR(body);
                        *page_size = size;
                        *ok = a;
                        return 1;
                }
        }
        return 0;
}

/*
 * Looks for what is still missing (the image endpoints; the public keys unless skipped) in a 200
 * page, and notes the outcome on its attempt. 0, or -ENOMEM.
 */
static int read_page(const dc_image *img, const dc_discover_options *o, const uint8_t *page,
                     size_t size, dc_attempt *a, dc_endpoints *e)
{
        _cleanup_(page_tags_done) page_tags tags = {};
        _cleanup_(freep) char *found_image = NULL, *found_keys = NULL;
        bool image_matched = false, keys_matched = false, http_refused = false;
        int r;

        r = dc_meta_parse(page, size, &tags.tags, &tags.n);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                a->note = strdup("page over the size cap");
                return a->note ? 0 : -ENOMEM;
        }

        if (!e->image_url) {
                r = find_image(&tags, img, o->allow_http, e, &image_matched, &http_refused);
                if (r < 0)
                        return r;
                if (r > 0 && asprintf(&found_image, "image %s, signature %s", e->image_url,
                                      e->signature_url) < 0)
                        return -ENOMEM;
        }
        if (!o->skip_pubkeys && !e->pubkeys_url) {
                r = find_pubkeys(&tags, img, o->allow_http, e, &keys_matched);
                if (r < 0)
                        return r;
                if (r > 0 && asprintf(&found_keys, "public keys %s", e->pubkeys_url) < 0)
                        return -ENOMEM;
        }

        if (found_image || found_keys)
                r = asprintf(&a->note, "%s%s%s", found_image ?: "",
                             found_image && found_keys ? "; " : "", found_keys ?: "");
        else
                /* "usable": a tag was meant for this name but no template rendered. */
                r = asprintf(&a->note, "%s",
                             http_refused ? "no usable tag: its URL is plain http, not allowed"
                             : image_matched || keys_matched ? "no usable tag"
                                                             : "no matching tag");
        if (r < 0) {
                a->note = NULL;
                return -ENOMEM;
        }
        ca_log_debug("discovery: %s: %s", a->url, a->note);
        return 0;
}

/* "discovery failed for NAME: tried URL (404), URL (no matching tag), ..." */
static void log_failure(const dc_image *img, const dc_endpoints *e)
{
        _cleanup_(freep) char *name = NULL, *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        if (!f || dc_image_to_string(img, &name) < 0) {
                if (f)
                        fclose(f);
                ca_log_error("discovery failed for %s", img->name);
                return;
        }
        for (size_t i = 0; i < e->n_attempts; i++) {
                _cleanup_(freep) char *s = NULL;
                if (dc_attempt_format(&e->attempts[i], &s) >= 0)
                        fprintf(f, "%s%s", i > 0 ? ", " : "", s);
        }
        if (fclose(f) != 0) {
                ca_log_error("discovery failed for %s", name);
                return;
        }
        ca_log_error("discovery failed for %s: tried %s", name, buf);
}

int dc_discover(const dc_image *img, const dc_discover_options *o, dc_endpoints *ret)
{
        const char *name = img->name;
        size_t levels = 1;
        int r;

        *ret = (dc_endpoints){};
        if (!o->http_get)
                return -EINVAL;
        for (const char *p = name; *p; p++)
                levels += *p == '/';
        if (levels > DC_LEVELS_MAX) {
                ca_log_error("discovery: image name %s has more than %d components", name,
                             DC_LEVELS_MAX);
                return -EINVAL;
        }
        ret->attempts = calloc(ATTEMPTS_MAX, sizeof(dc_attempt));
        if (!ret->attempts)
                return -ENOMEM;

        bool want_keys = !o->skip_pubkeys;
        /* Each level's prefix is name[0, plen): whole components, longest first. */
        for (size_t plen = strlen(name); plen > 0;) {
                _cleanup_(freep) uint8_t *page = NULL;
                size_t size = 0;
                dc_attempt *a = NULL;

                r = fetch_level(name, plen, o, ret, &page, &size, &a);
                if (r < 0)
                        return r;
                if (r > 0) {
                        r = read_page(img, o, page, size, a, ret);
                        if (r < 0)
                                return r;
                        if (ret->image_url && (!want_keys || ret->pubkeys_url))
                                break;
                }
                /* Up one level: drop the last component. */
                while (plen > 0 && name[plen - 1] != '/')
                        plen--;
                if (plen > 0)
                        plen--;
        }

        if (!ret->image_url) {
                log_failure(img, ret);
                return -ENOENT;
        }
        if (want_keys && !ret->pubkeys_url)
                ca_log_debug("discovery: no ac-discovery-pubkeys tag for %s", name);
        return 0;
}
