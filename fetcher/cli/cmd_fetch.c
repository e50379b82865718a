/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* acfetch fetch: appc names, index URLs and paths → images in the store (and their trees). */
#include <getopt.h>
#include <string.h>

#include "fetcher/cli/cli.h"

static const char usage[] =
    "Usage: acfetch fetch [OPTIONS] NAME|URL|PATH...\n\n"
    "Fetch appc images by name (example.com/app:1.0,channel=beta; os and arch default to\n"
    "the host's; NAME:latest is NAME) through meta discovery (https://NAME?ac-discovery=1,\n"
    "walking up the path), downloading only the chunks the local chunk store lacks, and\n"
    "render each into <dir>/trees/<key>/ (manifest, rootfs/). Dependencies are fetched and\n"
    "composed too. Prints one image ID per argument on stdout.\n\n"
    "Instead of a name, as rkt: an https:// URL of an index (.caidx; http:// with\n"
    "--insecure-options=http; revalidated like a discovered one) or the path of a\n"
    "local index, never looked up by discovery: chunks from --store, else\n"
    "default.castr beside it; the signature at URL|PATH + .asc must be by a key\n"
    "trusted for the name the image's manifest gives. An image published to a\n"
    "registry (publish --to oci://) is oci://REGISTRY/REPOSITORY:TAG: its index,\n"
    "signature (TAG.asc) and chunks come from the manifest tagged TAG. A URL has a\n"
    "scheme (https, http, oci, file; docker: is refused); an absolute path, an\n"
    "existing file, or an argument without ':' that holds './' or ends in .caidx or\n"
    ".aci is a path; anything else is a name. A .aci file (plain, gzip, xz or zstd)\n"
    "is imported: its signature PATH.asc verified first, its tar unpacked safely\n"
    "(manifest and rootfs/ only), archived and chunked into the store; the ID printed\n"
    "is the SHA-512 of what 'acfetch export' writes.\n"
    "A stored tree is checked before it is handed out (lstat of every entry against what\n"
    "was recorded when it was rendered); a tree modified since (a runtime must not write\n"
    "into <dir>/trees: use an overlay, or 'acfetch render' a private copy) is rendered\n"
    "again from the chunk store. --insecure-options=ondisk skips the check.\n\n"
    "Options:\n"
    "  --pull-policy=POLICY   new: use a stored image if one matches, else fetch;\n"
    "                         update (default): discover and revalidate the index\n"
    "                         (If-None-Match, Cache-Control max-age);\n"
    "                         never: the store only, no network\n"
    "  --no-render            store the image without rendering its tree\n"
    "  --no-same-owner        do not restore ownership in the tree; skip devices, clear\n"
    "                         setuid/setgid bits (automatic when not root)\n"
    "  --full                 print IDs with 64 hex digits instead of 32\n"
    "  --seed=PATH            data that may hold some of the image's chunks (repeatable):\n"
    "                         a directory (archived and cut as the image was), a file, or\n"
    "                         an index X.caidx|X.caibx whose data is X; what it supplies is\n"
    "                         verified and not downloaded (cuts cached under <dir>/seeds)\n"
    "  --no-auto-seed         do not use the newest rendered tree of the same name as a seed\n"
    "  --json                 print a JSON array on stdout: per NAME its id, name, labels,\n"
    "                         tree, index_url, changed and transfer statistics\n"
    "  --trust-keys-from-https\n"
    "                         when no key is trusted for the name yet, trust the keys\n"
    "                         discovery offers over https (ac-discovery-pubkeys), written\n"
    "                         to --local-config's trust store with a warning\n"
    "  -h, --help             show this help\n\n"
    "Signatures: the index's detached OpenPGP signature, <index URL>.asc, must verify with a\n"
    "key trusted for the name (see 'acfetch trust') before any chunk is requested; it is\n"
    "kept beside the image. --insecure-options=image skips it (with a warning) and the\n"
    "check that the manifest's name and labels match the request.\n"
    "Discovery goes over https; http only with --insecure-options=http.\n"
    "Credentials for private hosts come from auth.d (rkt's format) under --system-config\n"
    "and --local-config.\n\n";

static json_t *result_json(const fetch_context *ctx, const aci_image_record *r,
                           const transfer_stats *ts)
{
        json_t *labels = json_object();
        for (size_t i = 0; labels && i < r->n_labels; i++)
                json_object_set_new(labels, r->labels[i].name, json_string(r->labels[i].value));
        _cleanup_(freep) char *tree = NULL;
        if (ctx->render)
                tree = aci_store_tree_path(ctx->store, r->key);
        return json_pack(
            "{s:s,s:s,s:o,s:s?,s:s?,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "id", r->id, "name", r->name,
            "labels", labels, "tree", tree, "index_url", r->index_url, "changed", ctx->changed,
            "size", (json_int_t)r->size, "chunks", (json_int_t)ctx->stats.chunks, "chunks_local",
            (json_int_t)ctx->stats.chunks_local, "chunks_seeded",
            (json_int_t)ctx->stats.chunks_seeded, "chunks_downloaded",
            (json_int_t)ctx->stats.chunks_downloaded, "bytes_downloaded",
            (json_int_t)ctx->stats.bytes_downloaded, "http_requests", (json_int_t)ts->requests);
}

