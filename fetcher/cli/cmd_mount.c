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
    "Mount an image (its rootfs/) or a casync archive index (.caidx, a path, an\n"
    "https:// URL or oci://REGISTRY/REPOSITORY:TAG; its whole archive) read-only at\n"
    "MOUNTPOINT, without waiting for the download: a read fetches the chunks it needs\n"
    "at once, while a background walk brings every other chunk into the local chunk\n"
    "store (<dir>/chunks), so the mount ends up fully local.\n"
    "Unmount with 'fusermount3 -u MOUNTPOINT' or 'umount MOUNTPOINT'.\n\n"
    "An ID is a stored image. A NAME (example.com/app:1.0,os=linux) is resolved as 'fetch'\n"
    "resolves it (--pull-policy; discovery, the index and its signature with fetch's rules,\n"
    "--insecure-options and messages), then the manifest, read from the archive's first\n"
    "chunks, must match the name and labels: a refused image fails (254) before anything\n"
    "is mounted. An image new to the store is recorded in it, as 'fetch' records it\n"
    "(without a tree), once the prefetch has every chunk (not when stopped before, nor with\n"
    "--no-prefetch); its chunks stay in the store either way.\n"
    "The image ID (the SHA-512 of the whole image) is printed on stdout as 'fetch' prints it:\n"
    "for a stored image once mounted; for a first mount by name only once recorded, in the\n"
    "foreground (-f); a daemon (the parent exits 0 once mounted) logs it then instead\n"
    "(--log). A .caidx path or URL is mounted as it is (no signature, nothing recorded).\n\n"
    "Options:\n"
    "  -f, --foreground       stay in the foreground (default: return once mounted)\n"
    "  --pull-policy=POLICY   for a NAME: new (default): a stored image if one matches,\n"
    "                         else discovery; update: discover and revalidate the index;\n"
    "                         never: the store only\n"
    "  --trust-keys-from-https\n"
    "                         as for 'fetch': trust the keys discovery offers over https\n"
    "                         when no key is trusted for the name yet\n"
    "  --full                 print IDs with 64 hex digits instead of 32\n"
    "  --allow-other          let other users access the mount (-o allow_other)\n"
    "  --no-prefetch          fetch only what reads need\n"
    "  --seed=PATH            data that may hold some of the chunks (repeatable): a\n"
    "                         directory, a file, or an index X.caidx|X.caibx whose data\n"
    "                         is X (see 'acfetch extract --help'). Seeds are read in the\n"
    "                         background once mounted, before the prefetch downloads\n"
    "  --no-auto-seed         for an ID or NAME, do not use the newest rendered tree of\n"
    "                         the image's name as a seed\n"
    "  --log FILE             append messages to FILE once mounted (default: stderr in\n"
    "                         the foreground, discarded in the background); the ID of\n"
    "                         an image recorded by a daemon is logged there\n"
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

/* What mounting an image (not a bare index) keeps until the mount ends. */
typedef struct mount_image {
        aci_store *store;        /* the archive input borrows it */
        char *index_path;        /* a stored image's index.caidx */
        char *auto_seed;         /* the newest rendered tree of the image's name, if wanted */
        aci_image_record record; /* a stored image: printed once mounted */
        bool full;               /* print 64 hex digits */
        /* A first mount by name: recorded once the prefetch has every chunk. */
        fetch_context ctx;
        auth_config *auth;
        dc_image *img;
        image_resolution res;
        bool print_when_recorded; /* in the foreground: its ID on stdout */
} mount_image;

static void mount_image_done(mount_image *m)
{
        image_resolution_done(&m->res);
        dc_image_free(m->img);
        transfer_engine_free(m->ctx.engine);
        auth_config_free(m->auth);
        aci_image_record_done(&m->record);
        free(m->index_path);
        free(m->auto_seed);
        aci_store_free(m->store);
        *m = (mount_image){};
}

static void print_id(const char *id, bool full)
{
        printf("%.*s\n", full ? ACI_KEY_SIZE - 1 : 7 + 32, id);
        if (fflush(stdout) != 0)
                ca_log_error("writing to stdout failed");
}

/* Once mounted (before stdout goes away in a daemon): a stored image's ID, as fetch prints it. */
static void print_stored_id(void *userdata)
{
        mount_image *m = userdata;
        if (m->record.id[0])
                print_id(m->record.id, m->full);
}

