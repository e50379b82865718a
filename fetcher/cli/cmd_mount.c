/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* acfetch mount: an image or an archive index as a read-only FUSE file system, fetched lazily. */
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>

#include "fetcher/cli/cli.h"

static const char usage[] =
    "Usage: acfetch mount [OPTIONS] ID|NAME|INDEX MOUNTPOINT\n\n"
    "Mount an image of the store (its rootfs/) or a casync archive index (.caidx, a path or\n"
    "an https:// URL; its whole archive) read-only at MOUNTPOINT, without waiting for the\n"
    "download: a read fetches the chunks it needs at once, while a background walk brings\n"
    "every other chunk into the local chunk store (<dir>/chunks), so the mount ends up\n"
    "fully local. Unmount with 'fusermount3 -u MOUNTPOINT' or 'umount MOUNTPOINT'.\n\n"
    "Options:\n"
    "  -f, --foreground       stay in the foreground (default: return once mounted)\n"
    "  --allow-other          let other users access the mount (-o allow_other)\n"
    "  --no-prefetch          fetch only what reads need\n"
    "  --seed=PATH            data that may hold some of the chunks (repeatable): a\n"
    "                         directory, a file, or an index X.caidx|X.caibx whose data\n"
    "                         is X (see 'acfetch extract --help'). Seeds are read in the\n"
    "                         background once mounted, before the prefetch downloads\n"
    "  --no-auto-seed         for an ID or NAME, do not use the newest rendered tree of\n"
    "                         the image's name as a seed\n"
    "  --log FILE             append messages to FILE once mounted (default: stderr in\n"
    "                         the foreground, discarded in the background)\n"
    "  --profile FILE         prefetch first what the access profile FILE lists (see\n"
    "                         below) instead of the name's own or published one\n"
    "  --profile-out FILE     also write the access profile this mount records to FILE\n"
    "                         (what 'acfetch publish --profile' takes, when recorded by\n"
    "                         an ID or NAME mount: paths are relative to rootfs/)\n"
    "  --no-profile           for an ID or NAME: neither use nor record the name's profile\n"
    "  -h, --help             show this help\n\n"
    "Access profiles: a mount of an ID or NAME records which files are read first, and\n"
    "their first bytes, into <dir>/profiles/ under the image's name (saved every few\n"
    "seconds while it changes, and at unmount). The next mount of the name, usually a\n"
    "newer version, prefetches those files' chunks first, then the rest in archive order.\n"
    "Without a recorded profile, the one published beside the index (INDEX.profile, signed\n"
    "as INDEX.profile.asc by a key trusted for the name) is used, if any. A profile only\n"
    "orders downloads; a bad one is ignored with a warning. An INDEX mount records only\n"
    "with --profile-out and uses only --profile.\n\n";

/* Seeds are read once mounted, so a missing one is refused before. */
static int check_seeds(const input_options *io)
{
        const seed_list *l = &io->seeds;
        if (l->n > 0 && io->no_cache)
                return ca_log_errno(CA_LOG_ERR, -EINVAL,
                                    "--seed keeps what the seeds supply in <dir>/chunks; it "
                                    "cannot be combined with --no-cache");
        for (size_t i = 0; i < l->n; i++)
                if (access(l->paths[i], R_OK) < 0)
                        return ca_log_errno(CA_LOG_ERR, negative_errno(), "seed %s: %m",
                                            l->paths[i]);
        return 0;
}

/*
 * ID|NAME: the stored image's index; chunks from <dir>/chunks, then where the index came from.
 * The store stays open in *ret_store (the archive input borrows it). *ret_seed: the newest
 * rendered tree of the image's name, if any (NULL unless want_seed).
 */
