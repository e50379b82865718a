/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* auth.d (fetcher/auth.c): rkt's file format, directory precedence, refusals, host matching. */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fetcher/transfer/transfer.h"
#include "tests/test.h"

#define SECRET "s3cret"
#define ALICE  "Authorization: Basic YWxpY2U6czNjcmV0" /* alice:s3cret */
#define BEARER "Authorization: Bearer tok-123.abc~/+="

static char root[] = "/tmp/test_auth.XXXXXX";
static unsigned n_case;
static char sys_dir[512], loc_dir[512];

/* Fresh <case>/sys and <case>/loc, each with an empty auth.d. */
static void new_case(void)
{
        n_case++;
        snprintf(sys_dir, sizeof(sys_dir), "%s/%u.sys", root, n_case);
        snprintf(loc_dir, sizeof(loc_dir), "%s/%u.loc", root, n_case);
        char p[600];
        CHECK(mkdir(sys_dir, 0755) == 0);
        CHECK(mkdir(loc_dir, 0755) == 0);
        snprintf(p, sizeof(p), "%s/auth.d", sys_dir);
        CHECK(mkdir(p, 0755) == 0);
        snprintf(p, sizeof(p), "%s/auth.d", loc_dir);
        CHECK(mkdir(p, 0755) == 0);
}

static void put(const char *dir, const char *name, const char *text)
{
        char p[800];
        snprintf(p, sizeof(p), "%s/auth.d/%s", dir, name);
        FILE *f = fopen(p, "w");
        CHECK(f);
        CHECK(fputs(text, f) >= 0);
        CHECK(fclose(f) == 0);
}

static char *basic(const char *domains, const char *user, const char *password)
{
        char *s = NULL;
        CHECK(asprintf(&s,
                       "{\"rktKind\": \"auth\", \"rktVersion\": \"v1\", \"domains\": [%s],\n"
                       " \"type\": \"basic\",\n"
                       " \"credentials\": {\"user\": \"%s\", \"password\": \"%s\"}}\n",
                       domains, user, password) > 0);
        return s;
}

static char *oauth(const char *domains, const char *token)
{
        char *s = NULL;
        CHECK(asprintf(&s,
                       "{\"rktKind\": \"auth\", \"rktVersion\": \"v1\", \"domains\": [%s],\n"
                       " \"type\": \"oauth\", \"credentials\": {\"token\": \"%s\"}}\n",
                       domains, token) > 0);
        return s;
}

static void put_basic(const char *dir, const char *name, const char *domains)
{
        _cleanup_(freep) char *s = basic(domains, "alice", SECRET);
        put(dir, name, s);
}

static char log_text[65536];

/* auth_config_load with stderr captured into log_text. */
static int load(const char *sys, const char *loc, auth_config **ret)
{
        fflush(stderr);
        int saved = dup(2);
        CHECK(saved >= 0);
        FILE *tmp = tmpfile();
        CHECK(tmp);
        CHECK(dup2(fileno(tmp), 2) == 2);
        *ret = NULL;
        int r = auth_config_load(sys, loc, ret);
        fflush(stderr);
        CHECK(dup2(saved, 2) == 2);
        close(saved);
        rewind(tmp);
        size_t n = fread(log_text, 1, sizeof(log_text) - 1, tmp);
        log_text[n] = 0;
        fclose(tmp);
        fputs(log_text, stderr); /* for the test log */
        /* Whatever happened, no credential reaches the log. */
        CHECK(!strstr(log_text, SECRET));
        CHECK(!strstr(log_text, "YWxpY2U6czNjcmV0"));
        CHECK(!strstr(log_text, "tok-123"));
        return r;
}

/* Loading must fail, logging an error that names the file. */
static void expect_error(const char *file)
{
        auth_config *a = NULL;
        int r = load(sys_dir, loc_dir, &a);
        if (r >= 0)
                fprintf(stderr, "expected an error for %s\n", file);
        CHECK(r < 0);
        CHECK(!a);
        CHECK(strstr(log_text, "error: "));
        CHECK(strstr(log_text, file));
}

static const char *hdr(const auth_config *a, const char *url)
{
        return auth_config_header_for(a, url);
}

