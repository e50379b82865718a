/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* acfetch extract: an index (with its chunk stores) or a catar, into a directory or a file. */
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fetcher/acfetch.h"

static const char usage[] =
        "Usage: acfetch extract [OPTIONS] INDEX|ARCHIVE DEST\n\n"
        "Extract a casync archive index (.caidx) or archive (.catar) into the directory DEST, or\n"
        "a blob index (.caibx) into the file DEST. Chunks come from the --store directories,\n"
        "tried in order (default: default.castr beside the index, as casync). Every chunk is\n"
        "verified. DEST appears only when complete; it must not exist or be an empty directory.\n\n"
        "Options:\n"
        "  --store=DIR       chunk store to read (repeatable; also file:// URLs)\n"
        "  --in-place        extract into the existing directory DEST, replacing entries\n"
        "  --no-same-owner   do not restore ownership (automatic when not root)\n"
        "  --no-sparse       write zero runs instead of leaving holes\n"
        "  --jobs=N          chunks read and verified in parallel (default: one per CPU)\n"
        "  -h, --help        show this help\n";

static int write_fd(void *userdata, const void *data, size_t size)
{
        int fd = *(int *)userdata;
        const uint8_t *p = data;
        while (size > 0) {
                ssize_t n = write(fd, p, size);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                p += n;
                size -= (size_t)n;
        }
        return 0;
}

/* A blob appears under DEST only when complete: temp file beside it, then rename. */
static int extract_blob(archive_input *in, const char *dest)
{
        _cleanup_(freep) char *a = strdup(dest), *b = strdup(dest), *tmp = NULL;
        if (!a || !b)
                return -ENOMEM;
        if (asprintf(&tmp, "%s/.%s.acfetch-XXXXXX", dirname(a), basename(b)) < 0)
                return -ENOMEM;
        _cleanup_(closep) int fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return ca_log_errno(CA_LOG_ERR, negative_errno(), "%s: %m", tmp);

        int r = archive_input_stream(in, write_fd, &fd);
        if (r < 0) {
                if (r != -EBADMSG && r != -ENOENT)
                        ca_log_error("%s: %s", dest, strerror(-r));
                goto fail;
        }
        mode_t mask = umask(0);
        umask(mask);
        if (fchmod(fd, 0666 & ~mask) < 0 || close(TAKE_FD(fd)) < 0) {
                r = ca_log_errno(CA_LOG_ERR, negative_errno(), "%s: %m", tmp);
                goto fail;
        }
        if (rename(tmp, dest) < 0) {
                r = ca_log_errno(CA_LOG_ERR, negative_errno(), "%s: %m", dest);
                goto fail;
        }
        return 0;
fail:
        unlink(tmp);
        return r;
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

static double now_seconds(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int run_extract(int argc, char **argv)
{
        enum { OPT_STORE = 0x100, OPT_IN_PLACE, OPT_NO_SAME_OWNER, OPT_NO_SPARSE, OPT_JOBS };
        static const struct option options[] = {
                {"store", required_argument, NULL, OPT_STORE},
                {"in-place", no_argument, NULL, OPT_IN_PLACE},
                {"no-same-owner", no_argument, NULL, OPT_NO_SAME_OWNER},
                {"no-sparse", no_argument, NULL, OPT_NO_SPARSE},
                {"jobs", required_argument, NULL, OPT_JOBS},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        ca_extract_options opts = {};
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
                case OPT_IN_PLACE:
                        opts.in_place = true;
                        break;
                case OPT_NO_SAME_OWNER:
                        opts.no_same_owner = true;
                        break;
                case OPT_NO_SPARSE:
                        opts.no_sparse = true;
                        break;
                case OPT_JOBS:
                        if ((r = parse_jobs(optarg, &jobs)) < 0)
                                return r;
                        break;
                case 'h':
                        command_help(&command_extract);
                        return 0;
                default:
                        return -EINVAL;
                }
        }
        if (argc - optind != 2)
                return ca_log_errno(CA_LOG_ERR, -EINVAL,
                                    "extract wants INDEX|ARCHIVE and DEST; see 'acfetch extract "
                                    "--help'");
        const char *src = argv[optind], *dest = argv[optind + 1];

        double start = now_seconds();
        archive_input in;
        r = archive_input_open(&in, src, stores, n_stores, jobs);
        if (r >= 0)
                r = in.kind == INPUT_CAIBX ? extract_blob(&in, dest) : extract_tree(&in, dest, &opts);
        if (r >= 0 && in.index)
                ca_log_info("extracted %s to %s: %zu chunks, %llu bytes in %.2fs", src, dest,
                            in.index->n_items, (unsigned long long)in.index->total_size,
                            now_seconds() - start);
        archive_input_close(&in);
        return r;
}

const command command_extract = {
        .name = "extract",
        .run = run_extract,
        .summary = "extract a .caidx/.catar into a directory or a .caibx into a file",
        .usage = usage,
};
