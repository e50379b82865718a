/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* acfetch image list|rm|cat-manifest: what the store holds. */
#include <fcntl.h>
#include <getopt.h>
#include <string.h>
#include <time.h>

#include "fetcher/cli/cli.h"

static const char usage[] =
    "Usage: acfetch image list [--json] [--full]\n"
    "       acfetch image rm ID|NAME...\n"
    "       acfetch image cat-manifest ID|NAME\n\n"
    "list          the stored images: ID (sha512- and 12 hex digits, 64 with --full), name\n"
    "              and version, size of the image, when it was fetched, whether its tree\n"
    "              is rendered; --json prints every field as a JSON array on stdout\n"
    "rm            remove images and their trees (their chunks go with the next gc)\n"
    "cat-manifest  print an image's manifest on stdout\n\n"
    "An ID may be any unique prefix of at least 2 hex digits after sha512-; a NAME picks\n"
    "the image `fetch --pull-policy=never` would use.\n\n";

static void human(uint64_t v, char buf[16])
{
        static const char units[] = "BKMGT";
        double d = (double)v;
        unsigned u = 0;
        while (d >= 1024 && u + 1 < sizeof(units) - 1) {
                d /= 1024;
                u++;
        }
        if (u == 0)
                snprintf(buf, 16, "%lluB", (unsigned long long)v);
        else
                snprintf(buf, 16, "%.1f%ciB", d, units[u]);
}

static void format_time(int64_t t, char buf[32])
{
        time_t tt = (time_t)t;
        struct tm tm;
        if (!gmtime_r(&tt, &tm) || strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                snprintf(buf, 32, "%lld", (long long)t);
}

static const char *label(const aci_image_record *r, const char *name)
{
        for (size_t i = 0; i < r->n_labels; i++)
                if (strcmp(r->labels[i].name, name) == 0)
                        return r->labels[i].value;
        return NULL;
}

static int cmp_fetched(const void *a, const void *b)
{
        const aci_image_record *x = a, *y = b;
        return aci_record_newer(x, y) ? 1 : aci_record_newer(y, x) ? -1 : 0;
}

static int list_json(aci_store *s, const aci_image_record *list, size_t n)
{
        json_t *out = json_array();
        for (size_t i = 0; out && i < n; i++) {
                const aci_image_record *r = &list[i];
                json_t *labels = json_object();
                for (size_t k = 0; labels && k < r->n_labels; k++)
                        json_object_set_new(labels, r->labels[k].name,
                                            json_string(r->labels[k].value));
                char when[32];
                format_time(r->fetched, when);
                int ready = aci_store_tree_ready(s, r->key);
                json_array_append_new(out, json_pack("{s:s,s:s,s:s,s:o,s:I,s:s,s:s?,s:s?,s:b}",
                                                     "id", r->id, "key", r->key, "name", r->name,
                                                     "labels", labels, "size", (json_int_t)r->size,
                                                     "fetched", when, "index_url", r->index_url,
                                                     "etag", r->etag, "rendered", ready > 0));
        }
        int k = out ? json_dumpf(out, stdout, JSON_COMPACT) : -1;
        json_decref(out);
        if (k < 0 || fputc('\n', stdout) == EOF || fflush(stdout) != 0)
                return ca_log_errno(CA_LOG_ERR, -EIO, "writing to stdout failed");
        return 0;
}

static int image_list(aci_store *s, int argc, char **argv)
{
        static const struct option options[] = {
            {"json", no_argument, NULL, 'j'},
            {"full", no_argument, NULL, 'f'},
            {},
        };
        bool json = false, full = false;
        int c;
        optind = 0;
        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0) {
                if (c == 'j')
                        json = true;
                else if (c == 'f')
                        full = true;
                else
                        return -EINVAL;
        }
        if (optind != argc)
                return ca_log_errno(CA_LOG_ERR, -EINVAL, "image list takes no arguments");
        aci_image_record *list = NULL;
        size_t n = 0;
        int r = aci_store_list(s, &list, &n);
        if (r < 0)
                return r;
        if (n > 0) /* an empty store gives no list, and qsort's array must not be NULL */
                qsort(list, n, sizeof(*list), cmp_fetched);
        if (json) {
                r = list_json(s, list, n);
        } else {
                int w = full ? ACI_KEY_SIZE - 1 : 7 + 12;
                printf("%-*s  %-40s  %9s  %-20s  %s\n", w, "ID", "NAME", "SIZE", "FETCHED", "TREE");
                for (size_t i = 0; i < n; i++) {
                        const char *v = label(&list[i], "version");
                        _cleanup_(freep) char *name = NULL;
                        if (asprintf(&name, "%s%s%s", list[i].name, v ? ":" : "", v ? v : "") < 0)
                                name = NULL;
                        char size[16], when[32];
                        human(list[i].size, size);
                        format_time(list[i].fetched, when);
                        printf("%-*.*s  %-40s  %9s  %-20s  %s\n", w, w, list[i].key,
                               name ? name : list[i].name, size, when,
                               aci_store_tree_ready(s, list[i].key) > 0 ? "rendered" : "-");
                }
                if (fflush(stdout) != 0)
                        r = ca_log_errno(CA_LOG_ERR, -EIO, "writing to stdout failed");
        }
        aci_image_records_free(list, n);
        return r;
}