#define CHECK_HDR(a, url, expected)                                                                \
        do {                                                                                       \
                const char *_h = hdr((a), (url)), *_e = (expected);                                \
                if (!_e)                                                                           \
                        CHECK(!_h);                                                                \
                else {                                                                             \
                        CHECK(_h);                                                                 \
                        CHECK_STREQ(_h, _e);                                                       \
                }                                                                                  \
        } while (0)

static void test_basic_and_matching(void)
{
        new_case();
        put_basic(sys_dir, "a.json", "\"example.com\", \"registry.test:8443\", \"[::1]:444\"");
        _cleanup_(auth_config_freep) auth_config *a = NULL;
        CHECK(load(sys_dir, loc_dir, &a) == 0);
        CHECK(!strstr(log_text, "error"));
        CHECK_HDR(a, "https://example.com/x.caidx", ALICE);
        CHECK_HDR(a, "https://example.com", ALICE);
        CHECK_HDR(a, "https://EXAMPLE.COM/x", ALICE);
        CHECK_HDR(a, "HTTPS://Example.Com/x?y#z", ALICE);
        CHECK_HDR(a, "https://someone@example.com/x", ALICE);
        /* Any scheme: the transfer engine decides about plain http. */
        CHECK_HDR(a, "http://example.com/x", ALICE);
        /* The port counts when the URL gives one, as rkt matches url.Host. */
        CHECK_HDR(a, "https://example.com:8443/x", NULL);
        CHECK_HDR(a, "https://example.com:443/x", NULL);
        CHECK_HDR(a, "https://registry.test:8443/x", ALICE);
        CHECK_HDR(a, "https://REGISTRY.test:8443/x", ALICE);
        CHECK_HDR(a, "https://registry.test/x", NULL);
        CHECK_HDR(a, "https://registry.test:8444/x", NULL);
        CHECK_HDR(a, "https://[::1]:444/x", ALICE);
        CHECK_HDR(a, "https://[::1]/x", NULL);
        /* Other hosts, however the name appears in the URL. */
        CHECK_HDR(a, "https://www.example.com/x", NULL);
        CHECK_HDR(a, "https://example.com.evil.test/x", NULL);
        CHECK_HDR(a, "https://evil.test/example.com", NULL);
        CHECK_HDR(a, "https://evil.test/?h=example.com", NULL);
        CHECK_HDR(a, "https://example.com@evil.test/x", NULL);
        CHECK_HDR(a, "https://evil.test#@example.com", NULL);
        CHECK_HDR(a, "not a url", NULL);
        CHECK_HDR(a, "", NULL);
        CHECK_HDR(NULL, "https://example.com/x", NULL);
        CHECK_HDR(a, NULL, NULL);
}

static void test_oauth_and_case(void)
{
        new_case();
        _cleanup_(freep) char *o = oauth("\"Example.COM:8443\"", "tok-123.abc~/+=");
        put(sys_dir, "token.json", o);
        put_basic(sys_dir, "basic.json", "\"example.com\"");
        _cleanup_(auth_config_freep) auth_config *a = NULL;
        CHECK(load(sys_dir, loc_dir, &a) == 0);
        CHECK_HDR(a, "https://example.com:8443/x", BEARER);
        CHECK_HDR(a, "https://EXAMPLE.com:8443/x", BEARER);
        CHECK_HDR(a, "https://example.com/x", ALICE);
        CHECK_HDR(a, "https://example.com:9443/x", NULL);

        /* A user and password with characters outside base64's alphabet. */
        new_case();
        _cleanup_(freep) char *b = basic("\"h.test\"", "bob", "pa55:word\\u00e9");
        put(loc_dir, "b.json", b);
        _cleanup_(auth_config_freep) auth_config *a2 = NULL;
        CHECK(load(NULL, loc_dir, &a2) == 0);
        CHECK_HDR(a2, "https://h.test/", "Authorization: Basic Ym9iOnBhNTU6d29yZMOp");
}

