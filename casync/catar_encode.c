/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The catar encoder: a depth-first walk through directory descriptors that writes what
 * `casync make` writes (spec §4). Every child is reached from its parent's fd with O_NOFOLLOW
 * (symlinks are archived, never followed); children come in strcmp order; each directory ends
 * with a GOODBYE whose items form the binary search tree casync builds over the SipHash of the
 * names. Output leaves through a fixed buffer, so memory holds one listing per directory level
 * and never a file's contents.
 */
#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include "casync/encode.h"
#include "casync/fs_safe.h"

#define OUT_BUFFER_SIZE (256 * 1024)
/* How far the read-ahead thread may run ahead of the encoder. */
#define PREFETCH_BUDGET (UINT64_C(64) * 1024 * 1024)

typedef struct goodbye_item {
        uint64_t hash, start, end;
} goodbye_item;

typedef struct goodbye_table {
        goodbye_item *items;
        size_t n, alloc;
} goodbye_table;

typedef struct dirent_name {
        char *name;
        unsigned char type;
} dirent_name;

struct ca_encoder {
        uint64_t flags;
        ca_stream_writer write;
        void *userdata;
        uint8_t *buf;
        size_t fill;
        uint64_t offset; /* stream bytes produced, buffered ones included */
        ca_enc_names names;
        ca_encode_stats stats;
        ca_prefetch *prefetch; /* read-ahead of the tree being encoded, if any */
        char *path;            /* of the node being encoded, for messages */
        size_t path_len, path_alloc;
        bool used;
};

int ca_encoder_new(uint64_t feature_flags, ca_stream_writer write, void *userdata, ca_encoder **ret)
{
        _cleanup_(ca_encoder_freep) ca_encoder *e = NULL;

        if (!ca_feature_flags_are_normalized(feature_flags))
                return -EINVAL;
        e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        e->flags = feature_flags;
        e->write = write;
        e->userdata = userdata;
        e->buf = malloc(OUT_BUFFER_SIZE);
        if (!e->buf)
                return -ENOMEM;
        *ret = TAKE_PTR(e);
        return 0;
}

ca_encoder *ca_encoder_free(ca_encoder *e)
{
        if (!e)
                return NULL;
        ca_enc_names_clear(&e->names);
        free(e->buf);
        free(e->path);
        free(e);
        return NULL;
}

void ca_encoder_get_stats(const ca_encoder *e, ca_encode_stats *ret)
{
        *ret = e->stats;
        ret->bytes = e->offset;
}

/* ---------------------------------------------------------------- output */

static int flush(ca_encoder *e)
{
        int r;

        if (e->fill == 0)
                return 0;
        r = e->write(e->userdata, e->buf, e->fill);
        e->fill = 0;
        return r;
}

static int emit(ca_encoder *e, const void *data, size_t size)
{
        const uint8_t *p = data;

        while (size > 0) {
                size_t k = MIN(size, OUT_BUFFER_SIZE - e->fill);
                int r;

                memcpy(e->buf + e->fill, p, k);
                e->fill += k;
                e->offset += k;
                p += k;
                size -= k;
                if (e->fill == OUT_BUFFER_SIZE && (r = flush(e)) < 0)
                        return r;
        }
        return 0;
}

static int emit_le64s(ca_encoder *e, size_t n, const uint64_t *v)
{
        uint8_t b[8 * 8];

        for (size_t i = 0; i < n; i++)
                write_le64(b + 8 * i, v[i]);
        return emit(e, b, 8 * n);
}

/* ---------------------------------------------------------------- paths for messages */

static int path_push(ca_encoder *e, const char *name, size_t *saved)
{
        size_t l = strlen(name), need = e->path_len + 1 + l + 1;

        if (need > e->path_alloc) {
                size_t a = MAX(need, 2 * e->path_alloc);
                char *p = realloc(e->path, a);
                if (!p)
                        return -ENOMEM;
                e->path = p;
                e->path_alloc = a;
        }
        *saved = e->path_len;
        if (e->path_len > 0)
                e->path[e->path_len++] = '/';
        memcpy(e->path + e->path_len, name, l + 1);
        e->path_len += l;
        return 0;
}

