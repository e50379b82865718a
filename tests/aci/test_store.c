/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The image store (libaci) on real files, no network: layout and tmp reclaim, records, ID
 * resolution, lookups, the render list (rkt's order), the pathWhitelist filter, gc, pins (gc
 * keeps what a live process pinned and does not wait for it) and installing rendered trees. Every store lives in a fresh directory under /tmp, removed at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "aci/aci.h"
#include "casync/casync.h"
#include "casync/fs_safe.h"
#include "test.h"

static char root[] = "/tmp/test_aci_store.XXXXXX";

/* ---------------------------------------------------------------- helpers */

static char *strf(const char *fmt, ...) _printf_(1, 2);
static char *strf(const char *fmt, ...)
{
        va_list ap;
        char *s = NULL;
        va_start(ap, fmt);
        int n = vasprintf(&s, fmt, ap);
        va_end(ap);
        CHECK(n >= 0);
        return s;
}

static char *xstrdup(const char *s)
{
        char *d = strdup(s);
        CHECK(d);
        return d;
}

static bool exists(const char *path)
{
        struct stat st;
        return lstat(path, &st) == 0;
}

/* The permission bits of a directory (which must exist and be one). */
static mode_t dir_mode(const char *path)
{
        struct stat st;
        CHECK(lstat(path, &st) == 0);
        CHECK(S_ISDIR(st.st_mode));
        return st.st_mode & 07777;
}

static bool is_regular(const char *path)
{
        struct stat st;
        return lstat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static void write_file(const char *path, const char *content)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
        CHECK(fd >= 0);
        CHECK(write_full(fd, content, strlen(content)) == 0);
        CHECK(close(fd) == 0);
}

static char *read_file(const char *path)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        CHECK(fd >= 0);
        struct stat st;
        CHECK(fstat(fd, &st) == 0);
        char *buf = malloc((size_t)st.st_size + 1);
        CHECK(buf);
        CHECK(read_full(fd, buf, (size_t)st.st_size) == 0);
        buf[st.st_size] = '\0';
        close(fd);
        return buf;
}

static void make_dir(const char *path)
{
        CHECK(mkdir(path, 0755) == 0);
}

/* Number of entries in a directory besides "." and "..". */
static size_t count_entries(const char *path)
{
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(fd >= 0);
        DIR *d = fs_opendir_at(fd);
        CHECK(d);
        size_t n = 0;
        struct dirent *de;
        while (fs_readdir(d, &de) > 0)
                n++;
        closedir(d);
        close(fd);
        return n;
}

/* stderr goes to a memfd between capture_begin and capture_end (which returns what was said). */
static int capture_fd = -1, capture_saved = -1;

static void capture_begin(void)
{
        CHECK(capture_fd < 0);
        capture_fd = memfd_create("stderr", MFD_CLOEXEC);
        CHECK(capture_fd >= 0);
        fflush(stderr);
        capture_saved = dup(STDERR_FILENO);
        CHECK(capture_saved >= 0);
        CHECK(dup2(capture_fd, STDERR_FILENO) == STDERR_FILENO);
}

static char *capture_end(void)
{
        fflush(stderr);
        CHECK(dup2(capture_saved, STDERR_FILENO) == STDERR_FILENO);
        close(capture_saved);
        struct stat st;
        CHECK(fstat(capture_fd, &st) == 0);
        char *msg = malloc((size_t)st.st_size + 1);
        CHECK(msg);
        ssize_t n = pread(capture_fd, msg, (size_t)st.st_size, 0);
        CHECK(n == st.st_size);
        msg[n] = '\0';
        close(capture_fd);
        capture_fd = capture_saved = -1;
        return msg;
}

/* "sha512-" + hex + `fill` up to 128 hex digits. */
static void make_id(char id[ACI_ID_SIZE], const char *hex, char fill)
{
        size_t n = strlen(hex);
        CHECK(n <= 128);
        memcpy(id, "sha512-", 7);
        memcpy(id + 7, hex, n);
        memset(id + 7 + n, fill, 128 - n);
        id[ACI_ID_SIZE - 1] = '\0';
        CHECK(dc_image_id_valid(id));
}

/* A record with owned strings; labels are name/value pairs. */
static void record_init(aci_image_record *r, const char *id, const char *name,
                        const aci_label *labels, size_t n_labels)
{
        *r = (aci_image_record){.max_age = -1};
        snprintf(r->id, sizeof(r->id), "%s", id);
        aci_key_from_id(id, r->key);
        r->name = xstrdup(name);
        r->labels = calloc(n_labels + 1, sizeof(aci_label));
        CHECK(r->labels);
        for (size_t i = 0; i < n_labels; i++) {
                r->labels[i].name = xstrdup(labels[i].name);
                r->labels[i].value = xstrdup(labels[i].value);
        }
        r->n_labels = n_labels;
        memset(r->index_digest, 'd', 64);
        r->index_digest[64] = '\0';
}

static void check_optional_str(const char *got, const char *want)
{
        if (!want)
                CHECK(got == NULL);
        else {
                CHECK(got != NULL);
                CHECK_STREQ(got, want);
        }
}

static void check_record(const aci_image_record *got, const aci_image_record *want)
{
        CHECK_STREQ(got->id, want->id);
        CHECK_STREQ(got->key, want->key);
        CHECK_STREQ(got->name, want->name);
        CHECK_EQ_INT(got->n_labels, want->n_labels);
        for (size_t i = 0; i < want->n_labels; i++) {
                CHECK_STREQ(got->labels[i].name, want->labels[i].name);
                CHECK_STREQ(got->labels[i].value, want->labels[i].value);
        }
        check_optional_str(got->index_url, want->index_url);
        check_optional_str(got->etag, want->etag);
        CHECK_EQ_INT(got->max_age, want->max_age);
        CHECK_EQ_INT(got->fetched, want->fetched);
        CHECK(got->size == want->size);
        CHECK_EQ_INT(got->latest, want->latest);
        CHECK_STREQ(got->index_digest, want->index_digest);
}

/* A manifest for name and labels, with raw JSON for dependencies and pathWhitelist (or NULL). */
static char *manifest_json(const char *name, const aci_label *labels, size_t n_labels,
                           const char *deps, const char *whitelist)
{
        char *l = xstrdup("");
        for (size_t i = 0; i < n_labels; i++) {
                char *m = strf("%s%s{\"name\":\"%s\",\"value\":\"%s\"}", l, i ? "," : "",
                               labels[i].name, labels[i].value);
                free(l);
                l = m;
        }
        char *j = strf("{\"acKind\":\"ImageManifest\",\"acVersion\":\"0.8.11\",\"name\":\"%s\","
                       "\"labels\":[%s]%s%s%s%s%s%s}",
                       name, l, deps ? ",\"dependencies\":[" : "", deps ? deps : "",
                       deps ? "]" : "", whitelist ? ",\"pathWhitelist\":[" : "",
                       whitelist ? whitelist : "", whitelist ? "]" : "");
        free(l);
        aci_manifest *m = NULL;
        CHECK_EQ_INT(aci_manifest_parse(j, strlen(j), "test", &m), 0); /* the test's own input */
        aci_manifest_free(m);
        return j;
}

/*
 * Adds an image with a parsed manifest; the index is `index` (or a dummy). Returns its key in
 * key (when non-NULL).
 */
static void add_image_full(aci_store *s, const char *id, const char *name, const aci_label *labels,
                           size_t n_labels, const char *deps, const char *whitelist,
                           int64_t fetched, bool latest, const char *url, const void *index,
                           size_t index_size, char key[ACI_KEY_SIZE])
{
        aci_image_record r;
        record_init(&r, id, name, labels, n_labels);
        r.fetched = fetched;
        r.latest = latest;
        /* Both set: records with neither are test_records' business. */
        r.index_url = url ? xstrdup(url) : strf("file:///images/%s.caidx", r.key);
        r.etag = xstrdup("\"etag\"");
        _cleanup_(freep) char *m = manifest_json(name, labels, n_labels, deps, whitelist);
        if (!index) {
                index = "dummy index";
                index_size = strlen(index);
        }
        CHECK_EQ_INT(aci_store_add(s, &r, index, index_size, m, strlen(m)), 0);
        if (key)
                memcpy(key, r.key, ACI_KEY_SIZE);
        aci_image_record_done(&r);
}

static void add_image(aci_store *s, const char *id, const char *name, const aci_label *labels,
                      size_t n_labels, const char *deps, int64_t fetched, bool latest,
                      const char *url)
{
        add_image_full(s, id, name, labels, n_labels, deps, NULL, fetched, latest, url, NULL, 0,
                       NULL);
}

static void remove_store(const char *dir)
{
        int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(fd >= 0);
        CHECK(strncmp(dir, root, strlen(root)) == 0 && dir[strlen(root)] == '/');
        CHECK_EQ_INT(fs_remove_tree_at(fd, dir + strlen(root) + 1), 0);
        close(fd);
}

/* ---------------------------------------------------------------- 1. open, layout, tmp */

