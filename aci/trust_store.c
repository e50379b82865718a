/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The trust store, rkt's layout (aci.h): loading the keys that apply to a name, listing every
 * key file, writing and removing keys, and verifying an index signature against it with a
 * reason that says which key and why when it fails.
 *
 * Everything below the configuration directory is opened one component at a time without
 * following symlinks; a symlink or a non-regular file where a key or a directory should be is an
 * error, never skipped silently, so that a broken store cannot pass for an empty one.
 */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "aci/aci.h"
#include "casync/fs_safe.h"

#define TRUST_FILES_MAX 4096 /* key files in one listing or keyring */
#define TRUST_DEPTH_MAX 16   /* components of a prefix */

/* ---------------------------------------------------------------- keyrings */

static void entry_done(aci_trust_entry *e)
{
        free(e->prefix);
        free(e->path);
        aci_pgp_keys_free(e->keys, e->n_keys);
        *e = (aci_trust_entry){};
}

void aci_keyring_done(aci_keyring *k)
{
        for (size_t i = 0; i < k->n; i++)
                entry_done(&k->entries[i]);
        free(k->entries);
        *k = (aci_keyring){};
}

/* Appends e (taking its contents), or with replace, replaces the entry of the same name. */
static int keyring_put(aci_keyring *k, aci_trust_entry *e, bool replace)
{
        if (replace)
                for (size_t i = 0; i < k->n; i++)
                        if (strcmp(k->entries[i].fingerprint, e->fingerprint) == 0) {
                                entry_done(&k->entries[i]);
                                k->entries[i] = *e;
                                *e = (aci_trust_entry){};
                                return 0;
                        }
        if (k->n >= TRUST_FILES_MAX)
                return ca_bad("trust store: more than %d key files", TRUST_FILES_MAX);
        aci_trust_entry *m = realloc(k->entries, (k->n + 1) * sizeof(*m));
        if (!m)
                return -ENOMEM;
        k->entries = m;
        k->entries[k->n++] = *e;
        *e = (aci_trust_entry){};
        return 0;
}

static bool is_fingerprint(const char *s)
{
        size_t n = 0;
        for (; s[n]; n++)
                if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
                        return false;
        return n == 40;
}

/* How loading goes: where messages go, and whether later files replace earlier ones. */
typedef struct loader {
        int level; /* log level of errors: CA_LOG_DEBUG when only diagnosing */
        bool replace;
        aci_keyring *ring;
} loader;

/*
 * Opens the directory `name` under dir_fd (path names it in messages). 1 with *ret_fd, 0 when
 * absent, negative (logged) for a symlink, a non-directory or another error.
 */
static int open_dir(const loader *l, int dir_fd, const char *name, const char *path, int *ret_fd)
{
        int fd = fs_open_beneath(dir_fd, name, O_RDONLY | O_DIRECTORY, 0);
        if (fd == -ENOENT)
                return 0;
        if (fd == -ELOOP)
                return ca_log_errno(l->level, -EBADMSG, "%s: is a symlink; refusing it", path);
        if (fd == -ENOTDIR)
                return ca_log_errno(l->level, -EBADMSG, "%s: not a directory", path);
        if (fd < 0)
                return ca_log_errno(l->level, fd, "%s: %s", path, strerror(-fd));
        *ret_fd = fd;
        return 1;
}

/* The base: the configuration directory itself may be a symlink (an administrator's choice). */
static int open_config(const loader *l, const char *config, int *ret_fd)
{
        if (!config)
                return 0;
        int fd = open(config, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT)
                return 0;
        if (fd < 0)
                return ca_log_errno(l->level, negative_errno(), "%s: %m", config);
        _cleanup_(closep) int base = fd;
        _cleanup_(freep) char *path = NULL;
        if (asprintf(&path, "%s/trustedkeys", config) < 0)
                return -ENOMEM;
        return open_dir(l, base, "trustedkeys", path, ret_fd);
}

/* config/trustedkeys/<sub> (root.d or prefix.d): 1 with its fd and path (ret_path may be NULL),
 * 0 when any of it is absent. */
