/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* acfetch mount: an image or an archive index as a read-only FUSE file system, fetched lazily. */
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>

#include "fetcher/mount.h"

/* Prefetch threads: few, so reads that need a chunk always find a free transfer slot. */
#define PREFETCH_JOBS       4
#define REMOTE_JOBS_DEFAULT 16

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
    "  -h, --help             show this help\n\n";

typedef struct mount_args {
        bool foreground, allow_other, no_prefetch;
        const char *log;
        const seed_list *seeds;
        const char *auto_seed;
} mount_args;

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
 * *ret_seed: the newest rendered tree of the image's name, if any (NULL unless want_seed).
 */
static int open_image(archive_input *in, const char *arg, input_options *io, bool want_seed,
                      char **ret_path, char **ret_seed)
{
        _cleanup_(aci_store_freep) aci_store *s = NULL;
        aci_image_record rec = {};
        int r = open_image_store(&s);
        if (r < 0)
                return r;
        r = resolve_image_arg(s, arg, &rec);
        if (r < 0)
                return r;
        _cleanup_(freep) char *path = aci_store_image_file(s, rec.key, "index.caidx");
        _cleanup_(freep) char *url = rec.index_url ? strdup(rec.index_url) : NULL;
        *ret_seed = want_seed && rec.name ? seed_newest_tree(s, rec.name) : NULL;
        aci_image_record_done(&rec);
        if (!path || (rec.index_url && !url))
                return -ENOMEM;

        *in = (archive_input){.location = path, .kind = INPUT_CAIDX};
        r = ca_index_load(path, &in->index);
        if (r < 0)
                return r;
        bool remote = url && url_is_http(url);
        for (size_t i = 0; i < io->n_stores; i++)
                remote = remote || url_is_http(io->stores[i]);
        in->jobs = io->jobs ? io->jobs : REMOTE_JOBS_DEFAULT;
        if (remote) {
                r = input_options_load_auth(io);
                if (r < 0)
                        return r;
                transfer_options t = io->transfer;
                t.max_in_flight = MAX(t.max_in_flight, in->jobs);
                r = transfer_engine_new(&t, &in->engine);
                if (r < 0)
                        return r;
        }
        r = open_chunk_cache(&in->cache);
        if (r < 0)
                return r;
        /* With no --store and no index URL (a local import), the cache is all there is. */
        if (!url && io->n_stores == 0)
                r = chunk_source_new(in->cache, in->engine, in->jobs, &in->source);
        else
                r = archive_input_sources(in, url ? url : path, io);
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
                _exit(n == 1 && c == 'y' ? EXIT_SUCCESS : EXIT_FAILURE);
        }
        close(p[0]);
        *ret_fd = p[1];
        return 0;
}

static int redirect_stdio(const char *log, bool keep_stderr)
{
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null < 0)
                return negative_errno();
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        if (log) {
                int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
                if (fd < 0) {
                        int r = ca_log_errno(CA_LOG_ERR, negative_errno(), "%s: %m", log);
                        close(null);
                        return r;
                }
                dup2(fd, STDERR_FILENO);
                close(fd);
        } else if (!keep_stderr) {
                dup2(null, STDERR_FILENO);
        }
        close(null);
        return 0;
}

static int serve(archive_input *in, const char *subdir, const char *mountpoint, const mount_args *a,
                 int notify_fd)
{
        _cleanup_(freep) char *opts = NULL;
        int r;

        mount_fs *m = NULL;
        r = mount_fs_new(in, subdir, &m);
        if (r < 0)
                return r;

        /* fsname shows the source in /proc/mounts; commas would split the option list. */
        _cleanup_(freep) char *fsname = strdup(in->location);
        if (!fsname) {
                mount_fs_free(m);
                return -ENOMEM;
        }
        for (char *p = fsname; *p; p++)
                if (*p == ',' || *p == ' ' || *p == '\\')
                        *p = '_';
        if (asprintf(&opts, "ro,fsname=acfetch:%s,subtype=acfetch%s", fsname,
                     a->allow_other ? ",allow_other,default_permissions" : "") < 0) {
                mount_fs_free(m);
                return -ENOMEM;
        }
        char *argv[] = {(char *)"acfetch", (char *)"-o", opts, NULL};
        struct fuse_args args = FUSE_ARGS_INIT(3, argv);
        struct fuse_session *se =
            fuse_session_new(&args, mount_fs_ops(), sizeof(*mount_fs_ops()), m);
        if (!se) {
                mount_fs_free(m);
                return ca_log_errno(CA_LOG_ERR, -EIO, "%s: cannot set up FUSE", mountpoint);
        }
        /* libfuse only takes over signals left at their default; a shell starts background
         * jobs with SIGINT ignored, and SIGINT and SIGTERM must unmount whatever the parent did. */
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        if (fuse_set_signal_handlers(se) < 0) {
                r = ca_log_errno(CA_LOG_ERR, -EIO, "cannot install signal handlers");
                goto out_session;
        }
        if (fuse_session_mount(se, mountpoint) < 0) {
                r = ca_log_errno(CA_LOG_ERR, -EIO, "%s: cannot mount (is /dev/fuse usable?)",
                                 mountpoint);
                goto out_signals;
        }
        ca_log_debug("%s: mounted %s%s%s", mountpoint, in->location, subdir ? " " : "",
                     subdir ? subdir : "");
        if (notify_fd >= 0 || a->log) {
                r = redirect_stdio(a->log, notify_fd < 0);
                if (r < 0)
                        goto out_unmount;
        }
        r = mount_fs_prefetch_start(m, a->no_prefetch ? 0 : PREFETCH_JOBS, a->seeds, a->auto_seed);
        if (r < 0)
                goto out_unmount;
        if (notify_fd >= 0) {
                /* Mounted: the parent may return. */
                (void)write(notify_fd, "y", 1);
                close(notify_fd);
                setsid();
        }

        struct fuse_loop_config cfg = {.clone_fd = 0, .max_idle_threads = 16};
        r = fuse_session_loop_mt(se, &cfg);
        r = r < 0 ? r : 0; /* a signal ends the loop with a positive number: a clean exit */
        mount_fs_prefetch_stop(m);
out_unmount:
        fuse_session_unmount(se);
out_signals:
        fuse_remove_signal_handlers(se);
out_session:
        fuse_session_destroy(se);
        fuse_opt_free_args(&args);
        mount_fs_free(m);
        return r;
}

