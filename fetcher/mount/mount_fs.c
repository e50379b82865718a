/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The FUSE operations of `acfetch mount`: a read-only view of an archive index whose chunks are
 * fetched when a read needs them. Nodes are found by seeking (catar_seek.c) and read through an
 * archive reader with a cache of decompressed chunks; nothing is decoded ahead of a request.
 *
 * Inode numbers are the archive offset of the node's ENTRY plus one (so the archive's root, at
 * offset 0, is FUSE_ROOT_ID); a mount of a subdirectory maps that directory to FUSE_ROOT_ID
 * instead. The kernel only ever names inodes it was given by lookup or readdir, which recorded
 * where each node lives (its FILENAME offset and end, and its parent) in a table kept for the
 * mount's lifetime. When recording an access profile, a file's first read names it by walking
 * up its parents, and its reads go to the recorder (mount_profile.c).
 */
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>

#include "casync/acl_xattr.h"
#include "fetcher/mount/mount.h"

/* The archive never changes: the kernel may keep names and attributes for a long time. */
#define CACHE_TIMEOUT 86400.0
/* Decompressed chunks kept by the reader (about 4 MiB at casync's default chunk size). */
#define READER_CACHE_CHUNKS 64

typedef struct node_rec {
        uint64_t entry_offset;    /* key; UINT64_MAX marks a free slot */
        uint64_t filename_offset; /* UINT64_MAX: the archive's root */
        uint64_t end;
        uint64_t parent;  /* the parent's entry offset; UINT64_MAX above the view's root */
        uint32_t profile; /* the recorder's slot + 1; 0: not yet read; UINT32_MAX: not recorded */
        ca_seek_dir *dir; /* once opened; immutable, freed with the mount */
        uint64_t nlink;   /* directories: 2 + subdirectories, 0 until counted */
        unsigned depth;   /* below the archive's root */
} node_rec;

struct mount_fs {
        archive_input *in;
        ca_archive_reader *reader;
        uint64_t flags;
        uint64_t root_offset; /* ENTRY offset of the directory shown as the root */
        mount_recorder *rec;  /* the access profile being recorded, or NULL */

        pthread_mutex_t lock;
        node_rec *nodes;
        size_t n_nodes, n_slots; /* open addressing, n_slots a power of two */
};

static fuse_ino_t ino_of(const mount_fs *m, uint64_t entry_offset)
{
        return entry_offset == m->root_offset ? FUSE_ROOT_ID : entry_offset + 1;
}

static uint64_t offset_of(const mount_fs *m, fuse_ino_t ino)
{
        return ino == FUSE_ROOT_ID ? m->root_offset : (uint64_t)ino - 1;
}

/* FUSE wants a positive errno; malformed archive data is an I/O error to the reader. */
static int fuse_errno(int r)
{
        return r == -EBADMSG ? EIO : -r;
}

/* ---------------------------------------------------------------- the node table */

static size_t slot_of(const mount_fs *m, uint64_t key)
{
        uint64_t h = key * UINT64_C(0x9e3779b97f4a7c15);
        return (size_t)(h >> 20) & (m->n_slots - 1);
}

/* Lock held. The record for key, or NULL. */
static node_rec *table_find(mount_fs *m, uint64_t key)
{
        for (size_t i = slot_of(m, key);; i = (i + 1) & (m->n_slots - 1)) {
                if (m->nodes[i].entry_offset == key)
                        return &m->nodes[i];
                if (m->nodes[i].entry_offset == UINT64_MAX)
                        return NULL;
        }
}

static int table_grow(mount_fs *m)
{
        size_t n = m->n_slots ? m->n_slots * 2 : 1024;
        node_rec *old = m->nodes, *p = malloc(n * sizeof(*p));
        if (!p)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                p[i].entry_offset = UINT64_MAX;
        size_t old_n = m->n_slots;
        m->nodes = p;
        m->n_slots = n;
        for (size_t i = 0; i < old_n; i++) {
                if (old[i].entry_offset == UINT64_MAX)
                        continue;
                size_t j = slot_of(m, old[i].entry_offset);
                while (p[j].entry_offset != UINT64_MAX)
                        j = (j + 1) & (n - 1);
                p[j] = old[i];
        }
        free(old);
        return 0;
}