static void path_pop(ca_encoder *e, size_t saved)
{
        e->path_len = saved;
        e->path[saved] = 0;
}

/* ---------------------------------------------------------------- goodbye tables */

static int goodbye_add(goodbye_table *t, const char *name, uint64_t start, uint64_t end)
{
        if (t->n == t->alloc) {
                size_t a = t->alloc ? 2 * t->alloc : 16;
                goodbye_item *items = realloc(t->items, a * sizeof(*items));
                if (!items)
                        return -ENOMEM;
                t->items = items;
                t->alloc = a;
        }
        t->items[t->n++] = (goodbye_item){ca_goodbye_hash(name, strlen(name)), start, end};
        return 0;
}

static int compare_goodbye(const void *a, const void *b)
{
        const goodbye_item *x = a, *y = b;

        if (x->hash != y->hash)
                return x->hash < y->hash ? -1 : 1;
        if (x->start != y->start)
                return x->start < y->start ? -1 : 1;
        return 0;
}

/* Lays sorted items out as a left-complete tree in breadth-first order: an in-order walk over
 * the slots visits them sorted (slot i has children 2i+1 and 2i+2). */
static void bst_fill(const goodbye_item *sorted, size_t n, goodbye_item *out, size_t slot,
                     size_t *next)
{
        if (slot >= n)
                return;
        bst_fill(sorted, n, out, 2 * slot + 1, next);
        out[slot] = sorted[(*next)++];
        bst_fill(sorted, n, out, 2 * slot + 2, next);
}

static int emit_goodbye(ca_encoder *e, goodbye_table *t, uint64_t entry_offset)
{
        _cleanup_(freep) goodbye_item *tree = NULL;
        uint64_t start = e->offset;
        uint64_t size = CA_FORMAT_HEADER_SIZE + (uint64_t)(t->n + 1) * CA_FORMAT_GOODBYE_ITEM_SIZE;
        size_t next = 0;
        int r;

        if (t->n > 0) {
                tree = malloc(t->n * sizeof(*tree));
                if (!tree)
                        return -ENOMEM;
                qsort(t->items, t->n, sizeof(goodbye_item), compare_goodbye);
                bst_fill(t->items, t->n, tree, 0, &next);
        }
        r = emit_le64s(e, 2, (const uint64_t[]){size, CA_FORMAT_GOODBYE});
        for (size_t i = 0; r >= 0 && i < t->n; i++)
                r = emit_le64s(e, 3,
                               (const uint64_t[]){start - tree[i].start,
                                                  tree[i].end - tree[i].start, tree[i].hash});
        if (r >= 0)
                r = emit_le64s(
                    e, 3,
                    (const uint64_t[]){start - entry_offset, size, CA_FORMAT_GOODBYE_TAIL_MARKER});
        return r;
}

/* ---------------------------------------------------------------- nodes */

static int node_fail(ca_encoder *e, int r, const char *what)
{
        return ca_log_errno(CA_LOG_ERR, r, "%s: %s: %s", e->path, what, strerror(-r));
}

static int emit_payload(ca_encoder *e, ca_enc_node *n)
{
        uint64_t left = (uint64_t)n->st.st_size, off = 0;

        if (n->synthetic)
                return emit(e, n->data, (size_t)left);
        while (left > 0) {
                size_t k = (size_t)MIN(left, (uint64_t)(OUT_BUFFER_SIZE - e->fill));
                /* By offset, as casync reads: a descriptor handed in may have been read. */
                ssize_t l = pread(n->fd, e->buf + e->fill, k, (off_t)off);
                int r;

                if (l < 0) {
                        if (errno == EINTR)
                                continue;
                        return node_fail(e, negative_errno(), "read failed");
                }
                if (l == 0)
                        return node_fail(e, -EIO, "file shrank while being archived");
                e->fill += (size_t)l;
                e->offset += (uint64_t)l;
                off += (uint64_t)l;
                left -= (uint64_t)l;
                if (e->fill == OUT_BUFFER_SIZE && (r = flush(e)) < 0)
                        return r;
        }
        return 0;
}

