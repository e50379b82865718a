/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The full check of a stored tree (verify): the image is rendered again from the local chunk
 * store into this process's work directory, with the ownership choice its record names, and the
 * content digests of both trees (tree_check.c) compared. Intact, the fresh copy goes and the
 * record is rewritten when it no longer matches (a tree of an older acfetch gets its first one);
 * modified, the fresh copy replaces the tree when asked to, else it goes too.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "aci/aci.h"
#include "casync/fs_safe.h"

static int content_digest_at(int parent_fd, const char *name, uint8_t d[ACI_TREE_DIGEST_SIZE])
{
        _cleanup_(closep) int fd = fs_open_beneath(parent_fd, name, O_RDONLY | O_DIRECTORY, 0);
        if (fd < 0)
                return fd;
        return aci_tree_digest(fd, true, d, NULL);
}

/* Renders r into work_fd/name (work_path/name) as its tree was rendered. */
static int render_fresh(aci_store *s, const aci_image_record *r, const char *work_path,
                        const char *name, const aci_render_options *o)
{
        aci_render_list l = {};
        int k = aci_render_list_build(s, r, &l);
        if (k < 0)
                return k;
        _cleanup_(freep) char *path = NULL;
        if (asprintf(&path, "%s/%s", work_path, name) < 0)
                k = -ENOMEM;
        if (k >= 0)
                k = aci_render(s, &l, path, o);
        aci_render_list_done(&l);
        return k;
}

int aci_store_verify_tree(aci_store *s, const aci_image_record *r, bool repair, unsigned jobs)
{
        int k = aci_store_tree_ready(s, r->key);
        if (k <= 0)
                return k < 0 ? k : ACI_TREE_ABSENT;
        _cleanup_(freep) char *tree = aci_store_tree_path(s, r->key);
        if (!tree)
                return -ENOMEM;
        _cleanup_(closep) int tree_fd = open(tree, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (tree_fd < 0)
                return ca_log_errno(CA_LOG_ERR, negative_errno(), "%s: %m", tree);
        aci_tree_record rec = {.same_owner = true};
        int have = aci_tree_record_read(tree_fd, &rec);
        if (have < 0 && have != -ENOENT && have != -EBADMSG)
                return ca_log_errno(CA_LOG_ERR, have, "%s/%s: %s", tree, ACI_TREE_RECORD,
                                    strerror(-have));

        int work_fd;
        const char *work_path;
        k = aci_store_tmp(s, &work_fd, &work_path);
        if (k < 0)
                return k;
        const char *name = "verify-tree";
        aci_render_options o = {.no_same_owner = !rec.same_owner, .jobs = jobs};
        k = render_fresh(s, r, work_path, name, &o);
        uint8_t want[ACI_TREE_DIGEST_SIZE], got[ACI_TREE_DIGEST_SIZE];
        if (k >= 0) {
                k = content_digest_at(work_fd, name, want);
                if (k < 0)
                        ca_log_errno(CA_LOG_ERR, k, "%s/%s: %s", work_path, name, strerror(-k));
        }
        if (k >= 0) {
                k = aci_tree_digest(tree_fd, true, got, NULL);
                if (k == -ELOOP || k == -ENOENT)
                        k = 1; /* nested deeper than we render, or an entry went as we read */
                else if (k < 0)
                        ca_log_errno(CA_LOG_ERR, k, "%s: %s", tree, strerror(-k));
                else
                        k = memcmp(want, got, sizeof(want)) != 0;
        }
        if (k < 0) {
                fs_remove_tree_at(work_fd, name);
                return k;
        }
        if (k == 0) { /* intact: the record must say so */
                fs_remove_tree_at(work_fd, name);
                if (have >= 0 && aci_tree_record_check(tree_fd) > 0)
                        return ACI_TREE_INTACT;
                ca_log_debug("%s: content intact, recording it as it is now", tree);
                k = aci_store_tree_record_refresh(s, r->key, rec.same_owner);
                return k < 0 ? k : ACI_TREE_INTACT;
        }
        if (!repair) {
                fs_remove_tree_at(work_fd, name);
                return ACI_TREE_MODIFIED;
        }
        k = aci_store_replace_tree(s, r->key, work_fd, name, &o);
        if (k < 0) {
                fs_remove_tree_at(work_fd, name);
                return k;
        }
        return ACI_TREE_REPAIRED;
}