static void test_override(void)
{
        new_case();
        put_basic(sys_dir, "10-sys.json", "\"example.com\", \"only-sys.test\"");
        _cleanup_(freep) char *o = oauth("\"example.com\", \"only-loc.test\"", "tok-123.abc~/+=");
        put(loc_dir, "00-loc.json", o);
        _cleanup_(auth_config_freep) auth_config *a = NULL;
        CHECK(load(sys_dir, loc_dir, &a) == 0);
        /* The local directory wins for the domain it names, and only for that one. */
        CHECK_HDR(a, "https://example.com/x", BEARER);
        CHECK_HDR(a, "https://only-sys.test/x", ALICE);
        CHECK_HDR(a, "https://only-loc.test/x", BEARER);

        /* Either directory alone, or none, and missing auth.d directories. */
        _cleanup_(auth_config_freep) auth_config *s = NULL, *n = NULL, *m = NULL;
        CHECK(load(sys_dir, NULL, &s) == 0);
        CHECK_HDR(s, "https://example.com/x", ALICE);
        CHECK_HDR(s, "https://only-loc.test/x", NULL);
        CHECK(load(NULL, NULL, &n) == 0);
        CHECK_HDR(n, "https://example.com/x", NULL);
        char missing[600];
        snprintf(missing, sizeof(missing), "%s/does-not-exist", root);
        CHECK(load(missing, "/nonexistent/acfetch", &m) == 0);
        CHECK_HDR(m, "https://example.com/x", NULL);
        CHECK(log_text[0] == 0);
}

static void test_duplicates(void)
{
        /* The same domain in two files of one directory. */
        new_case();
        put_basic(loc_dir, "one.json", "\"example.com\"");
        _cleanup_(freep) char *o = oauth("\"other.test\", \"Example.com\"", "tok-123.abc~/+=");
        put(loc_dir, "two.json", o);
        expect_error("two.json");
        CHECK(strstr(log_text, "one.json"));
        CHECK(strstr(log_text, "example.com"));

        /* ... also in the system directory, even though the local one is fine. */
        new_case();
        put_basic(sys_dir, "one.json", "\"example.com\"");
        put_basic(sys_dir, "two.json", "\"example.com\"");
        put_basic(loc_dir, "one.json", "\"example.com\"");
        expect_error("two.json");

        /* Twice in one file. */
        new_case();
        put_basic(sys_dir, "twice.json", "\"example.com\", \"EXAMPLE.com\"");
        expect_error("twice.json");
}