static int compare_dirent_name(const void *a, const void *b)
{
        return strcmp(((const dirent_name *)a)->name, ((const dirent_name *)b)->name);
}

static void dirent_names_free(dirent_name *l, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(l[i].name);
        free(l);
}

/* The directory's entries but "." and "..", in strcmp order. */
static int list_dir(ca_encoder *e, int fd, dirent_name **ret, size_t *ret_n)
{
        dirent_name *l = NULL;
        size_t n = 0, alloc = 0;
        struct dirent *de;
        DIR *d;
        int r;

        d = fs_opendir_at(fd);
        if (!d)
                return node_fail(e, negative_errno(), "cannot list directory");
        while ((r = fs_readdir(d, &de)) > 0) {
                if (n == alloc) {
                        size_t a = alloc ? 2 * alloc : 32;
                        dirent_name *m = realloc(l, a * sizeof(*m));
                        if (!m) {
                                r = -ENOMEM;
                                break;
                        }
                        l = m;
                        alloc = a;
                }
                l[n].name = strdup(de->d_name);
                l[n].type = de->d_type;
                if (!l[n].name) {
                        r = -ENOMEM;
                        break;
                }
                n++;
        }
        closedir(d);
        if (r < 0) {
                dirent_names_free(l, n);
                return r == -ENOMEM ? r : node_fail(e, r, "cannot list directory");
        }
        if (n > 1)
                qsort(l, n, sizeof(dirent_name), compare_dirent_name);
        *ret = l;
        *ret_n = n;
        return 0;
}

static int read_symlink(ca_encoder *e, ca_enc_node *n)
{
        size_t size = 256;

        for (;;) {
                char *buf = malloc(size);
                ssize_t l;

                if (!buf)
                        return -ENOMEM;
                l = readlinkat(n->parent_fd, n->name, buf, size);
                if (l < 0) {
                        free(buf);
                        return node_fail(e, negative_errno(), "cannot read symlink");
                }
                if ((size_t)l < size) {
                        buf[l] = 0;
                        n->symlink_target = buf;
                        return 0;
                }
                free(buf);
                if (size >= 1024 * 1024)
                        return node_fail(e, -ENAMETOOLONG, "cannot read symlink");
                size *= 2;
        }
}

/* Opens and stats a child as casync does: directories and regular files get a descriptor, other
 * nodes only a stat. */
static int open_child(ca_encoder *e, const ca_enc_node *parent, const dirent_name *de,
                      ca_enc_node *c)
{
        int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW;

        c->parent_fd = parent->fd;
        c->name = de->name;
        c->path = e->path;
        if (de->type == DT_DIR || de->type == DT_REG) {
                c->fd =
                    openat(parent->fd, de->name, flags | (de->type == DT_DIR ? O_DIRECTORY : 0));
                if (c->fd < 0)
                        return node_fail(e, negative_errno(), "cannot open");
                if (fstat(c->fd, &c->st) < 0)
                        return node_fail(e, negative_errno(), "cannot stat");
        } else {
                if (fstatat(parent->fd, de->name, &c->st, AT_SYMLINK_NOFOLLOW) < 0)
                        return node_fail(e, negative_errno(), "cannot stat");
                if (S_ISDIR(c->st.st_mode) || S_ISREG(c->st.st_mode)) {
                        c->fd = openat(parent->fd, de->name,
                                       flags | (S_ISDIR(c->st.st_mode) ? O_DIRECTORY : 0));
                        if (c->fd < 0)
                                return node_fail(e, negative_errno(), "cannot open");
                }
        }
        if (c->st.st_dev == parent->st.st_dev || c->fd < 0)
                c->magic = parent->magic;
        else {
                struct statfs sfs;
                if (fstatfs(c->fd, &sfs) < 0)
                        return node_fail(e, negative_errno(), "cannot stat file system");
                c->magic = (long)sfs.f_type;
        }
        if (S_ISLNK(c->st.st_mode))
                return read_symlink(e, c);
        return 0;
}

