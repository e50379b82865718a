/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The image manifest: valid examples, one rejection per rule (message checked), matching, and
 * reading a manifest out of a hostile tree. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aci/aci.h"
#include "casync/casync.h"
#include "test.h"

/* Modelled on the appc spec's example manifest (aci.md), with a real imageID. */
static const char example[] =
    "{\n"
    "  \"acKind\": \"ImageManifest\",\n"
    "  \"acVersion\": \"0.8.11\",\n"
    "  \"name\": \"example.com/reduce-worker\",\n"
    "  \"labels\": [\n"
    "    {\"name\": \"version\", \"value\": \"1.0.0\"},\n"
    "    {\"name\": \"arch\", \"value\": \"amd64\"},\n"
    "    {\"name\": \"os\", \"value\": \"linux\"}\n"
    "  ],\n"
    "  \"app\": {\n"
    "    \"exec\": [\"/usr/bin/reduce-worker\", \"--quiet\"],\n"
    "    \"user\": \"100\", \"group\": \"300\",\n"
    "    \"supplementaryGIDs\": [400, 500],\n"
    "    \"eventHandlers\": [\n"
    "      {\"exec\": [\"/usr/bin/data-downloader\"], \"name\": \"pre-start\"},\n"
    "      {\"exec\": [\"/usr/bin/deregister-worker\", \"--verbose\"], \"name\": \"post-stop\"}\n"
    "    ],\n"
    "    \"workingDirectory\": \"/opt/work\",\n"
    "    \"environment\": [{\"name\": \"REDUCE_WORKER_DEBUG\", \"value\": \"true\"}],\n"
    "    \"isolators\": [\n"
    "      {\"name\": \"resource/cpu\", \"value\": {\"request\": \"250m\", \"limit\": \"500m\"}},\n"
    "      {\"name\": \"os/linux/capabilities-retain-set\", \"value\": {\"set\": [\"CAP_A\"]}}\n"
    "    ],\n"
    "    \"mountPoints\": [{\"name\": \"work\", \"path\": \"/var/lib/work\", \"readOnly\": "
    "false}],\n"
    "    \"ports\": [\n"
    "      {\"name\": \"health\", \"port\": 4000, \"protocol\": \"tcp\", \"socketActivated\": "
    "true},\n"
    "      {\"name\": \"ftp-data\", \"port\": 20000, \"count\": 1000, \"protocol\": \"tcp\"}\n"
    "    ]\n"
    "  },\n"
    "  \"dependencies\": [\n"
    "    {\"imageName\": \"example.com/reduce-worker-base\",\n"
    "     \"imageID\": \"sha512-7fa909434c9683e9db38a56a35f83e83\",\n"
    "     \"labels\": [{\"name\": \"os\", \"value\": \"linux\"}, {\"name\": \"env\", \"value\": "
    "\"canary\"}],\n"
    "     \"size\": 22017258}\n"
    "  ],\n"
    "  \"pathWhitelist\": [\"/etc/ca/example.com/crt\", \"/usr/bin/map-reduce-worker\",\n"
    "                    \"/etc/systemd/system/\"],\n"
    "  \"annotations\": [\n"
    "    {\"name\": \"authors\", \"value\": \"Carly Container <carly@example.com>\"},\n"
    "    {\"name\": \"created\", \"value\": \"2014-10-27T19:32:27.67021798Z\"},\n"
    "    {\"name\": \"homepage\", \"value\": \"https://example.com\"}\n"
    "  ],\n"
    "  \"someFutureField\": {\"ignored\": true}\n"
    "}\n";

#define HEAD     "{\"acKind\":\"ImageManifest\",\"acVersion\":\"0.8.11\",\"name\":\"example.com/app\""
#define APP_HEAD HEAD ",\"app\":{\"user\":\"0\",\"group\":\"0\""