static void test_malformed(void)
{
        static const struct {
                const char *why, *text;
        } bad[] = {
            {"not JSON", "{\"rktKind\": \"auth\", "},
            {"broken near a password",
             "{\"rktKind\":\"auth\",\"rktVersion\":\"v1\",\"domains\":[\"a.test\"],"
             "\"type\":\"basic\",\"credentials\":{\"user\":\"alice\",\"password\":\"" SECRET
             "\\q\"}}"},
            {"trailing data", "{} " SECRET},
            {"empty", ""},
            {"array", "[]"},
            {"duplicate key",
             "{\"rktKind\":\"auth\",\"rktKind\":\"auth\",\"rktVersion\":\"v1\","
             "\"domains\":[\"a.test\"],\"type\":\"oauth\",\"credentials\":{\"token\":\"t\"}}"},
            {"no rktKind", "{\"rktVersion\":\"v1\",\"domains\":[\"a.test\"],\"type\":\"oauth\","
                           "\"credentials\":{\"token\":\"t\"}}"},
            {"unknown rktKind",
             "{\"rktKind\":\"paths\",\"rktVersion\":\"v1\",\"domains\":[\"a.test\"],"
             "\"type\":\"oauth\",\"credentials\":{\"token\":\"t\"}}"},
            {"unknown version",
             "{\"rktKind\":\"auth\",\"rktVersion\":\"v2\",\"domains\":[\"a.test\"],"
             "\"type\":\"oauth\",\"credentials\":{\"token\":\"t\"}}"},
            {"no domains", "{\"rktKind\":\"auth\",\"rktVersion\":\"v1\",\"type\":\"oauth\","
                           "\"credentials\":{\"token\":\"t\"}}"},
            {"empty domains",
             "{\"rktKind\":\"auth\",\"rktVersion\":\"v1\",\"domains\":[],\"type\":\"oauth\","
             "\"credentials\":{\"token\":\"t\"}}"},
            {"domain not a string",
             "{\"rktKind\":\"auth\",\"rktVersion\":\"v1\",\"domains\":[7],\"type\":\"oauth\","
             "\"credentials\":{\"token\":\"t\"}}"},
            {"empty domain", "{\"rktKind\":\"auth\",\"rktVersion\":\"v1\",\"domains\":[\"\"],"
                             "\"type\":\"oauth\",\"credentials\":{\"token\":\"t\"}}"},
            {"URL as a domain",
             "{\"rktKind\":\"auth\",\"rktVersion\":\"v1\",\"domains\":[\"https://a.test\"],"
             "\"type\":\"oauth\",\"credentials\":{\"token\":\"t\"}}"},
            {"bad port",
             "{\"rktKind\":\"auth\",\"rktVersion\":\"v1\",\"domains\":[\"a.test:70000\"],"
             "\"type\":\"oauth\",\"credentials\":{\"token\":\"t\"}}"},
            {"no type", "{\"rktKind\":\"auth\",\"rktVersion\":\"v1\",\"domains\":[\"a.test\"],"
                        "\"credentials\":{\"token\":\"t\"}}"},
            {"unknown type", "{\"rktKind\":\"auth\",\"rktVersion\":\"v1\",\"domains\":[\"a.test\"],"
                             "\"type\":\"digest\",\"credentials\":{\"token\":\"t\"}}"},
            {"no credentials",
             "{\"rktKind\":\"auth\",\"rktVersion\":\"v1\",\"domains\":[\"a.test\"],"
             "\"type\":\"basic\"}"},
            {"empty user",
             "{\"rktKind\":\"auth\",\"rktVersion\":\"v1\",\"domains\":[\"a.test\"],"
             "\"type\":\"basic\",\"credentials\":{\"user\":\"\",\"password\":\"" SECRET "\"}}"},
            {"empty password",
             "{\"rktKind\":\"auth\",\"rktVersion\":\"v1\",\"domains\":[\"a.test\"],"
             "\"type\":\"basic\",\"credentials\":{\"user\":\"alice\",\"password\":\"\"}}"},
            {"no password", "{\"rktKind\":\"auth\",\"rktVersion\":\"v1\",\"domains\":[\"a.test\"],"
                            "\"type\":\"basic\",\"credentials\":{\"user\":\"alice\"}}"},
            {"colon in user",
             "{\"rktKind\":\"auth\",\"rktVersion\":\"v1\",\"domains\":[\"a.test\"],"
             "\"type\":\"basic\",\"credentials\":{\"user\":\"a:b\",\"password\":\"" SECRET "\"}}"},
            {"password not a string",
             "{\"rktKind\":\"auth\",\"rktVersion\":\"v1\",\"domains\":[\"a.test\"],"
             "\"type\":\"basic\",\"credentials\":{\"user\":\"alice\",\"password\":1}}"},
            {"empty token", "{\"rktKind\":\"auth\",\"rktVersion\":\"v1\",\"domains\":[\"a.test\"],"
                            "\"type\":\"oauth\",\"credentials\":{\"token\":\"\"}}"},
            {"token with a line break",
             "{\"rktKind\":\"auth\",\"rktVersion\":\"v1\",\"domains\":[\"a.test\"],"
             "\"type\":\"oauth\",\"credentials\":{\"token\":\"" SECRET "\\r\\nX: y\"}}"},
            {"token with a space",
             "{\"rktKind\":\"auth\",\"rktVersion\":\"v1\",\"domains\":[\"a.test\"],"
             "\"type\":\"oauth\",\"credentials\":{\"token\":\"a " SECRET "\"}}"},
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                fprintf(stderr, "-- malformed: %s\n", bad[i].why);
                new_case();
                /* A good file beside it changes nothing: the whole load fails. */
                put_basic(loc_dir, "good.json", "\"good.test\"");
                put(loc_dir, "bad.json", bad[i].text);
                expect_error("/auth.d/bad.json");
        }

        /* Over 64 KiB, however valid. */
        new_case();
        size_t big = 70 * 1024;
        char *s = malloc(big + 1);
        CHECK(s);
        memset(s, ' ', big);
        s[big] = 0;
        _cleanup_(freep) char *b = basic("\"a.test\"", "alice", SECRET);
        memcpy(s, b, strlen(b));
        put(sys_dir, "big.json", s);
        free(s);
        expect_error("big.json");
}