static void test_open(void)
{
        _cleanup_(freep) char *parent = strf("%s/open", root);
        _cleanup_(freep) char *dir = strf("%s/open/nested/store", root);
        aci_store *a = NULL;
        CHECK_EQ_INT(aci_store_open(dir, &a), 0);
        CHECK_STREQ(aci_store_path(a), dir);
        CHECK(aci_store_fd(a) >= 0);
        CHECK(aci_store_chunks(a) != NULL);
        _cleanup_(freep) char *chunks = strf("%s/chunks", dir);
        CHECK_STREQ(ca_store_path(aci_store_chunks(a)), chunks);

        /* The store 0700, its parents 0755, every part of the layout there. */
        CHECK_EQ_INT(dir_mode(dir), 0700);
        CHECK_EQ_INT(dir_mode(parent), 0755);
        const char *subs[] = {"chunks", "images", "trees", "locks", "tmp"};
        for (size_t i = 0; i < ELEMENTSOF(subs); i++) {
                _cleanup_(freep) char *p = strf("%s/%s", dir, subs[i]);
                mode_t m = dir_mode(p);
                if (strcmp(subs[i], "chunks") != 0)
                        CHECK_EQ_INT(m, 0700);
        }
        _cleanup_(freep) char *lock = strf("%s/locks/store.lock", dir);
        CHECK(is_regular(lock));
        _cleanup_(freep) char *tmp = strf("%s/tmp", dir);
        CHECK_EQ_INT(count_entries(tmp), 0);

        /* A's own work directory: created once, locked, kept while A lives. */
        int a_fd = -1, a_fd2 = -1;
        const char *a_path = NULL, *a_path2 = NULL;
        CHECK_EQ_INT(aci_store_tmp(a, &a_fd, &a_path), 0);
        CHECK(a_fd >= 0);
        _cleanup_(freep) char *work_prefix = strf("%s/tmp/work-", dir);
        CHECK(strncmp(a_path, work_prefix, strlen(work_prefix)) == 0);
        CHECK_EQ_INT(dir_mode(a_path), 0700);
        CHECK_EQ_INT(aci_store_tmp(a, &a_fd2, &a_path2), 0);
        CHECK_EQ_INT(a_fd2, a_fd);
        CHECK(a_path2 == a_path);
        _cleanup_(freep) char *a_work = xstrdup(a_path);

        /* seeds/: created 0700 on first use, fd and path kept by the store. */
        _cleanup_(freep) char *seeds = strf("%s/seeds", dir);
        CHECK(!exists(seeds));
        int sd_fd = -1, sd_fd2 = -1;
        const char *sd_path = NULL;
        CHECK_EQ_INT(aci_store_seeds(a, &sd_fd, &sd_path), 0);
        CHECK(sd_fd >= 0);
        CHECK_STREQ(sd_path, seeds);
        CHECK_EQ_INT(dir_mode(seeds), 0700);
        CHECK_EQ_INT(aci_store_seeds(a, &sd_fd2, NULL), 0);
        CHECK_EQ_INT(sd_fd2, sd_fd);
        _cleanup_(freep) char *a_file = strf("%s/in-progress", a_work);
        write_file(a_file, "A is working");

        /* A stale work directory (nobody holds its lock), with content. */
        _cleanup_(freep) char *stale = strf("%s/tmp/work-stale1", dir);
        _cleanup_(freep) char *stale_sub = strf("%s/sub", stale);
        _cleanup_(freep) char *stale_file = strf("%s/sub/file", stale);
        make_dir(stale);
        make_dir(stale_sub);
        write_file(stale_file, "left behind");

        /* Opening B reclaims the stale one, not A's (locked by A). */
        aci_store *b = NULL;
        CHECK_EQ_INT(aci_store_open(dir, &b), 0);
        CHECK(!exists(stale));
        CHECK(exists(a_work));
        CHECK(is_regular(a_file));
        int b_fd = -1;
        const char *b_path = NULL;
        CHECK_EQ_INT(aci_store_tmp(b, &b_fd, &b_path), 0);
        CHECK(strcmp(b_path, a_work) != 0);
        CHECK(b_fd != a_fd);
        _cleanup_(freep) char *b_work = xstrdup(b_path);
        CHECK_EQ_INT(count_entries(tmp), 2);

        /* A third store sees both work directories locked. */
        aci_store *c = NULL;
        CHECK_EQ_INT(aci_store_open(dir, &c), 0);
        CHECK(exists(a_work));
        CHECK(exists(b_work));
        aci_store_free(c);

        /* Freeing a store removes its own work directory only. */
        aci_store_free(b);
        CHECK(!exists(b_work));
        CHECK(exists(a_work));
        aci_store_free(a);
        CHECK(!exists(a_work));
        CHECK_EQ_INT(count_entries(tmp), 0);

        /* The only process: the exclusive lock is there at once. */
        CHECK_EQ_INT(aci_store_open(dir, &a), 0);
        CHECK_EQ_INT(aci_store_lock_exclusive(a), 0);
        aci_store_free(a);

        /* "Creating, 0700" holds however the path is spelled. */
        _cleanup_(freep) char *slash = strf("%s/slash/", root);
        _cleanup_(freep) char *slash_dir = strf("%s/slash", root);
        CHECK_EQ_INT(aci_store_open(slash, &a), 0);
        aci_store_free(a);
        CHECK_EQ_INT(dir_mode(slash_dir), 0700);

        remove_store(parent);
        remove_store(slash_dir);
}

/* ---------------------------------------------------------------- 2. records */

