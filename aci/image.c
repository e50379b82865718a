/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One stored image as an archive: decoding it from the local chunk store, its canonical tar
 * (export, and the check of its ID), the ACI layout check, and the pathWhitelist filter.
 */
#include <openssl/evp.h>
#include <string.h>
#include <sys/stat.h>

#include "aci/aci.h"

static int feed_decoder(void *userdata, const void *data, size_t size)
{
        return ca_decoder_feed(userdata, data, size);
}

int aci_image_decode(aci_store *s, const aci_image_record *r, unsigned jobs, const ca_sink *sink)
{
        _cleanup_(freep) char *path = aci_store_image_file(s, r->key, "index.caidx");
        if (!path)
                return -ENOMEM;
        _cleanup_(ca_index_freep) ca_index *idx = NULL;
        int k = ca_index_load(path, &idx);
        if (k < 0)
                return k;
        if (idx->n_items == 0)
                return ca_bad("%s: archive index lists no chunks", path);
        _cleanup_(ca_decoder_freep) ca_decoder *d = NULL;
        k = ca_decoder_new(sink, idx->feature_flags, path, &d);
        if (k < 0)
                return k;
        ca_store *chunks = aci_store_chunks(s);
        ca_store_list stores = {.stores = &chunks, .n_stores = 1};
        k = ca_assemble(idx, jobs, ca_store_list_get, &stores, feed_decoder, d, NULL);
        if (k == -ENOENT)
                return ca_log_errno(CA_LOG_ERR, -ENOENT,
                                    "image %s: chunks are missing from %s (fetch it again)", r->key,
                                    ca_store_path(chunks));
        if (k < 0)
                return k;
        return ca_decoder_finish(d);
}

typedef struct export_ctx {
        EVP_MD_CTX *md;
        ca_stream_writer write;
        void *userdata;
} export_ctx;

static int export_write(void *userdata, const void *data, size_t size)
{
        export_ctx *c = userdata;
        if (EVP_DigestUpdate(c->md, data, size) != 1)
                return -EIO;
        return c->write ? c->write(c->userdata, data, size) : 0;
}

int aci_image_export(aci_store *s, const aci_image_record *r, unsigned jobs, ca_stream_writer write,
                     void *userdata)
{
        export_ctx c = {.md = EVP_MD_CTX_new(), .write = write, .userdata = userdata};
        if (!c.md || EVP_DigestInit_ex(c.md, EVP_sha512(), NULL) != 1) {
                EVP_MD_CTX_free(c.md);
                return -ENOMEM;
        }
        _cleanup_(ca_tar_freep) ca_tar *t = NULL;
        ca_sink sink;
        int k = ca_tar_new(export_write, &c, &t, &sink);
        if (k >= 0)
                k = aci_image_decode(s, r, jobs, &sink);
        uint8_t md[64];
        unsigned mdlen = 0;
        if (k >= 0 && EVP_DigestFinal_ex(c.md, md, &mdlen) != 1)
                k = -EIO;
        EVP_MD_CTX_free(c.md);
        if (k < 0)
                return k;
        char id[ACI_ID_SIZE] = "sha512-";
        hex_encode(md, mdlen, id + 7);
        if (strcmp(id, r->id) != 0)
                return ca_bad("image %s: its archive now hashes to %s (store damaged?)", r->id, id);
        return 0;
}

/* ---------------------------------------------------------------- layout sink */

struct aci_layout {
        char *what;
        bool seen_manifest, seen_rootfs;
        char *manifest;
        size_t manifest_size, manifest_alloc;
};

static int layout_begin(void *userdata, const ca_node *n)
{
        aci_layout *l = userdata;
        if (n->depth != 1)
                return 0;
        if (strcmp(n->name, "manifest") == 0) {
                if (!S_ISREG(n->mode))
                        return ca_bad("%s: the image's manifest is not a regular file", l->what);
                if (n->payload_size > ACI_MANIFEST_SIZE_MAX)
                        return ca_bad("%s: the image's manifest is larger than %llu bytes", l->what,
                                      (unsigned long long)ACI_MANIFEST_SIZE_MAX);
                l->manifest = malloc(n->payload_size + 1);
                if (!l->manifest)
                        return -ENOMEM;
                l->manifest_alloc = n->payload_size;
                l->seen_manifest = true;
                return 0;
        }
        if (strcmp(n->name, "rootfs") == 0) {
                if (!S_ISDIR(n->mode))
                        return ca_bad("%s: the image's rootfs is not a directory", l->what);
                if (!l->seen_manifest)
                        return ca_bad("%s: the image has no manifest", l->what);
                l->seen_rootfs = true;
                return 0;
        }
        return ca_bad("%s: '%s' at the image's top level (an ACI holds only manifest and "
                      "rootfs/)",
                      l->what, n->name);
}

static int layout_payload(void *userdata, const ca_node *n, const void *data, size_t size)
{
        aci_layout *l = userdata;
        if (n->depth != 1 || !l->manifest || l->manifest_size > l->manifest_alloc)
                return 0;
        size_t take = MIN(size, l->manifest_alloc - l->manifest_size);
        memcpy(l->manifest + l->manifest_size, data, take);
        l->manifest_size += take;
        return 0;
}

static int layout_finish(void *userdata)
{
        aci_layout *l = userdata;
        if (!l->seen_manifest || !l->seen_rootfs)
                return ca_bad("%s: not an appc image (it needs a manifest and a rootfs/ at its "
                              "top level)",
                              l->what);
        return 0;
}

int aci_layout_new(const char *what, aci_layout **ret, ca_sink *ret_sink)
{
        aci_layout *l = calloc(1, sizeof(*l));
        if (!l || !(l->what = strdup(what))) {
                free(l);
                return -ENOMEM;
        }
        *ret = l;
        *ret_sink = (ca_sink){.node_begin = layout_begin,
                              .payload = layout_payload,
                              .finish = layout_finish,
                              .userdata = l};
        return 0;
}

aci_layout *aci_layout_free(aci_layout *l)
{
        if (l) {
                free(l->manifest);
                free(l->what);
                free(l);
        }
        return NULL;
}

const char *aci_layout_manifest(const aci_layout *l, size_t *size)
{
        if (!l->seen_manifest || l->manifest_size != l->manifest_alloc)
                return NULL;
        *size = l->manifest_size;
        return l->manifest;
}

/* ---------------------------------------------------------------- pathWhitelist */

/* Whitelist entries are absolute ("/bin/sh"); path is relative to rootfs ("bin/sh"). */
static bool listed(const char *const *list, size_t n, const char *path)
{
        for (size_t i = 0; i < n; i++)
                if (list[i][0] == '/' && strcmp(list[i] + 1, path) == 0)
                        return true;
        return false;
}

int aci_whitelist_filter(void *userdata, const ca_node *node)
{
        const aci_whitelist *w = userdata;
        if (S_ISDIR(node->mode))
                return 1;
        if (!w->rerooted && strncmp(node->path, "rootfs/", 7) != 0)
                return 1; /* the manifest */
        const char *p = w->rerooted ? node->path : node->path + 7;
        if (w->n_own > 0 && !listed(w->own, w->n_own, p))
                return 0;
        if (w->n_ancestor > 0 && !listed(w->ancestor, w->n_ancestor, p))
                return 0;
        return 1;
}
