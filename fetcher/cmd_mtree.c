/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* acfetch mtree: the same lines `casync mtree` prints, for checking trees against each other. */
#include <getopt.h>
#include <string.h>

#include "fetcher/acfetch.h"

static const char usage[] =
        "Usage: acfetch mtree [OPTIONS] INDEX|ARCHIVE\n\n"
        "Print one mtree line per node of a casync archive (.caidx or .catar), exactly as\n"
        "'casync mtree' prints them.\n\n"
        "Options:\n"
        "  --store=DIR          chunk store to read (repeatable; default: default.castr beside\n"
        "                       the index)\n"
        "  --digest=ALGORITHM   file digest: sha512-256 (default, as casync) or sha256\n"
        "  --jobs=N             chunks read and verified in parallel\n"
        "  -h, --help           show this help\n";

static int run_mtree(int argc, char **argv)
{
        enum { OPT_STORE = 0x100, OPT_DIGEST, OPT_JOBS };
        static const struct option options[] = {
                {"store", required_argument, NULL, OPT_STORE},
                {"digest", required_argument, NULL, OPT_DIGEST},
                {"jobs", required_argument, NULL, OPT_JOBS},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        ca_digest_type digest = CA_DIGEST_SHA512_256;
        unsigned jobs = default_jobs();
        _cleanup_(freep) char **stores = calloc((size_t)argc, sizeof(char *));
        size_t n_stores = 0;
        int c, r;
        if (!stores)
                return -ENOMEM;

        optind = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case OPT_STORE:
                        stores[n_stores++] = optarg;
                        break;
                case OPT_DIGEST:
                        if (strcmp(optarg, "sha256") == 0)
                                digest = CA_DIGEST_SHA256;
                        else if (strcmp(optarg, "sha512-256") == 0)
                                digest = CA_DIGEST_SHA512_256;
                        else
                                return ca_log_errno(CA_LOG_ERR, -EINVAL,
                                                    "--digest wants sha256 or sha512-256");
                        break;
                case OPT_JOBS:
                        if ((r = parse_jobs(optarg, &jobs)) < 0)
                                return r;
                        break;
                case 'h':
                        command_help(&command_mtree);
                        return 0;
                default:
                        return -EINVAL;
                }
        }
        if (argc - optind != 1)
                return ca_log_errno(CA_LOG_ERR, -EINVAL,
                                    "mtree wants one INDEX|ARCHIVE; see 'acfetch mtree --help'");

        archive_input in;
        ca_mtree *m = NULL;
        ca_sink sink;
        r = archive_input_open(&in, argv[optind], stores, n_stores, jobs);
        if (r >= 0)
                r = ca_mtree_new(stdout, digest, &m, &sink);
        if (r >= 0)
                r = archive_input_decode(&in, &sink);
        ca_mtree_free(m);
        archive_input_close(&in);
        if (r >= 0 && (fflush(stdout) != 0 || ferror(stdout)))
                r = ca_log_errno(CA_LOG_ERR, -EIO, "writing to stdout failed");
        return r;
}

const command command_mtree = {
        .name = "mtree",
        .run = run_mtree,
        .summary = "print casync-compatible mtree lines for an archive",
        .usage = usage,
};
