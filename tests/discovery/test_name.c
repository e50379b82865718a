/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* appc image strings: the grammar's accept/reject tables, canonical form, host defaults. */
#include <string.h>
#include <sys/utsname.h>

#include "casync/casync.h"
#include "discovery/discovery.h"
#include "tests/test.h"

static void test_identifiers(void)
{
        static const char *good[] = {
            "a", "example.com", "example.com/app", "a-b.c_d~e/f0", "coreos.com/etcd",
            "0", "a/b/c/d"};
        static const char *bad[] = {"",
                                    "A",
                                    "example.com/App",
                                    "-a",
                                    "a-",
                                    "a//b",
                                    "a/",
                                    "/a",
                                    "a..b",
                                    "a b",
                                    "a:b",
                                    "ä",
                                    "a/./b",
                                    "a/../b",
                                    "a.-b",
                                    "example.com:443/app"};
        for (size_t i = 0; i < ELEMENTSOF(good); i++)
                CHECK(dc_identifier_valid(good[i]));
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                CHECK(!dc_identifier_valid(bad[i]));
}

static void test_parse_accept(void)
{
        static const struct {
                const char *in, *canonical;
        } table[] = {
            {"example.com/app", "example.com/app"},
            {"example.com/app:1.0.0", "example.com/app:1.0.0"},
            {"example.com/app,os=linux,arch=amd64,channel=alpha",
             "example.com/app,arch=amd64,channel=alpha,os=linux"},
            {"example.com/app:1.0.0,env=canary", "example.com/app:1.0.0,env=canary"},
            {"example.com/app,version=2", "example.com/app:2"},
            {"a,k=v+w/x$y", "a,k=v+w/x$y"},
            {"a,k=with space", "a,k=with space"},
            {"a:v1,z=1,b=2,m-x=3", "a:v1,b=2,m-x=3,z=1"},
        };
        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                _cleanup_(dc_image_freep) dc_image *img = NULL, *again = NULL;
                _cleanup_(freep) char *s = NULL, *s2 = NULL;
                CHECK_EQ_INT(dc_image_parse(table[i].in, &img), 0);
                CHECK_EQ_INT(dc_image_to_string(img, &s), 0);
                CHECK_STREQ(s, table[i].canonical);
                /* The canonical form parses back to the same image. */
                CHECK_EQ_INT(dc_image_parse(s, &again), 0);
                CHECK_EQ_INT(dc_image_to_string(again, &s2), 0);
                CHECK_STREQ(s2, s);
        }

        _cleanup_(dc_image_freep) dc_image *img = NULL;
        CHECK_EQ_INT(dc_image_parse("example.com/app:1.0.0,channel=beta", &img), 0);
        CHECK_STREQ(img->name, "example.com/app");
        CHECK_STREQ(dc_image_label(img, "version"), "1.0.0");
        CHECK_STREQ(dc_image_label(img, "channel"), "beta");
        CHECK(dc_image_label(img, "os") == NULL);
        CHECK_EQ_INT(img->n_labels, 2);

        /* A "port" is just a version here, as in appc: names cannot carry one. */
        _cleanup_(dc_image_freep) dc_image *port = NULL;
        CHECK_EQ_INT(dc_image_parse("example.com:8080/app", &port), 0);
        CHECK_STREQ(port->name, "example.com");
        CHECK_STREQ(dc_image_label(port, "version"), "8080/app");
}

static void test_parse_reject(void)
{
        static const char *bad[] = {
            "",                                    /* empty name */
            "Example.com/app",                     /* upper case */
            "example.com/app:1:2",                 /* two ':' */
            "example.com/app,os=linux:1",          /* ':' after ',' */
            "example.com/app,os",                  /* part without '=' */
            "example.com/app,",                    /* empty part */
            "example.com/app,,os=linux",           /* empty part */
            "example.com/app,os=linux,os=freebsd", /* duplicate */
            "example.com/app:1,version=2",         /* duplicate version */
            "example.com/app,name=x",              /* reserved */
            "example.com/app,Os=linux",            /* key not an identifier */
            "example.com/app,=x",                  /* empty key */
            "example.com/app,os=",                 /* empty value */
            "example.com/app:",                    /* empty version */
            "example.com/app,k=a=b",               /* '=' in value */
            "example.com/app,k=a\tb",              /* control character */
            "example.com//app",                    /* doubled separator */
            "example.com/app/",                    /* trailing separator */
            ":1.0",                                /* no name */
            ",os=linux",                           /* no name */
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                dc_image *img = NULL;
                if (dc_image_parse(bad[i], &img) != -EINVAL) {
                        fprintf(stderr, "accepted: \"%s\"\n", bad[i]);
                        CHECK(false);
                }
                CHECK(img == NULL);
        }

        /* Bounds: a huge string, too many labels, a long value. */
        _cleanup_(freep) char *huge = malloc(DC_IMAGE_STRING_MAX + 2);
        CHECK(huge);
        memset(huge, 'a', DC_IMAGE_STRING_MAX + 1);
        huge[DC_IMAGE_STRING_MAX + 1] = '\0';
        dc_image *img = NULL;
        CHECK_EQ_INT(dc_image_parse(huge, &img), -EINVAL);
        huge[DC_NAME_MAX + 1] = '\0';
        CHECK_EQ_INT(dc_image_parse(huge, &img), -EINVAL);

        char many[2048] = "a";
        for (int i = 0; i <= DC_LABELS_MAX; i++)
                snprintf(many + strlen(many), sizeof(many) - strlen(many), ",k%d=v", i);
        CHECK_EQ_INT(dc_image_parse(many, &img), -EINVAL);

        char longval[DC_LABEL_VALUE_MAX + 16] = "a,k=";
        memset(longval + 4, 'v', DC_LABEL_VALUE_MAX + 1);
        longval[4 + DC_LABEL_VALUE_MAX + 1] = '\0';
        CHECK_EQ_INT(dc_image_parse(longval, &img), -EINVAL);
        longval[4 + DC_LABEL_VALUE_MAX] = '\0';
        CHECK_EQ_INT(dc_image_parse(longval, &img), 0);
        dc_image_free(img);
}

