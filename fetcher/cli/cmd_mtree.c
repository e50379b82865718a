/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* acfetch mtree: the same lines `casync mtree` prints, for checking trees against each other. */
#include <getopt.h>
#include <string.h>

#include "fetcher/cli/cli.h"

static const char usage[] =
    "Usage: acfetch mtree [OPTIONS] INDEX|ARCHIVE\n\n"
    "Print one mtree line per node of a casync archive (.caidx or .catar, path or\n"
    "URL), exactly as 'casync mtree' prints them.\n\n"
    "Options:\n"
    "  --digest=ALGORITHM     file digest: sha512-256 (default, as casync) or sha256\n"
    "  -h, --help             show this help\n\n";

enum { OPT_DIGEST = OPT_INPUT_LAST };

typedef struct mtree_args {
        input_args *input;
        ca_digest_type digest;
} mtree_args;

static int mtree_option(int c, const char *arg, void *userdata)
{
        mtree_args *a = userdata;
        if (c != OPT_DIGEST)
                return input_args_parse(a->input, c, arg);
        if (strcmp(arg, "sha256") == 0)
                a->digest = CA_DIGEST_SHA256;
        else if (strcmp(arg, "sha512-256") == 0)
                a->digest = CA_DIGEST_SHA512_256;
        else
                return ca_log_errno(CA_LOG_ERR, -EINVAL, "--digest wants sha256 or sha512-256");
        return 1;
}

static int run_mtree(int argc, char **argv)
{
        static const struct option options[] = {
            INPUT_LONG_OPTIONS,
            {"digest", required_argument, NULL, OPT_DIGEST},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        _cleanup_(input_args_done) input_args input = {};
        mtree_args a = {.input = &input, .digest = CA_DIGEST_SHA512_256};
        int r = input_args_init(&input, argc);
        if (r >= 0)
                r = command_parse(&command_mtree, argc, argv, "h", options, mtree_option, &a, 1,
                                  "one INDEX|ARCHIVE");
        if (r != 0)
                return MIN(r, 0);

        archive_input in;
        ca_mtree *m = NULL;
        ca_sink sink;
        r = archive_input_open(&in, argv[optind], &input.o);
        if (r >= 0)
                r = ca_mtree_new(stdout, a.digest, &m, &sink);
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
