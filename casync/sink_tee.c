/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One decode pass feeding two consumers (extract and tar-hash, extract and mtree...). */
#include "casync/casync.h"

static int tee_node_begin(void *ud, const ca_node *n)
{
        ca_tee *t = ud;
        int r = t->a.node_begin ? t->a.node_begin(t->a.userdata, n) : 0;
        if (r >= 0 && t->b.node_begin)
                r = t->b.node_begin(t->b.userdata, n);
        return r;
}

static int tee_payload(void *ud, const ca_node *n, const void *data, size_t size)
{
        ca_tee *t = ud;
        int r = t->a.payload ? t->a.payload(t->a.userdata, n, data, size) : 0;
        if (r >= 0 && t->b.payload)
                r = t->b.payload(t->b.userdata, n, data, size);
        return r;
}

static int tee_node_end(void *ud, const ca_node *n)
{
        ca_tee *t = ud;
        int r = t->a.node_end ? t->a.node_end(t->a.userdata, n) : 0;
        if (r >= 0 && t->b.node_end)
                r = t->b.node_end(t->b.userdata, n);
        return r;
}

static int tee_finish(void *ud)
{
        ca_tee *t = ud;
        int r = t->a.finish ? t->a.finish(t->a.userdata) : 0;
        if (r >= 0 && t->b.finish)
                r = t->b.finish(t->b.userdata);
        return r;
}

void ca_tee_init(ca_tee *t, const ca_sink *a, const ca_sink *b, ca_sink *ret_sink)
{
        t->a = *a;
        t->b = *b;
        *ret_sink = (ca_sink){
            .node_begin = tee_node_begin,
            .payload = tee_payload,
            .node_end = tee_node_end,
            .finish = tee_finish,
            .userdata = t,
        };
}
