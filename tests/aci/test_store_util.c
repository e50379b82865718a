/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Helpers of the store test (test_store.h): files, stderr capture, records, images. */
#include "test_store.h"

char root[] = "/tmp/test_aci_store.XXXXXX";

/* ---------------------------------------------------------------- helpers */

char *strf(const char *fmt, ...)
{
        va_list ap;
        char *s = NULL;
        va_start(ap, fmt);
        int n = vasprintf(&s, fmt, ap);
        va_end(ap);
        CHECK(n >= 0);
        return s;
}

char *xstrdup(const char *s)
{
        char *d = strdup(s);
        CHECK(d);
        return d;
}

bool exists(const char *path)
{
        struct stat st;
        return lstat(path, &st) == 0;
}

/* The permission bits of a directory (which must exist and be one). */
mode_t dir_mode(const char *path)
{
        struct stat st;
        CHECK(lstat(path, &st) == 0);
        CHECK(S_ISDIR(st.st_mode));
        return st.st_mode & 07777;
}

bool is_regular(const char *path)
{
        struct stat st;
        return lstat(path, &st) == 0 && S_ISREG(st.st_mode);
}

void write_file(const char *path, const char *content)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
        CHECK(fd >= 0);
        CHECK(write_full(fd, content, strlen(content)) == 0);
        CHECK(close(fd) == 0);
}

char *read_file(const char *path)
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

void make_dir(const char *path)
{
        CHECK(mkdir(path, 0755) == 0);
}

/* Number of entries in a directory besides "." and "..". */
size_t count_entries(const char *path)
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

void capture_begin(void)
{
        CHECK(capture_fd < 0);
        capture_fd = memfd_create("stderr", MFD_CLOEXEC);
        CHECK(capture_fd >= 0);
        fflush(stderr);
        capture_saved = dup(STDERR_FILENO);
        CHECK(capture_saved >= 0);
        CHECK(dup2(capture_fd, STDERR_FILENO) == STDERR_FILENO);
}

char *capture_end(void)
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
void make_id(char id[ACI_ID_SIZE], const char *hex, char fill)
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
void record_init(aci_image_record *r, const char *id, const char *name, const aci_label *labels,
                 size_t n_labels)
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

void check_record(const aci_image_record *got, const aci_image_record *want)
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
void add_image_full(aci_store *s, const char *id, const char *name, const aci_label *labels,
                    size_t n_labels, const char *deps, const char *whitelist, int64_t fetched,
                    bool latest, const char *url, const void *index, size_t index_size,
                    char key[ACI_KEY_SIZE])
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

void add_image(aci_store *s, const char *id, const char *name, const aci_label *labels,
               size_t n_labels, const char *deps, int64_t fetched, bool latest, const char *url)
{
        add_image_full(s, id, name, labels, n_labels, deps, NULL, fetched, latest, url, NULL, 0,
                       NULL);
}

void remove_store(const char *dir)
{
        int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(fd >= 0);
        CHECK(strncmp(dir, root, strlen(root)) == 0 && dir[strlen(root)] == '/');
        CHECK_EQ_INT(fs_remove_tree_at(fd, dir + strlen(root) + 1), 0);
        close(fd);
}

uint64_t file_size(const char *path)
{
        struct stat st;
        CHECK(lstat(path, &st) == 0);
        return (uint64_t)st.st_size;
}