static void test_records(void)
{
        _cleanup_(freep) char *dir = strf("%s/records", root);
        _cleanup_(aci_store_freep) aci_store *s = NULL;
        CHECK_EQ_INT(aci_store_open(dir, &s), 0);

        char id_a[ACI_ID_SIZE], id_b[ACI_ID_SIZE], id_c[ACI_ID_SIZE];
        make_id(id_a, "a1", '7');
        make_id(id_b, "b2", '8');
        make_id(id_c, "c3", '9');
        const aci_label la[] = {
            {"version", "1.0.0"}, {"os", "linux"}, {"note", "a \"q\" \xc3\xa9"}};
        aci_image_record a, b;
        record_init(&a, id_a, "example.com/app", la, ELEMENTSOF(la));
        a.index_url = xstrdup("https://example.com/app-1.0.0-linux-amd64.caidx");
        a.etag = xstrdup("\"etag-1\"");
        a.max_age = 3600;
        a.fetched = 1700000000;
        a.size = UINT64_C(123456789012);
        a.latest = true;
        snprintf(a.index_digest, sizeof(a.index_digest), "%s",
                 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
        record_init(&b, id_b, "example.com/local", NULL, 0);
        b.index_url = xstrdup("file:///srv/local.caidx");
        b.etag = xstrdup("W/\"weak\"");
        b.fetched = 5;

        /* The key is "sha512-" and the first 64 hex digits of the ID. */
        char key_a[ACI_KEY_SIZE];
        aci_key_from_id(id_a, key_a);
        CHECK_EQ_INT(strlen(key_a), 71);
        CHECK(strncmp(key_a, id_a, 71) == 0);
        CHECK_STREQ(a.key, key_a);

        CHECK_EQ_INT(aci_store_add(s, &a, "INDEX-A", 7, "MANIFEST-A", 10), 0);
        CHECK_EQ_INT(aci_store_add(s, &b, "INDEX-B", 7, "MANIFEST-B", 10), 0);

        /* The files are there, under images/<key>. */
        _cleanup_(freep) char *a_dir = strf("%s/images/%s", dir, a.key);
        _cleanup_(freep) char *a_index = aci_store_image_file(s, a.key, "index.caidx");
        _cleanup_(freep) char *a_manifest = aci_store_image_file(s, a.key, "manifest");
        _cleanup_(freep) char *a_json = aci_store_image_file(s, a.key, "image.json");
        _cleanup_(freep) char *want_index = strf("%s/index.caidx", a_dir);
        CHECK_STREQ(a_index, want_index);
        CHECK_EQ_INT(dir_mode(a_dir), 0755);
        _cleanup_(freep) char *t1 = read_file(a_index);
        _cleanup_(freep) char *t2 = read_file(a_manifest);
        CHECK_STREQ(t1, "INDEX-A");
        CHECK_STREQ(t2, "MANIFEST-A");
        CHECK(is_regular(a_json));
        /* No temp directories or files left behind. */
        _cleanup_(freep) char *images = strf("%s/images", dir);
        CHECK_EQ_INT(count_entries(images), 2);
        CHECK_EQ_INT(count_entries(a_dir), 3);

        /* get by key and by full ID: every field. */
        aci_image_record got;
        CHECK_EQ_INT(aci_store_get(s, a.key, &got), 0);
        check_record(&got, &a);
        aci_image_record_done(&got);
        CHECK_EQ_INT(aci_store_get(s, a.id, &got), 0);
        check_record(&got, &a);
        aci_image_record_done(&got);
        CHECK_EQ_INT(aci_store_get(s, b.key, &got), 0);
        check_record(&got, &b);
        CHECK_EQ_INT(got.max_age, -1);
        aci_image_record_done(&got);
        CHECK_EQ_INT(aci_store_get(s, id_c, &got), -ENOENT);
        CHECK_EQ_INT(aci_store_get(s, "sha512-a1", &got), -EINVAL);
        CHECK_EQ_INT(aci_store_get(s, "../../etc", &got), -EINVAL);

        /* list: both, each with every field. */
        aci_image_record *list = NULL;
        size_t n = 0;
        CHECK_EQ_INT(aci_store_list(s, &list, &n), 0);
        CHECK_EQ_INT(n, 2);
        for (size_t i = 0; i < n; i++)
                check_record(&list[i], strcmp(list[i].key, a.key) == 0 ? &a : &b);
        CHECK(strcmp(list[0].key, list[1].key) != 0);
        aci_image_records_free(list, n);

        /* Adding the same key again replaces the record only. */
        aci_image_record a2;
        record_init(&a2, id_a, "example.com/app", la, 2);
        a2.index_url = xstrdup("https://example.com/other.caidx");
        a2.etag = xstrdup("\"etag-2\"");
        a2.max_age = 60;
        a2.fetched = 1700000999;
        a2.size = 42;
        a2.latest = false;
        memset(a2.index_digest, 'e', 64);
        CHECK_EQ_INT(aci_store_add(s, &a2, "INDEX-A2", 8, "MANIFEST-A2", 11), 0);
        CHECK_EQ_INT(aci_store_get(s, a.key, &got), 0);
        check_record(&got, &a2);
        aci_image_record_done(&got);
        _cleanup_(freep) char *t3 = read_file(a_index);
        _cleanup_(freep) char *t4 = read_file(a_manifest);
        CHECK_STREQ(t3, "INDEX-A");
        CHECK_STREQ(t4, "MANIFEST-A");
        CHECK_EQ_INT(count_entries(images), 2);
        CHECK_EQ_INT(count_entries(a_dir), 3);

        /* update_record rewrites it too. */
        a2.fetched = 1800000000;
        a2.latest = true;
        CHECK_EQ_INT(aci_store_update_record(s, &a2), 0);
        CHECK_EQ_INT(aci_store_get(s, a.id, &got), 0);
        check_record(&got, &a2);
        aci_image_record_done(&got);
        CHECK_EQ_INT(count_entries(a_dir), 3);

        /* A corrupt record is skipped by list, with a warning naming it; get says -EBADMSG. */
        _cleanup_(freep) char *b_json = aci_store_image_file(s, b.key, "image.json");
        write_file(b_json, "{\"id\": \"sha512-b2\", oops");
        /* A record under the wrong key, an image directory without a record, a temp name. */
        char key_c[ACI_KEY_SIZE];
        aci_key_from_id(id_c, key_c);
        _cleanup_(freep) char *c_dir = strf("%s/images/%s", dir, key_c);
        _cleanup_(freep) char *c_json = strf("%s/image.json", c_dir);
        make_dir(c_dir);
        _cleanup_(freep) char *a_text = read_file(a_json);
        write_file(c_json, a_text);
        char id_d[ACI_ID_SIZE], key_d[ACI_KEY_SIZE];
        make_id(id_d, "d4", '0');
        aci_key_from_id(id_d, key_d);
        _cleanup_(freep) char *d_dir = strf("%s/images/%s", dir, key_d);
        make_dir(d_dir);
        _cleanup_(freep) char *new_dir = strf("%s/images/.new-abcdef", dir);
        make_dir(new_dir);

        capture_begin();
        int r = aci_store_list(s, &list, &n);
        _cleanup_(freep) char *msg = capture_end();
        CHECK_EQ_INT(r, 0);
        CHECK_EQ_INT(n, 1);
        CHECK_STREQ(list[0].key, a.key);
        aci_image_records_free(list, n);
        _cleanup_(freep) char *w1 = strf("warning: %s/images/%s: skipped", dir, b.key);
        _cleanup_(freep) char *w2 = strf("warning: %s/images/%s: skipped", dir, key_c);
        _cleanup_(freep) char *w3 = strf("warning: %s/images/%s: skipped", dir, key_d);
        if (!strstr(msg, w1) || !strstr(msg, w2) || !strstr(msg, w3) || strstr(msg, ".new-")) {
                fprintf(stderr, "unexpected list messages:\n%s", msg);
                exit(EXIT_FAILURE);
        }
        capture_begin();
        CHECK_EQ_INT(aci_store_get(s, b.key, &got), -EBADMSG);
        CHECK_EQ_INT(aci_store_get(s, key_c, &got), -EBADMSG);
        CHECK_EQ_INT(aci_store_get(s, key_d, &got), -EBADMSG);
        free(capture_end());

        /* remove: images/<key> and trees/<key>, nothing else. */
        _cleanup_(freep) char *tree = aci_store_tree_path(s, a.key);
        _cleanup_(freep) char *want_tree = strf("%s/trees/%s", dir, a.key);
        CHECK_STREQ(tree, want_tree);
        _cleanup_(freep) char *tree_rootfs = strf("%s/rootfs", tree);
        _cleanup_(freep) char *tree_file = strf("%s/rootfs/file", tree);
        make_dir(tree);
        make_dir(tree_rootfs);
        write_file(tree_file, "x");
        CHECK_EQ_INT(aci_store_remove(s, a.key), 0);
        CHECK(!exists(a_dir));
        CHECK(!exists(tree));
        CHECK(exists(c_dir));
        CHECK_EQ_INT(aci_store_get(s, a.key, &got), -ENOENT);
        CHECK_EQ_INT(aci_store_remove(s, a.key), 0); /* already gone */
        CHECK_EQ_INT(aci_store_remove(s, a.id), -EINVAL);
        CHECK_EQ_INT(aci_store_remove(s, ".."), -EINVAL);
        CHECK(exists(images));

        aci_image_record_done(&a);
        aci_image_record_done(&a2);
        aci_image_record_done(&b);
        s = aci_store_free(s);
        remove_store(dir);
}

/* A local import has no index URL, a response may have no ETag: such records read back too. */
static void test_record_optional(void)
{
        _cleanup_(freep) char *dir = strf("%s/optional", root);
        _cleanup_(aci_store_freep) aci_store *s = NULL;
        CHECK_EQ_INT(aci_store_open(dir, &s), 0);
        char id_l[ACI_ID_SIZE], id_n[ACI_ID_SIZE];
        make_id(id_l, "0a", 'f');
        make_id(id_n, "0b", 'f');
        aci_image_record local, no_etag, got;
        record_init(&local, id_l, "example.com/imported", NULL, 0);
        record_init(&no_etag, id_n, "example.com/fetched", NULL, 0);
        no_etag.index_url = xstrdup("https://example.com/fetched.caidx");
        no_etag.fetched = 7;
        CHECK_EQ_INT(aci_store_add(s, &local, "I", 1, "M", 1), 0);
        CHECK_EQ_INT(aci_store_add(s, &no_etag, "I", 1, "M", 1), 0);

        capture_begin();
        int r1 = aci_store_get(s, local.key, &got);
        _cleanup_(freep) char *msg = capture_end();
        if (r1 != 0) {
                fprintf(stderr, "record without indexURL and etag: get returned %d: %s", r1, msg);
                exit(EXIT_FAILURE);
        }
        check_record(&got, &local);
        CHECK(got.index_url == NULL && got.etag == NULL);
        aci_image_record_done(&got);
        CHECK_EQ_INT(aci_store_get(s, no_etag.key, &got), 0);
        check_record(&got, &no_etag);
        aci_image_record_done(&got);
        aci_image_record *list = NULL;
        size_t n = 0;
        CHECK_EQ_INT(aci_store_list(s, &list, &n), 0);
        CHECK_EQ_INT(n, 2);
        aci_image_records_free(list, n);
        CHECK_EQ_INT(aci_store_find_by_url(s, "https://example.com/fetched.caidx", &got), 0);
        CHECK_STREQ(got.key, no_etag.key);
        aci_image_record_done(&got);
        CHECK_EQ_INT(aci_store_find(s, "example.com/imported", NULL, 0, &got), 0);
        CHECK_STREQ(got.key, local.key);
        aci_image_record_done(&got);

        aci_image_record_done(&local);
        aci_image_record_done(&no_etag);
        s = aci_store_free(s);
        remove_store(dir);
}

/* ---------------------------------------------------------------- 3. resolving IDs */

static void expect_resolve(aci_store *s, const char *id, int want, const char *want_key,
                           const char *msg_part)
{
        aci_image_record r = {.max_age = -1};
        capture_begin();
        int k = aci_store_resolve_id(s, id, &r);
        _cleanup_(freep) char *msg = capture_end();
        if (k != want || (msg_part && !strstr(msg, msg_part)) || (!msg_part && msg[0])) {
                fprintf(stderr, "resolve %s: %d (expected %d), message \"%s\"\n", id, k, want, msg);
                exit(EXIT_FAILURE);
        }
        if (want_key) {
                CHECK_STREQ(r.key, want_key);
                CHECK_EQ_INT(strncmp(r.id, want_key, ACI_KEY_SIZE - 1), 0);
                aci_image_record_done(&r);
        }
}

static void test_resolve(void)
{
        _cleanup_(freep) char *dir = strf("%s/resolve", root);
        _cleanup_(aci_store_freep) aci_store *s = NULL;
        CHECK_EQ_INT(aci_store_open(dir, &s), 0);
        char x[ACI_ID_SIZE], y[ACI_ID_SIZE], z[ACI_ID_SIZE];
        char kx[ACI_KEY_SIZE], ky[ACI_KEY_SIZE], kz[ACI_KEY_SIZE];
        make_id(x, "abcd1", '1');
        make_id(y, "abcd2", '2');
        make_id(z, "ef", '3');
        aci_key_from_id(x, kx);
        aci_key_from_id(y, ky);
        aci_key_from_id(z, kz);
        add_image(s, x, "example.com/x", NULL, 0, NULL, 1, false, NULL);
        add_image(s, y, "example.com/y", NULL, 0, NULL, 2, false, NULL);
        add_image(s, z, "example.com/z", NULL, 0, NULL, 3, false, NULL);

        expect_resolve(s, x, 0, kx, NULL);
        expect_resolve(s, y, 0, ky, NULL);
        expect_resolve(s, kz, 0, kz, NULL);
        expect_resolve(s, "sha512-ef", 0, kz, NULL);
        expect_resolve(s, "sha512-abcd1", 0, kx, NULL);
        expect_resolve(s, "sha512-abcd2222", 0, ky, NULL);
        expect_resolve(s, "sha512-abcd", -ENOTUNIQ, NULL, "sha512-abcd: ambiguous image ID");
        expect_resolve(s, "sha512-ab", -ENOTUNIQ, NULL, "ambiguous");
        expect_resolve(s, "sha512-abcd3", -ENOENT, NULL, "sha512-abcd3: no such image");
        expect_resolve(s, "sha512-99", -ENOENT, NULL, "no such image");
        expect_resolve(s, "sha512-a", -EINVAL, NULL, "not an image ID");
        expect_resolve(s, "sha512-", -EINVAL, NULL, "not an image ID");
        expect_resolve(s, "sha256-abcd1", -EINVAL, NULL, "not an image ID");
        expect_resolve(s, "abcd1", -EINVAL, NULL, "not an image ID");
        expect_resolve(s, "sha512-ABCD1", -EINVAL, NULL, "not an image ID");
        expect_resolve(s, "example.com/x", -EINVAL, NULL, "not an image ID");

        /* The quiet variant answers the same, silently. */
        aci_image_record r;
        capture_begin();
        CHECK_EQ_INT(aci_store_resolve_id_quiet(s, "sha512-99", &r), -ENOENT);
        CHECK_EQ_INT(aci_store_resolve_id_quiet(s, "sha512-abcd", &r), -ENOTUNIQ);
        CHECK_EQ_INT(aci_store_resolve_id_quiet(s, "nope", &r), -EINVAL);
        CHECK_EQ_INT(aci_store_resolve_id_quiet(s, "sha512-abcd1", &r), 0);
        _cleanup_(freep) char *msg = capture_end();
        CHECK_STREQ(msg, "");
        CHECK_STREQ(r.key, kx);
        CHECK_STREQ(r.name, "example.com/x");
        aci_image_record_done(&r);

        s = aci_store_free(s);
        remove_store(dir);
}

/* ---------------------------------------------------------------- 4. lookups */

static void expect_find(aci_store *s, const char *name, const aci_label *labels, size_t n, int want,
                        const char *want_key)
{
        aci_image_record r;
        int k = aci_store_find(s, name, labels, n, &r);
        if (k != want) {
                fprintf(stderr, "find %s (%zu labels): %d, expected %d\n", name, n, k, want);
                exit(EXIT_FAILURE);
        }
        if (k == 0) {
                if (strcmp(r.key, want_key) != 0) {
                        fprintf(stderr, "find %s (%zu labels): %s, expected %s\n", name, n, r.key,
                                want_key);
                        exit(EXIT_FAILURE);
                }
                CHECK_STREQ(r.name, name);
                aci_image_record_done(&r);
        }
}

static void test_find(void)
{
        _cleanup_(freep) char *dir = strf("%s/find", root);
        _cleanup_(aci_store_freep) aci_store *s = NULL;
        CHECK_EQ_INT(aci_store_open(dir, &s), 0);
        const char *app = "example.com/app";
        const char *u1 = "https://example.com/app-latest.caidx";
        const char *u2 = "https://example.com/app-2.0.0.caidx";
        char p1[ACI_ID_SIZE], p2[ACI_ID_SIZE], p3[ACI_ID_SIZE], p4[ACI_ID_SIZE], o[ACI_ID_SIZE];
        char k1[ACI_KEY_SIZE], k2[ACI_KEY_SIZE], k3[ACI_KEY_SIZE], k4[ACI_KEY_SIZE];
        make_id(p1, "01", 'a');
        make_id(p2, "02", 'b');
        make_id(p3, "03", 'c');
        make_id(p4, "04", 'd');
        make_id(o, "05", 'e');
        aci_key_from_id(p1, k1);
        aci_key_from_id(p2, k2);
        aci_key_from_id(p3, k3);
        aci_key_from_id(p4, k4);
        const aci_label l1[] = {{"version", "1.0.0"}, {"os", "linux"}, {"arch", "amd64"}};
        const aci_label l2[] = {{"version", "2.0.0"}, {"os", "linux"}, {"arch", "amd64"}};
        const aci_label l3[] = {{"version", "2.0.0"}, {"os", "linux"}, {"arch", "aarch64"}};
        const aci_label l4[] = {{"version", "3.0.0"}, {"os", "freebsd"}, {"arch", "amd64"}};
        /* p1: fetched as latest long ago; p2, p3: 2.0.0, newer; p4: another OS, newest. */
        add_image(s, p1, app, l1, 3, NULL, 100, true, u1);
        add_image(s, p2, app, l2, 3, NULL, 200, false, u2);
        add_image(s, p3, app, l3, 3, NULL, 150, true, u1);
        add_image(s, p4, app, l4, 3, NULL, 400, false, NULL);
        /* Same labels, another name, newest of all and latest. */
        add_image(s, o, "example.com/app2", l2, 3, NULL, 999, true, u2);

        const aci_label linux_amd64[] = {{"os", "linux"}, {"arch", "amd64"}};
        const aci_label v2[] = {{"version", "2.0.0"}};
        const aci_label v2_arm[] = {{"version", "2.0.0"}, {"arch", "aarch64"}};
        const aci_label v1[] = {{"version", "1.0.0"}};
        const aci_label arm[] = {{"arch", "aarch64"}};
        const aci_label freebsd[] = {{"os", "freebsd"}};
        const aci_label darwin[] = {{"os", "darwin"}};
        const aci_label other[] = {{"os", "linux"}, {"libc", "musl"}};
        const aci_label v2_bad[] = {{"version", "2.0.0"}, {"os", "freebsd"}};

        /* No version asked: latest ones first (p1, p3), the most recent of those (p3). */
        expect_find(s, app, NULL, 0, 0, k3);
        /* linux/amd64: p1 (latest, 100) beats p2 (newer, not latest). */
        expect_find(s, app, linux_amd64, 2, 0, k1);
        /* arm64: only p3. freebsd: only p4 (not latest, but the only match). */
        expect_find(s, app, arm, 1, 0, k3);
        expect_find(s, app, freebsd, 1, 0, k4);
        /* A version asked: the most recently fetched wins, latest or not (p2 200 > p3 150). */
        expect_find(s, app, v2, 1, 0, k2);
        expect_find(s, app, v2_arm, 2, 0, k3);
        expect_find(s, app, v1, 1, 0, k1);
        /* Every label must match; a label the image lacks is a mismatch. */
        expect_find(s, app, darwin, 1, -ENOENT, NULL);
        expect_find(s, app, other, 2, -ENOENT, NULL);
        expect_find(s, app, v2_bad, 2, -ENOENT, NULL);
        expect_find(s, "example.com/none", NULL, 0, -ENOENT, NULL);
        expect_find(s, "example.com", NULL, 0, -ENOENT, NULL);

        /* By URL: the most recently fetched from it. */
        aci_image_record r;
        CHECK_EQ_INT(aci_store_find_by_url(s, u1, &r), 0);
        CHECK_STREQ(r.key, k3);
        CHECK_STREQ(r.index_url, u1);
        aci_image_record_done(&r);
        CHECK_EQ_INT(aci_store_find_by_url(s, u2, &r), 0);
        CHECK_STREQ(r.id, o);
        aci_image_record_done(&r);
        CHECK_EQ_INT(aci_store_find_by_url(s, "https://example.com/none.caidx", &r), -ENOENT);
        CHECK_EQ_INT(aci_store_find_by_url(s, "", &r), -ENOENT);

        /* A revalidation of p1 makes it the most recent for u1. */
        CHECK_EQ_INT(aci_store_get(s, k1, &r), 0);
        r.fetched = 500;
        CHECK_EQ_INT(aci_store_update_record(s, &r), 0);
        aci_image_record_done(&r);
        CHECK_EQ_INT(aci_store_find_by_url(s, u1, &r), 0);
        CHECK_STREQ(r.key, k1);
        aci_image_record_done(&r);
        expect_find(s, app, NULL, 0, 0, k1);

        s = aci_store_free(s);
        remove_store(dir);
}

/* ---------------------------------------------------------------- 5. the render list */

static void expect_build_fails(aci_store *s, const char *key, int want, const char *msg_part)
{
        aci_image_record top;
        CHECK_EQ_INT(aci_store_get(s, key, &top), 0);
        aci_render_list l = {};
        capture_begin();
        int r = aci_render_list_build(s, &top, &l);
        _cleanup_(freep) char *msg = capture_end();
        if (r != want || !strstr(msg, msg_part)) {
                fprintf(stderr, "render list of %s: %d (expected %d), message \"%s\"\n", top.name,
                        r, want, msg);
                exit(EXIT_FAILURE);
        }
        CHECK(l.items == NULL && l.n == 0);
        aci_image_record_done(&top);
}

static void check_item(const aci_render_list *l, size_t i, const char *key, ssize_t parent,
                       unsigned depth)
{
        CHECK(i < l->n);
        const aci_render_item *it = &l->items[i];
        if (strcmp(it->record.key, key) != 0) {
                fprintf(stderr, "render list item %zu is %s (%s), expected %s\n", i, it->record.key,
                        it->record.name, key);
                exit(EXIT_FAILURE);
        }
        CHECK_EQ_INT(it->parent, parent);
        CHECK_EQ_INT(it->depth, depth);
        CHECK(it->manifest != NULL);
        CHECK_STREQ(aci_manifest_name(it->manifest), it->record.name);
}

static void build_list(aci_store *s, const char *key, aci_render_list *l)
{
        aci_image_record top;
        CHECK_EQ_INT(aci_store_get(s, key, &top), 0);
        CHECK_EQ_INT(aci_render_list_build(s, &top, l), 0);
        aci_image_record_done(&top);
}

static void test_render_list(void)
{
        _cleanup_(freep) char *dir = strf("%s/render", root);
        _cleanup_(aci_store_freep) aci_store *s = NULL;
        CHECK_EQ_INT(aci_store_open(dir, &s), 0);

        char ia[ACI_ID_SIZE], ib[ACI_ID_SIZE], ib3[ACI_ID_SIZE], ic[ACI_ID_SIZE], id[ACI_ID_SIZE],
            id2[ACI_ID_SIZE];
        char ka[ACI_KEY_SIZE], kb[ACI_KEY_SIZE], kc[ACI_KEY_SIZE], kd[ACI_KEY_SIZE],
            kd2[ACI_KEY_SIZE];
        make_id(ia, "a0", '1');
        make_id(ib, "b0", '2');
        make_id(ib3, "b3", '2');
        make_id(ic, "c0", '3');
        make_id(id, "d0d0d0d0d0", '4');
        make_id(id2, "d0d0d0d0d1", '5');
        aci_key_from_id(ia, ka);
        aci_key_from_id(ib, kb);
        aci_key_from_id(ic, kc);
        aci_key_from_id(id, kd);
        aci_key_from_id(id2, kd2);
        const aci_label v1[] = {{"version", "1"}}, v2[] = {{"version", "2"}},
                        v3[] = {{"version", "3"}};

        /* A: B (version 2) then C. B: D (version 1). A decoy B (version 3) and D (version 2),
         * latest and newest, which a lookup without labels would pick. */
        add_image(s, ia, "example.com/a", v1, 1,
                  "{\"imageName\":\"example.com/b\",\"labels\":[{\"name\":\"version\","
                  "\"value\":\"2\"}]},{\"imageName\":\"example.com/c\"}",
                  10, true, NULL);
        add_image(s, ib, "example.com/b", v2, 1,
                  "{\"imageName\":\"example.com/d\",\"labels\":[{\"name\":\"version\","
                  "\"value\":\"1\"}]}",
                  10, false, NULL);
        add_image(s, ib3, "example.com/b", v3, 1, NULL, 20, true, NULL);
        add_image(s, ic, "example.com/c", NULL, 0, NULL, 10, true, NULL);
        add_image(s, id, "example.com/d", v1, 1, NULL, 10, false, NULL);
        add_image(s, id2, "example.com/d", v2, 1, NULL, 20, true, NULL);

        aci_render_list l = {};
        build_list(s, ka, &l);
        CHECK_EQ_INT(l.n, 4);
        check_item(&l, 0, ka, -1, 0);
        check_item(&l, 1, kc, 0, 1);
        check_item(&l, 2, kb, 0, 1);
        check_item(&l, 3, kd, 2, 2);
        aci_render_list_done(&l);
        CHECK(l.items == NULL && l.n == 0);

        /* A leaf alone. */
        build_list(s, kc, &l);
        CHECK_EQ_INT(l.n, 1);
        check_item(&l, 0, kc, -1, 0);
        aci_render_list_done(&l);

        /* By imageID (a prefix): D, although the name alone would find D2. */
        char ie[ACI_ID_SIZE], ke[ACI_KEY_SIZE];
        make_id(ie, "e0", '6');
        aci_key_from_id(ie, ke);
        add_image(s, ie, "example.com/e", NULL, 0,
                  "{\"imageName\":\"example.com/d\",\"imageID\":\"sha512-d0d0d0d0d0\"},"
                  "{\"imageName\":\"example.com/d\"}",
                  10, false, NULL);
        build_list(s, ke, &l);
        CHECK_EQ_INT(l.n, 3);
        check_item(&l, 0, ke, -1, 0);
        check_item(&l, 1, kd2, 0, 1);
        check_item(&l, 2, kd, 0, 1);
        aci_render_list_done(&l);

        /* Failures: an ambiguous or missing ID, a missing name, an ID naming another image. */
        char i_bad[ACI_ID_SIZE], k_bad[ACI_KEY_SIZE];
        make_id(i_bad, "f0", '7');
        aci_key_from_id(i_bad, k_bad);
        add_image(s, i_bad, "example.com/f", NULL, 0,
                  "{\"imageName\":\"example.com/d\",\"imageID\":\"sha512-d0d0\"}", 10, false, NULL);
        expect_build_fails(s, k_bad, -ENOTUNIQ, "ambiguous");
        CHECK_EQ_INT(aci_store_remove(s, k_bad), 0);
        add_image(s, i_bad, "example.com/f", NULL, 0,
                  "{\"imageName\":\"example.com/d\",\"imageID\":\"sha512-d0d0ff\"}", 10, false,
                  NULL);
        expect_build_fails(s, k_bad, -ENOENT, "example.com/d (sha512-d0d0ff) is not in the store");
        CHECK_EQ_INT(aci_store_remove(s, k_bad), 0);
        add_image(s, i_bad, "example.com/f", NULL, 0, "{\"imageName\":\"example.com/nope\"}", 10,
                  false, NULL);
        expect_build_fails(s, k_bad, -ENOENT, "dependency example.com/nope is not in the store");
        CHECK_EQ_INT(aci_store_remove(s, k_bad), 0);
        add_image(s, i_bad, "example.com/f", NULL, 0,
                  "{\"imageName\":\"example.com/d\",\"labels\":[{\"name\":\"version\","
                  "\"value\":\"9\"}]}",
                  10, false, NULL);
        expect_build_fails(s, k_bad, -ENOENT, "dependency example.com/d is not in the store");
        CHECK_EQ_INT(aci_store_remove(s, k_bad), 0);
        add_image(s, i_bad, "example.com/f", NULL, 0,
                  "{\"imageName\":\"example.com/c\",\"imageID\":\"sha512-d0d0d0d0d0\"}", 10, false,
                  NULL);
        expect_build_fails(s, k_bad, -EBADMSG, "which is named example.com/d");
        CHECK_EQ_INT(aci_store_remove(s, k_bad), 0);

        /* Cycles: X -> Y -> X, and S -> S. */
        char ix[ACI_ID_SIZE], iy[ACI_ID_SIZE], is[ACI_ID_SIZE];
        char kx[ACI_KEY_SIZE], ky[ACI_KEY_SIZE], ks[ACI_KEY_SIZE];
        make_id(ix, "1a", '8');
        make_id(iy, "1b", '8');
        make_id(is, "1c", '8');
        aci_key_from_id(ix, kx);
        aci_key_from_id(iy, ky);
        aci_key_from_id(is, ks);
        add_image(s, ix, "example.com/x", NULL, 0, "{\"imageName\":\"example.com/y\"}", 10, false,
                  NULL);
        add_image(s, iy, "example.com/y", NULL, 0, "{\"imageName\":\"example.com/x\"}", 10, false,
                  NULL);
        add_image(s, is, "example.com/s", NULL, 0,
                  "{\"imageName\":\"example.com/s\",\"imageID\":\"sha512-1c\"}", 10, false, NULL);
        expect_build_fails(s, kx, -EBADMSG, "dependency cycle through example.com/x");
        expect_build_fails(s, ky, -EBADMSG, "dependency cycle through example.com/y");
        expect_build_fails(s, ks, -EBADMSG, "dependency cycle through example.com/s");

        /* Depth: a chain l0 -> l1 -> ... -> l9. From l1 the deepest is at depth 8: fine. */
        char chain_keys[10][ACI_KEY_SIZE];
        for (int i = 0; i < 10; i++) {
                char cid[ACI_ID_SIZE], hex[8], name[32];
                snprintf(hex, sizeof(hex), "2%d", i);
                snprintf(name, sizeof(name), "example.com/l%d", i);
                make_id(cid, hex, '9');
                aci_key_from_id(cid, chain_keys[i]);
                _cleanup_(freep) char *dep =
                    i < 9 ? strf("{\"imageName\":\"example.com/l%d\"}", i + 1) : NULL;
                add_image(s, cid, name, NULL, 0, dep, 10, false, NULL);
        }
        build_list(s, chain_keys[1], &l);
        CHECK_EQ_INT(l.n, 9);
        for (size_t i = 0; i < 9; i++)
                check_item(&l, i, chain_keys[i + 1], (ssize_t)i - 1, (unsigned)i);
        aci_render_list_done(&l);
        expect_build_fails(s, chain_keys[0], -EBADMSG, "deeper than 8 levels");

        /* Count: ACI_RENDER_IMAGES_MAX images in all is fine, one more is not. */
        _cleanup_(freep) char *deps = xstrdup("");
        for (int i = 0; i < ACI_RENDER_IMAGES_MAX; i++) {
                char *m = strf("%s%s{\"imageName\":\"example.com/c\"}", deps, i ? "," : "");
                free(deps);
                deps = m;
                if (i == ACI_RENDER_IMAGES_MAX - 2) {
                        char iw[ACI_ID_SIZE], kw[ACI_KEY_SIZE];
                        make_id(iw, "3a", '0');
                        aci_key_from_id(iw, kw);
                        add_image(s, iw, "example.com/wide", NULL, 0, deps, 10, false, NULL);
                        build_list(s, kw, &l);
                        CHECK_EQ_INT(l.n, ACI_RENDER_IMAGES_MAX);
                        check_item(&l, 0, kw, -1, 0);
                        for (size_t k = 1; k < l.n; k++)
                                check_item(&l, k, kc, 0, 1);
                        aci_render_list_done(&l);
                }
        }
        char iw[ACI_ID_SIZE], kw[ACI_KEY_SIZE];
        make_id(iw, "3b", '0');
        aci_key_from_id(iw, kw);
        add_image(s, iw, "example.com/wider", NULL, 0, deps, 10, false, NULL);
        expect_build_fails(s, kw, -EBADMSG, "more than 64 images");

        /* The top image itself gone. */
        aci_image_record gone;
        CHECK_EQ_INT(aci_store_get(s, ka, &gone), 0);
        CHECK_EQ_INT(aci_store_remove(s, ka), 0);
        CHECK(aci_render_list_build(s, &gone, &l) < 0);
        CHECK(l.items == NULL);
        aci_image_record_done(&gone);

        s = aci_store_free(s);
        remove_store(dir);
}

/* ---------------------------------------------------------------- 6. pathWhitelist */

static int filter(const aci_whitelist *w, const char *path, mode_t mode)
{
        ca_node n = {.path = path, .mode = mode};
        const char *slash = strrchr(path, '/');
        n.name = slash ? slash + 1 : path;
        return aci_whitelist_filter((void *)w, &n);
}

static void test_whitelist(void)
{
        const char *own[] = {"/bin/sh", "/etc/passwd", "/manifest"};
        const char *anc[] = {"/bin/sh", "/bin/ls", "/lib/libc.so"};
        aci_whitelist none = {}, w;

        /* No lists: everything passes. */
        CHECK_EQ_INT(filter(&none, "rootfs/bin/ls", S_IFREG | 0755), 1);
        CHECK_EQ_INT(filter(&none, "manifest", S_IFREG | 0644), 1);
        none.rerooted = true;
        CHECK_EQ_INT(filter(&none, "bin/ls", S_IFREG | 0755), 1);

        /* Own list only, not rerooted. */
        w = (aci_whitelist){.own = own, .n_own = 2};
        CHECK_EQ_INT(filter(&w, "rootfs/bin/sh", S_IFREG | 0755), 1);
        CHECK_EQ_INT(filter(&w, "rootfs/etc/passwd", S_IFLNK | 0777), 1);
        CHECK_EQ_INT(filter(&w, "rootfs/bin/ls", S_IFREG | 0755), 0);
        CHECK_EQ_INT(filter(&w, "rootfs/bin/sh/x", S_IFREG | 0755), 0);
        CHECK_EQ_INT(filter(&w, "rootfs/bin", S_IFREG | 0755), 0);
        CHECK_EQ_INT(filter(&w, "rootfs/sh", S_IFREG | 0755), 0);
        CHECK_EQ_INT(filter(&w, "rootfs/dev/null", S_IFCHR | 0666), 0);
        CHECK_EQ_INT(filter(&w, "rootfs/run/fifo", S_IFIFO | 0600), 0);
        CHECK_EQ_INT(filter(&w, "rootfs/manifest", S_IFREG | 0644), 0);
        /* Directories always pass, listed or not; so do the root, rootfs and the manifest. */
        CHECK_EQ_INT(filter(&w, "rootfs/bin", S_IFDIR | 0755), 1);
        CHECK_EQ_INT(filter(&w, "rootfs/var/empty", S_IFDIR | 0755), 1);
        CHECK_EQ_INT(filter(&w, "rootfs", S_IFDIR | 0755), 1);
        CHECK_EQ_INT(filter(&w, ".", S_IFDIR | 0755), 1);
        CHECK_EQ_INT(filter(&w, "manifest", S_IFREG | 0644), 1);

        /* Rerooted: paths are below rootfs, and "manifest" is a file of rootfs like any other. */
        w.rerooted = true;
        CHECK_EQ_INT(filter(&w, "bin/sh", S_IFREG | 0755), 1);
        CHECK_EQ_INT(filter(&w, "etc/passwd", S_IFREG | 0644), 1);
        CHECK_EQ_INT(filter(&w, "bin/ls", S_IFREG | 0755), 0);
        CHECK_EQ_INT(filter(&w, "rootfs/bin/sh", S_IFREG | 0755), 0);
        CHECK_EQ_INT(filter(&w, "manifest", S_IFREG | 0644), 0);
        CHECK_EQ_INT(filter(&w, "bin", S_IFDIR | 0755), 1);
        CHECK_EQ_INT(filter(&w, ".", S_IFDIR | 0755), 1);
        w.n_own = 3; /* "/manifest" listed */
        CHECK_EQ_INT(filter(&w, "manifest", S_IFREG | 0644), 1);

        /* Ancestor's list only. */
        w = (aci_whitelist){.ancestor = anc, .n_ancestor = 3};
        CHECK_EQ_INT(filter(&w, "rootfs/bin/sh", S_IFREG | 0755), 1);
        CHECK_EQ_INT(filter(&w, "rootfs/lib/libc.so", S_IFLNK | 0777), 1);
        CHECK_EQ_INT(filter(&w, "rootfs/etc/passwd", S_IFREG | 0644), 0);
        CHECK_EQ_INT(filter(&w, "rootfs/etc", S_IFDIR | 0755), 1);
        CHECK_EQ_INT(filter(&w, "manifest", S_IFREG | 0644), 1);
        w.rerooted = true;
        CHECK_EQ_INT(filter(&w, "bin/ls", S_IFREG | 0755), 1);
        CHECK_EQ_INT(filter(&w, "etc/passwd", S_IFREG | 0644), 0);
        CHECK_EQ_INT(filter(&w, "manifest", S_IFREG | 0644), 0);

        /* Both: a file must be on both lists. */
        w = (aci_whitelist){.own = own, .n_own = 2, .ancestor = anc, .n_ancestor = 3};
        CHECK_EQ_INT(filter(&w, "rootfs/bin/sh", S_IFREG | 0755), 1);
        CHECK_EQ_INT(filter(&w, "rootfs/bin/ls", S_IFREG | 0755), 0);
        CHECK_EQ_INT(filter(&w, "rootfs/etc/passwd", S_IFREG | 0644), 0);
        CHECK_EQ_INT(filter(&w, "rootfs/lib/libc.so", S_IFREG | 0644), 0);
        CHECK_EQ_INT(filter(&w, "rootfs/usr", S_IFDIR | 0755), 1);
        CHECK_EQ_INT(filter(&w, "manifest", S_IFREG | 0644), 1);
        w.rerooted = true;
        CHECK_EQ_INT(filter(&w, "bin/sh", S_IFREG | 0755), 1);
        CHECK_EQ_INT(filter(&w, "bin/ls", S_IFREG | 0755), 0);
        CHECK_EQ_INT(filter(&w, "etc/passwd", S_IFREG | 0644), 0);
        CHECK_EQ_INT(filter(&w, "usr", S_IFDIR | 0755), 1);
}

/* ---------------------------------------------------------------- 7. gc */

static void chunk_id(ca_chunk_id *id, uint8_t first, uint8_t rest)
{
        memset(id->bytes, rest, sizeof(id->bytes));
        id->bytes[0] = id->bytes[1] = first;
}

/* A serialized index listing ids (16 bytes each). */
static void *make_index(const ca_chunk_id *ids, size_t n, size_t *ret_size)
{
        ca_index_item items[8];
        CHECK(n <= ELEMENTSOF(items));
        for (size_t i = 0; i < n; i++)
                items[i] = (ca_index_item){.offset = 16 * i, .size = 16, .id = ids[i]};
        ca_index idx = {
            .feature_flags =
                CA_FORMAT_SHA512_256 | CA_FORMAT_EXCLUDE_NODUMP | CA_FORMAT_EXCLUDE_FILE,
            .chunk_size_min = 1,
            .chunk_size_avg = 64,
            .chunk_size_max = 64,
            .n_items = n,
            .items = items,
            .total_size = 16 * n,
        };
        void *buf = NULL;
        CHECK_EQ_INT(ca_index_serialize(&idx, &buf, ret_size), 0);
        ca_index *check = NULL;
        CHECK_EQ_INT(ca_index_parse(buf, *ret_size, "test index", &check), 0);
        CHECK_EQ_INT(check->n_items, n);
        ca_index_free(check);
        return buf;
}

static char *chunk_path(const char *dir, const ca_chunk_id *id)
{
        char hex[CA_CHUNK_ID_HEX_SIZE];
        ca_chunk_id_to_hex(id, hex);
        return strf("%s/chunks/%.4s/%s.cacnk", dir, hex, hex);
}

static uint64_t file_size(const char *path)
{
        struct stat st;
        CHECK(lstat(path, &st) == 0);
        return (uint64_t)st.st_size;
}

/* The lines of out, each of which must be one of want[], each of want[] exactly once. */
static void check_lines(const char *out, char **want, size_t n)
{
        size_t lines = 0;
        for (const char *p = out; *p; p = strchr(p, '\n') + 1) {
                CHECK(strchr(p, '\n'));
                lines++;
        }
        bool ok = lines == n;
        for (size_t i = 0; ok && i < n; i++) {
                _cleanup_(freep) char *line = strf("%s\n", want[i]);
                const char *at = strstr(out, line);
                ok = at && (at == out || at[-1] == '\n') && !strstr(at + 1, line);
        }
        if (!ok) {
                fprintf(stderr, "gc listed:\n%sexpected %zu lines:\n", out, n);
                for (size_t i = 0; i < n; i++)
                        fprintf(stderr, "%s\n", want[i]);
                exit(EXIT_FAILURE);
        }
}

static void test_gc(void)
{
        _cleanup_(freep) char *dir = strf("%s/gc", root);
        _cleanup_(aci_store_freep) aci_store *s = NULL;
        CHECK_EQ_INT(aci_store_open(dir, &s), 0);
        ca_store *chunks = aci_store_chunks(s);

        /* id1, id2, id3 referenced; id4 (beside id1 in chunks/1111) and id5 (alone) not. */
        ca_chunk_id ids[5];
        chunk_id(&ids[0], 0x11, 0x01);
        chunk_id(&ids[1], 0x22, 0x02);
        chunk_id(&ids[2], 0x33, 0x03);
        chunk_id(&ids[3], 0x11, 0x04);
        chunk_id(&ids[4], 0x55, 0x05);
        char data[4096];
        memset(data, 'x', sizeof(data));
        for (size_t i = 0; i < 5; i++) {
                for (size_t k = 0; k < sizeof(data); k += 7)
                        data[k] = (char)(i * 31 + k);
                CHECK_EQ_INT(ca_store_put(chunks, &ids[i], data, 100 + 900 * i), 0);
        }
        char *paths[5];
        for (size_t i = 0; i < 5; i++) {
                paths[i] = chunk_path(dir, &ids[i]);
                CHECK(is_regular(paths[i]));
        }
        uint64_t unref_bytes = file_size(paths[3]) + file_size(paths[4]);

        size_t n1, n2;
        _cleanup_(freep) void *index1 = make_index((ca_chunk_id[]){ids[0], ids[1]}, 2, &n1);
        _cleanup_(freep) void *index2 = make_index((ca_chunk_id[]){ids[1], ids[2]}, 2, &n2);
        char ip[ACI_ID_SIZE], iq[ACI_ID_SIZE], io[ACI_ID_SIZE];
        char kp[ACI_KEY_SIZE], kq[ACI_KEY_SIZE], ko[ACI_KEY_SIZE];
        make_id(ip, "70", '1');
        make_id(iq, "71", '2');
        make_id(io, "72", '3'); /* never stored: its tree is an orphan */
        aci_key_from_id(io, ko);
        add_image_full(s, ip, "example.com/p", NULL, 0, NULL, NULL, 1, true, NULL, index1, n1, kp);
        add_image_full(s, iq, "example.com/q", NULL, 0, NULL, NULL, 1, true, NULL, index2, n2, kq);

        /* A temp file of an interrupted chunk write, and a file gc does not know. */
        char hex1[CA_CHUNK_ID_HEX_SIZE];
        ca_chunk_id_to_hex(&ids[0], hex1);
        _cleanup_(freep) char *tmp_rel = strf("chunks/1111/%s.0123456789abcdef.tmp", hex1);
        _cleanup_(freep) char *tmp_file = strf("%s/%s", dir, tmp_rel);
        _cleanup_(freep) char *notes = strf("%s/chunks/1111/notes", dir);
        write_file(tmp_file, "partial");
        /* Left by a writer killed two hours ago; a young one may be a mount's download. */
        struct timespec old[2] = {{.tv_sec = time(NULL) - 7200}, {.tv_sec = time(NULL) - 7200}};
        CHECK(utimensat(AT_FDCWD, tmp_file, old, 0) == 0);
        _cleanup_(freep) char *young_tmp =
            strf("%s/chunks/1111/%s.fedcba9876543210.tmp", dir, hex1);
        write_file(young_tmp, "in progress");
        write_file(notes, "kept");

        /* Trees: P complete, Q incomplete, an orphan (valid key) and junk (not a key). */
        _cleanup_(freep) char *tp = aci_store_tree_path(s, kp);
        _cleanup_(freep) char *tq = aci_store_tree_path(s, kq);
        _cleanup_(freep) char *to = aci_store_tree_path(s, ko);
        _cleanup_(freep) char *tj = strf("%s/trees/junk", dir);
        char *trees[] = {tp, tq, to, tj};
        for (size_t i = 0; i < ELEMENTSOF(trees); i++) {
                _cleanup_(freep) char *rootfs = strf("%s/rootfs", trees[i]);
                _cleanup_(freep) char *manifest = strf("%s/manifest", trees[i]);
                make_dir(trees[i]);
                make_dir(rootfs);
                write_file(manifest, "{}");
        }
        _cleanup_(freep) char *tp_rendered = strf("%s/rendered", tp);
        write_file(tp_rendered, "");
        _cleanup_(freep) char *dir5 = strf("%s/chunks/5555", dir);

        _cleanup_(freep) char *l_id4 = NULL, *l_id5 = NULL, *l_o = NULL, *l_j = NULL, *l_q = NULL;
        {
                char hex[CA_CHUNK_ID_HEX_SIZE];
                l_id4 = strf("chunks/1111/%s.cacnk", ca_chunk_id_to_hex(&ids[3], hex));
                l_id5 = strf("chunks/5555/%s.cacnk", ca_chunk_id_to_hex(&ids[4], hex));
                l_o = strf("trees/%s", ko);
                l_j = xstrdup("trees/junk");
                l_q = strf("trees/%s", kq);
        }
        char *want[] = {l_id4, l_id5, tmp_rel, l_o, l_j, l_q};

        CHECK_EQ_INT(aci_store_lock_exclusive(s), 0);

        /* Dry run: everything listed and counted, nothing removed. */
        for (int pass = 0; pass < 2; pass++) {
                bool dry_run = pass == 0;
                char *out = NULL;
                size_t out_size = 0;
                FILE *f = open_memstream(&out, &out_size);
                CHECK(f);
                aci_gc_stats st = {.chunks = 99, .trees = 99};
                CHECK_EQ_INT(aci_store_gc(s, dry_run, f, &st), 0);
                CHECK(fclose(f) == 0);
                check_lines(out, want, ELEMENTSOF(want));
                free(out);
                CHECK_EQ_INT(st.chunks, 2);
                CHECK_EQ_INT(st.chunk_bytes, unref_bytes);
                CHECK_EQ_INT(st.trees, 3);
                CHECK_EQ_INT(st.tmp, 1);
                if (dry_run) {
                        for (size_t i = 0; i < 5; i++)
                                CHECK(is_regular(paths[i]));
                        CHECK(is_regular(tmp_file));
                        for (size_t i = 0; i < ELEMENTSOF(trees); i++)
                                CHECK(exists(trees[i]));
                }
        }

        /* Removed exactly: id4, id5 (and its directory), the temp file, 3 trees. */
        for (size_t i = 0; i < 3; i++) {
                CHECK(is_regular(paths[i]));
                CHECK_EQ_INT(ca_store_has(chunks, &ids[i]), 1);
        }
        CHECK(!exists(paths[3]));
        CHECK(!exists(paths[4]));
        CHECK_EQ_INT(ca_store_has(chunks, &ids[3]), 0);
        CHECK(!exists(dir5));
        CHECK(!exists(tmp_file));
        CHECK(is_regular(young_tmp));
        CHECK(is_regular(notes));
        CHECK(is_regular(tp_rendered));
        CHECK(!exists(tq));
        CHECK(!exists(to));
        CHECK(!exists(tj));
        _cleanup_(freep) char *trees_dir = strf("%s/trees", dir);
        CHECK_EQ_INT(count_entries(trees_dir), 1);
        _cleanup_(freep) char *images = strf("%s/images", dir);
        CHECK_EQ_INT(count_entries(images), 2);
        aci_image_record r;
        CHECK_EQ_INT(aci_store_get(s, kp, &r), 0);
        aci_image_record_done(&r);
        CHECK_EQ_INT(aci_store_get(s, kq, &r), 0);
        aci_image_record_done(&r);

        /* Nothing left to collect. */
        aci_gc_stats st;
        CHECK_EQ_INT(aci_store_gc(s, false, NULL, &st), 0);
        CHECK(st.chunks == 0 && st.chunk_bytes == 0 && st.trees == 0 && st.tmp == 0);

        /* Without the index of one image, gc must not guess: it fails and removes nothing. */
        CHECK_EQ_INT(ca_store_put(chunks, &ids[4], data, 10), 0);
        _cleanup_(freep) char *q_index = aci_store_image_file(s, kq, "index.caidx");
        write_file(q_index, "not an index");
        capture_begin();
        int k = aci_store_gc(s, false, NULL, &st);
        _cleanup_(freep) char *msg = capture_end();
        CHECK_EQ_INT(k, -EBADMSG);
        CHECK(strstr(msg, "no readable index"));
        CHECK(is_regular(paths[4]));
        CHECK(is_regular(paths[2]));

        for (size_t i = 0; i < 5; i++)
                free(paths[i]);
        s = aci_store_free(s);
        remove_store(dir);
}

/* ---------------------------------------------------------------- 7b. pins */

/* The pinning process: opens the store, pins index, drops the store lock, says so on `ready`,
 * then waits for a byte on `go` and exits without freeing the store (as if killed): its work
 * directory stays, its flock gone. */
static void pin_and_wait(const char *dir, const ca_index *index, int ready, int go)
{
        aci_store *s = NULL;
        CHECK_EQ_INT(aci_store_open(dir, &s), 0);
        CHECK_EQ_INT(aci_store_pin_index(s, index), 0);
        aci_store_unlock(s);
        CHECK(write(ready, "r", 1) == 1);
        char c;
        CHECK(read(go, &c, 1) == 1);
        _exit(EXIT_SUCCESS);
}

static void test_pins(void)
{
        _cleanup_(freep) char *dir = strf("%s/pins", root);
        _cleanup_(freep) char *lock = strf("%s/locks/store.lock", dir);
        _cleanup_(freep) char *tmp = strf("%s/tmp", dir);
        _cleanup_(aci_store_freep) aci_store *s = NULL;
        CHECK_EQ_INT(aci_store_open(dir, &s), 0);

        /* ids[0] is pinned, ids[1] listed nowhere. */
        ca_chunk_id ids[2];
        chunk_id(&ids[0], 0x66, 0x06);
        chunk_id(&ids[1], 0x77, 0x07);
        char *paths[2];
        for (size_t i = 0; i < 2; i++) {
                CHECK_EQ_INT(ca_store_put(aci_store_chunks(s), &ids[i], "chunk data", 10), 0);
                paths[i] = chunk_path(dir, &ids[i]);
                CHECK(is_regular(paths[i]));
        }
        ca_index_item item = {.offset = 0, .size = 16, .id = ids[0]};
        ca_index index = {
            .feature_flags = CA_FORMAT_SHA512_256,
            .chunk_size_min = 1,
            .chunk_size_avg = 64,
            .chunk_size_max = 64,
            .n_items = 1,
            .items = &item,
            .total_size = 16,
        };
        s = aci_store_free(s);

        int ready[2], go[2];
        CHECK(pipe(ready) == 0 && pipe(go) == 0);
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
                close(ready[0]);
                close(go[1]);
                pin_and_wait(dir, &index, ready[1], go[0]);
        }
        close(ready[1]);
        close(go[0]);
        char c;
        CHECK(read(ready[0], &c, 1) == 1);

        /* The pinning process holds no store lock: a gc would not wait for it. */
        int lfd = open(lock, O_RDWR | O_CLOEXEC);
        CHECK(lfd >= 0);
        CHECK(flock(lfd, LOCK_EX | LOCK_NB) == 0);
        close(lfd);

        /* Its pin is in its work directory, the only one under tmp/. */
        CHECK_EQ_INT(count_entries(tmp), 1);
        CHECK_EQ_INT(aci_store_open(dir, &s), 0);
        CHECK_EQ_INT(count_entries(tmp), 1); /* live: not reclaimed */
        alarm(60); /* a gc that waited for the pinning process would hang here */
        CHECK_EQ_INT(aci_store_lock_exclusive(s), 0);
        alarm(0);
        aci_gc_stats st;
        CHECK_EQ_INT(aci_store_gc(s, false, NULL, &st), 0);
        CHECK_EQ_INT(st.chunks, 1);
        CHECK(is_regular(paths[0]));
        CHECK(!exists(paths[1]));

        /* Once the process is gone, its pin protects nothing, though its directory is left. */
        CHECK(write(go[1], "g", 1) == 1);
        int status;
        CHECK(waitpid(pid, &status, 0) == pid);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        CHECK_EQ_INT(count_entries(tmp), 1);
        CHECK_EQ_INT(aci_store_gc(s, false, NULL, &st), 0);
        CHECK_EQ_INT(st.chunks, 1);
        CHECK(!exists(paths[0]));
        s = aci_store_free(s);

        /* The next open reclaims the dead work directory. */
        CHECK_EQ_INT(aci_store_open(dir, &s), 0);
        CHECK_EQ_INT(count_entries(tmp), 0);

        close(ready[0]);
        close(go[1]);
        for (size_t i = 0; i < 2; i++)
                free(paths[i]);
        s = aci_store_free(s);
        remove_store(dir);
}