/*
 * The prefetch of a first mount by name completed: every chunk is in <dir>/chunks, so the image
 * is recorded as fetch records it (fetch_record_local: decoded from the local chunks alone, its
 * ID hashed), logged, and printed on stdout in the foreground. Runs in a prefetch thread while
 * the mount serves; the store is opened again for it (the mount dropped its lock so that gc
 * never waits for a mount; recording takes it, as a fetch does).
 */
static void record_prefetched(void *userdata, int result)
{
        mount_image *m = userdata;
        const char *name = m->img->name;
        if (result < 0) {
                ca_log_warning("%s: not recorded in the store, as some chunks are missing; a "
                               "later fetch completes it",
                               name);
                return;
        }
        _cleanup_(aci_store_freep) aci_store *s = NULL;
        int r = aci_store_open(aci_store_path(m->store), &s);
        if (r < 0)
                return;
        fetch_context c = m->ctx;
        c.store = s;
        c.render = false;
        c.in = (archive_input){.engine = c.engine, .store = s, .cache = aci_store_chunks(s)};
        aci_image_record rec;
        r = fetch_record_local(&c, m->img, &m->res, &rec);
        if (r < 0) {
                ca_log_warning("%s: the mounted image could not be recorded in the store", name);
                return;
        }
        ca_log_info("%s: every chunk is local; stored as image %s", name, rec.id);
        if (m->print_when_recorded)
                print_id(rec.id, m->full);
        aci_image_record_done(&rec);
}

/*
 * A stored image (m->record, in m->store): its index; chunks from <dir>/chunks, then where the
 * index came from.
 */
static int open_stored(archive_input *in, mount_image *m, const input_options *io, bool want_seed)
{
        const aci_image_record *rec = &m->record;
        m->index_path = aci_store_image_file(m->store, rec->key, "index.caidx");
        if (!m->index_path)
                return -ENOMEM;
        m->auto_seed = want_seed && rec->name ? seed_newest_tree(m->store, rec->name) : NULL;
        ca_index *idx = NULL;
        int r = ca_index_load(m->index_path, &idx);
        if (r < 0)
                return r;
        return archive_input_open_index(in, idx, m->index_path, rec->index_url, m->store, io);
}

/*
 * NAME, resolved as fetch resolves it (pull policy, discovery, the index and its signature):
 * a stored image (m->record), or a new index, served from its URL once the manifest read from
 * the archive's first entries matches the request. Errors logged, nothing mounted.
 */
static int open_by_name(archive_input *in, mount_image *m, const char *arg, input_options *io,
                        bool want_seed)
{
        int r = dc_image_parse(arg, &m->img);
        if (r >= 0)
                r = dc_image_set_defaults(m->img);
        if (r >= 0)
                r = open_image_store(&m->store);
        if (r >= 0)
                r = input_options_open_engine(io, &m->auth, &m->ctx.engine);
        if (r < 0)
                return r;
        m->ctx.io = io;
        m->ctx.auth = m->auth;
        m->ctx.store = m->store;
        m->ctx.in = (archive_input){
            .engine = m->ctx.engine, .store = m->store, .cache = aci_store_chunks(m->store)};
        r = fetch_resolve(&m->ctx, m->img, &m->res);
        if (r < 0)
                return r;
        if (m->res.how != FETCH_NEW) {
                m->record = m->res.record;
                m->res.record = (aci_image_record){};
                return open_stored(in, m, io, want_seed);
        }

        const char *url = m->res.url;
        ca_index *idx = NULL;
        r = ca_index_parse(m->res.index.body, m->res.index.size, url, &idx);
        if (r < 0)
                return r;
        if (input_index_kind(url) != CA_INDEX_ARCHIVE || idx->n_items == 0) {
                ca_index_free(idx);
                return ca_bad("%s: not an archive index with chunks", url);
        }
        m->auto_seed = want_seed ? seed_newest_tree(m->store, m->img->name) : NULL;
        r = archive_input_open_index(in, idx, url, url, m->store, io);
        if (r < 0)
                return r;
        return fetch_peek_manifest(&m->ctx, m->img, in);
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
        OPT_PULL_POLICY,
        OPT_TRUST_HTTPS,
        OPT_FULL,
        OPT_PROFILE,
        OPT_PROFILE_OUT,
        OPT_NO_PROFILE,
};

