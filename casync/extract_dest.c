/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The extract sink's destination: dest's parent and temporary root (reclaiming those of
 * interrupted runs), the rename into place, a full destination's message, the unprivileged-policy
 * summary, and cleanup.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "casync/extract.h"

static int open_dest_parent(ca_extract *e)
{
        size_t len = strlen(e->dest);
        while (len > 1 && e->dest[len - 1] == '/')
                len--;
        _cleanup_(freep) char *path = strndup(e->dest, len);
        if (!path)
                return -ENOMEM;
        char *slash = strrchr(path, '/');
        const char *base = slash ? slash + 1 : path;
        if (!fs_name_is_valid(base))
                return ca_log_errno(CA_LOG_ERR, -EINVAL,
                                    "%s: cannot replace this directory; use --in-place", e->dest);
        e->base = strdup(base);
        if (!e->base)
                return -ENOMEM;
        const char *parent = ".";
        if (slash == path)
                parent = "/";
        else if (slash) {
                *slash = '\0';
                parent = path;
        }
        e->parent_fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (e->parent_fd < 0)
                return fail(negative_errno(), parent, "cannot open directory");
        return 0;
}

/* dest may be missing or an empty directory, which the commit replaces atomically. */
static int check_dest(ca_extract *e)
{
        struct stat st;
        if (fstatat(e->parent_fd, e->base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno == ENOENT)
                        return 0;
                return fail(negative_errno(), e->dest, "cannot access");
        }
        if (!S_ISDIR(st.st_mode))
                return ca_log_errno(CA_LOG_ERR, -EEXIST, "%s exists and is not a directory",
                                    e->dest);
        _cleanup_(closep) int fd =
            fs_open_beneath(e->parent_fd, e->base, O_RDONLY | O_DIRECTORY, 0);
        if (fd < 0)
                return fail(fd, e->dest, "cannot open directory");
        int r = fs_dir_is_empty(fd);
        if (r < 0)
                return fail(r, e->dest, "cannot read directory");
        if (r == 0)
                return ca_log_errno(CA_LOG_ERR, -ENOTEMPTY,
                                    "%s exists and is not empty; use --in-place", e->dest);
        e->dest_existed = true;
        return 0;
}

static int make_temp_root(ca_extract *e)
{
        /* ".<base>.acfetch-XXXXXX", shortening base so the name fits NAME_MAX. */
        _cleanup_(freep) char *prefix = NULL;
        if (fs_temp_prefix(e->base, &prefix) < 0)
                return -ENOMEM;
        /* Those of interrupted runs (kill -9, power loss), so that they do not pile up. */
        fs_temp_reclaim_siblings(e->parent_fd, e->base, e->dest);
        int r = fs_mkdtemp_at(e->parent_fd, prefix, &e->tmp_name);
        if (r < 0)
                return fail(r, e->dest, "cannot create temporary directory");
        e->root_fd = fs_open_beneath(e->parent_fd, e->tmp_name, O_RDONLY | O_DIRECTORY, 0);
        if (e->root_fd < 0)
                return fail(e->root_fd, e->dest, "cannot open temporary directory");
        /* Held until we are done: tells later runs this directory is not stale. */
        if (flock(e->root_fd, LOCK_EX | LOCK_NB) < 0)
                return fail(negative_errno(), e->dest, "cannot lock temporary directory");
        /* Drop a setgid bit inherited from the parent, and any umask effect. */
        if (fchmod(e->root_fd, 0700) < 0)
                return fail(negative_errno(), e->dest, "cannot change mode");
        return 0;
}

int extract_prepare_dest(ca_extract *e)
{
        int r;
        if ((r = open_dest_parent(e)) < 0 || (r = check_dest(e)) < 0 || (r = make_temp_root(e)) < 0)
                return extract_dest_error(e, r);
        return 0;
}

int extract_dest_error(const ca_extract *e, int r)
{
        return ca_errno_is_no_space(r) ? ca_log_write_error(e->dest_name, r) : r;
}

static int rename_into_place(ca_extract *e)
{
        if (!e->dest_existed) {
                if (renameat2(e->parent_fd, e->tmp_name, e->parent_fd, e->base, RENAME_NOREPLACE) >=
                    0)
                        return 0;
                /* EEXIST: created meanwhile, possibly empty; EINVAL: no RENAME_NOREPLACE
                 * here. A plain rename replaces only an empty directory either way. */
                if (errno != EEXIST && errno != EINVAL)
                        return fail(negative_errno(), e->dest, "cannot rename into place");
        }
        if (renameat(e->parent_fd, e->tmp_name, e->parent_fd, e->base) >= 0)
                return 0;
        int r = negative_errno();
        if (r == -ENOTEMPTY || r == -EEXIST)
                return ca_log_errno(CA_LOG_ERR, r, "%s exists and is not empty; use --in-place",
                                    e->dest);
        if (r == -ENOTDIR)
                return ca_log_errno(CA_LOG_ERR, r, "%s exists and is not a directory", e->dest);
        return fail(r, e->dest, "cannot rename into place");
}