/* Runs the parser with stderr captured; returns its result and the message in msg. */
static int parse_capture(const char *json, size_t size, char *msg, size_t msg_size,
                         aci_manifest **ret)
{
        int mfd = memfd_create("stderr", MFD_CLOEXEC);
        CHECK(mfd >= 0);
        fflush(stderr);
        int saved = dup(STDERR_FILENO);
        CHECK(saved >= 0);
        CHECK(dup2(mfd, STDERR_FILENO) == STDERR_FILENO);
        int r = aci_manifest_parse(json, size, "test-manifest", ret);
        fflush(stderr);
        CHECK(dup2(saved, STDERR_FILENO) == STDERR_FILENO);
        close(saved);
        ssize_t n = pread(mfd, msg, msg_size - 1, 0);
        CHECK(n >= 0);
        msg[n] = '\0';
        close(mfd);
        return r;
}

static void expect_bad_sized(const char *json, size_t size, const char *substring, int line)
{
        char msg[8192];
        aci_manifest *m = NULL;
        int r = parse_capture(json, size, msg, sizeof(msg), &m);
        if (r != -EBADMSG || !strstr(msg, substring) || !strstr(msg, "test-manifest")) {
                fprintf(stderr, "line %d: r=%d, message \"%s\", expected -EBADMSG and \"%s\"\n",
                        line, r, msg, substring);
                exit(EXIT_FAILURE);
        }
        /* Exactly one message per failure. */
        CHECK(strchr(msg, '\n') == msg + strlen(msg) - 1);
        CHECK(!m);
}
#define expect_bad(json, substring) expect_bad_sized(json, strlen(json), substring, __LINE__)

static aci_manifest *expect_ok(const char *json)
{
        char msg[8192];
        aci_manifest *m = NULL;
        int r = parse_capture(json, strlen(json), msg, sizeof(msg), &m);
        if (r != 0) {
                fprintf(stderr, "unexpected failure %d: %s", r, msg);
                exit(EXIT_FAILURE);
        }
        return m;
}

static void test_example(void)
{
        _cleanup_(aci_manifest_freep) aci_manifest *m = expect_ok(example);
        size_t n;

        CHECK_STREQ(aci_manifest_name(m), "example.com/reduce-worker");
        CHECK_STREQ(aci_manifest_ac_version(m), "0.8.11");
        const aci_label *l = aci_manifest_labels(m, &n);
        CHECK_EQ_INT(n, 3);
        CHECK_STREQ(l[0].name, "version");
        CHECK_STREQ(aci_manifest_label(m, "os"), "linux");
        CHECK(!aci_manifest_label(m, "channel"));
        CHECK_STREQ(aci_manifest_annotation(m, "homepage"), "https://example.com");

        const aci_app *a = aci_manifest_app(m);
        CHECK(a);
        CHECK_EQ_INT(a->n_exec, 2);
        CHECK_STREQ(a->exec[1], "--quiet");
        CHECK_STREQ(a->user, "100");
        CHECK_STREQ(a->working_directory, "/opt/work");
        CHECK_EQ_INT(a->n_event_handlers, 2);
        CHECK_STREQ(a->event_handlers[1].name, "post-stop");
        CHECK_EQ_INT(a->event_handlers[1].n_exec, 2);
        CHECK_EQ_INT(a->n_environment, 1);
        CHECK_EQ_INT(a->n_isolators, 2);
        CHECK(json_is_object(a->isolators[0].value));
        CHECK_EQ_INT(a->n_mount_points, 1);
        CHECK(!a->mount_points[0].read_only);
        CHECK_EQ_INT(a->n_ports, 2);
        CHECK_EQ_INT(a->ports[0].count, 1);
        CHECK(a->ports[0].socket_activated);
        CHECK_EQ_INT(a->ports[1].port, 20000);
        CHECK_EQ_INT(a->ports[1].count, 1000);
        CHECK_EQ_INT(a->n_supplementary_gids, 2);
        CHECK_EQ_INT(a->supplementary_gids[1], 500);

        const aci_dependency *d = aci_manifest_dependencies(m, &n);
        CHECK_EQ_INT(n, 1);
        CHECK_STREQ(d[0].image_name, "example.com/reduce-worker-base");
        CHECK_STREQ(d[0].image_id, "sha512-7fa909434c9683e9db38a56a35f83e83");
        CHECK_EQ_INT(d[0].n_labels, 2);
        CHECK_STREQ(d[0].labels[1].value, "canary");
        CHECK(d[0].has_size);
        CHECK_EQ_INT(d[0].size, 22017258);

        const char *const *w = aci_manifest_path_whitelist(m, &n);
        CHECK_EQ_INT(n, 3);
        CHECK_STREQ(w[2], "/etc/systemd/system/");

        json_t *j = aci_manifest_json(m);
        CHECK(json_is_object(json_object_get(j, "someFutureField")));
}

