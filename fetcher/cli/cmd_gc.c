/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* acfetch gc and acfetch verify: keeping the store small and sound. */
#include <getopt.h>
#include <string.h>

#include "fetcher/cli/cli.h"

static const char gc_usage[] =
    "Usage: acfetch gc [--dry-run]\n\n"
    "Remove the chunks no stored image lists, the trees of removed images, unfinished\n"
    "trees and the work files of processes that are gone. Waits for running fetches and\n"
    "extracts (they hold the store shared); a mount does not hold it, and fetches again what\n"
    "it still needs. Chunks that only `extract` downloaded are removed too, and the cached\n"
    "cuts of seeds (<dir>/seeds) that were not used for 30 days.\n\n"
    "Options:\n"
    "  --dry-run              only print, one per line, what would be removed\n"
    "  -h, --help             show this help\n\n";

static const char verify_usage[] =
    "Usage: acfetch verify\n\n"
    "Re-hash every chunk of every stored image and recompute each image's ID from its\n"
    "archive. A corrupt chunk is reported and removed (fetching the image again repairs\n"
    "it); unfinished trees are removed. Exits non-zero when anything was wrong.\n\n"
    "Options:\n"
    "  -h, --help             show this help\n\n";

static int gc_option(int c, const char *arg, void *userdata)
{
        if (c != 'n')
                return 0;
        *(bool *)userdata = true;
        return 1;
}

static int run_gc(int argc, char **argv)
{
        static const struct option options[] = {
            {"dry-run", no_argument, NULL, 'n'},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        bool dry_run = false;
        int r = command_parse(&command_gc, argc, argv, "h", options, gc_option, &dry_run, 0, NULL);
        if (r != 0)
                return MIN(r, 0);
        _cleanup_(aci_store_freep) aci_store *s = NULL;
        r = open_image_store(&s);
        if (r >= 0)
                r = aci_store_lock_exclusive(s);
        if (r < 0)
                return r;
        aci_gc_stats st;
        r = aci_store_gc(s, dry_run, dry_run ? stdout : NULL, &st);
        if (r < 0)
                return r;
        ca_log_info("gc%s: %llu chunks (%llu bytes), %llu trees, %llu seed caches%s",
                    dry_run ? " --dry-run" : "", (unsigned long long)st.chunks,
                    (unsigned long long)st.chunk_bytes, (unsigned long long)st.trees,
                    (unsigned long long)st.seeds, dry_run ? " would be removed" : " removed");
        return fflush(stdout) == 0 ? 0 : -EIO;
}

static int run_verify(int argc, char **argv)
{
        static const struct option options[] = {
            {"help", no_argument, NULL, 'h'},
            {},
        };
        int r = command_parse(&command_verify, argc, argv, "h", options, NULL, NULL, 0, NULL);
        if (r != 0)
                return MIN(r, 0);
        _cleanup_(aci_store_freep) aci_store *s = NULL;
        r = open_image_store(&s);
        if (r < 0)
                return r;
        aci_image_record *list = NULL;
        size_t n = 0, bad = 0;
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
                ca_log_debug("image %s (%s): ok", list[i].key, list[i].name);
                (void)aci_store_tree_ready(s, list[i].key); /* drops an unfinished tree */
        }
        aci_image_records_free(list, n);
        if (r < 0)
                return r;
        ca_log_info("verify: %zu images, %zu damaged", n, bad);
        return bad ? -EBADMSG : 0;
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
    .summary = "re-hash the store's images and chunks; remove what is corrupt",
    .usage = verify_usage,
    .local_only = true,
};
