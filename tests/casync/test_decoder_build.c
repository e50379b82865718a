/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Hand-built archives for the decoder test: records, ENTRYs, directories with their GOODBYE. */
#include "test_decoder.h"

/* ---------------------------------------------------------------- hand-built archives */

static void put(out *o, const void *data, size_t n)
{
        if (o->n + n > o->alloc) {
                o->alloc = (o->n + n) * 2 + 1024;
                o->p = realloc(o->p, o->alloc);
                CHECK(o->p);
        }
        memcpy(o->p + o->n, data, n);
        o->n += n;
}

void put64(out *o, uint64_t v)
{
        uint8_t b[8];
        write_le64(b, v);
        put(o, b, 8);
}

void put_rec(out *o, uint64_t type, const void *body, size_t len)
{
        put64(o, 16 + len);
        put64(o, type);
        put(o, body, len);
}

void put_str(out *o, uint64_t type, const char *s)
{
        put_rec(o, type, s, strlen(s) + 1);
}

void put_acl(out *o, uint64_t type, uint64_t id, uint64_t perm, const char *name)
{
        put64(o, 32 + (name ? strlen(name) + 1 : 0));
        put64(o, type);
        put64(o, id);
        put64(o, perm);
        if (name)
                put(o, name, strlen(name) + 1);
}

uint64_t flags = FX_FLAGS;

void put_entry_t(out *o, uint64_t mode, uint64_t uid, uint64_t mtime)
{
        put64(o, 64);
        put64(o, CA_FORMAT_ENTRY);
        put64(o, flags);
        put64(o, mode);
        put64(o, 0);
        put64(o, uid);
        put64(o, uid);
        put64(o, mtime);
}

void put_entry(out *o, uint64_t mode, uint64_t uid)
{
        put_entry_t(o, mode, uid, 0);
}

void open_dir(out *o, dir *d, uint64_t mode)
{
        *d = (dir){.entry = o->n};
        put_entry(o, S_IFDIR | mode, 0);
}

void put_name(out *o, dir *d, const char *name)
{
        d->kids[d->n++] = (kid){o->n, 0, ca_goodbye_hash(name, strlen(name))};
        put_str(o, CA_FORMAT_FILENAME, name);
}

void end_kid(out *o, dir *d)
{
        d->kids[d->n - 1].size = o->n - d->kids[d->n - 1].off;
}

static int kid_cmp(const void *x, const void *y)
{
        const kid *a = x, *b = y;
        return a->hash < b->hash ? -1 : a->hash > b->hash;
}

static void layout(const kid *sorted, size_t n, size_t i, size_t *next, kid *tree)
{
        if (i >= n)
                return;
        layout(sorted, n, 2 * i + 1, next, tree);
        tree[i] = sorted[(*next)++];
        layout(sorted, n, 2 * i + 2, next, tree);
}

void close_dir(out *o, dir *d)
{
        kid sorted[16], tree[16];
        size_t next = 0;
        uint64_t start = o->n, size = 16 + 24 * (d->n + 1);

        memcpy(sorted, d->kids, sizeof(kid) * d->n);
        qsort(sorted, d->n, sizeof(kid), kid_cmp);
        layout(sorted, d->n, 0, &next, tree);
        put64(o, size);
        put64(o, CA_FORMAT_GOODBYE);
        for (size_t i = 0; i < d->n; i++) {
                put64(o, start - tree[i].off);
                put64(o, tree[i].size);
                put64(o, tree[i].hash);
        }
        put64(o, start - d->entry);
        put64(o, size);
        put64(o, CA_FORMAT_GOODBYE_TAIL_MARKER);
}

/* A chain of `levels` directories below the root, the deepest empty. */
void put_chain(out *o, unsigned levels)
{
        dir d;
        open_dir(o, &d, 0755);
        if (levels > 0) {
                put_name(o, &d, "d");
                put_chain(o, levels - 1);
                end_kid(o, &d);
        }
        close_dir(o, &d);
}