static int open_keys_dir(const loader *l, const char *config, const char *sub, int *ret_fd,
                         char **ret_path)
{
        _cleanup_(closep) int tk = -1;
        int r = open_config(l, config, &tk);
        if (r <= 0)
                return r;
        _cleanup_(freep) char *path = NULL;
        if (asprintf(&path, "%s/trustedkeys/%s", config, sub) < 0)
                return -ENOMEM;
        r = open_dir(l, tk, sub, path, ret_fd);
        if (r > 0 && ret_path)
                *ret_path = TAKE_PTR(path);
        return r;
}

/* Reads one key file into an entry. */
static int load_file(const loader *l, int dir_fd, const char *name, const char *path,
                     aci_trust_entry *e)
{
        _cleanup_(closep) int fd = fs_open_beneath(dir_fd, name, O_RDONLY | O_NONBLOCK, 0);
        if (fd == -ELOOP)
                return ca_log_errno(l->level, -EBADMSG, "%s: is a symlink; refusing it", path);
        if (fd < 0)
                return ca_log_errno(l->level, fd, "%s: %s", path, strerror(-fd));
        struct stat st;
        if (fstat(fd, &st) < 0)
                return ca_log_errno(l->level, negative_errno(), "%s: %m", path);
        if (!S_ISREG(st.st_mode))
                return ca_log_errno(l->level, -EBADMSG, "%s: not a regular file; refusing it",
                                    path);
        if (st.st_size > ACI_PGP_KEY_FILE_MAX)
                return ca_log_errno(l->level, -EBADMSG, "%s: over %d bytes; refusing it", path,
                                    ACI_PGP_KEY_FILE_MAX);
        memcpy(e->fingerprint, name, ACI_PGP_FPR_HEX_SIZE - 1); /* 40 hex digits, checked */
        e->fingerprint[ACI_PGP_FPR_HEX_SIZE - 1] = 0;
        if (st.st_size == 0)
                return 0; /* a mask */
        _cleanup_(freep) uint8_t *buf = malloc((size_t)st.st_size);
        if (!buf)
                return -ENOMEM;
        int r = read_full(fd, buf, (size_t)st.st_size);
        if (r < 0)
                return ca_log_errno(l->level, r, "%s: read: %s", path, strerror(-r));
        /* While diagnosing a failure (l->level is debug), a broken key file elsewhere in the
         * store is not news: its parse errors are muted unless --debug shows everything. The
         * fetch has no transfer in flight meanwhile, so nothing else is muted with them. */
        int level = ca_log_get_max_level();
        if (l->level > level)
                ca_log_set_max_level(-1);
        r = aci_pgp_keys_parse(buf, (size_t)st.st_size, path, &e->keys, &e->n_keys);
        ca_log_set_max_level(level);
        if (r < 0)
                return r;
        if (e->n_keys == 0)
                return ca_log_errno(l->level, -EBADMSG, "%s: holds no key", path);
        if (strcmp(aci_pgp_key_fingerprint(e->keys[0]), name) != 0)
                return ca_log_errno(l->level, -EBADMSG,
                                    "%s: the file is named %s but holds key %s; a key file must "
                                    "be named by its key's fingerprint",
                                    path, name, aci_pgp_key_fingerprint(e->keys[0]));
        return 0;
}

/*
 * Loads the key files of one directory. In a prefix directory, subdirectories are longer
 * prefixes and are skipped; in root.d they are errors.
 */