int ca_extract_commit(ca_extract *e)
{
        if (!e->root_done)
                return ca_log_errno(CA_LOG_ERR, -EINVAL, "%s: extraction is incomplete", e->dest);
        if (e->committed)
                return 0;
        if (!e->opts.in_place) {
                int r = rename_into_place(e);
                if (r < 0)
                        return extract_dest_error(e, r);
                free(e->tmp_name);
                e->tmp_name = NULL;
        }
        e->committed = true;

        if (e->root_chattr_value != 0) {
                ca_node root = {.name = "", .path = ".", .depth = 0};
                return extract_chattr_merge(e, &root, e->root_fd, e->root_chattr_value,
                                            e->chattr_mask);
        }
        return 0;
}

uint64_t ca_extract_skipped(const ca_extract *e)
{
        return e->n_skipped;
}

/* Appends "N thing(s)" to list, joined by ", " or " and " as the position asks. */
static size_t summary_append(char *list, size_t size, size_t len, size_t k, size_t total,
                             uint64_t count, const char *one, const char *many)
{
        const char *sep = k == 0 ? "" : k + 1 == total ? " and " : ", ";
        len += (size_t)snprintf(list + len, size - len, "%s", sep);
        len = MIN(len, size - 1);
        len += (size_t)snprintf(list + len, size - len, count == 1 ? one : many,
                                (unsigned long long)count);
        return MIN(len, size - 1);
}

/* The one warning of the unprivileged policy: everything that was skipped, counted. */
static void print_summary(const ca_extract *e)
{
        const struct {
                uint64_t count;
                const char *one, *many;
        } parts[] = {
            {e->n_owner, "ownership of %llu entry", "ownership of %llu entries"},
            {e->n_devices, "%llu device node", "%llu device nodes"},
            {e->n_xattrs, "%llu privileged xattr", "%llu privileged xattrs"},
            {e->n_chattr, "%llu immutable/append-only flag", "%llu immutable/append-only flags"},
            {e->n_setid, "setuid/setgid bits of %llu file", "setuid/setgid bits of %llu files"},
        };
        char list[256] = "", overlay[128] = "";
        size_t len = 0, k = 0, total = 0;
        uint64_t sum = 0;
        for (size_t i = 0; i < ELEMENTSOF(parts); i++) {
                total += parts[i].count > 0;
                sum += parts[i].count;
        }
        for (size_t i = 0; i < ELEMENTSOF(parts); i++)
                if (parts[i].count > 0)
                        len = summary_append(list, sizeof(list), len, k++, total, parts[i].count,
                                             parts[i].one, parts[i].many);
        if (e->n_overlay > 0)
                snprintf(overlay, sizeof(overlay),
                         "%s%llu overlayfs xattr%s (trusted.overlay.*) never restored",
                         total ? "; " : "", (unsigned long long)e->n_overlay,
                         e->n_overlay == 1 ? "" : "s");
        if (total == 0 && e->n_overlay == 0)
                return;
        if (total == 0)
                ca_log_warning("%s", overlay);
        else
                ca_log_warning("%s: %s %s not restored%s",
                               e->opts.no_same_owner ? "with --no-same-owner"
                               : e->privileged       ? "insufficient privileges"
                                                     : "not running as root",
                               list, total == 1 && sum == 1 ? "was" : "were", overlay);
}

ca_extract *ca_extract_free(ca_extract *e)
{
        if (!e)
                return NULL;

        /* In place, unfinished entries live under temporary names: remove them. */
        if (e->cur_active && e->opts.in_place && e->cur_tmp[0] && e->depth > 0)
                (void)unlinkat(e->stack[e->depth - 1].fd, e->cur_tmp, 0);
        if (e->cur_fd >= 0)
                close(e->cur_fd);
        for (unsigned i = e->depth; i > 0; i--) {
                level *l = &e->stack[i - 1];
                if (l->tmp_name[0] && i >= 2)
                        (void)fs_remove_tree_at(e->stack[i - 2].fd, l->tmp_name);
                if (l->fd >= 0)
                        close(l->fd);
        }
        if (e->root_fd >= 0)
                close(e->root_fd);

        if (e->tmp_name && e->parent_fd >= 0) {
                int r = fs_remove_tree_at(e->parent_fd, e->tmp_name);
                if (r < 0)
                        ca_log_warning("%s: cannot remove temporary directory %s: %s", e->dest,
                                       e->tmp_name, strerror(-r));
        }
        /* After a failure the error says it all; the skipped entries are gone anyway. */
        if (e->committed)
                print_summary(e);

        if (e->parent_fd >= 0)
                close(e->parent_fd);
        free(e->tmp_name);
        free(e->base);
        free(e->dest);
        free(e->dest_name);
        free(e->buf);
        free(e);
        return NULL;
}