static int image_rm(aci_store *s, int argc, char **argv)
{
        if (argc < 2)
                return ca_log_errno(CA_LOG_ERR, -EINVAL, "image rm wants at least one ID|NAME");
        int result = 0;
        for (int i = 1; i < argc; i++) {
                aci_image_record rec;
                int r = resolve_image_arg(s, argv[i], &rec);
                if (r >= 0) {
                        r = aci_store_remove(s, rec.key);
                        if (r >= 0)
                                ca_log_info("removed image %s (%s)", rec.key, rec.name);
                        aci_image_record_done(&rec);
                }
                if (r < 0 && result == 0)
                        result = r;
        }
        return result;
}

static int image_cat_manifest(aci_store *s, int argc, char **argv)
{
        if (argc != 2)
                return ca_log_errno(CA_LOG_ERR, -EINVAL, "image cat-manifest wants one ID|NAME");
        aci_image_record rec;
        int r = resolve_image_arg(s, argv[1], &rec);
        if (r < 0)
                return r;
        _cleanup_(freep) char *path = aci_store_image_file(s, rec.key, "manifest");
        aci_image_record_done(&rec);
        if (!path)
                return -ENOMEM;
        _cleanup_(closep) int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return ca_log_errno(CA_LOG_ERR, negative_errno(), "%s: %m", path);
        char buf[65536];
        ssize_t n;
        while ((n = read(fd, buf, sizeof(buf))) > 0)
                if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
                        return ca_log_errno(CA_LOG_ERR, -EIO, "writing to stdout failed");
        if (n < 0)
                return ca_log_errno(CA_LOG_ERR, negative_errno(), "%s: %m", path);
        return fflush(stdout) == 0 ? 0 : -EIO;
}

static int run_image(int argc, char **argv)
{
        if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
                command_help(&command_image);
                return argc < 2 ? -EINVAL : 0;
        }
        static const struct {
                const char *name;
                int (*run)(aci_store *s, int argc, char **argv);
        } subs[] = {
            {"list", image_list},
            {"rm", image_rm},
            {"cat-manifest", image_cat_manifest},
        };
        for (size_t i = 0; i < ELEMENTSOF(subs); i++) {
                if (strcmp(argv[1], subs[i].name) != 0)
                        continue;
                _cleanup_(aci_store_freep) aci_store *s = NULL;
                int r = open_image_store(&s);
                if (r < 0)
                        return r;
                return subs[i].run(s, argc - 1, argv + 1);
        }
        return ca_log_errno(CA_LOG_ERR, -EINVAL,
                            "unknown image command '%s'; see 'acfetch image --help'", argv[1]);
}

const command command_image = {
    .name = "image",
    .run = run_image,
    .summary = "list, remove and show stored images",
    .usage = usage,
    .local_only = true,
};
