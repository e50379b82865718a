/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* acfetch gc and acfetch verify: keeping the store small and sound. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "fetcher/cli/cli.h"

static const char gc_usage[] =
    "Usage: acfetch gc [--dry-run] [--grace=DURATION]\n\n"
    "Remove the chunks no stored image lists, the trees of removed images, unfinished\n"
    "trees and the work files of processes that are gone. Waits for running fetches\n"
    "and extracts (they hold the store shared); a mount does not hold it, and fetches\n"
    "again what it still needs. Chunks that only `extract` downloaded are removed\n"
    "too, and the cached cuts of seeds (<dir>/seeds) that were not used for 30 days.\n"
    "Unlisted chunks downloaded within the grace period are kept: an interrupted\n"
    "fetch's work, which its next run uses.\n\n"
    "Options:\n"
    "  --dry-run              only print, one per line, what would be removed\n"
    "  --grace=DURATION       keep unlisted chunks younger than this (default 1d; a\n"
    "                         number with s, m, h or d, seconds without; 0 removes\n"
    "                         them all)\n"
    "  -h, --help             show this help\n\n";

static const char verify_usage[] =
    "Usage: acfetch verify [--repair]\n\n"
    "Re-hash every chunk of every stored image and recompute each image's ID from its\n"
    "archive. A corrupt chunk is reported and removed (fetching the image again\n"
    "repairs it); unfinished trees are removed. Each rendered tree is compared,\n"
    "content and metadata, with a fresh render from the chunk store: a tree modified\n"
    "since it was rendered (a runtime wrote into it) is reported, and rendered again\n"
    "with --repair or by the next fetch. Exits non-zero when anything was wrong.\n\n"
    "Options:\n"
    "  --repair               replace modified trees with a fresh render\n"
    "  -h, --help             show this help\n\n";

enum { OPT_DRY_RUN = 'n', OPT_GRACE = 0x100, OPT_REPAIR };

/* "0", "90", "90s", "15m", "24h", "7d": seconds, at most ten years. */
static int parse_duration(const char *arg, int64_t *ret)
{
        char *end;
        errno = 0;
        unsigned long long v = strtoull(arg, &end, 10);
        if (errno || end == arg || arg[0] == '-' || arg[0] == '+')
                return -EINVAL;
        unsigned long long unit = 1;
        if (*end == 'm')
                unit = 60;
        else if (*end == 'h')
                unit = 3600;
        else if (*end == 'd')
                unit = 86400;
        else if (*end != 's' && *end != 0)
                return -EINVAL;
        if (*end && end[1])
                return -EINVAL;
        if (v > 10ULL * 366 * 86400 / unit)
                return -ERANGE;
        *ret = (int64_t)(v * unit);
        return 0;
}

static int gc_option(int c, const char *arg, void *userdata)
{
        aci_gc_options *o = userdata;
        if (c == OPT_DRY_RUN) {
                o->dry_run = true;
                return 1;
        }
        if (c != OPT_GRACE)
                return 0;
        if (parse_duration(arg, &o->grace) < 0)
                return ca_log_errno(CA_LOG_ERR, -EINVAL,
                                    "--grace=%s: not a duration (such as 0, 90s, 30m, 24h, 7d)",
                                    arg);
        return 1;
}

static int run_gc(int argc, char **argv)
{
        static const struct option options[] = {
            {"dry-run", no_argument, NULL, OPT_DRY_RUN},
            {"grace", required_argument, NULL, OPT_GRACE},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        aci_gc_options o = {.grace = ACI_GC_GRACE_DEFAULT};
        int r = command_parse(&command_gc, argc, argv, "h", options, gc_option, &o, 0, NULL);
        if (r != 0)
                return MIN(r, 0);
        o.out = o.dry_run ? stdout : NULL;
        _cleanup_(aci_store_freep) aci_store *s = NULL;
        r = open_image_store(&s);
        if (r >= 0)
                r = aci_store_lock_exclusive(s);
        if (r < 0)
                return r;
        aci_gc_stats st;
        r = aci_store_gc(s, &o, &st);
        if (r < 0)
                return r;
        ca_log_info("gc%s: %llu chunks (%llu bytes), %llu trees, %llu seed caches%s",
                    o.dry_run ? " --dry-run" : "", (unsigned long long)st.chunks,
                    (unsigned long long)st.chunk_bytes, (unsigned long long)st.trees,
                    (unsigned long long)st.seeds, o.dry_run ? " would be removed" : " removed");
        if (st.chunks_young > 0)
                ca_log_info("gc: %llu unlisted chunks (%llu bytes) kept, downloaded within the "
                            "grace period (--grace=0 removes them)",
                            (unsigned long long)st.chunks_young,
                            (unsigned long long)st.chunks_young_bytes);
        return fflush(stdout) == 0 ? 0 : -EIO;
}

static int verify_option(int c, const char *arg, void *userdata)
{
        if (c != OPT_REPAIR)
                return 0;
        *(bool *)userdata = true;
        return 1;
}

static int run_verify(int argc, char **argv)
{
        static const struct option options[] = {
            {"repair", no_argument, NULL, OPT_REPAIR},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        bool repair = false;
        int r = command_parse(&command_verify, argc, argv, "h", options, verify_option, &repair, 0,
                              NULL);
        if (r != 0)
                return MIN(r, 0);
        _cleanup_(aci_store_freep) aci_store *s = NULL;
        r = open_image_store(&s);
        if (r < 0)
                return r;
        aci_image_record *list = NULL;
        size_t n = 0, bad = 0, trees_bad = 0;
        r = aci_store_list(s, &list, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                int k = aci_image_export(s, &list[i], ca_default_jobs(), NULL, NULL);
                if (k == -ENOMEM) {
                        r = k;
                        break;
                }
                if (k < 0) {
                        bad++;
                        ca_log_error("image %s (%s): damaged; fetch it again to repair it",
                                     list[i].key, list[i].name);
                        continue;
                }
                k = aci_store_verify_tree(s, &list[i], repair, ca_default_jobs());
                if (k == -ENOMEM) {
                        r = k;
                        break;
                }
                if (k < 0 || k == ACI_TREE_MODIFIED || k == ACI_TREE_REPAIRED)
                        trees_bad++;
                if (k == ACI_TREE_MODIFIED)
                        ca_log_error("image %s (%s): its tree was modified since it was rendered; "
                                     "`acfetch verify --repair` or the next fetch renders it again",
                                     list[i].key, list[i].name);
                else if (k == ACI_TREE_REPAIRED)
                        ca_log_error("image %s (%s): its tree was modified since it was rendered; "
                                     "rendered it again",
                                     list[i].key, list[i].name);
                else if (k < 0)
                        ca_log_error("image %s (%s): its tree could not be checked", list[i].key,
                                     list[i].name);
                else
                        ca_log_debug("image %s (%s): ok", list[i].key, list[i].name);
        }
        aci_image_records_free(list, n);
        if (r < 0)
                return r;
        ca_log_info("verify: %zu images, %zu damaged, %zu trees modified%s", n, bad, trees_bad,
                    repair && trees_bad ? " (rendered again)" : "");
        return bad || trees_bad ? -EBADMSG : 0;
}

const command command_gc = {
    .name = "gc",
    .run = run_gc,
    .summary = "remove chunks and trees no stored image needs",
    .usage = gc_usage,
    .local_only = true,
};

const command command_verify = {
    .name = "verify",
    .run = run_verify,
    .summary = "re-hash the store's images and chunks, check its trees; remove what is corrupt",
    .usage = verify_usage,
    .local_only = true,
};
