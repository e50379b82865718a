/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A FUSE session over a mount_fs: mounted at the mount point, served by libfuse's threads until
 * a signal or an unmount ends it, with the background seeds and prefetch running meanwhile and
 * the access profile recorded (saved periodically, and once more at the end).
 */
#include <fcntl.h>
#include <signal.h>
#include <string.h>

#include "fetcher/mount/mount.h"

/* A daemon's stdin and stdout go to /dev/null; stderr to log, else (a daemon) /dev/null. */
static int redirect_stdio(const char *log, bool daemon)
{
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null < 0)
                return negative_errno();
        if (daemon) {
                dup2(null, STDIN_FILENO);
                dup2(null, STDOUT_FILENO);
        }
        if (log) {
                int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
                if (fd < 0) {
                        int r = ca_log_errno(CA_LOG_ERR, negative_errno(), "%s: %m", log);
                        close(null);
                        return r;
                }
                dup2(fd, STDERR_FILENO);
                close(fd);
        } else if (daemon) {
                dup2(null, STDERR_FILENO);
        }
        close(null);
        return 0;
}

int mount_serve(archive_input *in, const char *subdir, const char *mountpoint,
                const mount_options *a, int notify_fd)
{
        _cleanup_(freep) char *opts = NULL;
        int r;

        /* A mount lives long: a gc must not wait for it, nor delete what it serves. It pins its
         * index (gc keeps those chunks while this process lives), then lets go of the store
         * lock; pinned first, so no gc runs in between. */
        if (in->store) {
                r = aci_store_pin_index(in->store, in->index);
                if (r < 0)
                        return r;
                aci_store_unlock(in->store);
        }

        mount_fs *m = NULL;
        mount_prefetch *background = NULL;
        mount_recorder *rec = NULL;
        r = mount_recorder_new(a->record_profile ? in->store : NULL, a->image_name, a->profile_out,
                               &rec);
        if (r < 0)
                return r;
        r = mount_fs_new(in, subdir, rec, &m);
        if (r < 0) {
                mount_recorder_free(rec);
                return r;
        }

        /* fsname shows the source in /proc/mounts; commas would split the option list. */
        _cleanup_(freep) char *fsname = strdup(in->location);
        if (!fsname) {
                mount_fs_free(m);
                mount_recorder_free(rec);
                return -ENOMEM;
        }
        for (char *p = fsname; *p; p++)
                if (*p == ',' || *p == ' ' || *p == '\\')
                        *p = '_';
        if (asprintf(&opts, "ro,fsname=acfetch:%s,subtype=acfetch%s", fsname,
                     a->allow_other ? ",allow_other,default_permissions" : "") < 0) {
                mount_fs_free(m);
                mount_recorder_free(rec);
                return -ENOMEM;
        }
        char *argv[] = {(char *)"acfetch", (char *)"-o", opts, NULL};
        struct fuse_args args = FUSE_ARGS_INIT(3, argv);
        struct fuse_session *se =
            fuse_session_new(&args, mount_fs_ops(), sizeof(*mount_fs_ops()), m);
        if (!se) {
                mount_fs_free(m);
                mount_recorder_free(rec);
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
        if (a->mounted)
                a->mounted(a->userdata);
        if (notify_fd >= 0 || a->log) {
                r = redirect_stdio(a->log, notify_fd >= 0);
                if (r < 0)
                        goto out_unmount;
        }
        r = mount_prefetch_start(in, a->no_prefetch ? 0 : MOUNT_PREFETCH_JOBS, a->seeds,
                                 a->auto_seed, subdir, a->profile, a->prefetched, a->userdata,
                                 &background);
        if (r >= 0 && rec)
                r = mount_recorder_start(rec);
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
out_unmount:
        /* Before the view goes: the threads read through the same archive input. */
        mount_prefetch_stop(background);
        fuse_session_unmount(se);
out_signals:
        fuse_remove_signal_handlers(se);
out_session:
        fuse_session_destroy(se);
        fuse_opt_free_args(&args);
        mount_fs_free(m);
        mount_recorder_free(rec); /* saves what was recorded */
        return r;
}