static int open_image(archive_input *in, const char *arg, const input_options *io, bool want_seed,
                      aci_store **ret_store, char **ret_path, char **ret_seed, char **ret_name,
                      char **ret_url)
{
        aci_image_record rec = {};
        int r = open_image_arg(arg, ret_store, &rec);
        if (r < 0)
                return r;
        aci_store *s = *ret_store;
        _cleanup_(freep) char *path = aci_store_image_file(s, rec.key, "index.caidx");
        _cleanup_(freep) char *url = rec.index_url ? strdup(rec.index_url) : NULL;
        *ret_seed = want_seed && rec.name ? seed_newest_tree(s, rec.name) : NULL;
        *ret_name = rec.name ? strdup(rec.name) : NULL;
        *ret_url = rec.index_url ? strdup(rec.index_url) : NULL;
        bool oom = !path || (rec.index_url && (!url || !*ret_url)) || (rec.name && !*ret_name);
        aci_image_record_done(&rec);
        if (oom)
                return -ENOMEM;

        ca_index *idx = NULL;
        r = ca_index_load(path, &idx);
        if (r < 0)
                return r;
        r = archive_input_open_index(in, idx, path, url, s, io);
        if (r < 0)
                return r;
        *ret_path = TAKE_PTR(path);
        return 0;
}

/*
 * Without --foreground the work happens in a child, forked before any thread exists; the
 * parent waits until the child says the mount is up (or dies) and exits accordingly.
 */
static int daemon_fork(int *ret_fd)
{
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return ca_log_errno(CA_LOG_ERR, negative_errno(), "pipe: %m");
        pid_t pid = fork();
        if (pid < 0)
                return ca_log_errno(CA_LOG_ERR, negative_errno(), "fork: %m");
        if (pid > 0) {
                close(p[1]);
                char c = 0;
                ssize_t n;
                do
                        n = read(p[0], &c, 1);
                while (n < 0 && errno == EINTR);
                _exit(n == 1 && c == 'y' ? EXIT_SUCCESS : ACFETCH_EXIT_FAILURE);
        }
        close(p[0]);
        *ret_fd = p[1];
        return 0;
}

enum {
        OPT_ALLOW_OTHER = OPT_INPUT_LAST,
        OPT_NO_PREFETCH,
        OPT_LOG,
        OPT_PROFILE,
        OPT_PROFILE_OUT,
        OPT_NO_PROFILE
};

typedef struct mount_args {
        input_args *input;
        mount_options mount;
        bool foreground;
        const char *profile; /* --profile */
        bool no_profile;
} mount_args;

/*
 * The profile the mount prefetches by (a->mount.profile) and records into (profile_name):
 * --profile FILE, else the store's for the image's name, else the one published beside its
 * index. A bad one is one warning (said where it is read) and the mount goes on without it.
 */
static int load_profile(mount_args *a, archive_input *in, aci_store *store, const char *name,
                        const char *url, int profile_fd, aci_profile *ret)
{
        int r = -ENOENT;
        bool by_name = store && name && !a->no_profile;
        if (profile_fd >= 0)
                r = aci_profile_read_fd(profile_fd, a->profile, CA_LOG_WARNING, ret);
        else if (by_name)
                r = aci_profile_store_load(store, name, ret);
        if (r == -ENOENT && profile_fd < 0 && by_name && url && in->engine) {
                published_profile_options o = {
                    .engine = in->engine,
                    .config = arg_global.config,
                    .insecure = arg_global.insecure,
                    .name = name,
                    .index_url = url,
                };
                r = fetch_published_profile(&o, ret);
        }
        if (r == -ENOMEM)
                return r;
        if (r >= 0)
                a->mount.profile = ret;
        if (by_name)
                a->mount.profile_name = name;
        return 0;
}