/* Records where the node of entry e (a child of parent, an entry offset) lives, so its inode
 * can be resolved later. */
static int table_add(mount_fs *m, const ca_seek_entry *e, uint64_t parent, unsigned depth)
{
        uint64_t key = e->node.entry_offset;
        int r = 0;
        pthread_mutex_lock(&m->lock);
        if (!table_find(m, key)) {
                if ((m->n_nodes + 1) * 2 > m->n_slots)
                        r = table_grow(m);
                if (r >= 0) {
                        size_t j = slot_of(m, key);
                        while (m->nodes[j].entry_offset != UINT64_MAX)
                                j = (j + 1) & (m->n_slots - 1);
                        m->nodes[j] = (node_rec){.entry_offset = key,
                                                 .filename_offset = e->filename_offset,
                                                 .end = e->end,
                                                 .parent = parent,
                                                 .depth = depth};
                        m->n_nodes++;
                }
        }
        pthread_mutex_unlock(&m->lock);
        return r;
}

/* A copy of the node's record; -ESTALE for an inode the kernel cannot have had from us. */
static int table_get(mount_fs *m, fuse_ino_t ino, node_rec *ret)
{
        pthread_mutex_lock(&m->lock);
        node_rec *p = table_find(m, offset_of(m, ino));
        if (p)
                *ret = *p;
        pthread_mutex_unlock(&m->lock);
        return p ? 0 : -ESTALE;
}

/* ---------------------------------------------------------------- nodes and directories */

/* The depth of parent's children; casync never nests deeper than CA_NODES_MAX levels. */
static int child_depth(mount_fs *m, fuse_ino_t parent, unsigned *ret)
{
        node_rec rec;
        int r = table_get(m, parent, &rec);
        if (r < 0)
                return r;
        if (rec.depth + 1 >= CA_NODES_MAX)
                return ca_bad("%s: archive offset %" PRIu64 ": directories nested deeper than %d "
                              "levels",
                              ca_archive_reader_what(m->reader), rec.entry_offset,
                              CA_NODES_MAX - 1);
        *ret = rec.depth + 1;
        return 0;
}

static int entry_get(mount_fs *m, fuse_ino_t ino, ca_seek_entry **ret)
{
        node_rec rec;
        int r = table_get(m, ino, &rec);
        if (r < 0)
                return r;
        if (rec.filename_offset == UINT64_MAX)
                return ca_seek_root(m->reader, m->flags, ret);
        return ca_seek_entry_at(m->reader, m->flags, rec.filename_offset, rec.end, ret);
}

/* The directory's checked goodbye table, read once per mount. */
static int dir_get(mount_fs *m, fuse_ino_t ino, ca_seek_dir **ret)
{
        node_rec rec;
        int r = table_get(m, ino, &rec);
        if (r < 0)
                return r;
        if (rec.dir) {
                *ret = rec.dir;
                return 0;
        }
        _cleanup_(ca_seek_entry_freep) ca_seek_entry *e = NULL;
        r = entry_get(m, ino, &e);
        if (r < 0)
                return r;
        if (!S_ISDIR(e->node.mode))
                return -ENOTDIR;
        ca_seek_dir *d = NULL;
        r = ca_seek_dir_open(m->reader, e, &d);
        if (r < 0)
                return r;
        pthread_mutex_lock(&m->lock);
        node_rec *p = table_find(m, rec.entry_offset);
        if (p->dir) { /* another thread was quicker */
                ca_seek_dir_free(d);
                d = p->dir;
        } else {
                p->dir = d;
        }
        pthread_mutex_unlock(&m->lock);
        *ret = d;
        return 0;
}

