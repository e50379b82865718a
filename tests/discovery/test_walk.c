/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The discovery walk against pages served from memory by the HTTP callback. */
#include <string.h>

#include "casync/casync.h"
#include "discovery/discovery.h"
#include "tests/test.h"

typedef struct page {
        const char *url;
        long status; /* 0: network error (-ECONNREFUSED) */
        const char *body;
} page;

typedef struct server {
        const page *pages;
        size_t n_pages;
        char *requests[64];
        size_t n_requests;
} server;

static void server_done(server *s)
{
        for (size_t i = 0; i < s->n_requests; i++)
                free(s->requests[i]);
        s->n_requests = 0;
}

/* Serves the table; unknown URLs are 404. */
static int serve(void *userdata, const char *url, size_t max_size, long *status, uint8_t **body,
                 size_t *size)
{
        server *s = userdata;

        CHECK_EQ_INT(max_size, DC_PAGE_MAX);
        CHECK(s->n_requests < ELEMENTSOF(s->requests));
        s->requests[s->n_requests++] = strdup(url);
        for (size_t i = 0; i < s->n_pages; i++) {
                if (strcmp(s->pages[i].url, url) != 0)
                        continue;
                if (s->pages[i].status == 0)
                        return -ECONNREFUSED;
                *status = s->pages[i].status;
                *body = (uint8_t *)strdup(s->pages[i].body ? s->pages[i].body : "");
                *size = strlen((char *)*body);
                return 0;
        }
        *status = 404;
        *body = (uint8_t *)strdup("not found");
        *size = strlen("not found");
        return 0;
}

static dc_image *image(const char *s)
{
        dc_image *img = NULL;
        CHECK_EQ_INT(dc_image_parse(s, &img), 0);
        return img;
}

#define META(prefix, url) "<meta name=\"ac-discovery\" content=\"" prefix " " url "\">"
#define KEYS(prefix, url) "<meta name=\"ac-discovery-pubkeys\" content=\"" prefix " " url "\">"

static int discover(const page *pages, size_t n, const char *name, bool http, server *s,
                    dc_endpoints *e)
{
        _cleanup_(dc_image_freep) dc_image *img = image(name);
        *s = (server){.pages = pages, .n_pages = n};
        dc_discover_options o = {.http_get = serve, .userdata = s, .allow_http = http};
        return dc_discover(img, &o, e);
}

static void test_three_levels(void)
{
        /* Only the host page has tags; deeper levels 404. */
        static const page pages[] = {
            {"https://example.com?ac-discovery=1", 200,
             "<html><head>" META("example.com", "https://cdn.example.com/{name}-{version}-"
                                                "{os}-{arch}.{ext}")
                 KEYS("example.com", "https://example.com/keys.gpg") "</head></html>"},
        };
        server s;
        dc_endpoints e;
        CHECK_EQ_INT(discover(pages, ELEMENTSOF(pages), "example.com/a/b:2,os=linux,arch=amd64",
                              false, &s, &e),
                     0);
        CHECK_STREQ(e.image_url, "https://cdn.example.com/example.com/a/b-2-linux-amd64.aci");
        CHECK_STREQ(e.signature_url,
                    "https://cdn.example.com/example.com/a/b-2-linux-amd64.aci.asc");
        CHECK_STREQ(e.pubkeys_url, "https://example.com/keys.gpg");
        CHECK_EQ_INT(s.n_requests, 3);
        CHECK_STREQ(s.requests[0], "https://example.com/a/b?ac-discovery=1");
        CHECK_STREQ(s.requests[1], "https://example.com/a?ac-discovery=1");
        CHECK_STREQ(s.requests[2], "https://example.com?ac-discovery=1");

        /* The attempt list says what happened at each level. */
        CHECK_EQ_INT(e.n_attempts, 3);
        CHECK_EQ_INT(e.attempts[0].status, 404);
        CHECK_EQ_INT(e.attempts[2].status, 200);
        _cleanup_(freep) char *a0 = NULL, *a2 = NULL;
        CHECK_EQ_INT(dc_attempt_format(&e.attempts[0], &a0), 0);
        CHECK_STREQ(a0, "https://example.com/a/b?ac-discovery=1 (404)");
        CHECK_EQ_INT(dc_attempt_format(&e.attempts[2], &a2), 0);
        CHECK_STREQ(a2, "https://example.com?ac-discovery=1 (image "
                        "https://cdn.example.com/example.com/a/b-2-linux-amd64.aci, signature "
                        "https://cdn.example.com/example.com/a/b-2-linux-amd64.aci.asc; public "
                        "keys https://example.com/keys.gpg)");
        dc_endpoints_print_attempts(&e, stderr);
        dc_endpoints_done(&e);
        server_done(&s);
}