static int load_dir(const loader *l, int dir_fd, const char *dir_path, const char *prefix,
                    bool system)
{
        DIR *d = fs_opendir_at(dir_fd);
        if (!d)
                return ca_log_errno(l->level, negative_errno(), "%s: %m", dir_path);
        struct dirent *de;
        int r;
        while ((r = fs_readdir(d, &de)) > 0) {
                if (de->d_name[0] == '.')
                        continue; /* temp files of a writer */
                _cleanup_(freep) char *path = NULL;
                if (asprintf(&path, "%s/%s", dir_path, de->d_name) < 0) {
                        r = -ENOMEM;
                        break;
                }
                struct stat st;
                if (fstatat(dir_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = ca_log_errno(l->level, negative_errno(), "%s: %m", path);
                        break;
                }
                if (S_ISDIR(st.st_mode) && prefix)
                        continue;
                if (S_ISLNK(st.st_mode)) {
                        r = ca_log_errno(l->level, -EBADMSG, "%s: is a symlink; refusing it", path);
                        break;
                }
                if (!S_ISREG(st.st_mode)) {
                        r = ca_log_errno(l->level, -EBADMSG, "%s: not a regular file; refusing it",
                                         path);
                        break;
                }
                if (!is_fingerprint(de->d_name)) {
                        r = ca_log_errno(l->level, -EBADMSG,
                                         "%s: not named by a key fingerprint (40 lower-case "
                                         "hex digits)",
                                         path);
                        break;
                }
                aci_trust_entry e = {.system = system};
                r = load_file(l, dir_fd, de->d_name, path, &e);
                if (r >= 0) {
                        e.path = TAKE_PTR(path);
                        e.prefix = prefix ? strdup(prefix) : NULL;
                        r = prefix && !e.prefix ? -ENOMEM : keyring_put(l->ring, &e, l->replace);
                }
                entry_done(&e);
                if (r < 0)
                        break;
        }
        closedir(d);
        return r;
}

static int load_root(const loader *l, const char *config, bool system)
{
        _cleanup_(closep) int root = -1;
        _cleanup_(freep) char *path = NULL;
        int r = open_keys_dir(l, config, "root.d", &root, &path);
        if (r <= 0)
                return r;
        return load_dir(l, root, path, NULL, system);
}

/* The prefix directories of name's leading components, shortest first, as far as they exist. */
static int load_prefixes(const loader *l, const char *config, const char *name, bool system)
{
        _cleanup_(closep) int dir = -1;
        _cleanup_(freep) char *path = NULL;
        int r = open_keys_dir(l, config, "prefix.d", &dir, &path);
        if (r <= 0)
                return r;
        for (const char *c = name; *c;) {
                size_t n = strcspn(c, "/");
                _cleanup_(freep) char *comp = strndup(c, n), *sub = NULL;
                if (!comp || asprintf(&sub, "%s/%s", path, comp) < 0)
                        return -ENOMEM;
                int next = -1;
                r = open_dir(l, dir, comp, sub, &next);
                if (r <= 0)
                        return r;
                close(dir);
                dir = next;
                free(path);
                path = TAKE_PTR(sub);
                _cleanup_(freep) char *prefix = strndup(name, (size_t)(c - name) + n);
                if (!prefix)
                        return -ENOMEM;
                r = load_dir(l, dir, path, prefix, system);
                if (r < 0)
                        return r;
                c += n;
                if (*c == '/')
                        c++;
        }
        return 0;
}

int aci_keyring_load(const char *system_config, const char *local_config, const char *name,
                     aci_keyring *ret)
{
        *ret = (aci_keyring){};
        if (name && !dc_identifier_valid(name))
                return ca_log_errno(CA_LOG_ERR, -EINVAL, "%s: not an image name", name);
        loader l = {.level = CA_LOG_ERR, .replace = true, .ring = ret};
        int r = load_root(&l, system_config, true);
        if (r >= 0)
                r = load_root(&l, local_config, false);
        if (r >= 0 && name)
                r = load_prefixes(&l, system_config, name, true);
        if (r >= 0 && name)
                r = load_prefixes(&l, local_config, name, false);
        if (r < 0)
                aci_keyring_done(ret);
        return r;
}

/* ---------------------------------------------------------------- listing */

static int list_tree(const loader *l, int dir_fd, const char *path, const char *prefix,
                     unsigned depth, bool system)
{
        if (prefix) {
                int r = load_dir(l, dir_fd, path, prefix, system);
                if (r < 0)
                        return r;
        }
        if (depth >= TRUST_DEPTH_MAX)
                return 0;
        DIR *d = fs_opendir_at(dir_fd);
        if (!d)
                return ca_log_errno(l->level, negative_errno(), "%s: %m", path);
        struct dirent *de;
        int r;
        while ((r = fs_readdir(d, &de)) > 0) {
                struct stat st;
                if (de->d_name[0] == '.' ||
                    fstatat(dir_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                    !(S_ISDIR(st.st_mode) || (!prefix && S_ISLNK(st.st_mode))))
                        continue;
                _cleanup_(freep) char *sub = NULL, *subprefix = NULL;
                if (asprintf(&sub, "%s/%s", path, de->d_name) < 0 ||
                    (prefix ? asprintf(&subprefix, "%s/%s", prefix, de->d_name)
                            : asprintf(&subprefix, "%s", de->d_name)) < 0) {
                        r = -ENOMEM;
                        break;
                }
                _cleanup_(closep) int fd = -1;
                r = open_dir(l, dir_fd, de->d_name, sub, &fd);
                if (r > 0)
                        r = list_tree(l, fd, sub, subprefix, depth + 1, system);
                if (r < 0)
                        break;
        }
        closedir(d);
        return r;
}

static int list_config(const loader *l, const char *config, bool system)
{
        int r = load_root(l, config, system);
        if (r < 0)
                return r;
        _cleanup_(closep) int dir = -1;
        _cleanup_(freep) char *path = NULL;
        r = open_keys_dir(l, config, "prefix.d", &dir, &path);
        if (r <= 0)
                return r;
        return list_tree(l, dir, path, NULL, 0, system);
}

static int entry_cmp(const void *a, const void *b)
{
        const aci_trust_entry *x = a, *y = b;
        if (!x->prefix != !y->prefix)
                return x->prefix ? 1 : -1;
        int c = x->prefix ? strcmp(x->prefix, y->prefix) : 0;
        if (c == 0)
                c = (int)y->system - (int)x->system;
        return c ? c : strcmp(x->fingerprint, y->fingerprint);
}

static int trust_list(const char *system_config, const char *local_config, int level,
                      aci_keyring *ret)
{
        *ret = (aci_keyring){};
        loader l = {.level = level, .replace = false, .ring = ret};
        int r = list_config(&l, system_config, true);
        if (r >= 0)
                r = list_config(&l, local_config, false);
        if (r < 0) {
                aci_keyring_done(ret);
                return r;
        }
        if (ret->n > 1)
                qsort(ret->entries, ret->n, sizeof(*ret->entries), entry_cmp);
        return 0;
}

int aci_trust_list(const char *system_config, const char *local_config, aci_keyring *ret)
{
        return trust_list(system_config, local_config, CA_LOG_ERR, ret);
}

static int has_prefix_keys(const char *config, const char *name)
{
        loader l = {.level = CA_LOG_DEBUG};
        _cleanup_(closep) int dir = -1;
        if (open_keys_dir(&l, config, "prefix.d", &dir, NULL) <= 0)
                return 0;
        for (const char *c = name; *c;) {
                size_t n = strcspn(c, "/");
                _cleanup_(freep) char *comp = strndup(c, n);
                int next = -1;
                if (!comp)
                        return -ENOMEM;
                if (open_dir(&l, dir, comp, comp, &next) <= 0)
                        return 0;
                close(dir);
                dir = next;
                DIR *d = fs_opendir_at(dir);
                struct dirent *de;
                bool found = false;
                while (d && !found && fs_readdir(d, &de) > 0) {
                        struct stat st;
                        found = is_fingerprint(de->d_name) &&
                                fstatat(dir, de->d_name, &st, AT_SYMLINK_NOFOLLOW) >= 0 &&
                                S_ISREG(st.st_mode) && st.st_size > 0;
                }
                if (d)
                        closedir(d);
                if (found)
                        return 1;
                c += n;
                if (*c == '/')
                        c++;
        }
        return 0;
}

int aci_trust_has_prefix_keys(const char *system_config, const char *local_config, const char *name)
{
        if (!dc_identifier_valid(name))
                return -EINVAL;
        int r = has_prefix_keys(system_config, name);
        return r != 0 ? r : has_prefix_keys(local_config, name);
}

/* ---------------------------------------------------------------- changes */

/* mkdir -p of an absolute or relative path, new directories 0755. */
static int mkdir_path(const char *path)
{
        _cleanup_(freep) char *p = strdup(path);
        if (!p)
                return -ENOMEM;
        for (char *s = strchr(p + 1, '/');; s = strchr(s + 1, '/')) {
                if (s)
                        *s = 0;
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        return negative_errno();
                if (!s)
                        return 0;
                *s = '/';
        }
}

/* Opens (creating, 0755 whatever the umask) the directory name under dir_fd. */
static int subdir(int dir_fd, const char *name, const char *path, int *ret_fd)
{
        bool made = mkdirat(dir_fd, name, 0755) >= 0;
        if (!made && errno != EEXIST)
                return ca_log_errno(CA_LOG_ERR, negative_errno(), "%s: %m", path);
        loader l = {.level = CA_LOG_ERR};
        int fd = -1;
        int r = open_dir(&l, dir_fd, name, path, &fd);
        if (r == 0)
                r = ca_log_errno(CA_LOG_ERR, -ENOENT, "%s: vanished", path);
        if (r < 0)
                return r;
        if (made && fchmod(fd, 0755) < 0) {
                r = ca_log_errno(CA_LOG_ERR, negative_errno(), "%s: %m", path);
                close(fd);
                return r;
        }
        *ret_fd = fd;
        return 0;
}

/* Opens <config>/trustedkeys/root.d, or prefix.d/<prefix>, creating them when create. */
static int open_scope(const char *config, const char *prefix, bool create, int *ret_fd,
                      char **ret_path)
{
        if (prefix && !dc_identifier_valid(prefix))
                return ca_log_errno(CA_LOG_ERR, -EINVAL,
                                    "%s: not a valid prefix (an image name or a leading part of "
                                    "one, without a scheme)",
                                    prefix);
        if (create) {
                int r = mkdir_path(config);
                if (r < 0)
                        return ca_log_errno(CA_LOG_ERR, r, "%s: cannot create: %s", config,
                                            strerror(-r));
        }
        _cleanup_(closep) int fd = open(config, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT && !create
                           ? 0
                           : ca_log_errno(CA_LOG_ERR, negative_errno(), "%s: %m", config);
        _cleanup_(freep) char *path = NULL;
        if (asprintf(&path, "%s/trustedkeys", config) < 0)
                return -ENOMEM;
        /* One component at a time: the prefix has no "." or ".." component (an identifier). */
        _cleanup_(freep) char *rest = NULL;
        if (asprintf(&rest, "%s%s", prefix ? "prefix.d/" : "root.d", prefix ? prefix : "") < 0)
                return -ENOMEM;
        const char *c = "trustedkeys";
        char *next = rest;
        for (;;) {
                int sub = -1, r;
                if (create)
                        r = subdir(fd, c, path, &sub);
                else {
                        loader l = {.level = CA_LOG_ERR};
                        r = open_dir(&l, fd, c, path, &sub);
                        if (r == 0)
                                return 0;
                }
                if (r < 0)
                        return r;
                close(fd);
                fd = sub;
                if (!next)
                        break;
                c = next;
                next = strchr(next, '/');
                if (next)
                        *next++ = 0;
                char *longer = NULL;
                if (asprintf(&longer, "%s/%s", path, c) < 0)
                        return -ENOMEM;
                free(path);
                path = longer;
        }
        *ret_fd = TAKE_FD(fd);
        *ret_path = TAKE_PTR(path);
        return 1;
}

int aci_trust_add(const char *config, const char *prefix, const aci_pgp_key *key, char **ret_path)
{
        _cleanup_(closep) int dir = -1;
        _cleanup_(freep) char *dir_path = NULL, *text = NULL, *path = NULL;
        size_t size = 0;
        int r = open_scope(config, prefix, true, &dir, &dir_path);
        if (r < 0)
                return r;
        r = aci_pgp_key_armor(key, &text, &size);
        if (r < 0)
                return r;
        const char *fpr = aci_pgp_key_fingerprint(key);
        if (asprintf(&path, "%s/%s", dir_path, fpr) < 0)
                return -ENOMEM;
        r = ca_write_file_atomic_at(dir, fpr, path, 0644, CA_ATOMIC_SYNC | CA_ATOMIC_SYNC_DIR, text,
                                    size);
        if (r < 0)
                return r;
        *ret_path = TAKE_PTR(path);
        return 0;
}

/* Removes fpr from the directory and, when recurse, from every directory below it. */
static int remove_in(int dir_fd, const char *path, const char *fpr, bool recurse, unsigned depth,
                     unsigned *n)
{
        struct stat st;
        if (fstatat(dir_fd, fpr, &st, AT_SYMLINK_NOFOLLOW) >= 0 && !S_ISDIR(st.st_mode)) {
                if (unlinkat(dir_fd, fpr, 0) < 0)
                        return ca_log_errno(CA_LOG_ERR, negative_errno(), "%s/%s: %m", path, fpr);
                if (fsync(dir_fd) < 0)
                        return ca_log_errno(CA_LOG_ERR, negative_errno(), "%s: %m", path);
                ca_log_info("removed %s/%s", path, fpr);
                (*n)++;
        }
        if (!recurse || depth >= TRUST_DEPTH_MAX)
                return 0;
        DIR *d = fs_opendir_at(dir_fd);
        if (!d)
                return ca_log_errno(CA_LOG_ERR, negative_errno(), "%s: %m", path);
        struct dirent *de;
        int r;
        while ((r = fs_readdir(d, &de)) > 0) {
                if (de->d_name[0] == '.' ||
                    fstatat(dir_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                    !S_ISDIR(st.st_mode))
                        continue;
                _cleanup_(freep) char *sub = NULL;
                if (asprintf(&sub, "%s/%s", path, de->d_name) < 0) {
                        r = -ENOMEM;
                        break;
                }
                _cleanup_(closep) int fd =
                    fs_open_beneath(dir_fd, de->d_name, O_RDONLY | O_DIRECTORY, 0);
                if (fd < 0)
                        continue;
                r = remove_in(fd, sub, fpr, true, depth + 1, n);
                if (r < 0)
                        break;
        }
        closedir(d);
        return r;
}

int aci_trust_remove(const char *config, const char *fingerprint, bool only_root,
                     const char *prefix, unsigned *n)
{
        *n = 0;
        if (!is_fingerprint(fingerprint))
                return -EINVAL;
        _cleanup_(closep) int root = -1;
        _cleanup_(freep) char *root_path = NULL;
        int r;
        if (!prefix) {
                r = open_scope(config, NULL, false, &root, &root_path);
                if (r > 0)
                        r = remove_in(root, root_path, fingerprint, false, 0, n);
                if (r < 0 || only_root)
                        return r;
        }
        _cleanup_(closep) int dir = -1;
        _cleanup_(freep) char *dir_path = NULL;
        if (prefix)
                r = open_scope(config, prefix, false, &dir, &dir_path);
        else {
                /* All of prefix.d. */
                loader l = {.level = CA_LOG_ERR};
                r = open_keys_dir(&l, config, "prefix.d", &dir, &dir_path);
        }
        if (r <= 0)
                return r;
        return remove_in(dir, dir_path, fingerprint, !prefix, 0, n);
}

/* ---------------------------------------------------------------- verification */

/* The masking entry for fpr in the keyring, or NULL. */
static const aci_trust_entry *find_mask(const aci_keyring *ring, const char *fpr)
{
        for (size_t i = 0; i < ring->n; i++)
                if (ring->entries[i].n_keys == 0 && strcmp(ring->entries[i].fingerprint, fpr) == 0)
                        return &ring->entries[i];
        return NULL;
}

/* Says why the issuer is not trusted for name: masked, trusted elsewhere, or unknown. */
static int explain_unknown(const char *system_config, const char *local_config, const char *name,
                           const aci_keyring *ring, size_t n_keys, const aci_pgp_issuer *issuer,
                           const char *what)
{
        const char *id = issuer->id[0] ? issuer->id : "(the signature names none)";
        const aci_trust_entry *mask = strlen(issuer->id) == 40 ? find_mask(ring, issuer->id) : NULL;
        aci_keyring all = {};
        _cleanup_(freep) char *where = NULL;
        size_t where_len = 0;
        FILE *f = NULL;
        if (issuer->id[0] && trust_list(system_config, local_config, CA_LOG_DEBUG, &all) >= 0)
                f = open_memstream(&where, &where_len);
        const char *holder = NULL;
        unsigned elsewhere = 0;
        for (size_t i = 0; f && i < all.n; i++) {
                const aci_trust_entry *e = &all.entries[i];
                bool has = false;
                for (size_t k = 0; k < e->n_keys && !has; k++)
                        has = aci_pgp_key_has(e->keys[k], issuer->id);
                if (!has)
                        continue;
                if (!mask)
                        mask = find_mask(ring, e->fingerprint);
                if (!holder)
                        holder = e->fingerprint;
                if (e->prefix && elsewhere < 4)
                        fprintf(f, "%s%s", elsewhere++ ? ", " : "", e->prefix);
        }
        if (f)
                fclose(f);
        int r;
        if (mask)
                r = ca_log_errno(CA_LOG_ERR, -ENOKEY,
                                 "%s: signed by key %s, which is masked by %s (an empty file): "
                                 "not trusted",
                                 what, holder ? holder : id, mask->path);
        else if (elsewhere > 0)
                r = ca_log_errno(CA_LOG_ERR, -ENOKEY,
                                 "%s: signed by key %s, which is trusted for %s only, not for %s",
                                 what, holder, where, name);
        else
                r = ca_log_errno(CA_LOG_ERR, -ENOKEY,
                                 "%s: signed by unknown key %s: %s for %s (acfetch trust "
                                 "--prefix %s adds one)",
                                 what, id,
                                 n_keys ? "it is none of the keys trusted" : "no key is trusted",
                                 name, name);
        aci_keyring_done(&all);
        return r;
}

/* Every key of the ring in one array (the entries keep owning them). */
static int ring_keys(const aci_keyring *ring, aci_pgp_key ***ret, size_t *ret_n)
{
        size_t n = 0;
        for (size_t i = 0; i < ring->n; i++)
                n += ring->entries[i].n_keys;
        aci_pgp_key **keys = calloc(n + 1, sizeof(*keys));
        if (!keys)
                return -ENOMEM;
        n = 0;
        for (size_t i = 0; i < ring->n; i++)
                for (size_t k = 0; k < ring->entries[i].n_keys; k++)
                        keys[n++] = ring->entries[i].keys[k];
        *ret = keys;
        *ret_n = n;
        return 0;
}

/* Verifies the signature against every key of the ring (*ret_n: how many there were). */
static int verify_with(const aci_keyring *ring, const void *data, size_t size, const void *sig,
                       size_t sig_size, const char *what, size_t *ret_n, aci_pgp_issuer *issuer,
                       aci_pgp_signer *ret)
{
        _cleanup_(freep) aci_pgp_key **keys = NULL;
        int r = ring_keys(ring, &keys, ret_n);
        if (r < 0)
                return r;
        return aci_pgp_verify_detached(keys, *ret_n, data, size, sig, sig_size, (int64_t)time(NULL),
                                       what, issuer, ret);
}

int aci_trust_verify(const char *system_config, const char *local_config, const char *name,
                     const void *data, size_t size, const void *sig, size_t sig_size,
                     const char *what, aci_pgp_signer *ret)
{
        _cleanup_(aci_keyring_done) aci_keyring ring = {};
        int r = aci_keyring_load(system_config, local_config, name, &ring);
        if (r < 0)
                return r;
        size_t n;
        aci_pgp_issuer issuer;
        r = verify_with(&ring, data, size, sig, sig_size, what, &n, &issuer, ret);
        if (r == -ENOKEY)
                r = explain_unknown(system_config, local_config, name, &ring, n, &issuer, what);
        return r;
}

int aci_trust_verify_any(const char *system_config, const char *local_config, const void *data,
                         size_t size, const void *sig, size_t sig_size, const char *what,
                         aci_pgp_signer *ret)
{
        _cleanup_(aci_keyring_done) aci_keyring all = {};
        int r = trust_list(system_config, local_config, CA_LOG_ERR, &all);
        if (r < 0)
                return r;
        size_t n;
        aci_pgp_issuer issuer;
        r = verify_with(&all, data, size, sig, sig_size, what, &n, &issuer, ret);
        if (r == -ENOKEY)
                r = ca_log_errno(CA_LOG_ERR, -ENOKEY,
                                 "%s: signed by unknown key %s: no key trusted for any name made "
                                 "it (acfetch trust --prefix NAME adds one)",
                                 what, issuer.id[0] ? issuer.id : "(the signature names none)");
        return r;
}