/* 2 + the number of subdirectories: reads every child's ENTRY once, then remembered. */
static int dir_nlink(mount_fs *m, fuse_ino_t ino, uint64_t *ret)
{
        node_rec rec;
        int r = table_get(m, ino, &rec);
        if (r < 0)
                return r;
        if (rec.nlink) {
                *ret = rec.nlink;
                return 0;
        }
        ca_seek_dir *d;
        r = dir_get(m, ino, &d);
        if (r < 0)
                return r;
        uint64_t n = 2;
        for (size_t i = 0; i < d->n; i++) {
                ca_seek_entry *c = NULL;
                r = ca_seek_dir_child(m->reader, m->flags, d, i, &c);
                if (r < 0)
                        return r;
                n += S_ISDIR(c->node.mode);
                ca_seek_entry_free(c);
        }
        pthread_mutex_lock(&m->lock);
        table_find(m, rec.entry_offset)->nlink = n;
        pthread_mutex_unlock(&m->lock);
        *ret = n;
        return 0;
}

static bool dir_nlink_known(mount_fs *m, uint64_t entry_offset)
{
        pthread_mutex_lock(&m->lock);
        node_rec *p = table_find(m, entry_offset);
        bool known = p && p->nlink;
        pthread_mutex_unlock(&m->lock);
        return known;
}

static void fill_stat(const mount_fs *m, const ca_seek_entry *e, uint64_t nlink, struct stat *st)
{
        const ca_node *n = &e->node;
        *st = (struct stat){
            .st_ino = ino_of(m, n->entry_offset),
            .st_mode = (mode_t)n->mode,
            .st_nlink = S_ISDIR(n->mode) ? nlink : 1,
            .st_uid = (uid_t)n->uid,
            .st_gid = (gid_t)n->gid,
            .st_blksize = 4096,
        };
        if (S_ISREG(n->mode))
                st->st_size = (off_t)n->payload_size;
        else if (S_ISLNK(n->mode))
                st->st_size = (off_t)strlen(n->symlink_target);
        else if (S_ISBLK(n->mode) || S_ISCHR(n->mode))
                st->st_rdev = makedev((unsigned)n->device_major, (unsigned)n->device_minor);
        st->st_blocks = (st->st_size + 511) / 512;
        struct timespec t = {.tv_sec = (time_t)(n->mtime / 1000000000),
                             .tv_nsec = (long)(n->mtime % 1000000000)};
        st->st_mtim = st->st_atim = st->st_ctim = t;
}

/* ---------------------------------------------------------------- operations */

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
        mount_fs *m = fuse_req_userdata(req);
        ca_seek_dir *d;
        unsigned depth = 0;
        int r = dir_get(m, parent, &d);
        if (r >= 0)
                r = child_depth(m, parent, &depth);
        if (r < 0) {
                fuse_reply_err(req, fuse_errno(r));
                return;
        }
        _cleanup_(ca_seek_entry_freep) ca_seek_entry *e = NULL;
        r = ca_seek_dir_lookup(m->reader, m->flags, d, name, &e);
        if (r >= 0)
                r = table_add(m, e, offset_of(m, parent), depth);
        if (r < 0) {
                fuse_reply_err(req, fuse_errno(r));
                return;
        }
        struct fuse_entry_param p = {.entry_timeout = CACHE_TIMEOUT, .attr_timeout = CACHE_TIMEOUT};
        uint64_t nlink = 1;
        if (S_ISDIR(e->node.mode)) {
                /* Counting subdirectories reads every child: leave it to a getattr, which a
                 * zero attribute timeout makes the kernel send when someone looks. */
                if (dir_nlink_known(m, e->node.entry_offset))
                        (void)dir_nlink(m, ino_of(m, e->node.entry_offset), &nlink);
                else
                        p.attr_timeout = 0;
        }
        fill_stat(m, e, nlink, &p.attr);
        p.ino = p.attr.st_ino;
        fuse_reply_entry(req, &p);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
        mount_fs *m = fuse_req_userdata(req);
        _cleanup_(ca_seek_entry_freep) ca_seek_entry *e = NULL;
        uint64_t nlink = 1;
        int r = entry_get(m, ino, &e);
        /* A damaged child makes that child fail, not its directory's stat: count unknown. */
        if (r >= 0 && S_ISDIR(e->node.mode) && dir_nlink(m, ino, &nlink) < 0)
                nlink = 1;
        if (r < 0) {
                fuse_reply_err(req, fuse_errno(r));
                return;
        }
        struct stat st;
        fill_stat(m, e, nlink, &st);
        fuse_reply_attr(req, &st, CACHE_TIMEOUT);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
        mount_fs *m = fuse_req_userdata(req);
        _cleanup_(ca_seek_entry_freep) ca_seek_entry *e = NULL;
        int r = entry_get(m, ino, &e);
        if (r < 0)
                fuse_reply_err(req, fuse_errno(r));
        else if (!S_ISLNK(e->node.mode))
                fuse_reply_err(req, EINVAL);
        else
                fuse_reply_readlink(req, e->node.symlink_target);
}