static int fetch_names(fetch_context *ctx, char **names, size_t n, bool full, json_t *out)
{
        for (size_t i = 0; i < n; i++) {
                _cleanup_(dc_image_freep) dc_image *img = NULL;
                image_source_kind kind;
                int r = image_source_classify(names[i], &kind);
                if (r >= 0 && kind == IMAGE_SOURCE_NAME)
                        r = dc_image_parse(names[i], &img);
                if (r >= 0 && img)
                        r = dc_image_set_defaults(img);
                if (r < 0)
                        return r;
                transfer_stats before, after;
                transfer_engine_stats(ctx->engine, &before);
                ctx->changed = false;
                ctx->stats = (fetch_stats){};
                aci_image_record rec;
                if (img)
                        r = fetch_image(ctx, img, &rec);
                else
                        r = fetch_location(ctx, names[i], kind, &rec);
                if (r < 0)
                        return r;
                transfer_engine_stats(ctx->engine, &after);
                after.requests -= before.requests;
                if (out) {
                        json_t *o = result_json(ctx, &rec, &after);
                        if (!o || json_array_append_new(out, o) < 0)
                                r = -ENOMEM;
                } else {
                        printf("%.*s\n", full ? ACI_KEY_SIZE - 1 : 7 + 32, rec.id);
                        if (fflush(stdout) != 0)
                                r = ca_log_errno(CA_LOG_ERR, -EIO, "writing to stdout failed");
                }
                aci_image_record_done(&rec);
                if (r < 0)
                        return r;
        }
        return 0;
}

enum {
        OPT_PULL_POLICY = OPT_INPUT_LAST,
        OPT_NO_RENDER,
        OPT_NO_SAME_OWNER,
        OPT_FULL,
        OPT_JSON,
        OPT_TRUST_HTTPS,
};

typedef struct fetch_args {
        input_args *input;
        fetch_context *ctx;
        bool full, json;
} fetch_args;

static int fetch_option(int c, const char *arg, void *userdata)
{
        fetch_args *a = userdata;
        switch (c) {
        case OPT_PULL_POLICY:
                return parse_pull_policy(arg, &a->ctx->policy) < 0 ? -EINVAL : 1;
        case OPT_NO_RENDER:
                a->ctx->render = false;
                return 1;
        case OPT_NO_SAME_OWNER:
                a->ctx->no_same_owner = true;
                return 1;
        case OPT_FULL:
                a->full = true;
                return 1;
        case OPT_JSON:
                a->json = true;
                return 1;
        case OPT_TRUST_HTTPS:
                a->ctx->trust_keys_from_https = true;
                return 1;
        default:
                return input_args_parse(a->input, c, arg);
        }
}

static int run_fetch(int argc, char **argv)
{
        static const struct option options[] = {
            INPUT_LONG_OPTIONS,
            SEED_LONG_OPTIONS,
            {"pull-policy", required_argument, NULL, OPT_PULL_POLICY},
            {"no-render", no_argument, NULL, OPT_NO_RENDER},
            {"no-same-owner", no_argument, NULL, OPT_NO_SAME_OWNER},
            {"full", no_argument, NULL, OPT_FULL},
            {"json", no_argument, NULL, OPT_JSON},
            {"trust-keys-from-https", no_argument, NULL, OPT_TRUST_HTTPS},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        fetch_context ctx = {
            .policy = PULL_UPDATE,
            .render = true,
            .insecure = arg_global.insecure,
            .config = arg_global.config,
            .trust_keys_from_https = arg_global.trust_keys_from_https,
        };
        _cleanup_(input_args_done) input_args input = {};
        fetch_args a = {.input = &input, .ctx = &ctx};
        int r = input_args_init(&input, argc);
        if (r >= 0)
                r = command_parse(&command_fetch, argc, argv, "h", options, fetch_option, &a, -1,
                                  "at least one image NAME, URL or PATH");
        if (r != 0)
                return MIN(r, 0);

        input_options *io = &input.o;
        ctx.io = io;
        json_t *out = a.json ? json_array() : NULL;
        _cleanup_(auth_config_freep) auth_config *auth = NULL;
        r = input_options_open_engine(io, &auth, &ctx.engine);
        ctx.auth = auth;
        if (r >= 0)
                r = open_image_store(&ctx.store);
        progress *line = NULL;
        if (r >= 0)
                r = progress_new(aci_store_path(ctx.store), &line);
        if (r >= 0) {
                ctx.progress = report_fetch_progress(line);
                ctx.in.engine = ctx.engine;
                ctx.in.store = ctx.store;
                ctx.in.cache = aci_store_chunks(ctx.store);
                ctx.in.jobs = io->jobs;
                r = fetch_names(&ctx, argv + optind, (size_t)(argc - optind), a.full, out);
        }
        if (r >= 0 && out) {
                if (json_dumpf(out, stdout, JSON_COMPACT) < 0 || fputc('\n', stdout) == EOF ||
                    fflush(stdout) != 0)
                        r = ca_log_errno(CA_LOG_ERR, -EIO, "writing to stdout failed");
        }
        json_decref(out);
        progress_free(line);
        aci_store_free(ctx.store);
        transfer_engine_free(ctx.engine);
        return r;
}

const command command_fetch = {
    .name = "fetch",
    .run = run_fetch,
    .summary = "fetch images (name, index URL or path) into the store, render them",
    .usage = usage,
};