static int run_mount(int argc, char **argv)
{
        enum { OPT_ALLOW_OTHER = OPT_INPUT_LAST, OPT_NO_PREFETCH, OPT_LOG };
        static const struct option options[] = {
            INPUT_LONG_OPTIONS,
            {"foreground", no_argument, NULL, 'f'},
            {"allow-other", no_argument, NULL, OPT_ALLOW_OTHER},
            {"no-prefetch", no_argument, NULL, OPT_NO_PREFETCH},
            {"log", required_argument, NULL, OPT_LOG},
            SEED_LONG_OPTIONS,
            {"help", no_argument, NULL, 'h'},
            {},
        };
        mount_args a = {};
        input_options io;
        int c, r = input_options_init(&io, argc);
        if (r < 0)
                return r;
        a.seeds = &io.seeds;

        optind = 0;
        while (r >= 0 && (c = getopt_long(argc, argv, "fh", options, NULL)) >= 0) {
                switch (c) {
                case 'f':
                        a.foreground = true;
                        break;
                case OPT_ALLOW_OTHER:
                        a.allow_other = true;
                        break;
                case OPT_NO_PREFETCH:
                        a.no_prefetch = true;
                        break;
                case OPT_LOG:
                        a.log = optarg;
                        break;
                case 'h':
                        command_help(&command_mount);
                        input_options_done(&io);
                        return 0;
                default:
                        r = input_options_parse(&io, c, optarg);
                        if (r == 0)
                                r = -EINVAL;
                }
        }
        if (r >= 0 && argc - optind != 2)
                r = ca_log_errno(CA_LOG_ERR, -EINVAL,
                                 "mount wants ID|NAME|INDEX and MOUNTPOINT; see 'acfetch mount "
                                 "--help'");
        const char *src = r >= 0 ? argv[optind] : NULL,
                   *mountpoint = r >= 0 ? argv[optind + 1] : NULL;
        struct stat st;
        if (r >= 0 && (stat(mountpoint, &st) < 0 || !S_ISDIR(st.st_mode)))
                r = ca_log_errno(CA_LOG_ERR, -ENOTDIR, "%s: not a directory", mountpoint);
        if (r >= 0)
                r = check_seeds(&io);
        int notify_fd = -1;
        if (r >= 0 && !a.foreground)
                r = daemon_fork(&notify_fd);
        if (r < 0) {
                input_options_done(&io);
                return r;
        }

        archive_input in = {};
        _cleanup_(freep) char *image_index = NULL, *auto_seed = NULL;
        io.cache_local = io.seeds.n > 0;
        bool is_index = ca_index_kind_from_name(src) != CA_INDEX_UNKNOWN || url_is_http(src) ||
                        strstr(src, ".catar");
        if (is_index)
                r = archive_input_open(&in, src, &io);
        else
                r = open_image(&in, src, &io, !io.seeds.no_auto, &image_index, &auto_seed);
        a.auto_seed = auto_seed;
        if (r >= 0)
                r = serve(&in, is_index ? NULL : "rootfs", mountpoint, &a, notify_fd);
        archive_input_close(&in);
        input_options_done(&io);
        return r;
}

const command command_mount = {
    .name = "mount",
    .run = run_mount,
    .summary = "mount an image or a .caidx read-only, fetching chunks as they are read",
    .usage = usage,
};