typedef struct open_file {
        uint64_t payload_offset, size;
} open_file;

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
        mount_fs *m = fuse_req_userdata(req);
        if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
                fuse_reply_err(req, EROFS);
                return;
        }
        _cleanup_(ca_seek_entry_freep) ca_seek_entry *e = NULL;
        int r = entry_get(m, ino, &e);
        if (r < 0) {
                fuse_reply_err(req, fuse_errno(r));
                return;
        }
        if (!S_ISREG(e->node.mode)) {
                fuse_reply_err(req, S_ISDIR(e->node.mode) ? EISDIR : EINVAL);
                return;
        }
        open_file *f = malloc(sizeof(*f));
        if (!f) {
                fuse_reply_err(req, ENOMEM);
                return;
        }
        *f = (open_file){e->payload_offset, e->node.payload_size};
        fi->fh = (uint64_t)(uintptr_t)f;
        fi->keep_cache = 1;
        if (fuse_reply_open(req, fi) < 0)
                free(f);
}

/* ---------------------------------------------------------------- recording an access profile */

/* The node's path below the view's root, into buf (ACI_PROFILE_PATH_MAX + 1 bytes). */
static int node_path(mount_fs *m, uint64_t entry_offset, char *buf)
{
        size_t pos = ACI_PROFILE_PATH_MAX;
        buf[pos] = 0;
        for (unsigned depth = 0; entry_offset != m->root_offset; depth++) {
                node_rec rec;
                _cleanup_(ca_seek_entry_freep) ca_seek_entry *e = NULL;
                int r = depth < CA_NODES_MAX ? table_get(m, ino_of(m, entry_offset), &rec) : -ELOOP;
                if (r >= 0 && rec.parent == UINT64_MAX)
                        r = -ENOENT; /* the root of the archive, not of the view */
                if (r >= 0)
                        r = entry_get(m, ino_of(m, entry_offset), &e);
                if (r < 0)
                        return r;
                size_t l = strlen(e->name) + (pos < ACI_PROFILE_PATH_MAX);
                if (l > pos)
                        return -ENAMETOOLONG;
                pos -= l;
                memcpy(buf + pos, e->name, strlen(e->name));
                if (l > strlen(e->name))
                        buf[pos + l - 1] = '/';
                entry_offset = rec.parent;
        }
        if (pos == ACI_PROFILE_PATH_MAX)
                return -EINVAL; /* the root itself */
        memmove(buf, buf + pos, ACI_PROFILE_PATH_MAX + 1 - pos);
        return 0;
}

