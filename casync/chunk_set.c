/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A set of chunk IDs: appended in any order, then sorted once and searched by bisection. */
#include <string.h>

#include "casync/casync.h"

struct ca_chunk_set {
        ca_chunk_id *ids;
        size_t n, alloc;
};

static int compare_id(const void *a, const void *b)
{
        return memcmp(a, b, sizeof(ca_chunk_id));
}

int ca_chunk_set_new(ca_chunk_set **ret)
{
        ca_chunk_set *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

ca_chunk_set *ca_chunk_set_free(ca_chunk_set *s)
{
        if (s)
                free(s->ids);
        free(s);
        return NULL;
}

static int reserve(ca_chunk_set *s, size_t more)
{
        if (more > SIZE_MAX - s->n)
                return -ENOMEM;
        if (s->n + more <= s->alloc)
                return 0;
        size_t want = MAX(MAX(s->alloc * 2, s->n + more), (size_t)16);
        ca_chunk_id *m = reallocarray(s->ids, want, sizeof(*m));
        if (!m)
                return -ENOMEM;
        s->ids = m;
        s->alloc = want;
        return 0;
}

int ca_chunk_set_add(ca_chunk_set *s, const ca_chunk_id *id)
{
        int r = reserve(s, 1);
        if (r < 0)
                return r;
        s->ids[s->n++] = *id;
        return 0;
}

int ca_chunk_set_add_index(ca_chunk_set *s, const ca_index *i)
{
        int r = reserve(s, i->n_items);
        if (r < 0)
                return r;
        for (size_t k = 0; k < i->n_items; k++)
                s->ids[s->n++] = i->items[k].id;
        return 0;
}

void ca_chunk_set_sort(ca_chunk_set *s)
{
        if (s->n < 2)
                return;
        qsort(s->ids, s->n, sizeof(*s->ids), compare_id);
        size_t u = 1;
        for (size_t k = 1; k < s->n; k++)
                if (compare_id(&s->ids[u - 1], &s->ids[k]) != 0)
                        s->ids[u++] = s->ids[k];
        s->n = u;
}

ssize_t ca_chunk_set_find(const ca_chunk_set *s, const ca_chunk_id *id)
{
        if (s->n == 0)
                return -1;
        const ca_chunk_id *p = bsearch(id, s->ids, s->n, sizeof(*s->ids), compare_id);
        return p ? p - s->ids : -1;
}

bool ca_chunk_set_contains(const ca_chunk_set *s, const ca_chunk_id *id)
{
        return ca_chunk_set_find(s, id) >= 0;
}

size_t ca_chunk_set_count(const ca_chunk_set *s)
{
        return s->n;
}

const ca_chunk_id *ca_chunk_set_get(const ca_chunk_set *s, size_t i)
{
        return i < s->n ? &s->ids[i] : NULL;
}