/* casync's rules for leaving a child out; 1 to store it. below receives the .caexclude rules
 * that apply inside it. */
static int shall_store(ca_encoder *e, ca_enc_node *parent, ca_enc_node *c,
                       const ca_exclude_set *rules, ca_exclude_set *below)
{
        mode_t m = c->st.st_mode;
        int r;

        if ((S_ISLNK(m) && !(e->flags & CA_FORMAT_WITH_SYMLINKS)) ||
            ((S_ISBLK(m) || S_ISCHR(m)) && !(e->flags & CA_FORMAT_WITH_DEVICE_NODES)) ||
            (S_ISFIFO(m) && !(e->flags & CA_FORMAT_WITH_FIFOS)) ||
            (S_ISSOCK(m) && !(e->flags & CA_FORMAT_WITH_SOCKETS)))
                return 0;

        r = ca_enc_node_read_chattr(e->flags, c);
        if (r < 0)
                return r;
        if ((e->flags & CA_FORMAT_EXCLUDE_NODUMP) && (c->chattr & FS_NODUMP_FL))
                return 0;

        if (e->flags & CA_FORMAT_EXCLUDE_SUBMOUNTS) {
                if ((r = ca_enc_node_read_mnt_id(parent)) < 0 ||
                    (r = ca_enc_node_read_mnt_id(c)) < 0)
                        return r;
                if (c->mnt_id >= 0 && parent->mnt_id >= 0 && c->mnt_id != parent->mnt_id)
                        return 0;
        }

        r = ca_exclude_test(rules, c->name, S_ISDIR(m), below);
        if (r < 0)
                return node_fail(e, r, "bad .caexclude pattern");
        return !r;
}

static int encode_node(ca_encoder *e, ca_enc_node *n, unsigned depth, ca_exclude_set *rules,
                       const ca_encode_entry *entries, size_t n_entries);

static int encode_child(ca_encoder *e, ca_enc_node *parent, unsigned depth, const dirent_name *de,
                        const ca_exclude_set *rules, goodbye_table *gb)
{
        _cleanup_(ca_exclude_set_clear) ca_exclude_set below = {0};
        ca_enc_node c;
        uint64_t start;
        size_t saved;
        size_t l = strlen(de->name);
        int r;

        r = path_push(e, de->name, &saved);
        if (r < 0)
                return r;
        ca_enc_node_init(&c);
        /* casync holds at most 64 nodes from the root down. */
        if (depth + 1 >= CA_NODES_MAX) {
                r = node_fail(e, -E2BIG, "nested too deeply");
                goto finish;
        }
        r = open_child(e, parent, de, &c);
        if (r >= 0)
                r = shall_store(e, parent, &c, rules, &below);
        if (r == 0)
                e->stats.skipped++;
        if (r <= 0)
                goto finish;

        start = e->offset;
        r = emit_le64s(e, 2, (const uint64_t[]){CA_FORMAT_HEADER_SIZE + l + 1, CA_FORMAT_FILENAME});
        if (r >= 0)
                r = emit(e, de->name, l + 1);
        if (r >= 0)
                r = encode_node(e, &c, depth + 1, &below, NULL, 0);
        if (r >= 0)
                r = goodbye_add(gb, de->name, start, e->offset);
finish:
        ca_enc_node_clear(&c);
        path_pop(e, saved);
        return r;
}

static int compare_entry(const void *a, const void *b)
{
        return strcmp(((const ca_encode_entry *)a)->name, ((const ca_encode_entry *)b)->name);
}