/* ---------------------------------------------------------------- 8. installing trees */

static struct timespec mtime_of(const char *path)
{
        struct stat st;
        CHECK(lstat(path, &st) == 0);
        return st.st_mtim;
}

/* A finished tree tmp/<ours>/<name>: manifest, rootfs/<marker>, mtime set to `when`. */
static void make_tree(int work_fd, const char *work, const char *name, const char *marker,
                      time_t when)
{
        _cleanup_(freep) char *t = strf("%s/%s", work, name);
        _cleanup_(freep) char *rootfs = strf("%s/rootfs", t);
        _cleanup_(freep) char *manifest = strf("%s/manifest", t);
        _cleanup_(freep) char *file = strf("%s/rootfs/%s", t, marker);
        make_dir(t);
        make_dir(rootfs);
        write_file(manifest, "{}");
        write_file(file, marker);
        struct timespec ts[2] = {{.tv_sec = when, .tv_nsec = 123456789},
                                 {.tv_sec = when, .tv_nsec = 123456789}};
        CHECK(utimensat(work_fd, name, ts, AT_SYMLINK_NOFOLLOW) == 0);
}

static void test_install_tree(void)
{
        _cleanup_(freep) char *dir = strf("%s/install", root);
        _cleanup_(aci_store_freep) aci_store *s = NULL;
        CHECK_EQ_INT(aci_store_open(dir, &s), 0);
        int work_fd = -1;
        const char *work = NULL;
        CHECK_EQ_INT(aci_store_tmp(s, &work_fd, &work), 0);

        char id[ACI_ID_SIZE], key[ACI_KEY_SIZE];
        make_id(id, "90", 'a');
        aci_key_from_id(id, key);
        _cleanup_(freep) char *tree = aci_store_tree_path(s, key);
        _cleanup_(freep) char *rendered = strf("%s/rendered", tree);
        _cleanup_(freep) char *first = strf("%s/rootfs/first", tree);
        _cleanup_(freep) char *second = strf("%s/rootfs/second", tree);
        _cleanup_(freep) char *manifest = strf("%s/manifest", tree);

        CHECK_EQ_INT(aci_store_tree_ready(s, key), 0);
        CHECK_EQ_INT(aci_store_tree_ready(s, "junk"), -EINVAL);

        /* First install: moved in, marked, its own mtime kept. */
        make_tree(work_fd, work, "t1", "first", 1000000000);
        _cleanup_(freep) char *t1 = strf("%s/t1", work);
        CHECK_EQ_INT(aci_store_install_tree(s, key, work_fd, "t1"), 0);
        CHECK(!exists(t1));
        CHECK(is_regular(rendered));
        CHECK_EQ_INT(file_size(rendered), 0);
        CHECK(is_regular(first));
        CHECK(is_regular(manifest));
        struct timespec m = mtime_of(tree);
        CHECK_EQ_INT(m.tv_sec, 1000000000);
        CHECK_EQ_INT(m.tv_nsec, 123456789);
        CHECK_EQ_INT(count_entries(tree), 3); /* manifest, rootfs, rendered: no temp left */
        CHECK_EQ_INT(aci_store_tree_ready(s, key), 1);

        /* Again: the complete tree stays, ours is removed. */
        make_tree(work_fd, work, "t2", "second", 2000000000);
        _cleanup_(freep) char *t2 = strf("%s/t2", work);
        CHECK_EQ_INT(aci_store_install_tree(s, key, work_fd, "t2"), 0);
        CHECK(!exists(t2));
        CHECK(is_regular(first));
        CHECK(!exists(second));
        CHECK(is_regular(rendered));
        CHECK_EQ_INT(mtime_of(tree).tv_sec, 1000000000);
        CHECK_EQ_INT(count_entries(work), 0);

        /* An incomplete tree (no `rendered`) is replaced. */
        CHECK(unlink(rendered) == 0);
        make_tree(work_fd, work, "t3", "second", 2000000000);
        CHECK_EQ_INT(aci_store_install_tree(s, key, work_fd, "t3"), 0);
        CHECK(is_regular(second));
        CHECK(!exists(first));
        CHECK(is_regular(rendered));
        CHECK_EQ_INT(mtime_of(tree).tv_sec, 2000000000);
        CHECK_EQ_INT(count_entries(work), 0);

        /* tree_ready removes an incomplete tree. */
        CHECK(unlink(rendered) == 0);
        CHECK_EQ_INT(aci_store_tree_ready(s, key), 0);
        CHECK(!exists(tree));

        /* Bad keys are refused before anything moves. */
        make_tree(work_fd, work, "t4", "x", 1);
        capture_begin();
        CHECK_EQ_INT(aci_store_install_tree(s, "../x", work_fd, "t4"), -EINVAL);
        CHECK_EQ_INT(aci_store_install_tree(s, id, work_fd, "t4"), -EINVAL);
        free(capture_end());
        _cleanup_(freep) char *t4 = strf("%s/t4", work);
        CHECK(exists(t4));

        s = aci_store_free(s);
        remove_store(dir);
}

