/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* acfetch extract: an index (with its chunk stores) or a catar, into a directory or a file. */
#include <getopt.h>
#include <string.h>
#include <sys/stat.h>

#include "fetcher/cli/cli.h"

static const char usage[] =
    "Usage: acfetch extract [OPTIONS] INDEX|ARCHIVE DEST\n\n"
    "Extract a casync archive index (.caidx) or archive (.catar) into the directory DEST, or\n"
    "a blob index (.caibx) into the file DEST. INDEX may be a path, an https:// URL or\n"
    "an image in a registry, oci://REGISTRY/REPOSITORY:TAG (publish --to).\n"
    "Chunks come from the stores, tried in order; every chunk is verified, and downloaded\n"
    "chunks are kept in the local chunk store (<dir>/chunks) so they are never downloaded\n"
    "twice. DEST appears only when complete; it must not exist or be an empty directory.\n\n"
    "Options:\n"
    "  --in-place             extract into the existing directory DEST, replacing entries\n"
    "  --no-same-owner        do not restore ownership; skip devices, clear setuid/setgid\n"
    "                         bits (automatic when not root)\n"
    "  --no-sparse            write zero runs instead of leaving holes\n"
    "  --seed=PATH            data that may hold some of the chunks, read before anything\n"
    "                         is downloaded (repeatable): a directory (archived as the\n"
    "                         index's archive is), a file (its bytes), or an index\n"
    "                         X.caidx|X.caibx whose data is X. What it supplies is\n"
    "                         verified and kept in <dir>/chunks; the cut of a directory\n"
    "                         or file is cached under <dir>/seeds until it changes\n"
    "  --no-auto-seed         do not use DEST as a seed (with --in-place, or an existing\n"
    "                         DEST file for a .caibx)\n"
    "  --json                 print transfer statistics as JSON on stdout\n"
    "  -h, --help             show this help\n\n";

typedef struct blob_job {
        archive_input *in;
        const char *dest;
} blob_job;

static int produce_blob(void *userdata, ca_stream_writer write, void *write_userdata)
{
        const blob_job *j = userdata;
        int r = archive_input_stream(j->in, write, write_userdata);
        if (r < 0 && r != -EBADMSG && r != -ENOENT)
                ca_log_error("%s: %s", j->dest, strerror(-r));
        return r;
}

/* A blob appears under DEST only when complete: temp file beside it, then rename. */
static int extract_blob(archive_input *in, const char *dest)
{
        return ca_write_file_atomic(dest, CA_ATOMIC_MODE_DEFAULT, CA_ATOMIC_RECLAIM, produce_blob,
                                    &(blob_job){in, dest});
}

static int extract_tree(archive_input *in, const char *dest, const ca_extract_options *opts)
{
        _cleanup_(ca_extract_freep) ca_extract *e = NULL;
        ca_sink sink;
        int r = ca_extract_new(dest, opts, &e, &sink);
        if (r < 0)
                return r;
        r = archive_input_decode(in, &sink);
        if (r < 0)
                return r;
        return ca_extract_commit(e);
}

/*
 * DEST when it holds an older version, as casync's --seed-output: a directory extracted over in
 * place, or the file a blob replaces. NULL when there is none or --no-auto-seed.
 */
static const char *extract_auto_seed(const char *src, const char *dest, bool in_place,
                                     const seed_list *l)
{
        struct stat st;
        if (l->no_auto || stat(dest, &st) < 0)
                return NULL;
        if (input_index_kind(src) == CA_INDEX_BLOB ? S_ISREG(st.st_mode)
                                                   : in_place && S_ISDIR(st.st_mode))
                return dest;
        return NULL;
}

/* Seeds supply chunks before the extraction asks for any: the --seed values, then auto_seed. */
static int apply_extract_seeds(archive_input *in, const seed_list *l, const char *auto_seed)
{
        if (in->kind == INPUT_CATAR) {
                if (l->n > 0)
                        ca_log_warning("%s: an archive (.catar) is read whole; seeds are of no use",
                                       in->location);
                return 0;
        }
        if (!in->cache) {
                if (l->n > 0)
                        return ca_log_errno(CA_LOG_ERR, -EINVAL,
                                            "--seed keeps what the seeds supply in <dir>/chunks; "
                                            "it cannot be combined with --no-cache");
                return 0;
        }
        seed_target t = {
            .index = in->index,
            .blob = in->kind == INPUT_CAIBX,
            .store = in->store,
            .source = in->source,
        };
        return seed_apply_list(&t, l, auto_seed);
}

enum { OPT_IN_PLACE = OPT_INPUT_LAST, OPT_NO_SAME_OWNER, OPT_NO_SPARSE, OPT_JSON };

typedef struct extract_args {
        input_args *input;
        ca_extract_options extract;
        bool json;
} extract_args;

static int extract_option(int c, const char *arg, void *userdata)
{
        extract_args *a = userdata;
        switch (c) {
        case OPT_IN_PLACE:
                a->extract.in_place = true;
                return 1;
        case OPT_NO_SAME_OWNER:
                a->extract.no_same_owner = true;
                return 1;
        case OPT_NO_SPARSE:
                a->extract.no_sparse = true;
                return 1;
        case OPT_JSON:
                a->json = true;
                return 1;
        default:
                return input_args_parse(a->input, c, arg);
        }
}

static int run_extract(int argc, char **argv)
{
        static const struct option options[] = {
            INPUT_LONG_OPTIONS,
            SEED_LONG_OPTIONS,
            {"in-place", no_argument, NULL, OPT_IN_PLACE},
            {"no-same-owner", no_argument, NULL, OPT_NO_SAME_OWNER},
            {"no-sparse", no_argument, NULL, OPT_NO_SPARSE},
            {"json", no_argument, NULL, OPT_JSON},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        _cleanup_(input_args_done) input_args input = {};
        extract_args a = {.input = &input};
        int r = input_args_init(&input, argc);
        if (r >= 0)
                r = command_parse(&command_extract, argc, argv, "h", options, extract_option, &a, 2,
                                  "INDEX|ARCHIVE and DEST");
        if (r != 0)
                return MIN(r, 0);
        input_options *io = &input.o;
        const char *src = argv[optind], *dest = argv[optind + 1];
        const char *auto_seed = extract_auto_seed(src, dest, a.extract.in_place, &io->seeds);
        io->cache_local = io->seeds.n > 0 || auto_seed;

        /* The archive input holds the image store while chunks go into <dir>/chunks, so a gc
         * waits instead of deleting them between the seeds storing them (or a download) and
         * the extraction reading them. */
        archive_input in;
        report *rep = NULL;
        r = archive_input_open(&in, src, io);
        if (r >= 0)
                r = report_start(&in, dest, a.json, &rep);
        if (r >= 0) {
                r = apply_extract_seeds(&in, &io->seeds, auto_seed);
                report_set_seeded(rep, (uint64_t)MAX(r, 0));
        }
        if (r >= 0)
                r = in.kind == INPUT_CAIBX ? extract_blob(&in, dest)
                                           : extract_tree(&in, dest, &a.extract);
        r = report_finish(rep, r);
        archive_input_close(&in);
        return r;
}

const command command_extract = {
    .name = "extract",
    .run = run_extract,
    .summary = "extract a .caidx/.catar into a directory or a .caibx into a file",
    .usage = usage,
};