static void test_other_names(void)
{
        /* The deepest page answers only for other names (including a prefix-confusable one);
         * the middle page has a tag whose template cannot render; the host page answers. */
        static const page pages[] = {
            {"https://example.com/foo/bar?ac-discovery=1", 200,
             META("example.com/foo/barbaz", "https://evil/1")
                 META("other.com/foo/bar", "https://evil/2")},
            {"https://example.com/foo?ac-discovery=1", 200,
             META("example.com/foo", "https://s/{name}-{channel}.{ext}")
                 META("example.com/foo", "file:///etc/passwd")
                     META("example.com/foo", "http://plain/{name}")},
            {"https://example.com?ac-discovery=1", 200,
             META("example.com", "https://short/{name}.{ext}")
                 META("example.com/foo/bar", "https://long/{name}.{ext}")
                     META("example.com/foo", "https://mid/{name}.{ext}")},
        };
        server s;
        dc_endpoints e;
        CHECK_EQ_INT(discover(pages, ELEMENTSOF(pages), "example.com/foo/bar", false, &s, &e), 0);
        /* Longest matching prefix wins, whatever the document order. */
        CHECK_STREQ(e.image_url, "https://long/example.com/foo/bar.aci");
        CHECK(e.pubkeys_url == NULL);
        CHECK_EQ_INT(e.n_attempts, 3);
        CHECK_STREQ(e.attempts[0].note, "no matching tag");
        CHECK_STREQ(e.attempts[1].note, "no usable tag: its URL is plain http, not allowed");
        dc_endpoints_done(&e);
        server_done(&s);

        /* example.com/foobar must not use example.com/foo's tags. */
        static const page pages2[] = {
            {"https://example.com?ac-discovery=1", 200,
             META("example.com/foo", "https://foo/{name}.{ext}")},
        };
        CHECK_EQ_INT(discover(pages2, ELEMENTSOF(pages2), "example.com/foobar", false, &s, &e),
                     -ENOENT);
        CHECK(e.image_url == NULL);
        CHECK_EQ_INT(e.n_attempts, 2);
        CHECK_STREQ(e.attempts[1].note, "no matching tag");
        dc_endpoints_done(&e);
        server_done(&s);
}