/* Each part in its own process, so that one failure does not hide the others. */
static bool run(const char *name, void (*fn)(void))
{
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
                fn();
                fflush(stdout);
                exit(EXIT_SUCCESS);
        }
        int status;
        CHECK(waitpid(pid, &status, 0) == pid);
        bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        printf("%s: %s\n", ok ? "ok" : "FAIL", name);
        return ok;
}

int main(void)
{
        static const struct {
                const char *name;
                void (*fn)(void);
        } tests[] = {
            {"open", test_open},
            {"records", test_records},
            {"record_optional", test_record_optional},
            {"resolve", test_resolve},
            {"find", test_find},
            {"render_list", test_render_list},
            {"whitelist", test_whitelist},
            {"gc", test_gc},
            {"pins", test_pins},
            {"install_tree", test_install_tree},
        };
        umask(022);
        CHECK(mkdtemp(root));
        size_t failed = 0;
        for (size_t i = 0; i < ELEMENTSOF(tests); i++)
                failed += !run(tests[i].name, tests[i].fn);
        /* Every part removes its store when it passes. */
        if (failed == 0)
                CHECK_EQ_INT(count_entries(root), 0);
        int fd = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(fd >= 0);
        CHECK_EQ_INT(fs_remove_tree_at(fd, root + strlen("/tmp/")), 0);
        close(fd);
        if (failed > 0) {
                printf("%zu of %zu parts failed\n", failed, ELEMENTSOF(tests));
                return EXIT_FAILURE;
        }
        printf("ok\n");
        return 0;
}