static void test_minimal(void)
{
        _cleanup_(aci_manifest_freep) aci_manifest *m = expect_ok(HEAD "}");
        size_t n;
        CHECK_STREQ(aci_manifest_name(m), "example.com/app");
        CHECK(!aci_manifest_app(m));
        CHECK(aci_manifest_labels(m, &n) || n == 0);
        CHECK_EQ_INT(n, 0);
        aci_manifest_dependencies(m, &n);
        CHECK_EQ_INT(n, 0);
        aci_manifest_path_whitelist(m, &n);
        CHECK_EQ_INT(n, 0);

        /* null members count as absent, as in Go; an empty exec is allowed. */
        aci_manifest *m2 = expect_ok(APP_HEAD ",\"exec\":[],\"workingDirectory\":\"\"},"
                                              "\"labels\":null,\"dependencies\":[]}");
        CHECK(aci_manifest_app(m2));
        CHECK(!aci_manifest_app(m2)->working_directory);
        aci_manifest_free(m2);
        /* arch without os is not checked; os alone must be known. */
        aci_manifest_free(expect_ok(HEAD ",\"labels\":[{\"name\":\"arch\",\"value\":\"zz\"}]}"));
        aci_manifest_free(expect_ok(HEAD ",\"labels\":[{\"name\":\"os\",\"value\":\"darwin\"}]}"));
}

