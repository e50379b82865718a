/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* acfetch render and acfetch export: a stored image as a directory, or as an .aci file. */
#include <getopt.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "casync/fs_safe.h"
#include "fetcher/cli/cli.h"

static const char render_usage[] =
    "Usage: acfetch render [OPTIONS] ID|NAME DIR\n\n"
    "Write a stored image, composed with its dependencies as rkt composes them, into\n"
    "DIR (manifest and rootfs/). DIR must not exist or be an empty directory (render\n"
    "never writes into a populated one); it appears only when complete. Works\n"
    "offline: everything comes from the store.\n\n"
    "Options:\n"
    "  --rootfs-only          write only the root file system's content into DIR\n"
    "  --no-same-owner        do not restore ownership; skip devices, clear\n"
    "                         setuid/setgid bits (automatic when not root)\n"
    "  -h, --help             show this help\n\n";

static const char export_usage[] =
    "Usage: acfetch export [--overwrite] ID|NAME FILE.aci|-\n\n"
    "Write a stored image as an uncompressed ACI: the canonical pax tar whose SHA-512\n"
    "is the image ID (so `sha512sum FILE.aci` shows it, and rkt computes the same\n"
    "ID). The file appears only when complete and checked; an existing FILE.aci is\n"
    "replaced only with --overwrite. '-' writes to stdout (not a terminal).\n\n"
    "Options:\n"
    "  --overwrite            replace FILE.aci if it exists\n"
    "  -h, --help             show this help\n\n";

enum { OPT_ROOTFS_ONLY = 0x100, OPT_NO_SAME_OWNER, OPT_OVERWRITE };

/* The rule every extraction follows, said before the store is read (the extraction's own
 * message would point at extract's --in-place, which render does not take). */
static int check_render_dest(const char *dir)
{
        struct stat st;
        if (lstat(dir, &st) < 0)
                return errno == ENOENT ? 0
                                       : ca_log_errno(CA_LOG_ERR, negative_errno(), "%s: %m", dir);
        if (!S_ISDIR(st.st_mode))
                return ca_log_errno(CA_LOG_ERR, -EEXIST,
                                    "%s exists and is not a directory; render writes a new one",
                                    dir);
        _cleanup_(closep) int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int r = fd < 0 ? negative_errno() : fs_dir_is_empty(fd);
        if (r < 0)
                return ca_log_errno(CA_LOG_ERR, r, "%s: %s", dir, strerror(-r));
        if (r == 0)
                return ca_log_errno(CA_LOG_ERR, -ENOTEMPTY,
                                    "%s exists and is not empty; render writes only into a new or "
                                    "empty directory",
                                    dir);
        return 0;
}

static int render_option(int c, const char *arg, void *userdata)
{
        aci_render_options *o = userdata;
        if (c == OPT_ROOTFS_ONLY)
                o->rootfs_only = true;
        else if (c == OPT_NO_SAME_OWNER)
                o->no_same_owner = true;
        else
                return 0;
        return 1;
}

static int run_render(int argc, char **argv)
{
        static const struct option options[] = {
            {"rootfs-only", no_argument, NULL, OPT_ROOTFS_ONLY},
            {"no-same-owner", no_argument, NULL, OPT_NO_SAME_OWNER},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        aci_render_options o = {.jobs = ca_default_jobs()};
        int r = command_parse(&command_render, argc, argv, "h", options, render_option, &o, 2,
                              "ID|NAME and DIR");
        if (r != 0)
                return MIN(r, 0);
        r = check_render_dest(argv[optind + 1]);
        if (r < 0)
                return r;
        _cleanup_(aci_store_freep) aci_store *s = NULL;
        aci_image_record rec;
        r = open_image_arg(argv[optind], &s, &rec);
        if (r < 0)
                return r;
        aci_render_list l = {};
        r = aci_render_list_build(s, &rec, &l);
        if (r >= 0)
                r = aci_render(s, &l, argv[optind + 1], &o);
        aci_render_list_done(&l);
        aci_image_record_done(&rec);
        return r;
}

typedef struct export_job {
        aci_store *store;
        const aci_image_record *record;
        const char *dest;
        ca_stream_writer write;
        void *write_userdata;
} export_job;

/* The file's writer, whose failures (a full file system) only the export can name. */
static int export_write(void *userdata, const void *data, size_t size)
{
        const export_job *j = userdata;
        int r = j->write(j->write_userdata, data, size);
        return r < 0 ? ca_log_write_error(j->dest, r) : 0;
}

static int produce_export(void *userdata, ca_stream_writer write, void *write_userdata)
{
        export_job *j = userdata;
        j->write = write;
        j->write_userdata = write_userdata;
        return aci_image_export(j->store, j->record, ca_default_jobs(), export_write, j);
}

static int stdout_write(void *userdata, const void *data, size_t size)
{
        (void)userdata;
        return write_full(STDOUT_FILENO, data, size);
}

static int export_option(int c, const char *arg, void *userdata)
{
        (void)arg;
        if (c != OPT_OVERWRITE)
                return 0;
        *(bool *)userdata = true;
        return 1;
}

static int run_export(int argc, char **argv)
{
        static const struct option options[] = {
            {"overwrite", no_argument, NULL, OPT_OVERWRITE},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        bool overwrite = false;
        int r = command_parse(&command_export, argc, argv, "h", options, export_option, &overwrite,
                              2, "ID|NAME and FILE");
        if (r != 0)
                return MIN(r, 0);
        const char *dest = argv[optind + 1];
        bool to_stdout = strcmp(dest, "-") == 0;
        struct stat st;
        if (to_stdout && isatty(STDOUT_FILENO))
                return ca_log_errno(
                    CA_LOG_ERR, -EINVAL,
                    "export: stdout is a terminal; redirect it to a file or a pipe");
        if (!to_stdout && !overwrite && lstat(dest, &st) >= 0)
                return ca_log_errno(CA_LOG_ERR, -EEXIST,
                                    "%s exists; export replaces it only with --overwrite", dest);
        _cleanup_(aci_store_freep) aci_store *s = NULL;
        aci_image_record rec;
        r = open_image_arg(argv[optind], &s, &rec);
        if (r < 0)
                return r;

        export_job job = {.store = s, .record = &rec, .dest = to_stdout ? "stdout" : dest};
        if (to_stdout)
                r = produce_export(&job, stdout_write, NULL);
        else
                r = ca_write_file_atomic(dest, CA_ATOMIC_MODE_DEFAULT,
                                         CA_ATOMIC_SYNC | CA_ATOMIC_RECLAIM, produce_export, &job);
        if (r >= 0)
                ca_log_info("%s: image %s, %llu bytes", job.dest, rec.name,
                            (unsigned long long)rec.size);
        aci_image_record_done(&rec);
        return r;
}

const command command_render = {
    .name = "render",
    .run = run_render,
    .summary = "write a stored image (with its dependencies) into a directory",
    .usage = render_usage,
    .local_only = true,
};

const command command_export = {
    .name = "export",
    .run = run_export,
    .summary = "write a stored image as an .aci file (its SHA-512 is the image ID)",
    .usage = export_usage,
    .local_only = true,
};