static void test_pubkeys_elsewhere(void)
{
        /* Image from the deepest page; keys only from the host page. */
        static const page pages[] = {
            {"https://example.com/app?ac-discovery=1", 200,
             META("example.com/app", "https://s/app.{ext}")
                 KEYS("example.com/app", "ftp://bad/keys")},
            {"https://example.com?ac-discovery=1", 200,
             META("example.com", "https://s/host.{ext}")
                 KEYS("example.com", "https://example.com/keys")},
        };
        server s;
        dc_endpoints e;
        CHECK_EQ_INT(discover(pages, ELEMENTSOF(pages), "example.com/app", false, &s, &e), 0);
        CHECK_STREQ(e.image_url, "https://s/app.aci");
        CHECK_STREQ(e.signature_url, "https://s/app.aci.asc");
        CHECK_STREQ(e.pubkeys_url, "https://example.com/keys");
        CHECK_EQ_INT(s.n_requests, 2);
        CHECK_STREQ(e.attempts[0].note, "image https://s/app.aci, signature https://s/app.aci.asc");
        CHECK_STREQ(e.attempts[1].note, "public keys https://example.com/keys");
        dc_endpoints_done(&e);
        server_done(&s);

        /* Keys and image on the first page: one request. Keys skipped when not wanted. */
        static const page one[] = {
            {"https://example.com/app?ac-discovery=1", 200,
             META("example.com/app", "https://s/rootfs.caidx")
                 KEYS("example.com", "https://example.com/keys")},
        };
        CHECK_EQ_INT(discover(one, ELEMENTSOF(one), "example.com/app", false, &s, &e), 0);
        CHECK_EQ_INT(s.n_requests, 1);
        /* A casync index: both URLs the same, the caller decides. */
        CHECK_STREQ(e.image_url, "https://s/rootfs.caidx");
        CHECK_STREQ(e.signature_url, "https://s/rootfs.caidx");
        dc_endpoints_done(&e);
        server_done(&s);

        /* skip_pubkeys: the walk stops at the image. */
        _cleanup_(dc_image_freep) dc_image *img = image("example.com/app");
        s = (server){.pages = pages, .n_pages = ELEMENTSOF(pages)};
        dc_discover_options o = {.http_get = serve, .userdata = &s, .skip_pubkeys = true};
        CHECK_EQ_INT(dc_discover(img, &o, &e), 0);
        CHECK_EQ_INT(s.n_requests, 1);
        CHECK(e.pubkeys_url == NULL);
        dc_endpoints_done(&e);
        server_done(&s);
}

static void test_http_fallback(void)
{
        /* https refused at the first level, 500 at the host; http serves both. */
        static const page pages[] = {
            {"https://example.com/app?ac-discovery=1", 0, NULL},
            {"http://example.com/app?ac-discovery=1", 404, NULL},
            {"https://example.com?ac-discovery=1", 500, "oops"},
            {"http://example.com?ac-discovery=1", 200,
             META("example.com", "http://plain/{name}.{ext}")
                 KEYS("example.com", "http://plain/keys")},
        };
        server s;
        dc_endpoints e;

        /* Without the opt-in: never http, and the failure names every attempt. */
        CHECK_EQ_INT(discover(pages, ELEMENTSOF(pages), "example.com/app", false, &s, &e), -ENOENT);
        CHECK_EQ_INT(s.n_requests, 2);
        CHECK_STREQ(s.requests[0], "https://example.com/app?ac-discovery=1");
        CHECK_STREQ(s.requests[1], "https://example.com?ac-discovery=1");
        CHECK_EQ_INT(e.n_attempts, 2);
        CHECK_EQ_INT(e.attempts[0].error, -ECONNREFUSED);
        CHECK_EQ_INT(e.attempts[1].status, 500);
        _cleanup_(freep) char *a0 = NULL;
        CHECK_EQ_INT(dc_attempt_format(&e.attempts[0], &a0), 0);
        CHECK_STREQ(a0, "https://example.com/app?ac-discovery=1 (Connection refused)");
        dc_endpoints_done(&e);
        server_done(&s);

        /* With it: http after each failed https, and http templates are accepted. */
        CHECK_EQ_INT(discover(pages, ELEMENTSOF(pages), "example.com/app", true, &s, &e), 0);
        CHECK_EQ_INT(s.n_requests, 4);
        CHECK_STREQ(s.requests[1], "http://example.com/app?ac-discovery=1");
        CHECK_STREQ(s.requests[3], "http://example.com?ac-discovery=1");
        CHECK_STREQ(e.image_url, "http://plain/example.com/app.aci");
        CHECK_STREQ(e.pubkeys_url, "http://plain/keys");
        dc_endpoints_done(&e);
        server_done(&s);

        /* A 200 over https with no tag does not fall back to http. */
        static const page https_ok[] = {
            {"https://example.com?ac-discovery=1", 200, "<html></html>"},
            {"http://example.com?ac-discovery=1", 200, META("example.com", "http://x/y")},
        };
        CHECK_EQ_INT(discover(https_ok, ELEMENTSOF(https_ok), "example.com", true, &s, &e),
                     -ENOENT);
        CHECK_EQ_INT(s.n_requests, 1);
        dc_endpoints_done(&e);
        server_done(&s);
}