typedef struct mount_args {
        input_args *input;
        mount_options mount;
        bool foreground, full, trust_keys_from_https;
        pull_policy policy;
        const char *profile; /* --profile */
        bool no_profile;
} mount_args;

/*
 * The profile the mount prefetches by (a->mount.profile) and records into (the store's profile
 * of a->mount.image_name): --profile FILE (profile_fd), else the store's for the image's name,
 * else the one published beside its index. A bad one is one warning (said where it is read) and
 * the mount goes on without it.
 */
static int load_profile(mount_args *a, transfer_engine *engine, aci_store *store, int profile_fd,
                        aci_profile *ret)
{
        int r = -ENOENT;
        const char *name = a->mount.image_name, *url = a->mount.index_url;
        bool by_name = store && name && !a->no_profile;
        if (profile_fd >= 0)
                r = aci_profile_read_fd(profile_fd, a->profile, CA_LOG_WARNING, ret);
        else if (by_name)
                r = aci_profile_store_load(store, name, ret);
        if (r == -ENOENT && profile_fd < 0 && by_name && url && engine) {
                published_profile_options o = {
                    .engine = engine,
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
        a->mount.record_profile = by_name;
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
        case OPT_PULL_POLICY:
                return parse_pull_policy(arg, &a->policy) < 0 ? -EINVAL : 1;
        case OPT_TRUST_HTTPS:
                a->trust_keys_from_https = true;
                return 1;
        case OPT_FULL:
                a->full = true;
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
            {"pull-policy", required_argument, NULL, OPT_PULL_POLICY},
            {"trust-keys-from-https", no_argument, NULL, OPT_TRUST_HTTPS},
            {"full", no_argument, NULL, OPT_FULL},
            {"profile", required_argument, NULL, OPT_PROFILE},
            {"profile-out", required_argument, NULL, OPT_PROFILE_OUT},
            {"no-profile", no_argument, NULL, OPT_NO_PROFILE},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        _cleanup_(input_args_done) input_args input = {};
        mount_args a = {.input = &input, .policy = PULL_NEW};
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
        if (kind == IMAGE_SOURCE_ACI_PATH)
                return ca_log_errno(
                    CA_LOG_ERR, -EMEDIUMTYPE,
                    "%s: a .aci file cannot be mounted; 'acfetch fetch' imports it, "
                    "then mount its ID",
                    src);
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
        _cleanup_(aci_profile_done) aci_profile profile = {};
        mount_image m = {
            .full = a.full,
            .ctx = {.policy = a.policy,
                    .insecure = arg_global.insecure,
                    .config = arg_global.config,
                    .trust_keys_from_https =
                        a.trust_keys_from_https || arg_global.trust_keys_from_https},
        };
        io->cache_local = io->seeds.n > 0;
        bool is_index = input_index_kind(src) != CA_INDEX_UNKNOWN || url_is_remote(src) ||
                        strstr(src, ".catar");
        bool want_seed = !io->seeds.no_auto;
        if (is_index) {
                r = archive_input_open(&in, src, io);
        } else if (strncmp(src, "sha512-", 7) == 0) {
                r = open_image_arg(src, &m.store, &m.record);
                if (r >= 0)
                        r = open_stored(&in, &m, io, want_seed);
        } else {
                r = open_by_name(&in, &m, src, io, want_seed);
        }
        if (r >= 0 && !is_index) {
                a.mount.auto_seed = m.auto_seed;
                a.mount.userdata = &m;
                a.mount.mounted = print_stored_id;
                if (m.record.id[0]) {
                        a.mount.image_name = m.record.name;
                        a.mount.index_url = m.record.index_url;
                } else {
                        a.mount.image_name = m.img->name;
                        a.mount.index_url = m.res.url;
                        a.mount.prefetched = record_prefetched;
                        m.print_when_recorded = a.foreground;
                }
        }
        if (r >= 0)
                r = load_profile(&a, in.engine ? in.engine : m.ctx.engine, m.store, profile_fd,
                                 &profile);
        if (r >= 0)
                r = mount_serve(&in, is_index ? NULL : "rootfs", mountpoint, &a.mount, notify_fd);
        archive_input_close(&in);
        mount_image_done(&m);
        return r;
}

const command command_mount = {
    .name = "mount",
    .run = run_mount,
    .summary = "mount an image or a .caidx read-only, fetching chunks as they are read",
    .usage = usage,
};