static int mount_option(int c, const char *arg, void *userdata)
{
        mount_args *a = userdata;
        switch (c) {
        case 'f':
                a->foreground = true;
                return 1;
        case OPT_ALLOW_OTHER:
                a->mount.allow_other = true;
                return 1;
        case OPT_NO_PREFETCH:
                a->mount.no_prefetch = true;
                return 1;
        case OPT_LOG:
                a->mount.log = arg;
                return 1;
        case OPT_PROFILE:
                a->profile = arg;
                return 1;
        case OPT_PROFILE_OUT:
                a->mount.profile_out = arg;
                return 1;
        case OPT_NO_PROFILE:
                a->no_profile = true;
                return 1;
        default:
                return input_args_parse(a->input, c, arg);
        }
}

static int run_mount(int argc, char **argv)
{
        static const struct option options[] = {
            INPUT_LONG_OPTIONS,
            SEED_LONG_OPTIONS,
            {"foreground", no_argument, NULL, 'f'},
            {"allow-other", no_argument, NULL, OPT_ALLOW_OTHER},
            {"no-prefetch", no_argument, NULL, OPT_NO_PREFETCH},
            {"log", required_argument, NULL, OPT_LOG},
            {"profile", required_argument, NULL, OPT_PROFILE},
            {"profile-out", required_argument, NULL, OPT_PROFILE_OUT},
            {"no-profile", no_argument, NULL, OPT_NO_PROFILE},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        _cleanup_(input_args_done) input_args input = {};
        mount_args a = {.input = &input};
        int r = input_args_init(&input, argc);
        if (r >= 0)
                r = command_parse(&command_mount, argc, argv, "fh", options, mount_option, &a, 2,
                                  "ID|NAME|INDEX and MOUNTPOINT");
        if (r != 0)
                return MIN(r, 0);
        input_options *io = &input.o;
        a.mount.seeds = &io->seeds;
        const char *src = argv[optind], *mountpoint = argv[optind + 1];
        image_source_kind kind;
        r = image_source_classify(src, &kind); /* docker: and unknown schemes are refused */
        if (r < 0)
                return r;
        struct stat st;
        if ((r = mount_point_check(mountpoint)) < 0)
                return r;
        if (stat(mountpoint, &st) < 0 || !S_ISDIR(st.st_mode))
                return ca_log_errno(CA_LOG_ERR, -ENOTDIR, "%s: not a directory", mountpoint);
        r = check_seeds(io);
        /* A profile the user names must be there; what it holds is only a hint (below). */
        _cleanup_(closep) int profile_fd = -1;
        if (r >= 0 && a.profile) {
                profile_fd = open(a.profile, O_RDONLY | O_CLOEXEC);
                if (profile_fd < 0)
                        r = ca_log_errno(CA_LOG_ERR, negative_errno(), "%s: %m", a.profile);
        }
        int notify_fd = -1;
        if (r >= 0 && !a.foreground)
                r = daemon_fork(&notify_fd);
        if (r < 0)
                return r;

        archive_input in = {};
        _cleanup_(aci_store_freep) aci_store *store = NULL;
        _cleanup_(freep) char *image_index = NULL, *auto_seed = NULL, *name = NULL, *url = NULL;
        _cleanup_(aci_profile_done) aci_profile profile = {};
        io->cache_local = io->seeds.n > 0;
        bool is_index = ca_index_kind_from_name(src) != CA_INDEX_UNKNOWN || url_is_http(src) ||
                        strstr(src, ".catar");
        if (is_index)
                r = archive_input_open(&in, src, io);
        else
                r = open_image(&in, src, io, !io->seeds.no_auto, &store, &image_index, &auto_seed,
                               &name, &url);
        a.mount.auto_seed = auto_seed;
        if (r >= 0)
                r = load_profile(&a, &in, store, name, url, profile_fd, &profile);
        if (r >= 0)
                r = mount_serve(&in, is_index ? NULL : "rootfs", mountpoint, &a.mount, notify_fd);
        archive_input_close(&in);
        return r;
}

const command command_mount = {
    .name = "mount",
    .run = run_mount,
    .summary = "mount an image or a .caidx read-only, fetching chunks as they are read",
    .usage = usage,
};