static void test_override_and_bounds(void)
{
        static const page pages[] = {
            {"https://127.0.0.1:8443/app?ac-discovery=1", 200,
             META("example.com/app", "https://127.0.0.1:8443/{name}.{ext}")},
            {"https://example.com:8443/app?ac-discovery=1", 200,
             META("example.com/app", "https://example.com:8443/{name}.{ext}")},
        };
        server s = {.pages = pages, .n_pages = ELEMENTSOF(pages)};
        dc_endpoints e;
        _cleanup_(dc_image_freep) dc_image *img = image("example.com/app");

        dc_discover_options o = {
            .http_get = serve, .userdata = &s, .skip_pubkeys = true, .authority = "127.0.0.1:8443"};
        CHECK_EQ_INT(dc_discover(img, &o, &e), 0);
        CHECK_STREQ(s.requests[0], "https://127.0.0.1:8443/app?ac-discovery=1");
        CHECK_STREQ(e.image_url, "https://127.0.0.1:8443/example.com/app.aci");
        dc_endpoints_done(&e);
        server_done(&s);

        o = (dc_discover_options){.http_get = serve, .userdata = &s, .port = 8443};
        CHECK_EQ_INT(dc_discover(img, &o, &e), 0);
        CHECK_STREQ(s.requests[0], "https://example.com:8443/app?ac-discovery=1");
        CHECK_STREQ(s.requests[1], "https://example.com:8443?ac-discovery=1");
        CHECK_STREQ(e.image_url, "https://example.com:8443/example.com/app.aci");
        dc_endpoints_done(&e);
        server_done(&s);

        /* More than DC_LEVELS_MAX components: refused before any request. */
        char deep[256] = "a";
        for (int i = 0; i < DC_LEVELS_MAX; i++)
                strcat(deep, "/b");
        _cleanup_(dc_image_freep) dc_image *dimg = image(deep);
        CHECK_EQ_INT(dc_discover(dimg, &o, &e), -EINVAL);
        CHECK_EQ_INT(s.n_requests, 0);
        dc_endpoints_done(&e);
        /* Exactly DC_LEVELS_MAX: walks all levels. */
        deep[strlen(deep) - 2] = '\0';
        _cleanup_(dc_image_freep) dc_image *limg = image(deep);
        CHECK_EQ_INT(dc_discover(limg, &o, &e), -ENOENT);
        CHECK_EQ_INT(s.n_requests, DC_LEVELS_MAX);
        CHECK_EQ_INT(e.n_attempts, DC_LEVELS_MAX);
        dc_endpoints_done(&e);
        server_done(&s);

        /* A page over the cap is refused as a failed level. */
        _cleanup_(freep) char *big = malloc(DC_PAGE_MAX + 2);
        CHECK(big);
        memset(big, ' ', DC_PAGE_MAX + 1);
        big[DC_PAGE_MAX + 1] = '\0';
        const page bigpage[] = {{"https://example.com?ac-discovery=1", 200, big}};
        _cleanup_(dc_image_freep) dc_image *himg = image("example.com");
        s = (server){.pages = bigpage, .n_pages = 1};
        o = (dc_discover_options){.http_get = serve, .userdata = &s};
        CHECK_EQ_INT(dc_discover(himg, &o, &e), -ENOENT);
        CHECK_STREQ(e.attempts[0].note, "page over the size cap");
        dc_endpoints_done(&e);
        server_done(&s);
}

int main(void)
{
        /* Debug lines show the walk in the test log. */
        ca_log_set_max_level(CA_LOG_DEBUG);
        test_three_levels();
        test_other_names();
        test_pubkeys_elsewhere();
        test_http_fallback();
        test_override_and_bounds();
        return 0;
}
