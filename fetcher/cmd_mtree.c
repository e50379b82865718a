/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* acfetch mtree: the same lines `casync mtree` prints, for checking trees against each other. */
#include <getopt.h>
#include <string.h>

#include "fetcher/acfetch.h"

static const char usage[] =
        "Usage: acfetch mtree [OPTIONS] INDEX|ARCHIVE\n\n"
        "Print one mtree line per node of a casync archive (.caidx or .catar, path or URL),\n"
        "exactly as 'casync mtree' prints them.\n\n"
        "Options:\n"
        "  --digest=ALGORITHM     file digest: sha512-256 (default, as casync) or sha256\n"
        "  -h, --help             show this help\n\n";

static int run_mtree(int argc, char **argv)
{
        enum { OPT_DIGEST = OPT_INPUT_LAST };
        static const struct option options[] = {
                INPUT_LONG_OPTIONS,
                {"digest", required_argument, NULL, OPT_DIGEST},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        ca_digest_type digest = CA_DIGEST_SHA512_256;
        input_options io;
        int c, r = input_options_init(&io, argc);
        if (r < 0)
                return r;

        optind = 0;
        while (r >= 0 && (c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case OPT_DIGEST:
                        if (strcmp(optarg, "sha256") == 0)
                                digest = CA_DIGEST_SHA256;
                        else if (strcmp(optarg, "sha512-256") == 0)
                                digest = CA_DIGEST_SHA512_256;
                        else
                                r = ca_log_errno(CA_LOG_ERR, -EINVAL,
                                                 "--digest wants sha256 or sha512-256");
                        break;
                case 'h':
                        command_help(&command_mtree);
                        input_options_done(&io);
                        return 0;
                default:
                        r = input_options_parse(&io, c, optarg);
                        if (r == 0)
                                r = -EINVAL;
                }
        }
        if (r >= 0 && argc - optind != 1)
                r = ca_log_errno(CA_LOG_ERR, -EINVAL,
                                 "mtree wants one INDEX|ARCHIVE; see 'acfetch mtree --help'");
        if (r < 0) {
                input_options_done(&io);
                return r;
        }

        archive_input in;
        ca_mtree *m = NULL;
        ca_sink sink;
        r = archive_input_open(&in, argv[optind], &io);
        if (r >= 0)
                r = ca_mtree_new(stdout, digest, &m, &sink);
        if (r >= 0)
                r = archive_input_decode(&in, &sink);
        ca_mtree_free(m);
        archive_input_close(&in);
        input_options_done(&io);
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