static char *docker(const char *registries, const char *user, const char *password)
{
        char *s = NULL;
        CHECK(asprintf(&s,
                       "{\"rktKind\":\"dockerAuth\",\"rktVersion\":\"v1\",\"registries\":[%s],"
                       "\"credentials\":{\"user\":\"%s\",\"password\":\"%s\"}}",
                       registries, user, password) > 0);
        return s;
}

#define BOB "Authorization: Basic Ym9iOnMzY3JldA==" /* bob:s3cret */

/* rkt's dockerAuth: a registry's credentials, in a namespace of their own. */
static void test_docker_auth(void)
{
        new_case();
        _cleanup_(freep) char *d = docker("\"quay.io\", \"Registry.test:5000\"", "alice", SECRET);
        put(loc_dir, "docker.json", d);
        put_basic(loc_dir, "ok.json", "\"example.com\"");
        /* A host may have both kinds: no duplicate. */
        _cleanup_(freep) char *b = basic("\"quay.io\"", "bob", SECRET);
        put(loc_dir, "quay-basic.json", b);
        _cleanup_(auth_config_freep) auth_config *a = NULL;
        CHECK(load(sys_dir, loc_dir, &a) == 0);
        CHECK(!strstr(log_text, "warning"));
        CHECK(!strstr(log_text, "error"));
        /* Plain requests get the "auth" entry; registry requests the dockerAuth one. */
        CHECK_HDR(a, "https://example.com/", ALICE);
        CHECK_HDR(a, "https://quay.io/", BOB);
        CHECK_HDR(a, "https://registry.test:5000/v2/", NULL);
        CHECK_STREQ(auth_config_registry_header_for(a, "https://quay.io/v2/x/blobs/y"), ALICE);
        CHECK_STREQ(auth_config_registry_header_for(a, "https://REGISTRY.test:5000/v2/"), ALICE);
        CHECK(!auth_config_registry_header_for(a, "https://registry.test/v2/"));
        /* Without a dockerAuth entry a basic one serves; a bearer one does not. */
        CHECK_STREQ(auth_config_registry_header_for(a, "https://example.com/v2/"), ALICE);

        /* The later directory replaces per registry; twice in one directory is an error. */
        new_case();
        _cleanup_(freep) char *d1 = docker("\"quay.io\"", "bob", SECRET);
        _cleanup_(freep) char *d2 = docker("\"quay.io\"", "alice", SECRET);
        put(sys_dir, "a.json", d1);
        put(loc_dir, "b.json", d2);
        _cleanup_(auth_config_freep) auth_config *c = NULL;
        CHECK(load(sys_dir, loc_dir, &c) == 0);
        CHECK_STREQ(auth_config_registry_header_for(c, "https://quay.io/"), ALICE);
        new_case();
        put(loc_dir, "a.json", d1);
        put(loc_dir, "b.json", d2);
        expect_error("b.json");
        CHECK(strstr(log_text, "registry \"quay.io\" already has credentials in"));
        new_case();
        _cleanup_(freep) char *twice = docker("\"quay.io\", \"QUAY.io\"", "bob", SECRET);
        put(loc_dir, "a.json", twice);
        expect_error("a.json");

        /* Malformed ones. */
        static const char *const bad[] = {
            "{\"rktKind\":\"dockerAuth\",\"rktVersion\":\"v1\",\"registries\":[],"
            "\"credentials\":{\"user\":\"a\",\"password\":\"" SECRET "\"}}",
            "{\"rktKind\":\"dockerAuth\",\"rktVersion\":\"v1\",\"domains\":[\"q.io\"],"
            "\"credentials\":{\"user\":\"a\",\"password\":\"" SECRET "\"}}",
            "{\"rktKind\":\"dockerAuth\",\"rktVersion\":\"v1\",\"registries\":[\"q.io\"],"
            "\"credentials\":{\"user\":\"a\"}}",
            "{\"rktKind\":\"dockerAuth\",\"rktVersion\":\"v1\",\"registries\":[\"q.io\"],"
            "\"credentials\":{\"user\":\"a:b\",\"password\":\"" SECRET "\"}}",
            "{\"rktKind\":\"dockerAuth\",\"rktVersion\":\"v1\",\"registries\":[\"q.io/x\"],"
            "\"credentials\":{\"user\":\"a\",\"password\":\"" SECRET "\"}}",
            "{\"rktKind\":\"dockerAuth\",\"rktVersion\":\"v2\",\"registries\":[\"q.io\"],"
            "\"credentials\":{\"user\":\"a\",\"password\":\"" SECRET "\"}}",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                new_case();
                put(loc_dir, "bad.json", bad[i]);
                expect_error("bad.json");
        }
}