static void test_rejects(void)
{
        /* JSON itself */
        expect_bad("{\"acKind\": \"ImageManifest\",\n \"acKind\": \"ImageManifest\"}", "line 2");
        expect_bad("{\"acKind\": \"ImageManifest\",\n \"acKind\": \"ImageManifest\"}",
                   "duplicate object key");
        expect_bad(HEAD "} {}", "invalid JSON at line 1");
        expect_bad(HEAD "}x", "invalid JSON");
        expect_bad(HEAD ",\"labels\":[{\"name\":\"a\",\"value\":\"x\\u0000y\"}]}", "invalid JSON");
        expect_bad("", "invalid JSON");
        expect_bad("[]", "the manifest is not an object");
        expect_bad("{\"acKind\": 'x'}", "line 1, column");
        expect_bad_sized(HEAD "}", strlen(HEAD "}") - 3, "invalid JSON", __LINE__);

        /* acKind, acVersion, name */
        expect_bad("{\"acVersion\":\"0.8.11\",\"name\":\"a\"}", "\"acKind\" is missing");
        expect_bad("{\"acKind\":\"PodManifest\",\"acVersion\":\"0.8.11\",\"name\":\"a\"}",
                   "acKind is \"PodManifest\"");
        expect_bad("{\"acKind\":1,\"acVersion\":\"0.8.11\",\"name\":\"a\"}",
                   "acKind is not a string");
        expect_bad("{\"acKind\":\"ImageManifest\",\"name\":\"a\"}", "\"acVersion\" is missing");
        static const char *bad_versions[] = {"",        "0.8",       "v0.8.11", "0.8.11-",
                                             "01.8.11", "0.8.11-01", "0.8.11+", "0.8.11+a..b",
                                             "0.8.11 ", "0.8.x",     "0..1"};
        for (size_t i = 0; i < ELEMENTSOF(bad_versions); i++) {
                char buf[256];
                snprintf(buf, sizeof(buf),
                         "{\"acKind\":\"ImageManifest\",\"acVersion\":\"%s\",\"name\":\"a\"}",
                         bad_versions[i]);
                expect_bad(buf, "is not a SemVer 2.0.0 version");
        }
        expect_bad("{\"acKind\":\"ImageManifest\",\"acVersion\":\"0.8.11\"}",
                   "\"name\" is missing");
        static const char *bad_names[] = {"",     "Example.com/app", "example.com/", "-a",
                                          "a//b", "a:80/b",          "a b",          "a\\n"};
        for (size_t i = 0; i < ELEMENTSOF(bad_names); i++) {
                char buf[256];
                snprintf(buf, sizeof(buf),
                         "{\"acKind\":\"ImageManifest\",\"acVersion\":\"0.8.11\",\"name\":\"%s\"}",
                         bad_names[i]);
                expect_bad(buf, "is not an AC Identifier");
        }

        /* labels */
        expect_bad(HEAD ",\"labels\":{}}", "labels is not a list");
        expect_bad(HEAD ",\"labels\":[1]}", "labels[0] is not an object");
        expect_bad(HEAD ",\"labels\":[{\"name\":\"a\"}]}", "labels[0].\"value\" is missing");
        expect_bad(HEAD ",\"labels\":[{\"name\":\"a\",\"value\":1}]}",
                   "labels[0].value is not a string");
        expect_bad(HEAD ",\"labels\":[{\"name\":\"A\",\"value\":\"1\"}]}",
                   "labels[0].name \"A\" is not an AC Identifier");
        expect_bad(HEAD ",\"labels\":[{\"name\":\"name\",\"value\":\"1\"}]}",
                   "\"name\" is not allowed as a label name");
        expect_bad(HEAD ",\"labels\":[{\"name\":\"v\",\"value\":\"1\"},{\"name\":\"v\",\"value\":"
                        "\"2\"}]}",
                   "labels: duplicate name \"v\"");
        expect_bad(HEAD ",\"labels\":[{\"name\":\"os\",\"value\":\"plan9\"}]}",
                   "os \"plan9\" is not a known appc OS");
        expect_bad(HEAD ",\"labels\":[{\"name\":\"arch\",\"value\":\"x86_64\"},{\"name\":\"os\","
                        "\"value\":\"linux\"}]}",
                   "arch \"x86_64\" is not valid for os \"linux\"");

        /* app */
        expect_bad(HEAD ",\"app\":[]}", "app is not an object");
        expect_bad(HEAD ",\"app\":{\"group\":\"0\"}}", "app.\"user\" is missing");
        expect_bad(HEAD ",\"app\":{\"user\":\"\",\"group\":\"0\"}}", "app.user is empty");
        expect_bad(HEAD ",\"app\":{\"user\":\"0\"}}", "app.\"group\" is missing");
        expect_bad(HEAD ",\"app\":{\"user\":\"0\",\"group\":\"\"}}", "app.group is empty");
        expect_bad(APP_HEAD ",\"workingDirectory\":\"opt\"}}",
                   "app.workingDirectory \"opt\" is not an absolute path");
        expect_bad(APP_HEAD ",\"exec\":\"/bin/sh\"}}", "app.exec is not a list");
        expect_bad(APP_HEAD ",\"exec\":[\"/bin/sh\",1]}}", "app.exec[1] is not a string");
        expect_bad(APP_HEAD ",\"exec\":[\"sh\"]}}", "app.exec[0] \"sh\" is not an absolute path");
        expect_bad(APP_HEAD ",\"eventHandlers\":[{\"name\":\"pre-start\"},{\"name\":"
                            "\"pre-start\"}]}}",
                   "more than one \"pre-start\"");
        expect_bad(APP_HEAD ",\"eventHandlers\":[{\"name\":\"on-boot\"}]}}",
                   "\"on-boot\" is neither pre-start nor post-stop");
        expect_bad(APP_HEAD ",\"eventHandlers\":[{\"name\":\"pre-start\",\"exec\":[\"x\"]}]}}",
                   "app.eventHandlers[0].exec[0] \"x\" is not an absolute path");
        expect_bad(APP_HEAD ",\"environment\":[{\"name\":\"0X\",\"value\":\"\"}]}}",
                   "\"0X\" is not a valid environment variable name");
        expect_bad(APP_HEAD ",\"environment\":[{\"name\":\"A|B\",\"value\":\"\"}]}}",
                   "\"A|B\" is not a valid environment variable name");
        expect_bad(APP_HEAD ",\"environment\":[{\"name\":\"X\",\"value\":\"\"},{\"name\":\"X\","
                            "\"value\":\"\"}]}}",
                   "app.environment: duplicate name \"X\"");
        expect_bad(APP_HEAD ",\"mountPoints\":[{\"name\":\"Work\",\"path\":\"/w\"}]}}",
                   "app.mountPoints[0].name \"Work\" is not an AC Name");
        expect_bad(APP_HEAD ",\"mountPoints\":[{\"name\":\"a.b\",\"path\":\"/w\"}]}}",
                   "is not an AC Name");
        expect_bad(APP_HEAD ",\"mountPoints\":[{\"name\":\"w\",\"path\":\"\"}]}}",
                   "app.mountPoints[0].path is empty");
        expect_bad(APP_HEAD ",\"mountPoints\":[{\"name\":\"w\",\"path\":\"/w\",\"readOnly\":1}]}}",
                   "readOnly is not a boolean");
        expect_bad(APP_HEAD ",\"ports\":[{\"name\":\"p\",\"protocol\":\"tcp\",\"port\":0}]}}",
                   "app.ports[0].port 0 is out of range 1..65535");
        expect_bad(APP_HEAD ",\"ports\":[{\"name\":\"p\",\"protocol\":\"tcp\",\"port\":65536}]}}",
                   "port 65536 is out of range");
        expect_bad(APP_HEAD ",\"ports\":[{\"name\":\"p\",\"protocol\":\"tcp\",\"port\":1.5}]}}",
                   "port is not an integer");
        expect_bad(APP_HEAD ",\"ports\":[{\"name\":\"p\",\"protocol\":\"tcp\"}]}}",
                   "\"port\" is missing");
        expect_bad(APP_HEAD ",\"ports\":[{\"name\":\"p\",\"protocol\":\"tcp\",\"port\":1,"
                            "\"count\":0}]}}",
                   "count 0 is out of range");
        expect_bad(APP_HEAD ",\"ports\":[{\"name\":\"p\",\"protocol\":\"tcp\",\"port\":65000,"
                            "\"count\":1000}]}}",
                   "ends past 65535");
        expect_bad(APP_HEAD ",\"ports\":[{\"name\":\"p\",\"protocol\":\"\",\"port\":1}]}}",
                   "app.ports[0].protocol is empty");
        expect_bad(APP_HEAD ",\"ports\":[{\"name\":\"P\",\"protocol\":\"tcp\",\"port\":1}]}}",
                   "app.ports[0].name \"P\" is not an AC Name");
        expect_bad(APP_HEAD ",\"isolators\":[{\"name\":\"Resource/CPU\",\"value\":{}}]}}",
                   "app.isolators[0].name \"Resource/CPU\" is not an AC Identifier");
        expect_bad(APP_HEAD ",\"supplementaryGIDs\":[-1]}}",
                   "app.supplementaryGIDs[0] is not a group ID");

        /* annotations */
        expect_bad(HEAD ",\"annotations\":[{\"name\":\"a b\",\"value\":\"\"}]}",
                   "annotations[0].name \"a b\" is not an AC Identifier");
        expect_bad(HEAD ",\"annotations\":[{\"name\":\"a\",\"value\":\"\"},{\"name\":\"a\","
                        "\"value\":\"\"}]}",
                   "annotations: duplicate name \"a\"");
        static const char *bad_dates[] = {"2014-10-27",
                                          "2014-10-27 19:32:27Z",
                                          "2014-13-27T19:32:27Z",
                                          "2014-02-29T19:32:27Z",
                                          "2014-10-27T24:00:00Z",
                                          "2014-10-27T19:32:27",
                                          "2014-10-27T19:32:27.Z",
                                          "2014-10-27T19:32:27+0100",
                                          "yesterday"};
        for (size_t i = 0; i < ELEMENTSOF(bad_dates); i++) {
                char buf[256];
                snprintf(buf, sizeof(buf),
                         HEAD ",\"annotations\":[{\"name\":\"created\",\"value\":\"%s\"}]}",
                         bad_dates[i]);
                expect_bad(buf, "is not an RFC 3339 date");
        }

        /* dependencies */
        expect_bad(HEAD ",\"dependencies\":[{\"imageID\":\"sha512-00\"}]}",
                   "dependencies[0].\"imageName\" is missing");
        expect_bad(HEAD ",\"dependencies\":[{\"imageName\":\"a/\"}]}",
                   "dependencies[0].imageName \"a/\" is not an AC Identifier");
        static const char *bad_ids[] = {"sha512-", "sha512-0", "sha256-00", "sha512-AB",
                                        "sha512-..."};
        for (size_t i = 0; i < ELEMENTSOF(bad_ids); i++) {
                char buf[256];
                snprintf(buf, sizeof(buf),
                         HEAD ",\"dependencies\":[{\"imageName\":\"a\",\"imageID\":\"%s\"}]}",
                         bad_ids[i]);
                expect_bad(buf, "dependencies[0].imageID");
        }
        expect_bad(HEAD ",\"dependencies\":[{\"imageName\":\"a\",\"labels\":[{\"name\":\"name\","
                        "\"value\":\"x\"}]}]}",
                   "dependencies[0].labels[0]: \"name\" is not allowed");
        expect_bad(HEAD ",\"dependencies\":[{\"imageName\":\"a\",\"size\":-1}]}",
                   "dependencies[0].size -1 is out of range");
        expect_bad(HEAD ",\"dependencies\":[{\"imageName\":\"a\",\"size\":\"1\"}]}",
                   "dependencies[0].size is not an integer");
        expect_bad(HEAD ",\"dependencies\":[{\"imageName\":\"a\",\"size\":1e3}]}",
                   "dependencies[0].size is not an integer");
        expect_bad(HEAD ",\"dependencies\":[{\"imageName\":\"a\",\"size\":"
                        "99999999999999999999}]}",
                   "invalid JSON");

        /* pathWhitelist */
        expect_bad(HEAD ",\"pathWhitelist\":[\"/a\",\"b\"]}",
                   "pathWhitelist[1] \"b\" is not an absolute path");

        /* Hostile strings are shown tamed in messages. */
        expect_bad(HEAD ",\"labels\":[{\"name\":\"a\\u001b[31m\",\"value\":\"\"}]}",
                   "\"a?[31m\" is not an AC Identifier");
}