/* A read of the file ino: the first one names it in the profile, each adds its range. */
static void record_read(mount_fs *m, fuse_ino_t ino, uint64_t offset, uint64_t length)
{
        node_rec rec;
        if (table_get(m, ino, &rec) < 0 || rec.profile == UINT32_MAX)
                return;
        uint32_t slot = rec.profile;
        if (slot == 0) {
                char path[ACI_PROFILE_PATH_MAX + 1];
                uint32_t s = 0;
                bool ok = node_path(m, rec.entry_offset, path) >= 0;
                /* Under the lock: two first reads of one file at once name it once. */
                pthread_mutex_lock(&m->lock);
                node_rec *p = table_find(m, rec.entry_offset);
                if (p->profile == 0)
                        p->profile =
                            ok && mount_recorder_file(m->rec, path, &s) >= 0 ? s + 1 : UINT32_MAX;
                slot = p->profile;
                pthread_mutex_unlock(&m->lock);
                if (slot == UINT32_MAX)
                        return;
        }
        mount_recorder_read(m->rec, slot - 1, offset, length);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
        mount_fs *m = fuse_req_userdata(req);
        const open_file *f = (const open_file *)(uintptr_t)fi->fh;
        if (off < 0 || (uint64_t)off >= f->size) {
                fuse_reply_buf(req, NULL, 0);
                return;
        }
        size_t n = (size_t)MIN((uint64_t)size, f->size - (uint64_t)off);
        _cleanup_(freep) uint8_t *buf = malloc(MAX(n, (size_t)1));
        if (!buf) {
                fuse_reply_err(req, ENOMEM);
                return;
        }
        if (m->rec)
                record_read(m, ino, (uint64_t)off, n);
        int r = ca_archive_reader_read(m->reader, f->payload_offset + (uint64_t)off, buf, n);
        if (r < 0)
                fuse_reply_err(req, fuse_errno(r));
        else
                fuse_reply_buf(req, (const char *)buf, n);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
        free((open_file *)(uintptr_t)fi->fh);
        fuse_reply_err(req, 0);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
        mount_fs *m = fuse_req_userdata(req);
        ca_seek_dir *d;
        int r = dir_get(m, ino, &d);
        if (r < 0) {
                fuse_reply_err(req, fuse_errno(r));
                return;
        }
        fi->cache_readdir = 1;
        fi->keep_cache = 1;
        fuse_reply_open(req, fi);
}

/* Directory offsets: 1 after ".", 2 after "..", 3 + i after the i-th child (archive order). */
static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
        mount_fs *m = fuse_req_userdata(req);
        ca_seek_dir *d;
        unsigned depth = 0;
        int r = dir_get(m, ino, &d);
        if (r >= 0 && d->n > 0)
                r = child_depth(m, ino, &depth);
        if (r < 0) {
                fuse_reply_err(req, fuse_errno(r));
                return;
        }
        _cleanup_(freep) char *buf = malloc(size);
        if (!buf) {
                fuse_reply_err(req, ENOMEM);
                return;
        }
        size_t pos = 0;
        char prev[256] = "";
        for (uint64_t o = (uint64_t)MAX(off, 0);; o++) {
                struct stat st = {.st_ino = ino, .st_mode = S_IFDIR};
                const char *name;
                _cleanup_(ca_seek_entry_freep) ca_seek_entry *e = NULL;
                if (o == 0) {
                        name = ".";
                } else if (o == 1) {
                        name = "..";
                        st.st_ino = FUSE_ROOT_ID; /* not used by the kernel */
                } else if (o - 2 < d->n) {
                        size_t i = (size_t)(o - 2);
                        if (i > 0 && !prev[0]) { /* the previous name, for the order check */
                                r = ca_seek_dir_child(m->reader, m->flags, d, i - 1, &e);
                                if (r < 0)
                                        break;
                                strcpy(prev, e->name);
                                e = ca_seek_entry_free(e);
                        }
                        r = ca_seek_dir_child(m->reader, m->flags, d, i, &e);
                        if (r < 0)
                                break;
                        if (i > 0 && strcmp(prev, e->name) >= 0) {
                                r = ca_bad("%s: archive offset %" PRIu64
                                           ": file name \"%s\" not after \"%s\"",
                                           ca_archive_reader_what(m->reader),
                                           d->items[d->order[i]].offset, e->name, prev);
                                break;
                        }
                        r = table_add(m, e, offset_of(m, ino), depth);
                        if (r < 0)
                                break;
                        name = e->name;
                        st.st_ino = ino_of(m, e->node.entry_offset);
                        st.st_mode = (mode_t)e->node.mode;
                } else {
                        break;
                }
                size_t need =
                    fuse_add_direntry(req, buf + pos, size - pos, name, &st, (off_t)(o + 1));
                if (need > size - pos)
                        break;
                pos += need;
                if (e)
                        strcpy(prev, e->name);
        }
        if (r < 0 && pos == 0)
                fuse_reply_err(req, fuse_errno(r));
        else
                fuse_reply_buf(req, buf, pos);
}