/* S3 keys ("s3", and rkt's "aws"): no Authorization header, a key pair per endpoint. */
static void test_s3(void)
{
        new_case();
        put(sys_dir, "aws.json",
            "{\"rktKind\":\"auth\",\"rktVersion\":\"v1\",\"domains\":[\"s3.test\"],"
            "\"type\":\"aws\",\"credentials\":{\"accessKeyID\":\"AK\",\"secretAccessKey\":\"" SECRET
            "\"}}");
        put(loc_dir, "s3.json",
            "{\"rktKind\":\"auth\",\"rktVersion\":\"v1\",\"domains\":[\"rgw.test:8080\"],"
            "\"type\":\"s3\",\"credentials\":{\"accessKeyID\":\"acct:user\",\"secretAccessKey\":"
            "\"" SECRET "\",\"sessionToken\":\"TOK\",\"region\":\"eu-west-1\"}}");
        _cleanup_(auth_config_freep) auth_config *a = NULL;
        CHECK(load(sys_dir, loc_dir, &a) == 0);
        CHECK(!strstr(log_text, "warning") && !strstr(log_text, "error"));
        CHECK_HDR(a, "https://s3.test/", NULL);
        const s3_key *k = auth_config_s3_for(a, "https://s3.test/bucket/key");
        CHECK(k && strcmp(k->access_key_id, "AK") == 0 &&
              strcmp(k->secret_access_key, SECRET) == 0);
        CHECK(k && !k->session_token && !k->region);
        k = auth_config_s3_for(a, "http://rgw.test:8080/b/k");
        CHECK(k && strcmp(k->access_key_id, "acct:user") == 0);
        CHECK(k && k->session_token && strcmp(k->session_token, "TOK") == 0);
        CHECK(k && k->region && strcmp(k->region, "eu-west-1") == 0);
        CHECK(!auth_config_s3_for(a, "http://rgw.test/b/k"));
        /* s3+ URLs take auth.d's key first, else the environment's. */
        s3_key env = {.access_key_id = "ENV", .secret_access_key = "ENVSECRET"};
        CHECK(s3_key_for(a, &env, "s3+https://s3.test/b/k") ==
              auth_config_s3_for(a, "https://s3.test/"));
        CHECK(s3_key_for(a, &env, "s3+https://other.test/b/k") == &env);
        CHECK(s3_key_for(a, NULL, "s3+https://other.test/b/k") == NULL);

        new_case();
        put(sys_dir, "bad.json",
            "{\"rktKind\":\"auth\",\"rktVersion\":\"v1\",\"domains\":[\"s3.test\"],"
            "\"type\":\"s3\",\"credentials\":{\"accessKeyID\":\"AK\"}}");
        _cleanup_(auth_config_freep) auth_config *b = NULL;
        CHECK(load(sys_dir, NULL, &b) < 0);
        CHECK(strstr(log_text, "bad.json") && strstr(log_text, "secretAccessKey"));

        new_case();
        put(sys_dir, "bad.json",
            "{\"rktKind\":\"auth\",\"rktVersion\":\"v1\",\"domains\":[\"s3.test\"],"
            "\"type\":\"s3\",\"credentials\":{\"accessKeyID\":\"A K\",\"secretAccessKey\":"
            "\"" SECRET "\"}}");
        _cleanup_(auth_config_freep) auth_config *c = NULL;
        CHECK(load(sys_dir, NULL, &c) < 0);
        CHECK(strstr(log_text, "bad.json") && !strstr(log_text, SECRET));
}