/* Builds HEAD,"key":[elem,elem,...]} with n copies of elem (elem_fmt takes the index). */
static char *build_list(const char *key, const char *elem_fmt, size_t n)
{
        size_t cap = 64 + strlen(HEAD) + strlen(key) + n * (strlen(elem_fmt) + 16);
        char *s = malloc(cap);
        CHECK(s);
        size_t len = (size_t)snprintf(s, cap, HEAD ",\"%s\":[", key);
        for (size_t i = 0; i < n; i++) {
                if (i > 0)
                        s[len++] = ',';
                len += (size_t)snprintf(s + len, cap - len, elem_fmt, i);
        }
        snprintf(s + len, cap - len, "]}");
        return s;
}

static void test_caps(void)
{
        _cleanup_(freep) char *labels =
            build_list("labels", "{\"name\":\"l%zu\",\"value\":\"\"}", ACI_LABELS_MAX + 1);
        expect_bad(labels, "labels has 1025 entries, more than the limit of 1024");
        _cleanup_(freep) char *labels_ok =
            build_list("labels", "{\"name\":\"l%zu\",\"value\":\"\"}", ACI_LABELS_MAX);
        aci_manifest_free(expect_ok(labels_ok));

        _cleanup_(freep) char *deps =
            build_list("dependencies", "{\"imageName\":\"d%zu\"}", ACI_DEPENDENCIES_MAX + 1);
        expect_bad(deps, "dependencies has 257 entries, more than the limit of 256");

        _cleanup_(freep) char *wl =
            build_list("pathWhitelist", "\"/%zu\"", ACI_PATH_WHITELIST_MAX + 1);
        expect_bad(wl, "pathWhitelist has 65537 entries, more than the limit of 65536");

        _cleanup_(freep) char *ann = build_list("annotations", "{\"name\":\"a%zu\",\"value\":\"\"}",
                                                ACI_ANNOTATIONS_MAX + 1);
        expect_bad(ann, "annotations has 1025 entries");

        /* Over the size cap: refused before jansson sees it (not even valid JSON). */
        size_t big = ACI_MANIFEST_SIZE_MAX + 1;
        _cleanup_(freep) char *huge = malloc(big + 1);
        CHECK(huge);
        memset(huge, '[', big);
        huge[big] = '\0';
        expect_bad(huge, "more than the limit of 1048576");

        /* A nesting bomb just under the size cap stops at jansson's depth limit. */
        size_t depth = 100000;
        _cleanup_(freep) char *bomb = malloc(2 * depth + 64);
        CHECK(bomb);
        size_t len = (size_t)sprintf(bomb, "{\"acKind\":");
        memset(bomb + len, '[', depth);
        len += depth;
        memset(bomb + len, ']', depth);
        len += depth;
        strcpy(bomb + len, "}");
        expect_bad(bomb, "maximum parsing depth reached");
}

