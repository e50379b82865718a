/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Whether a stored tree is still what was rendered (rkt's "ondisk" check). Two digests over a
 * walk of the tree (names sorted in each directory, every entry lstat'ed through directory fds,
 * nothing followed): the stat digest covers what a write, a chmod, a touch, a new or a removed
 * entry changes (type and mode, owner, size, mtime, ctime, inode, links, device), so comparing
 * it with the one recorded at render time is cheap and notices any change made through the
 * file system; the content digest covers what the image says (type and mode, owner, size of
 * non-directories, mtime, device, bytes, symlink targets, xattrs), so two renders of one image
 * give the same one. The record is a small text file beside `rendered`: bounded whatever the
 * tree's size.
 */
#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "aci/aci.h"
#include "casync/fs_safe.h"

#define RECORD_MAGIC    "acfetch tree record 1"
#define RECORD_SIZE_MAX 4096
/* casync nests 64 levels; anything deeper was not rendered by us. */
#define WALK_DEPTH_MAX 256

typedef struct walk {
        EVP_MD_CTX *md;
        bool content;
        uint64_t entries;
        uint8_t *buf; /* content reads, xattr lists and values */
} walk;

#define WALK_BUF_SIZE (64 * 1024)

static int put(walk *w, const void *data, size_t size)
{
        return EVP_DigestUpdate(w->md, data, size) == 1 ? 0 : -EIO;
}

/* Little-endian, so that a record means the same on every host. */
static void pack_u64(uint8_t *b, uint64_t v)
{
        for (unsigned i = 0; i < 8; i++)
                b[i] = (uint8_t)(v >> (8 * i));
}

static int put_u64(walk *w, uint64_t v)
{
        uint8_t b[8];
        pack_u64(b, v);
        return put(w, b, sizeof(b));
}

static int cmp_names(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
}

/* The names in dir_fd, sorted; at the top, the store's own files are left out. */
static int list_names(int dir_fd, bool top, char ***ret, size_t *ret_n)
{
        DIR *d = fs_opendir_at(dir_fd);
        if (!d)
                return negative_errno();
        char **names = NULL;
        size_t n = 0, alloc = 0;
        struct dirent *de;
        int r;
        while ((r = fs_readdir(d, &de)) > 0) {
                if (top && (strcmp(de->d_name, "rendered") == 0 ||
                            strcmp(de->d_name, ACI_TREE_RECORD) == 0))
                        continue;
                if (n == alloc) {
                        alloc = alloc ? alloc * 2 : 32;
                        char **m = realloc(names, alloc * sizeof(*names));
                        if (!m) {
                                r = -ENOMEM;
                                break;
                        }
                        names = m;
                }
                if (!(names[n] = strdup(de->d_name))) {
                        r = -ENOMEM;
                        break;
                }
                n++;
        }
        closedir(d);
        if (r < 0) {
                free_names(names, n);
                return r;
        }
        if (n > 0)
                qsort(names, n, sizeof(*names), cmp_names);
        *ret = names;
        *ret_n = n;
        return 0;
}

/* Xattrs of an open file or directory, by name (security.selinux left out: the policy, not the
 * image, labels a file, and it may label one path differently from another). */
static int put_xattrs(walk *w, int fd)
{
        char list[WALK_BUF_SIZE];
        ssize_t n = flistxattr(fd, list, sizeof(list));
        if (n < 0)
                return errno == ENOTSUP ? 0 : negative_errno();
        /* Sorted: the kernel's order is the file system's. */
        char *names[512];
        size_t count = 0;
        for (ssize_t i = 0; i < n && count < ELEMENTSOF(names); i += (ssize_t)strlen(list + i) + 1)
                if (strcmp(list + i, "security.selinux") != 0)
                        names[count++] = list + i;
        if (count > 0)
                qsort(names, count, sizeof(*names), cmp_names);
        int r = put_u64(w, count);
        for (size_t i = 0; i < count && r >= 0; i++) {
                ssize_t v = fgetxattr(fd, names[i], w->buf, WALK_BUF_SIZE);
                if (v < 0)
                        return negative_errno();
                r = put(w, names[i], strlen(names[i]) + 1);
                if (r >= 0)
                        r = put_u64(w, (uint64_t)v);
                if (r >= 0)
                        r = put(w, w->buf, (size_t)v);
        }
        return r;
}

static int put_file(walk *w, int dir_fd, const char *name, const struct stat *st)
{
        /* Non-blocking: replaced by a fifo since the lstat, it must not hang us. */
        _cleanup_(closep) int fd =
            fs_open_beneath(dir_fd, name, O_RDONLY | O_NOCTTY | O_NONBLOCK, 0);
        if (fd < 0)
                return fd;
        struct stat now;
        if (fstat(fd, &now) < 0)
                return negative_errno();
        if (!S_ISREG(now.st_mode))
                return -ENOENT; /* replaced as we read: a changed tree */
        uint64_t total = 0;
        for (;;) {
                ssize_t n = read(fd, w->buf, WALK_BUF_SIZE);
                if (n < 0)
                        return negative_errno();
                if (n == 0)
                        break;
                total += (uint64_t)n;
                int r = put(w, w->buf, (size_t)n);
                if (r < 0)
                        return r;
        }
        /* Grown or cut while we read: not what lstat saw. */
        int r = put_u64(w, total == (uint64_t)st->st_size ? 0 : 1);
        return r < 0 ? r : put_xattrs(w, fd);
}

static int put_entry(walk *w, int dir_fd, const char *name, const struct stat *st)
{
        int r = put(w, name, strlen(name) + 1);
        if (r < 0)
                return r;
        bool dev = S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode);
        uint64_t fields[] = {st->st_mode, st->st_uid, st->st_gid, (uint64_t)st->st_mtim.tv_sec,
                             (uint64_t)st->st_mtim.tv_nsec, dev ? st->st_rdev : 0,
                             /* the rest only for the stat digest */
                             (uint64_t)st->st_size, (uint64_t)st->st_ctim.tv_sec,
                             (uint64_t)st->st_ctim.tv_nsec, st->st_ino, st->st_nlink};
        size_t n_fields = w->content ? 6 : ELEMENTSOF(fields);
        uint8_t packed[8 * ELEMENTSOF(fields)];
        for (size_t i = 0; i < n_fields; i++)
                pack_u64(packed + 8 * i, fields[i]);
        r = put(w, packed, 8 * n_fields);
        if (r < 0 || !w->content)
                return r;
        /* A directory's size is the file system's business, not the image's. */
        if (!S_ISDIR(st->st_mode))
                r = put_u64(w, (uint64_t)st->st_size);
        if (r >= 0 && S_ISREG(st->st_mode))
                r = put_file(w, dir_fd, name, st);
        if (r >= 0 && S_ISLNK(st->st_mode)) {
                ssize_t n = readlinkat(dir_fd, name, (char *)w->buf, WALK_BUF_SIZE);
                if (n < 0)
                        return negative_errno();
                r = put(w, w->buf, (size_t)n);
        }
        return r;
}

