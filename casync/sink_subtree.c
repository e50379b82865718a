/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The subtree sink: forwards only what lies under one top-level directory of the archive, as if
 * that directory were the archive's root (render --rootfs-only writes an image's rootfs/ alone).
 */
#include <string.h>
#include <sys/stat.h>

#include "casync/casync.h"

/* The node as the inner sink sees it: one level up, its path without "<name>/". */
static bool reroot(const ca_subtree *t, const ca_node *n, ca_node *out)
{
        size_t len = strlen(t->name);
        if (n->depth == 0 || strncmp(n->path, t->name, len) != 0)
                return false;
        if (n->path[len] == 0) {
                if (n->depth != 1)
                        return false;
                *out = *n;
                out->name = "";
                out->path = ".";
                out->depth = 0;
                return true;
        }
        if (n->path[len] != '/')
                return false;
        *out = *n;
        out->path = n->path + len + 1;
        out->depth = n->depth - 1;
        return true;
}

static int subtree_begin(void *userdata, const ca_node *n)
{
        ca_subtree *t = userdata;
        ca_node m;
        if (!reroot(t, n, &m))
                return 0;
        if (m.depth == 0) {
                if (!S_ISDIR(n->mode))
                        return ca_bad("%s: not a directory", n->path);
                t->seen = true;
        }
        return t->inner.node_begin ? t->inner.node_begin(t->inner.userdata, &m) : 0;
}

static int subtree_payload(void *userdata, const ca_node *n, const void *data, size_t size)
{
        ca_subtree *t = userdata;
        ca_node m;
        if (!reroot(t, n, &m) || !t->inner.payload)
                return 0;
        return t->inner.payload(t->inner.userdata, &m, data, size);
}

static int subtree_end(void *userdata, const ca_node *n)
{
        ca_subtree *t = userdata;
        ca_node m;
        if (!reroot(t, n, &m) || !t->inner.node_end)
                return 0;
        return t->inner.node_end(t->inner.userdata, &m);
}

static int subtree_finish(void *userdata)
{
        ca_subtree *t = userdata;
        if (!t->seen)
                return ca_bad("the archive has no top-level directory '%s'", t->name);
        return t->inner.finish ? t->inner.finish(t->inner.userdata) : 0;
}

void ca_subtree_init(ca_subtree *t, const char *name, const ca_sink *inner, ca_sink *ret_sink)
{
        *t = (ca_subtree){.name = name, .inner = *inner};
        *ret_sink = (ca_sink){.node_begin = subtree_begin,
                              .payload = subtree_payload,
                              .node_end = subtree_end,
                              .finish = subtree_finish,
                              .userdata = t};
}
