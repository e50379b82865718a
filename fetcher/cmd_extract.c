/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* acfetch extract: an index (with its chunk stores) or a catar, into a directory or a file. */
#include <getopt.h>
#include <string.h>
#include <sys/stat.h>

#include "fetcher/acfetch.h"

static const char usage[] =
        "Usage: acfetch extract [OPTIONS] INDEX|ARCHIVE DEST\n\n"
        "Extract a casync archive index (.caidx) or archive (.catar) into the directory DEST, or\n"
        "a blob index (.caibx) into the file DEST. INDEX may be a path or an https:// URL.\n"
        "Chunks come from the stores, tried in order; every chunk is verified, and downloaded\n"
        "chunks are kept in the local chunk store (<dir>/chunks) so they are never downloaded\n"
        "twice. DEST appears only when complete; it must not exist or be an empty directory.\n\n"
        "Options:\n"
        "  --in-place             extract into the existing directory DEST, replacing entries\n"
        "  --no-same-owner        do not restore ownership (automatic when not root)\n"
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
        return write_file_atomic(dest, false, produce_blob, &(blob_job){in, dest});
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
        if (ca_index_kind_from_name(src) == CA_INDEX_BLOB ? S_ISREG(st.st_mode)
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
            .store = in->cache,
            .source = in->source,
        };
        return seed_apply_list(&t, l, auto_seed);
}

static int run_extract(int argc, char **argv)
{
        enum { OPT_IN_PLACE = OPT_INPUT_LAST, OPT_NO_SAME_OWNER, OPT_NO_SPARSE, OPT_JSON };
        static const struct option options[] = {
                INPUT_LONG_OPTIONS,
                {"in-place", no_argument, NULL, OPT_IN_PLACE},
                {"no-same-owner", no_argument, NULL, OPT_NO_SAME_OWNER},
                {"no-sparse", no_argument, NULL, OPT_NO_SPARSE},
                {"json", no_argument, NULL, OPT_JSON},
            SEED_LONG_OPTIONS,
                {"help", no_argument, NULL, 'h'},
                {},
        };
        ca_extract_options opts = {};
        input_options io;
        bool json = false;
        int c, r = input_options_init(&io, argc);
        if (r < 0)
                return r;

        optind = 0;
        while (r >= 0 && (c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case OPT_IN_PLACE:
                        opts.in_place = true;
                        break;
                case OPT_NO_SAME_OWNER:
                        opts.no_same_owner = true;
                        break;
                case OPT_NO_SPARSE:
                        opts.no_sparse = true;
                        break;
                case OPT_JSON:
                        json = true;
                        break;
                case 'h':
                        command_help(&command_extract);
                        input_options_done(&io);
                        return 0;
                default:
                        r = input_options_parse(&io, c, optarg);
                        if (r == 0)
                                r = -EINVAL; /* getopt already said what was wrong */
                }
        }
        if (r >= 0 && argc - optind != 2)
                r = ca_log_errno(CA_LOG_ERR, -EINVAL,
                                 "extract wants INDEX|ARCHIVE and DEST; see 'acfetch extract "
                                 "--help'");
        if (r < 0) {
                input_options_done(&io);
                return r;
        }
        const char *src = argv[optind], *dest = argv[optind + 1];
        const char *auto_seed = extract_auto_seed(src, dest, opts.in_place, &io.seeds);
        io.cache_local = io.seeds.n > 0 || auto_seed;

        archive_input in;
        report *rep = NULL;
        /* Held while chunks go into <dir>/chunks, so a gc waits instead of deleting them
         * between the seeds storing them (or a download) and the extraction reading them. */
        _cleanup_(aci_store_freep) aci_store *held = NULL;
        r = archive_input_open(&in, src, &io);
        if (r >= 0 && in.cache)
                r = open_image_store(&held);
        if (r >= 0)
                r = report_start(&in, dest, json, &rep);
        if (r >= 0) {
                r = apply_extract_seeds(&in, &io.seeds, auto_seed);
                report_set_seeded(rep, (uint64_t)MAX(r, 0));
        }
        if (r >= 0)
                r = in.kind == INPUT_CAIBX ? extract_blob(&in, dest)
                                           : extract_tree(&in, dest, &opts);
        r = report_finish(rep, r);
        archive_input_close(&in);
        input_options_done(&io);
        return r;
}

const command command_extract = {
        .name = "extract",
        .run = run_extract,
        .summary = "extract a .caidx/.catar into a directory or a .caibx into a file",
        .usage = usage,
};