static int walk_dir(walk *w, int dir_fd, unsigned depth)
{
        if (depth > WALK_DEPTH_MAX)
                return -ELOOP;
        char **names;
        size_t n;
        int r = list_names(dir_fd, depth == 0, &names, &n);
        if (r < 0)
                return r;
        r = put_u64(w, n);
        for (size_t i = 0; i < n && r >= 0; i++) {
                struct stat st;
                if (fstatat(dir_fd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = negative_errno();
                        break;
                }
                w->entries++;
                r = put_entry(w, dir_fd, names[i], &st);
                if (r < 0 || !S_ISDIR(st.st_mode))
                        continue;
                _cleanup_(closep) int sub =
                    fs_open_beneath(dir_fd, names[i], O_RDONLY | O_DIRECTORY, 0);
                if (sub < 0) {
                        r = sub;
                        break;
                }
                if (w->content)
                        r = put_xattrs(w, sub);
                if (r >= 0)
                        r = walk_dir(w, sub, depth + 1);
        }
        free_names(names, n);
        return r;
}

int aci_tree_digest(int tree_fd, bool content, uint8_t ret[ACI_TREE_DIGEST_SIZE],
                    uint64_t *ret_entries)
{
        walk w = {.md = EVP_MD_CTX_new(), .content = content, .buf = malloc(WALK_BUF_SIZE)};
        int r = w.md && w.buf ? 0 : -ENOMEM;
        if (r >= 0 && EVP_DigestInit_ex(w.md, EVP_sha256(), NULL) != 1)
                r = -EIO;
        if (r >= 0)
                r = walk_dir(&w, tree_fd, 0);
        if (r >= 0 && EVP_DigestFinal_ex(w.md, ret, NULL) != 1)
                r = -EIO;
        if (r >= 0 && ret_entries)
                *ret_entries = w.entries;
        EVP_MD_CTX_free(w.md);
        free(w.buf);
        return r;
}

int aci_tree_record_write(int tree_fd, bool same_owner)
{
        uint8_t d[ACI_TREE_DIGEST_SIZE];
        uint64_t entries;
        int r = aci_tree_digest(tree_fd, false, d, &entries);
        if (r < 0)
                return r;
        char hex[2 * ACI_TREE_DIGEST_SIZE + 1];
        hex_encode(d, sizeof(d), hex);
        char text[256];
        int len = snprintf(text, sizeof(text), "%s\nowner %d\nentries %llu\nstat %s\n",
                           RECORD_MAGIC, same_owner ? 1 : 0, (unsigned long long)entries, hex);
        return ca_write_file_atomic_at(tree_fd, ACI_TREE_RECORD, NULL, 0644, CA_ATOMIC_SYNC, text,
                                       (size_t)len);
}

int aci_tree_record_read(int tree_fd, aci_tree_record *ret)
{
        _cleanup_(closep) int fd = fs_open_beneath(tree_fd, ACI_TREE_RECORD, O_RDONLY, 0);
        if (fd < 0)
                return fd;
        char text[RECORD_SIZE_MAX + 1];
        ssize_t n = read(fd, text, RECORD_SIZE_MAX + 1);
        if (n < 0)
                return negative_errno();
        if (n > RECORD_SIZE_MAX)
                return -EBADMSG;
        text[n] = 0;
        int owner, used = 0;
        unsigned long long entries;
        char hex[2 * ACI_TREE_DIGEST_SIZE + 1];
        if (sscanf(text, RECORD_MAGIC "\nowner %d\nentries %llu\nstat %64[0-9a-f]\n%n", &owner,
                   &entries, hex, &used) != 3 ||
            used != n || strlen(hex) != 2 * ACI_TREE_DIGEST_SIZE || (owner != 0 && owner != 1))
                return -EBADMSG;
        for (size_t i = 0; i < ACI_TREE_DIGEST_SIZE; i++) {
                unsigned v;
                if (sscanf(hex + 2 * i, "%2x", &v) != 1)
                        return -EBADMSG;
                ret->stat[i] = (uint8_t)v;
        }
        ret->same_owner = owner;
        ret->entries = entries;
        return 0;
}

int aci_tree_record_check(int tree_fd)
{
        aci_tree_record rec;
        int r = aci_tree_record_read(tree_fd, &rec);
        if (r < 0)
                return r;
        uint8_t d[ACI_TREE_DIGEST_SIZE];
        uint64_t entries;
        r = aci_tree_digest(tree_fd, false, d, &entries);
        if (r == -ELOOP || r == -ENOENT)
                return 0; /* deeper than we render, or changed under us */
        if (r < 0)
                return r;
        return entries == rec.entries && memcmp(d, rec.stat, sizeof(d)) == 0;
}
