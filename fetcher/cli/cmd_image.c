/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* acfetch image list|rm|cat-manifest: what the store holds. */
#include <fcntl.h>
#include <getopt.h>
#include <string.h>
#include <time.h>

#include "fetcher/cli/cli.h"

static const char usage[] =
    "Usage: acfetch image list [--json] [--full]\n"
    "       acfetch image rm [--all] ID|NAME...\n"
    "       acfetch image cat-manifest ID|NAME\n"
    "       acfetch image export|render|extract|gc ...\n"
    "                     (the same as 'acfetch export' ...)\n\n"
    "list          the stored images: ID (sha512- and 12 hex digits, 64 with --full),\n"
    "              name and version, size of the image, when it was fetched, whether\n"
    "              its tree is rendered; --json prints every field as a JSON array on\n"
    "              stdout\n"
    "rm            remove images and their trees (their chunks go with the next gc).\n"
    "              A NAME without a version that several stored images have is\n"
    "              refused, and they are listed: give NAME:VERSION, an ID, or --all\n"
    "              to remove them all\n"
    "cat-manifest  print an image's manifest on stdout\n\n"
    "An ID may be any unique prefix of at least 2 hex digits after sha512-; a NAME\n"
    "picks the image `fetch --pull-policy=never` would use.\n\n"
    "Options:\n"
    "  --json                 (list) print a JSON array\n"
    "  --full                 (list) print whole IDs\n"
    "  --all                  (rm) remove every stored image a NAME matches\n"
    "  -h, --help             show this help\n\n";

/* The subcommands, named "image SUB" in their messages; --help shows the whole image help. */
static const command image_list_cmd = {.name = "image list", .usage = usage, .local_only = true};
static const command image_rm_cmd = {.name = "image rm", .usage = usage, .local_only = true};
static const command image_cat_cmd = {
    .name = "image cat-manifest", .usage = usage, .local_only = true};

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

typedef struct list_args {
        bool json, full;
} list_args;

static int list_option(int c, const char *arg, void *userdata)
{
        list_args *a = userdata;
        (void)arg;
        if (c == 'j')
                a->json = true;
        else if (c == 'f')
                a->full = true;
        else
                return 0;
        return 1;
}

static int image_list(aci_store *s, int argc, char **argv)
{
        static const struct option options[] = {
            {"json", no_argument, NULL, 'j'},
            {"full", no_argument, NULL, 'f'},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        list_args a = {};
        int r = command_parse(&image_list_cmd, argc, argv, "h", options, list_option, &a, 0, NULL);
        if (r != 0)
                return MIN(r, 0);
        bool json = a.json, full = a.full;
        aci_image_record *list = NULL;
        size_t n = 0;
        r = aci_store_list(s, &list, &n);
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

static int remove_record(aci_store *s, const aci_image_record *rec)
{
        int r = aci_store_remove(s, rec->key);
        if (r >= 0)
                ca_log_info("removed image %s (%s)", rec->key, rec->name);
        return r;
}

/* "name:version" or "name", for the list of an ambiguous name; NULL when out of memory. */
static char *name_version(const aci_image_record *r)
{
        const char *v = label(r, "version");
        char *p = NULL;
        return asprintf(&p, "%s%s%s", r->name, v ? ":" : "", v ? v : "") < 0 ? NULL : p;
}

/*
 * A NAME without a version may match several stored versions: all are removed with --all;
 * otherwise none is, and they are listed. With a version, the image fetch would use goes.
 */
static int rm_name(aci_store *s, const char *arg, bool all)
{
        _cleanup_(dc_image_freep) dc_image *img = NULL;
        int r = dc_image_parse(arg, &img);
        if (r < 0)
                return r;
        if (dc_image_label(img, "version") && !all) {
                aci_image_record rec;
                r = resolve_image_arg(s, arg, &rec);
                if (r < 0)
                        return r;
                r = remove_record(s, &rec);
                aci_image_record_done(&rec);
                return r;
        }
        if ((r = dc_image_set_defaults(img)) < 0)
                return r;
        _cleanup_(freep) aci_label *want = aci_request_labels(img);
        if (!want)
                return -ENOMEM;
        aci_image_record *list = NULL;
        size_t n = 0, n_match = 0;
        r = aci_store_list(s, &list, &n);
        if (r < 0)
                return r;
        if (n > 0)
                qsort(list, n, sizeof(*list), cmp_fetched);
        bool *match = calloc(n + 1, sizeof(bool));
        for (size_t i = 0; match && i < n; i++) {
                match[i] = aci_image_matches(list[i].name, list[i].labels, list[i].n_labels,
                                             img->name, want, img->n_labels, "image", NULL) > 0;
                n_match += match[i];
        }
        if (!match)
                r = -ENOMEM;
        else if (n_match == 0)
                r = ca_log_errno(CA_LOG_ERR, -ENOENT, "%s: no such image in %s", arg,
                                 aci_store_path(s));
        else if (n_match > 1 && !all) {
                r = ca_log_errno(CA_LOG_ERR, -ENOTUNIQ,
                                 "image rm: %s names %zu stored images; nothing removed. Give "
                                 "NAME:VERSION, an ID, or --all to remove them all:",
                                 arg, n_match);
                for (size_t i = 0; i < n; i++) {
                        if (!match[i])
                                continue;
                        _cleanup_(freep) char *nv = name_version(&list[i]);
                        fprintf(stderr, "  %s  %s\n", list[i].key, nv ? nv : list[i].name);
                }
        } else {
                for (size_t i = 0; i < n; i++) {
                        int k = match[i] ? remove_record(s, &list[i]) : 0;
                        if (k < 0 && r == 0)
                                r = k;
                }
        }
        free(match);
        aci_image_records_free(list, n);
        return r;
}

static int rm_option(int c, const char *arg, void *userdata)
{
        (void)arg;
        if (c != 'a')
                return 0;
        *(bool *)userdata = true;
        return 1;
}

static int image_rm(aci_store *s, int argc, char **argv)
{
        static const struct option options[] = {
            {"all", no_argument, NULL, 'a'},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        bool all = false;
        int r = command_parse(&image_rm_cmd, argc, argv, "h", options, rm_option, &all, -1,
                              "at least one ID|NAME");
        if (r != 0)
                return MIN(r, 0);
        int result = 0;
        for (int i = optind; i < argc; i++) {
                if (strncmp(argv[i], "sha512-", 7) == 0) {
                        aci_image_record rec;
                        r = aci_store_resolve_id(s, argv[i], &rec);
                        if (r >= 0) {
                                r = remove_record(s, &rec);
                                aci_image_record_done(&rec);
                        }
                } else
                        r = rm_name(s, argv[i], all);
                if (r < 0 && result == 0)
                        result = r;
        }
        return result;
}

static int image_cat_manifest(aci_store *s, int argc, char **argv)
{
        static const struct option options[] = {
            {"help", no_argument, NULL, 'h'},
            {},
        };
        int r =
            command_parse(&image_cat_cmd, argc, argv, "h", options, NULL, NULL, 1, "one ID|NAME");
        if (r != 0)
                return MIN(r, 0);
        aci_image_record rec;
        r = resolve_image_arg(s, argv[optind], &rec);
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
        /* rkt's `image export|render|extract|gc`: the top-level commands under another name */
        static const command *const aliases[] = {
            &command_export,
            &command_render,
            &command_extract,
            &command_gc,
        };
        for (size_t i = 0; i < ELEMENTSOF(aliases); i++)
                if (strcmp(argv[1], aliases[i]->name) == 0)
                        return aliases[i]->run(argc - 1, argv + 1);
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