static void test_defaults(void)
{
        struct utsname u;
        const char *os, *arch;
        CHECK(uname(&u) == 0);
        CHECK_EQ_INT(dc_host_os_arch(&os, &arch), 0);
        CHECK_STREQ(os, "linux");
        if (strcmp(u.machine, "x86_64") == 0)
                CHECK_STREQ(arch, "amd64");
        else if (strcmp(u.machine, "aarch64") == 0)
                CHECK_STREQ(arch, "aarch64");

        _cleanup_(dc_image_freep) dc_image *img = NULL;
        CHECK_EQ_INT(dc_image_parse("example.com/app", &img), 0);
        CHECK_EQ_INT(dc_image_set_defaults(img), 0);
        CHECK_STREQ(dc_image_label(img, "os"), os);
        CHECK_STREQ(dc_image_label(img, "arch"), arch);
        CHECK(dc_image_label(img, "version") == NULL);

        /* Given labels win over the host's. */
        _cleanup_(dc_image_freep) dc_image *img2 = NULL;
        CHECK_EQ_INT(dc_image_parse("example.com/app,arch=s390x,os=freebsd", &img2), 0);
        CHECK_EQ_INT(dc_image_set_defaults(img2), 0);
        CHECK_STREQ(dc_image_label(img2, "os"), "freebsd");
        CHECK_STREQ(dc_image_label(img2, "arch"), "s390x");
}

/* NAME:latest (or version=latest) is the unversioned NAME. */
static void test_latest(void)
{
        const char *in[] = {"example.com/app:latest", "example.com/app,version=latest",
                            "example.com/app:latest,os=linux"};
        for (size_t i = 0; i < ELEMENTSOF(in); i++) {
                _cleanup_(dc_image_freep) dc_image *img = NULL;
                CHECK_EQ_INT(dc_image_parse(in[i], &img), 0);
                CHECK_STREQ(img->name, "example.com/app");
                CHECK(dc_image_label(img, "version") == NULL);
                _cleanup_(freep) char *s = NULL;
                CHECK_EQ_INT(dc_image_to_string(img, &s), 0);
                CHECK(strstr(s, "latest") == NULL);
        }
        _cleanup_(dc_image_freep) dc_image *v = NULL;
        CHECK_EQ_INT(dc_image_parse("example.com/app:latest2", &v), 0);
        CHECK_STREQ(dc_image_label(v, "version"), "latest2");
}

static void test_version_order(void)
{
        /* Each pair: first < second. */
        static const char *const lt[][2] = {
            {"1.0", "2.0"},
            {"1.5", "2.0"},
            {"1.0", "1.5"},
            {"1.9", "1.10"},
            {"1.10", "1.10.1"},
            {"1.10.1", "1.10a"},
            {"0.9", "0010"},
            {"1.0.0-alpha", "1.0.0"},
            {"1.0.0-alpha", "1.0.0-alpha.1"},
            {"1.0.0-alpha.1", "1.0.0-alpha.beta"},
            {"1.0.0-alpha.beta", "1.0.0-beta"},
            {"1.0.0-beta.2", "1.0.0-beta.11"},
            {"1.0.0-rc.1", "1.0.0"},
            {"1.9.0", "1.10.0"},
            {"1.10.0", "2.0.0"},
            {"2.0.0", "10.0.0"},
            {"v1", "v2"},
            {"2024-01-31", "2024-02-01"},
        };
        for (size_t i = 0; i < ELEMENTSOF(lt); i++) {
                CHECK(dc_version_compare(lt[i][0], lt[i][1]) < 0);
                CHECK(dc_version_compare(lt[i][1], lt[i][0]) > 0);
                CHECK(dc_version_compare(lt[i][0], lt[i][0]) == 0);
        }
        /* Build metadata does not count. */
        CHECK(dc_version_compare("1.0.0+build.1", "1.0.0+build.2") == 0);
        CHECK(dc_version_compare("1.0.0+b", "1.0.0") == 0);
}

int main(void)
{
        test_latest();
        test_version_order();
        test_identifiers();
        test_parse_accept();
        test_parse_reject();
        test_defaults();
        return 0;
}