/* A child of a synthetic root: a node given by descriptor, or a file from memory. */
static int encode_entry(ca_encoder *e, unsigned depth, const ca_encode_entry *x, goodbye_table *gb)
{
        _cleanup_(ca_exclude_set_clear) ca_exclude_set none = {0};
        ca_enc_node c;
        size_t saved, l = strlen(x->name);
        uint64_t start;
        int r;

        if (!fs_name_is_valid(x->name))
                return -EINVAL;
        r = path_push(e, x->name, &saved);
        if (r < 0)
                return r;
        ca_enc_node_init(&c);
        c.name = x->name;
        c.path = e->path;
        if (x->fd >= 0) {
                struct statfs sfs;

                c.fd = fcntl(x->fd, F_DUPFD_CLOEXEC, 3);
                if (c.fd < 0 || fstat(c.fd, &c.st) < 0 || fstatfs(c.fd, &sfs) < 0)
                        r = node_fail(e, negative_errno(), "cannot stat");
                else if (!S_ISDIR(c.st.st_mode) && !S_ISREG(c.st.st_mode))
                        r = node_fail(e, -EINVAL, "not a directory or regular file");
                else
                        c.magic = (long)sfs.f_type;
        } else {
                c.synthetic = true;
                c.data = x->data;
                c.st.st_mode = S_IFREG | (x->mode & 07777);
                c.st.st_uid = x->uid;
                c.st.st_gid = x->gid;
                c.st.st_size = (off_t)x->size;
                c.st.st_mtim.tv_sec = (time_t)(x->mtime / 1000000000);
                c.st.st_mtim.tv_nsec = (long)(x->mtime % 1000000000);
        }
        if (r >= 0) {
                start = e->offset;
                r = emit_le64s(
                    e, 2, (const uint64_t[]){CA_FORMAT_HEADER_SIZE + l + 1, CA_FORMAT_FILENAME});
                if (r >= 0)
                        r = emit(e, x->name, l + 1);
                if (r >= 0 && S_ISDIR(c.st.st_mode) && !e->prefetch)
                        (void)ca_prefetch_start(c.fd, PREFETCH_BUDGET, &e->prefetch);
                if (r >= 0)
                        r = encode_node(e, &c, depth + 1, &none, NULL, 0);
                e->prefetch = ca_prefetch_stop(e->prefetch);
                if (r >= 0)
                        r = goodbye_add(gb, x->name, start, e->offset);
        }
        ca_enc_node_clear(&c);
        path_pop(e, saved);
        return r;
}

static int encode_children(ca_encoder *e, ca_enc_node *n, unsigned depth, ca_exclude_set *rules,
                           goodbye_table *gb)
{
        _cleanup_(ca_exclude_file_freep) ca_exclude_file *excl = NULL;
        dirent_name *l = NULL;
        size_t count = 0;
        int r;

        r = list_dir(e, n->fd, &l, &count);
        if (r < 0)
                return r;
        /* Its own .caexclude adds to the rules inherited from above. */
        if (count > 0 && bsearch(&(dirent_name){".caexclude", 0}, l, count, sizeof(dirent_name),
                                 compare_dirent_name)) {
                size_t saved;

                r = path_push(e, ".caexclude", &saved);
                if (r >= 0) {
                        r = ca_exclude_file_load(n->fd, e->path, &excl);
                        path_pop(e, saved);
                }
                if (r >= 0)
                        r = ca_exclude_set_add_file(rules, excl);
        }
        for (size_t i = 0; r >= 0 && i < count; i++)
                r = encode_child(e, n, depth, &l[i], rules, gb);
        dirent_names_free(l, count);
        return r;
}