/* One extended attribute of the node: the value (malloc'ed) for name, or -ENODATA. */
static int xattr_value(const ca_seek_entry *e, const char *what, const char *name, void **ret,
                       size_t *ret_size)
{
        const ca_node *n = &e->node;
        const void *v = NULL;
        size_t size = 0;
        int r;

        if (strcmp(name, CA_ACL_XATTR_ACCESS) == 0 || strcmp(name, CA_ACL_XATTR_DEFAULT) == 0) {
                bool access = strcmp(name, CA_ACL_XATTR_ACCESS) == 0;
                r = access ? ca_acl_access_xattr(n, what, ret, ret_size)
                           : ca_acl_default_xattr(n, what, ret, ret_size);
                if (r < 0)
                        return r;
                return *ret ? 0 : -ENODATA;
        }
        if (strcmp(name, "security.capability") == 0 && n->fcaps) {
                v = n->fcaps;
                size = n->fcaps_size;
        } else if (strcmp(name, "security.selinux") == 0 && n->selinux_label) {
                v = n->selinux_label;
                size = strlen(n->selinux_label) + 1; /* libselinux stores the NUL */
        } else {
                for (size_t i = 0; i < n->n_xattrs && !v; i++)
                        if (strcmp(n->xattrs[i].name, name) == 0) {
                                v = n->xattrs[i].value;
                                size = n->xattrs[i].size;
                        }
        }
        if (!v)
                return -ENODATA;
        *ret = malloc(MAX(size, (size_t)1));
        if (!*ret)
                return -ENOMEM;
        memcpy(*ret, v, size);
        *ret_size = size;
        return 0;
}

static void reply_sized(fuse_req_t req, const void *data, size_t len, size_t size)
{
        if (size == 0)
                fuse_reply_xattr(req, len);
        else if (len > size)
                fuse_reply_err(req, ERANGE);
        else
                fuse_reply_buf(req, data, len);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
        mount_fs *m = fuse_req_userdata(req);
        _cleanup_(ca_seek_entry_freep) ca_seek_entry *e = NULL;
        _cleanup_(freep) void *v = NULL;
        size_t len = 0;
        int r = entry_get(m, ino, &e);
        if (r >= 0)
                r = xattr_value(e, ca_archive_reader_what(m->reader), name, &v, &len);
        if (r < 0)
                fuse_reply_err(req, fuse_errno(r));
        else
                reply_sized(req, v, len, size);
}

static int list_add(char **buf, size_t *len, const char *name)
{
        size_t n = strlen(name) + 1;
        char *p = realloc(*buf, *len + n);
        if (!p)
                return -ENOMEM;
        memcpy(p + *len, name, n);
        *buf = p;
        *len += n;
        return 0;
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
        mount_fs *m = fuse_req_userdata(req);
        const char *what = ca_archive_reader_what(m->reader);
        _cleanup_(ca_seek_entry_freep) ca_seek_entry *e = NULL;
        _cleanup_(freep) char *list = NULL;
        size_t len = 0;
        int r = entry_get(m, ino, &e);
        for (size_t i = 0; r >= 0 && i < e->node.n_xattrs; i++)
                r = list_add(&list, &len, e->node.xattrs[i].name);
        static const char *const special[] = {"security.capability", "security.selinux",
                                              CA_ACL_XATTR_ACCESS, CA_ACL_XATTR_DEFAULT};
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(special); i++) {
                _cleanup_(freep) void *v = NULL;
                size_t vlen;
                r = xattr_value(e, what, special[i], &v, &vlen);
                if (r >= 0)
                        r = list_add(&list, &len, special[i]);
                else if (r == -ENODATA)
                        r = 0;
        }
        if (r < 0)
                fuse_reply_err(req, fuse_errno(r));
        else
                reply_sized(req, list, len, size);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
        mount_fs *m = fuse_req_userdata(req);
        pthread_mutex_lock(&m->lock);
        size_t files = m->n_nodes;
        pthread_mutex_unlock(&m->lock);
        struct statvfs s = {
            .f_bsize = 4096,
            .f_frsize = 4096,
            .f_blocks = (ca_archive_reader_size(m->reader) + 4095) / 4096,
            .f_files = files,
            .f_namemax = 255,
            .f_flag = ST_RDONLY,
        };
        fuse_reply_statfs(req, &s);
}

