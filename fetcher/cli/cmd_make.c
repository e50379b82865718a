/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* acfetch make: what `casync make` makes, byte for byte, with chunks hashed and compressed on
 * every core. */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>

#include "fetcher/cli/cli.h"

static const char usage[] =
    "Usage: acfetch make [OPTIONS] INDEX|ARCHIVE SOURCE\n\n"
    "Make a casync archive index (.caidx) or archive (.catar) of the directory\n"
    "SOURCE, or a blob index (.caibx) of the regular file SOURCE, exactly as\n"
    "'casync make' makes them for the same options: same bytes, same chunks. Chunks\n"
    "go to the store (compressed; chunks the store has already are not compressed\n"
    "again). Symlinks below SOURCE are archived, never followed.\n\n" MAKE_OPTIONS_HELP
    "  --print-digest         print the archive digest, as casync make does (it costs\n"
    "                         a pass of SHA-512/256 over the whole stream)\n"
    "  -h, --help             show this help\n\n";

enum { OPT_PRINT_DIGEST = OPT_MAKE_LAST };

typedef struct make_args {
        make_options o;
        bool print_digest;
} make_args;

static int make_option(int c, const char *arg, void *userdata)
{
        make_args *a = userdata;
        if (c != OPT_PRINT_DIGEST)
                return make_options_parse(&a->o, c, arg);
        a->print_digest = true;
        return 1;
}

static int run_make(int argc, char **argv)
{
        static const struct option options[] = {
            MAKE_LONG_OPTIONS,
            {"print-digest", no_argument, NULL, OPT_PRINT_DIGEST},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        _cleanup_(closep) int fd = -1;
        char hex[CA_CHUNK_ID_HEX_SIZE];
        make_args a = {};
        make_options *o = &a.o;
        make_stats stats;
        ca_chunk_id digest;
        struct stat st;

        make_options_init(o);
        int r = command_parse(&command_make, argc, argv, "h", options, make_option, &a, 2,
                              "INDEX|ARCHIVE and SOURCE");
        if (r != 0)
                return MIN(r, 0);
        r = make_options_check(o);
        if (r < 0)
                return r;

        const char *output = argv[optind], *source = argv[optind + 1];
        /* As casync opens its input: the path itself may be a symlink, nothing below it. */
        fd = open(source, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0 || fstat(fd, &st) < 0) {
                r = negative_errno();
                return ca_log_errno(CA_LOG_ERR, r, "%s: cannot open: %s", source, strerror(-r));
        }
        if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
                return ca_log_errno(CA_LOG_ERR, -EINVAL,
                                    "%s: neither a directory nor a regular file (block devices "
                                    "are not supported)",
                                    source);

        r = make_run(o,
                     &(make_target){
                         .output = output,
                         .source_fd = fd,
                         .blob = S_ISREG(st.st_mode),
                         .source_name = source,
                     },
                     a.print_digest ? &digest : NULL, &stats);
        if (r < 0)
                return r;
        if (ca_index_kind_from_name(output) != CA_INDEX_UNKNOWN)
                ca_log_debug("%s: %" PRIu64 " chunks, %" PRIu64 " new in the store (%" PRIu64
                             " bytes compressed), %" PRIu64 " there already",
                             output, stats.chunks.chunks, stats.chunks.stored,
                             stats.chunks.stored_bytes, stats.chunks.present);
        if (a.print_digest)
                printf("%s\n", ca_chunk_id_to_hex(&digest, hex));
        if (fflush(stdout) != 0 || ferror(stdout))
                return ca_log_errno(CA_LOG_ERR, -EIO, "writing to stdout failed");
        return 0;
}

const command command_make = {
    .name = "make",
    .run = run_make,
    .summary = "make a casync archive, index and chunks, as casync make does",
    .usage = usage,
    .local_only = true,
};