static void test_matches(void)
{
        _cleanup_(aci_manifest_freep) aci_manifest *m = expect_ok(example);
        _cleanup_(freep) char *why = NULL;

        aci_label want[] = {{"version", "1.0.0"}, {"os", "linux"}};
        CHECK_EQ_INT(aci_manifest_matches(m, "example.com/reduce-worker", want, 2, &why), 1);
        CHECK(!why);
        CHECK_EQ_INT(aci_manifest_matches(m, "example.com/reduce-worker", NULL, 0, NULL), 1);

        CHECK_EQ_INT(aci_manifest_matches(m, "example.com/other", want, 2, &why), 0);
        CHECK_STREQ(why, "manifest name example.com/reduce-worker does not match requested "
                         "example.com/other");
        free(why);

        aci_label v2[] = {{"version", "2.0"}};
        CHECK_EQ_INT(aci_manifest_matches(m, "example.com/reduce-worker", v2, 1, &why), 0);
        CHECK_STREQ(why, "label version=2.0 requested, manifest has version=1.0.0");
        free(why);

        aci_label beta[] = {{"os", "linux"}, {"channel", "beta"}};
        CHECK_EQ_INT(aci_manifest_matches(m, "example.com/reduce-worker", beta, 2, &why), 0);
        CHECK_STREQ(why, "label channel=beta requested, manifest has none");
        free(why);
        why = NULL;
        CHECK_EQ_INT(aci_manifest_matches(m, "example.com/reduce-worker", beta, 2, NULL), 0);
}