/* S3 error documents in words; anything else is just the status. */
static void test_s3_errors(void)
{
        char buf[256];
        static const char doc[] = "<?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code>"
                                  "<Message></Message></Error>";
        s3_describe_error(403, doc, sizeof(doc) - 1, buf, sizeof(buf));
        CHECK(strstr(buf, "HTTP status 403 (S3 SignatureDoesNotMatch): the secret key"));
        static const char other[] = "<Error><Code>Odd</Code><Message>what\nit says</Message>";
        s3_describe_error(400, other, sizeof(other) - 1, buf, sizeof(buf));
        CHECK(strcmp(buf, "HTTP status 400 (S3 Odd): whatit says") == 0);
        s3_describe_error(502, "<html>bad gateway</html>", 24, buf, sizeof(buf));
        CHECK(strcmp(buf, "HTTP status 502") == 0);
        s3_describe_error(403, NULL, 0, buf, sizeof(buf));
        CHECK(strcmp(buf, "HTTP status 403") == 0);
        CHECK(url_is_s3("S3+HTTPS://h/b") && url_is_s3("s3+http://h/b") && !url_is_s3("s3://h/b"));
        CHECK(strcmp(url_transport("s3+https://h/b/k"), "https://h/b/k") == 0);
        CHECK(url_is_remote("https://h/") && url_is_remote("s3+http://h/") &&
              !url_is_remote("file:///x"));
}

static void test_files(void)
{
        char p[800], q[800];

        /* Only *.json, whatever else lies there; no recursion. */
        new_case();
        put(sys_dir, "README", "not json at all");
        put(sys_dir, "x.json~", "{");
        put(sys_dir, "x.JSON", "{");
        put(sys_dir, "json", "{");
        put_basic(sys_dir, ".hidden.json", "\"hidden.test\"");
        snprintf(p, sizeof(p), "%s/auth.d/sub", sys_dir);
        CHECK(mkdir(p, 0755) == 0);
        snprintf(p, sizeof(p), "%s/auth.d/sub/x.json", sys_dir);
        FILE *f = fopen(p, "w");
        CHECK(f && fputs("{", f) >= 0 && fclose(f) == 0);
        _cleanup_(auth_config_freep) auth_config *a = NULL;
        CHECK(load(sys_dir, loc_dir, &a) == 0);
        CHECK(log_text[0] == 0);
        CHECK_HDR(a, "https://hidden.test/", ALICE);

        /* A symlink to a good file is refused, as is one to nowhere. */
        new_case();
        put_basic(sys_dir, "real.txt", "\"example.com\"");
        snprintf(p, sizeof(p), "%s/auth.d/link.json", sys_dir);
        CHECK(symlink("real.txt", p) == 0);
        expect_error("link.json");
        CHECK(strstr(log_text, "symbolic link"));
        new_case();
        snprintf(p, sizeof(p), "%s/auth.d/dangling.json", loc_dir);
        CHECK(symlink("/nonexistent", p) == 0);
        expect_error("dangling.json");

        /* A directory or a FIFO named *.json. */
        new_case();
        snprintf(p, sizeof(p), "%s/auth.d/dir.json", sys_dir);
        CHECK(mkdir(p, 0755) == 0);
        expect_error("dir.json");
        new_case();
        snprintf(p, sizeof(p), "%s/auth.d/fifo.json", sys_dir);
        CHECK(mkfifo(p, 0644) == 0);
        expect_error("fifo.json");
        CHECK(strstr(log_text, "regular file"));

        /* auth.d itself not a directory. */
        new_case();
        snprintf(p, sizeof(p), "%s/auth.d", loc_dir);
        CHECK(rmdir(p) == 0);
        f = fopen(p, "w");
        CHECK(f && fclose(f) == 0);
        snprintf(q, sizeof(q), "%s/auth.d", loc_dir);
        _cleanup_(auth_config_freep) auth_config *b = NULL;
        CHECK(load(sys_dir, loc_dir, &b) < 0);
        CHECK(strstr(log_text, q));
}