static int encode_node(ca_encoder *e, ca_enc_node *n, unsigned depth, ca_exclude_set *rules,
                       const ca_encode_entry *entries, size_t n_entries)
{
        _cleanup_(freep) uint8_t *entry = NULL;
        goodbye_table gb = {0};
        uint64_t entry_offset = e->offset;
        size_t entry_size;
        int r;

        r = ca_enc_node_read_meta(e->flags, &e->names, n);
        if (r < 0)
                return r;
        r = ca_enc_node_entry(e->flags, n, &entry, &entry_size);
        if (r < 0)
                return r;
        r = emit(e, entry, entry_size);
        if (r < 0)
                return r;
        e->stats.nodes++;

        if (S_ISREG(n->st.st_mode)) {
                if (!ca_enc_node_enumerate(n))
                        return 0;
                r = emit_payload(e, n);
                if (!n->synthetic)
                        ca_prefetch_consumed(e->prefetch, (uint64_t)n->st.st_size);
                return r;
        }
        if (!S_ISDIR(n->st.st_mode))
                return 0;

        if (entries) {
                for (size_t i = 0; r >= 0 && i < n_entries; i++)
                        r = encode_entry(e, depth, &entries[i], &gb);
        } else if (ca_enc_node_enumerate(n))
                r = encode_children(e, n, depth, rules, &gb);
        if (r >= 0)
                r = emit_goodbye(e, &gb, entry_offset);
        free(gb.items);
        return r;
}

static int run(ca_encoder *e, ca_enc_node *root, const ca_encode_entry *entries, size_t n)
{
        _cleanup_(ca_exclude_set_clear) ca_exclude_set rules = {0};
        int r;

        if (e->used)
                return -EBUSY;
        e->used = true;
        r = encode_node(e, root, 0, &rules, entries, n);
        if (r >= 0)
                r = flush(e);
        return r;
}

int ca_encoder_run(ca_encoder *e, int dir_fd, const char *what)
{
        struct statfs sfs;
        ca_enc_node root;
        size_t saved;
        int r;

        r = path_push(e, what, &saved);
        if (r < 0)
                return r;
        ca_enc_node_init(&root);
        root.name = what;
        root.path = e->path;
        root.fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
        if (root.fd < 0 || fstat(root.fd, &root.st) < 0 || fstatfs(root.fd, &sfs) < 0)
                r = node_fail(e, negative_errno(), "cannot stat");
        else if (!S_ISDIR(root.st.st_mode))
                r = node_fail(e, -ENOTDIR, "an archive's root must be a directory");
        else {
                root.magic = (long)sfs.f_type;
                /* Without it the encoder still works, only slower on a cold cache. */
                (void)ca_prefetch_start(root.fd, PREFETCH_BUDGET, &e->prefetch);
                r = run(e, &root, NULL, 0);
                e->prefetch = ca_prefetch_stop(e->prefetch);
        }
        ca_enc_node_clear(&root);
        return r;
}

int ca_encoder_run_synthetic(ca_encoder *e, const struct stat *st, const ca_encode_entry *entries,
                             size_t n_entries)
{
        _cleanup_(freep) ca_encode_entry *sorted = NULL;
        ca_enc_node root;
        size_t saved;
        int r;

        if (!S_ISDIR(st->st_mode))
                return -EINVAL;
        sorted = calloc(MAX(n_entries, (size_t)1), sizeof(*sorted));
        if (!sorted)
                return -ENOMEM;
        if (n_entries > 0)
                memcpy(sorted, entries, n_entries * sizeof(*sorted));
        qsort(sorted, n_entries, sizeof(*sorted), compare_entry);
        for (size_t i = 1; i < n_entries; i++)
                if (strcmp(sorted[i - 1].name, sorted[i].name) == 0)
                        return -EINVAL;

        r = path_push(e, ".", &saved);
        if (r < 0)
                return r;
        ca_enc_node_init(&root);
        root.synthetic = true;
        root.name = ".";
        root.path = e->path;
        root.st.st_mode = st->st_mode;
        root.st.st_uid = st->st_uid;
        root.st.st_gid = st->st_gid;
        root.st.st_mtim = st->st_mtim;
        r = run(e, &root, sorted, n_entries);
        ca_enc_node_clear(&root);
        return r;
}