static void test_grammar(void)
{
        CHECK(dc_semver_valid("0.8.11"));
        CHECK(dc_semver_valid("1.0.0-alpha.1+build.001"));
        CHECK(dc_semver_valid("1.0.0-0.3.7"));
        CHECK(dc_semver_valid("1.0.0-x-y-z.--"));
        CHECK(!dc_semver_valid("1.0.0-alpha_1"));
        CHECK(dc_identifier_valid("a.b-c_d~e/f0"));
        CHECK(!dc_identifier_valid("a-"));
        CHECK(dc_ac_name_valid("ftp-data"));
        CHECK(!dc_ac_name_valid("ftp--data"));
        CHECK(dc_rfc3339_valid("2016-02-29T00:00:00+05:30"));
        CHECK(dc_rfc3339_valid("2014-10-27t19:32:27z"));
        CHECK(dc_image_id_valid("sha512-00"));
        CHECK(!dc_image_id_valid("sha512-0000000000000000000000000000000000000000000000000000"
                                 "000000000000000000000000000000000000000000000000000000000000"
                                 "00000000000000000"));
        CHECK(dc_os_arch_valid("linux", "s390x"));
        CHECK(dc_os_arch_valid("freebsd", "arm"));
        CHECK(!dc_os_arch_valid("darwin", "amd64"));
        CHECK(!dc_os_arch_valid("windows", NULL));
}