/* The WWW-Authenticate challenge, the token service's answer and a registry's errors in words. */
static void test_registry_parsers(void)
{
        registry_challenge c;
        static const char bearer[] =
            "Bearer realm=\"https://auth.test/token\",service=\"registry.test\","
            "scope=\"repository:a/b:pull,push\",error=\"insufficient_scope\"";
        CHECK(registry_challenge_parse(bearer, strlen(bearer), &c) == 0);
        CHECK_EQ_INT(c.scheme, REGISTRY_CHALLENGE_BEARER);
        CHECK_STREQ(c.realm, "https://auth.test/token");
        CHECK_STREQ(c.service, "registry.test");
        CHECK_STREQ(c.scope, "repository:a/b:pull,push");
        static const char two[] = "Basic realm=\"x\", Bearer realm=\"https://a/t\" , scope=s";
        CHECK(registry_challenge_parse(two, strlen(two), &c) == 0);
        CHECK_EQ_INT(c.scheme, REGISTRY_CHALLENGE_BEARER);
        CHECK_STREQ(c.realm, "https://a/t");
        CHECK_STREQ(c.scope, "s");
        static const char basic[] = "basic realm=\"Registry \\\"x\\\"\"";
        CHECK(registry_challenge_parse(basic, strlen(basic), &c) == 0);
        CHECK_EQ_INT(c.scheme, REGISTRY_CHALLENGE_BASIC);
        CHECK_STREQ(c.realm, "Registry \"x\"");
        static const char *const refused[] = {
            "Bearer service=\"x\"", "Negotiate abc==", "Bearer realm=\"unterminated", "", "=x"};
        for (size_t i = 0; i < ELEMENTSOF(refused); i++)
                CHECK(registry_challenge_parse(refused[i], strlen(refused[i]), &c) < 0);

        char *tok = NULL;
        unsigned exp = 0;
        static const char t1[] = "{\"token\":\"abc.def.ghi\",\"expires_in\":300}";
        CHECK(registry_token_parse(t1, strlen(t1), &tok, &exp) == 0);
        CHECK_STREQ(tok, "abc.def.ghi");
        CHECK_EQ_INT(exp, 300);
        free(tok);
        static const char t2[] = "{\"access_token\":\"xyz\"}";
        CHECK(registry_token_parse(t2, strlen(t2), &tok, &exp) == 0);
        CHECK_STREQ(tok, "xyz");
        CHECK_EQ_INT(exp, REGISTRY_TOKEN_LIFETIME_DEFAULT);
        free(tok);
        static const char *const bad_tokens[] = {"{\"token\":\"a b\"}",   "{\"token\":\"\"}",
                                                 "{\"token\":7}",         "[]",
                                                 "{\"token\":\"a\\nb\"}", "not json"};
        for (size_t i = 0; i < ELEMENTSOF(bad_tokens); i++)
                CHECK(registry_token_parse(bad_tokens[i], strlen(bad_tokens[i]), &tok, &exp) < 0);

        char buf[512];
        static const char unauth[] =
            "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"authentication required\"}]}";
        registry_describe_error(401, "r.test:443", false, unauth, strlen(unauth), buf, sizeof(buf));
        CHECK_STREQ(buf, "HTTP status 401 (registry UNAUTHORIZED): the registry wants credentials "
                         "for r.test:443: add a dockerAuth entry to auth.d");
        static const char odd[] =
            "{\"errors\":[{\"code\":\"ODD\",\"message\":\"what\\nit says\"}]}";
        registry_describe_error(400, "r.test:443", true, odd, strlen(odd), buf, sizeof(buf));
        CHECK_STREQ(buf, "HTTP status 400 (registry ODD): whatit says");
        static const char blob[] = "{\"errors\":[{\"code\":\"BLOB_UNKNOWN\"}]}";
        registry_describe_error(404, "r.test:443", true, blob, strlen(blob), buf, sizeof(buf));
        CHECK_STREQ(buf, "HTTP status 404 (registry BLOB_UNKNOWN): the registry at r.test:443 has "
                         "no such blob");
        registry_describe_error(403, "r.test:443", true, NULL, 0, buf, sizeof(buf));
        CHECK(strstr(buf, "HTTP status 403: the credentials for r.test:443 (auth.d) may not"));
        registry_describe_error(502, "r.test:443", false, "<html>", 6, buf, sizeof(buf));
        CHECK_STREQ(buf, "HTTP status 502");
}

int main(void)
{
        CHECK(mkdtemp(root));
        test_basic_and_matching();
        test_oauth_and_case();
        test_override();
        test_duplicates();
        test_malformed();
        test_docker_auth();
        test_registry_parsers();
        test_s3();
        test_s3_errors();
        test_files();
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
        CHECK(system(cmd) == 0);
        return 0;
}