static const struct fuse_lowlevel_ops ops = {
    .lookup = op_lookup,
    .getattr = op_getattr,
    .readlink = op_readlink,
    .open = op_open,
    .read = op_read,
    .release = op_release,
    .opendir = op_opendir,
    .readdir = op_readdir,
    .statfs = op_statfs,
    .getxattr = op_getxattr,
    .listxattr = op_listxattr,
};

const struct fuse_lowlevel_ops *mount_fs_ops(void)
{
        return &ops;
}

/* ---------------------------------------------------------------- setup */

/* The reader's chunks: a read waits for them, so they go first; and the access profile lists
 * them, metadata too, in the order reads first needed them. */
static int get_chunk(void *userdata, const ca_index_item *item, ca_digest_type t, void *buf)
{
        mount_fs *m = userdata;
        if (m->rec)
                mount_recorder_chunk(m->rec, &item->id);
        return chunk_source_get_urgent(m->in->source, item, t, buf);
}

int mount_fs_new(archive_input *in, const char *subdir, mount_recorder *rec, mount_fs **ret)
{
        if (in->kind != INPUT_CAIDX)
                return ca_log_errno(CA_LOG_ERR, -EMEDIUMTYPE,
                                    "%s: only an archive index (.caidx) can be mounted",
                                    in->location);
        mount_fs *m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->in = in;
        m->rec = rec;
        m->flags = in->index->feature_flags;
        pthread_mutex_init(&m->lock, NULL);
        int r = table_grow(m);
        if (r >= 0)
                r = ca_archive_reader_new(in->index, get_chunk, m, READER_CACHE_CHUNKS,
                                          in->location, &m->reader);
        if (r < 0) {
                mount_fs_free(m);
                return r;
        }

        /* The root (and the subdirectory) must be sound before anything is mounted. */
        _cleanup_(ca_seek_entry_freep) ca_seek_entry *root = NULL, *sub = NULL;
        _cleanup_(ca_seek_dir_freep) ca_seek_dir *d = NULL;
        r = ca_seek_root(m->reader, m->flags, &root);
        if (r >= 0)
                r = table_add(m, root, UINT64_MAX, 0);
        if (r >= 0 && subdir) {
                r = ca_seek_dir_open(m->reader, root, &d);
                if (r >= 0)
                        r = ca_seek_dir_lookup(m->reader, m->flags, d, subdir, &sub);
                if (r == -ENOENT || (r >= 0 && !S_ISDIR(sub->node.mode)))
                        r = ca_log_errno(CA_LOG_ERR, -ENOENT, "%s: the archive has no %s/",
                                         in->location, subdir);
                if (r >= 0) {
                        /* Keyed by ENTRY offset: the root node is offset 0, so ino 1 goes to
                         * the subdirectory and the archive root stays unreachable. */
                        m->root_offset = sub->node.entry_offset;
                        r = table_add(m, sub, UINT64_MAX, 1);
                }
        }
        if (r >= 0) {
                ca_seek_dir *rd;
                r = dir_get(m, FUSE_ROOT_ID, &rd);
        }
        if (r < 0) {
                mount_fs_free(m);
                return r;
        }
        *ret = m;
        return 0;
}

mount_fs *mount_fs_free(mount_fs *m)
{
        if (!m)
                return NULL;
        for (size_t i = 0; i < m->n_slots; i++)
                if (m->nodes[i].entry_offset != UINT64_MAX)
                        ca_seek_dir_free(m->nodes[i].dir);
        free(m->nodes);
        ca_archive_reader_free(m->reader);
        pthread_mutex_destroy(&m->lock);
        free(m);
        return NULL;
}