/* Calls load_at with stderr captured; returns its result and the message. */
static int load_capture(int dfd, const char *name, char *msg, size_t msg_size, aci_manifest **m)
{
        int mfd = memfd_create("stderr", MFD_CLOEXEC);
        CHECK(mfd >= 0);
        fflush(stderr);
        int saved = dup(STDERR_FILENO);
        CHECK(dup2(mfd, STDERR_FILENO) == STDERR_FILENO);
        int r = aci_manifest_load_at(dfd, name, "tree/manifest", m);
        fflush(stderr);
        CHECK(dup2(saved, STDERR_FILENO) == STDERR_FILENO);
        close(saved);
        ssize_t n = pread(mfd, msg, msg_size - 1, 0);
        CHECK(n >= 0);
        msg[n] = '\0';
        close(mfd);
        return r;
}

static void expect_load_fails(int dfd, const char *name, int err, const char *substring)
{
        char msg[4096];
        aci_manifest *m = NULL;
        int r = load_capture(dfd, name, msg, sizeof(msg), &m);
        if (r != err || !strstr(msg, substring) || !strstr(msg, "tree/manifest")) {
                fprintf(stderr, "load_at(%s): r=%d, message \"%s\", expected %d and \"%s\"\n", name,
                        r, msg, err, substring);
                exit(EXIT_FAILURE);
        }
        CHECK(!m);
}

static void test_load_at(void)
{
        char dir[] = "/tmp/aci-test-XXXXXX";
        CHECK(mkdtemp(dir));
        _cleanup_(closep) int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(dfd >= 0);

        int fd = openat(dfd, "manifest", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        CHECK(fd >= 0);
        CHECK(write_full(fd, example, strlen(example)) == 0);
        close(fd);
        char msg[4096];
        aci_manifest *m = NULL;
        CHECK_EQ_INT(load_capture(dfd, "manifest", msg, sizeof(msg), &m), 0);
        CHECK_STREQ(aci_manifest_name(m), "example.com/reduce-worker");
        aci_manifest_free(m);

        CHECK(symlinkat("/etc/passwd", dfd, "link") == 0);
        expect_load_fails(dfd, "link", -EBADMSG, "is a symlink");

        /* Opening a FIFO without a writer must neither block nor be read. */
        CHECK(mkfifoat(dfd, "fifo", 0644) == 0);
        expect_load_fails(dfd, "fifo", -EBADMSG, "not a regular file");

        CHECK(mkdirat(dfd, "dir", 0755) == 0);
        expect_load_fails(dfd, "dir", -EBADMSG, "not a regular file");

        fd = openat(dfd, "big", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        CHECK(fd >= 0);
        CHECK(ftruncate(fd, 2 << 20) == 0);
        close(fd);
        expect_load_fails(dfd, "big", -EBADMSG, "2097152 bytes, more than the limit");

        fd = openat(dfd, "bad", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        CHECK(fd >= 0);
        CHECK(write_full(fd, "{\n\n  oops", 9) == 0);
        close(fd);
        expect_load_fails(dfd, "bad", -EBADMSG, "invalid JSON at line 3");

        expect_load_fails(dfd, "missing", -ENOENT, "cannot open");
        expect_load_fails(dfd, "dir/manifest", -EINVAL, "not a single file name");

        const char *names[] = {"manifest", "link", "fifo", "big", "bad"};
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                CHECK(unlinkat(dfd, names[i], 0) == 0);
        CHECK(unlinkat(dfd, "dir", AT_REMOVEDIR) == 0);
        CHECK(rmdir(dir) == 0);
}

int main(void)
{
        test_grammar();
        test_example();
        test_minimal();
        test_rejects();
        test_caps();
        test_matches();
        test_load_at();
        printf("ok\n");
        return 0;
}
