/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * File system operations that never leave a held directory: they take a directory fd and one
 * validated path component, and nothing here follows a symlink. Used across casync (extract sink,
 * encoder, atomic files) and by the layers above. The exceptions, which take a path or none, are
 * marked: fs_mkdir_parents and fs_get_umask.
 */
#pragma once

#include <dirent.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Longest file name component (NAME_MAX). */
#define FS_NAME_MAX 255
/* Room for "/proc/self/fd/<int>". */
#define FS_PROC_FD_PATH_MAX 32
/* Temporary names of entries being replaced in place: ".acfetch-" and 16 hex digits. */
#define FS_TEMP_NAME_MAX 32

/* true for a single non-empty component: not ".", "..", no '/', at most FS_NAME_MAX bytes. */
bool fs_name_is_valid(const char *name);

/*
 * openat() of one component relative to dir_fd, refusing symlinks, "..", and magic links
 * (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS when the kernel has it,
 * else openat with O_NOFOLLOW). O_NOFOLLOW and O_CLOEXEC are always added. Returns the fd or a
 * negative errno.
 */
int fs_open_beneath(int dir_fd, const char *name, int flags, mode_t mode);

/* "/proc/self/fd/N": lets xattr calls reach the inode an O_PATH fd holds, links included. */
void fs_proc_fd_path(int fd, char buf[static FS_PROC_FD_PATH_MAX]);

/* ---------------------------------------------------------------- temporary names (fs_temp.c) */

/* A fresh random name ".acfetch-XXXXXXXXXXXXXXXX" (16 hex digits), for entries replaced in place
 * inside a tree being extracted. */
void fs_temp_name(char buf[static FS_TEMP_NAME_MAX]);

/*
 * The prefix of every temporary sibling of `name`: ".<name>.acfetch-<pid>-<start>-", naming this
 * process (its pid and start time) so that a later run can tell whether the maker is gone; name
 * is shortened so that the prefix and the 6 characters fs_mk*temp_at append fit FS_NAME_MAX.
 * *ret is malloc'ed.
 */
int fs_temp_prefix(const char *name, char **ret);

/*
 * Creates a private (0700) directory "<prefix>XXXXXX" under dir_fd, retrying on collisions.
 * *ret_name is malloc'ed.
 */
int fs_mkdtemp_at(int dir_fd, const char *prefix, char **ret_name);
/* The same for a new empty 0600 file, returned open read-write (O_CLOEXEC) as the result, and
 * flocked (shared) for as long as it stays open. */
int fs_mkstemp_at(int dir_fd, const char *prefix, char **ret_name);

/* true if name is a temporary name of fs_temp_prefix's form whose maker no longer runs. */
bool fs_temp_owner_gone(const char *name);

/*
 * Removes dir_fd/entry (a file or a directory tree) if fs_temp_owner_gone(entry) and nobody
 * holds it flocked: 1 when removed, 0 when kept, or a negative errno (not logged).
 */
int fs_temp_reclaim_at(int dir_fd, const char *entry);

/*
 * Reclaims (as fs_temp_reclaim_at) every temporary sibling of name under dir_fd, and temporaries
 * of those, whose maker is gone: what a killed writer of name left. `what` names name in
 * messages (a failure is a warning; the caller goes on).
 */
void fs_temp_reclaim_siblings(int dir_fd, const char *name, const char *what);

/* ---------------------------------------------------------------- directories */

/* A listing of the directory open as dir_fd (its own descriptor: dir_fd stays open), or NULL
 * with errno set. */
DIR *fs_opendir_at(int dir_fd);

/* The next entry other than "." and "..": 1 with *ret set, 0 at the end, or a negative errno. */
int fs_readdir(DIR *d, struct dirent **ret);

/*
 * The names in the directory open as dir_fd, sorted by strcmp (so that what is done with them,
 * a digest or a message, does not depend on readdir order): those keep accepts (keep NULL: all
 * but "." and ".."), at most max of them (-E2BIG past that). Returns 0 with *ret (NULL when
 * there are none) and *ret_n, or a negative errno; nothing is logged. Free with fs_names_free.
 */
int fs_list_sorted(int dir_fd, bool (*keep)(int dir_fd, const struct dirent *de, void *userdata),
                   void *userdata, size_t max, char ***ret, size_t *ret_n);
void fs_names_free(char **names, size_t n);

/* 1 if the directory open as dir_fd has no entries besides "." and "..", 0 if it has. */
int fs_dir_is_empty(int dir_fd);

/*
 * Removes dir_fd/name and, for a directory, everything below it, through directory fds and
 * without following symlinks. Clears immutable/append flags and makes directories writable
 * when that is what blocks removal. A missing entry counts as success.
 */
int fs_remove_tree_at(int dir_fd, const char *name);

/* Reads the chattr flags (FS_IOC_GETFLAGS). */
int fs_chattr_get(int fd, unsigned *ret);
/* Sets the bits of mask to value, keeping the others; no ioctl when nothing changes. */
int fs_chattr_merge(int fd, unsigned value, unsigned mask);

/*
 * Opens the directory name under dir_fd, creating it first if missing with exactly mode, whatever
 * the umask (the store's directories have fixed modes); an existing one keeps its mode. Returns
 * the fd (O_DIRECTORY, never through a symlink) or a negative errno (not logged).
 */
int fs_mkdir_at(int dir_fd, const char *name, mode_t mode);

/* Path-based. mkdir -p: the parents of path 0755 (minus the umask, as a shell makes them), path
 * itself with exactly mode when it is created; trailing slashes are ignored and existing
 * directories are fine. 0 or a negative errno (not logged). */
int fs_mkdir_parents(const char *path, mode_t mode);

/* The whole content of the regular file fd, at most max bytes, malloc'ed (never NULL on
 * success). -EINVAL when it is not a regular file, -EFBIG when larger than max, or the read's
 * negative errno; not logged. */
int fs_read_all(int fd, size_t max, uint8_t **ret, size_t *ret_size);

/* The process umask, read without changing it (race-free with other threads). */
mode_t fs_get_umask(void);
