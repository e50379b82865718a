/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Prefix matching and template rendering: variables, encoding, schemes, leftovers. */
#include <string.h>

#include "casync/casync.h"
#include "discovery/discovery.h"
#include "tests/test.h"

static void test_prefix(void)
{
        CHECK(dc_prefix_matches("example.com/foo", "example.com/foo"));
        CHECK(dc_prefix_matches("example.com/foo", "example.com/foo/bar"));
        CHECK(dc_prefix_matches("example.com", "example.com/foo/bar"));
        CHECK(!dc_prefix_matches("example.com/foo", "example.com/foobar"));
        CHECK(!dc_prefix_matches("example.com/foo", "example.com/fo"));
        CHECK(!dc_prefix_matches("example.com/foo/bar", "example.com/foo"));
        CHECK(!dc_prefix_matches("example.co", "example.com"));
        CHECK(!dc_prefix_matches("", "example.com"));
        CHECK(!dc_prefix_matches("coreos.com/etcd", "coreos.com/etcdxxxx"));
}

static dc_image *image(const char *s)
{
        dc_image *img = NULL;
        CHECK_EQ_INT(dc_image_parse(s, &img), 0);
        return img;
}

static void check_render(const char *tmpl, const dc_image *img, const char *ext, bool http,
                         int expect, const char *url)
{
        _cleanup_(freep) char *out = NULL;
        int r = dc_template_render(tmpl, img, ext, http, &out);
        if (r != expect) {
                fprintf(stderr, "template %s: got %d, expected %d\n", tmpl, r, expect);
                CHECK(false);
        }
        if (url)
                CHECK_STREQ(out, url);
        else
                CHECK(out == NULL);
}

static void test_render(void)
{
        _cleanup_(dc_image_freep) dc_image *img =
            image("example.com/reduce-worker:1.0.0,os=linux,arch=amd64");
        _cleanup_(dc_image_freep) dc_image *nover = image("example.com/app,os=linux,arch=amd64");

        /* The spec's worked example. */
        const char *spec = "https://storage.example.com/{os}/{arch}/{name}-{version}.{ext}";
        check_render(spec, img, "aci", false, 0,
                     "https://storage.example.com/linux/amd64/example.com/reduce-worker-1.0.0.aci");
        check_render(spec, img, "aci.asc", false, 0,
                     "https://storage.example.com/linux/amd64/example.com/reduce-worker-1.0.0"
                     ".aci.asc");
        /* No version: latest. Repeated variables all replaced. */
        check_render("https://s/{name}/{version}/{name}.{ext}", nover, "aci", false, 0,
                     "https://s/example.com/app/latest/example.com/app.aci");
        /* quay.io style: {ext} as a path segment. */
        check_render("https://quay.io/c1/aci/{name}/{version}/{ext}/{os}/{arch}/", img, "aci.asc",
                     false, 0,
                     "https://quay.io/c1/aci/example.com/reduce-worker/1.0.0/aci.asc/linux/amd64/");
        /* No {ext} (a casync index): image and signature render alike. */
        check_render("https://kinvolk.io/rootfs.caidx", img, "aci", false, 0,
                     "https://kinvolk.io/rootfs.caidx");
        check_render("https://kinvolk.io/rootfs.caidx", img, "aci.asc", false, 0,
                     "https://kinvolk.io/rootfs.caidx");

        /* Unrendered variables: skipped. */
        check_render("https://s/{name}-{channel}.{ext}", img, "aci", false, -ENOENT, NULL);
        check_render("https://s/{name}.{ext}", img, NULL, false, -ENOENT, NULL);
        check_render("https://s/{NAME}", img, "aci", false, -ENOENT, NULL);
        check_render("https://s/{}", img, "aci", false, -ENOENT, NULL);
        check_render("https://s/{name", img, "aci", false, -ENOENT, NULL);
        check_render("https://s/name}", img, "aci", false, -ENOENT, NULL);
        check_render("https://s/{{name}}", img, "aci", false, -ENOENT, NULL);
        check_render("https://s/{na{me}", img, "aci", false, -ENOENT, NULL);
        _cleanup_(dc_image_freep) dc_image *beta = image("example.com/app,channel=beta");
        check_render("https://s/{name}-{channel}.{ext}", beta, "aci", false, 0,
                     "https://s/example.com/app-beta.aci");
        /* {os} without an os label is left over. */
        check_render("https://s/{os}/{name}", beta, "aci", false, -ENOENT, NULL);

        /* Schemes: https only, http on opt-in, nothing else. */
        check_render("http://s/{name}.{ext}", img, "aci", false, -EPROTONOSUPPORT, NULL);
        check_render("http://s/{name}.{ext}", img, "aci", true, 0,
                     "http://s/example.com/reduce-worker.aci");
        check_render("HTTPS://s/x", img, "aci", false, 0, "HTTPS://s/x");
        static const char *bad_schemes[] = {
            "file:///etc/{name}",  "hdfs://s/{name}", "ftp://s/{name}",
            "//s/{name}",          "/{name}",         "{name}",
            "https:///x",          "https://",        "https:s/{name}",
            "javascript:alert(1)", "https://s/a b",   "https://s/\x01"};
        for (size_t i = 0; i < ELEMENTSOF(bad_schemes); i++) {
                check_render(bad_schemes[i], img, "aci", false, -EPROTONOSUPPORT, NULL);
                check_render(bad_schemes[i], img, "aci", true, -EPROTONOSUPPORT, NULL);
        }
        /* A value cannot change the scheme or host. */
        _cleanup_(dc_image_freep) dc_image *evil = image("a,host=evil.com/x");
        check_render("{host}", evil, "aci", true, -EPROTONOSUPPORT, NULL);
        check_render("https://{host}/y", evil, "aci", false, 0, "https://evil.com%2Fx/y");

        /* Label values are percent-encoded, '/' included; {name} keeps its slashes. */
        _cleanup_(dc_image_freep) dc_image *odd =
            image("example.com/app:1.0 beta&x#y?z%,channel=a/../b+c$d");
        check_render("https://s/{name}/{version}/{channel}.{ext}", odd, "aci", false, 0,
                     "https://s/example.com/app/1.0%20beta%26x%23y%3Fz%25/a%2F..%2Fb%2Bc%24d.aci");
        _cleanup_(dc_image_freep) dc_image *utf8 = image("a:\xc3\xa9t\xc3\xa9");
        check_render("https://s/{version}", utf8, NULL, false, 0, "https://s/%C3%A9t%C3%A9");

        /* Output bounded even when a long template repeats {name}. */
        _cleanup_(freep) char *long_tmpl = malloc(200000);
        CHECK(long_tmpl);
        size_t len = strlen("https://s/");
        memcpy(long_tmpl, "https://s/", len);
        while (len + 7 < 200000) {
                memcpy(long_tmpl + len, "{name}", 6);
                len += 6;
        }
        long_tmpl[len] = '\0';
        check_render(long_tmpl, img, "aci", false, -E2BIG, NULL);
}

int main(void)
{
        test_prefix();
        test_render();
        return 0;
}
