/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Rendering: an image and its dependencies composed into one directory as rkt composes them
 * (appc's acirenderer): the image first, then its dependencies depth first, each inserted right
 * after its parent; the first writer of a path wins; each image's pathWhitelist, and its nearest
 * ancestor's, decide which of its non-directory entries are kept.
 */
#include <fcntl.h>
#include <libgen.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "aci/aci.h"
#include "casync/fs_safe.h"

void aci_render_list_done(aci_render_list *l)
{
        for (size_t i = 0; i < l->n; i++) {
                aci_image_record_done(&l->items[i].record);
                aci_manifest_free(l->items[i].manifest);
        }
        free(l->items);
        *l = (aci_render_list){};
}

static int load_manifest(aci_store *s, aci_render_item *it)
{
        _cleanup_(freep) char *dir = aci_store_image_file(s, it->record.key, "");
        if (!dir)
                return -ENOMEM;
        _cleanup_(closep) int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return ca_log_errno(CA_LOG_ERR, negative_errno(), "%s: %m", dir);
        _cleanup_(freep) char *what = NULL;
        if (asprintf(&what, "%smanifest", dir) < 0)
                return -ENOMEM;
        return aci_manifest_load_at(fd, "manifest", what, &it->manifest);
}

static int resolve_dependency(aci_store *s, const aci_render_item *parent, const aci_dependency *d,
                              aci_image_record *ret)
{
        int r;
        if (d->image_id) {
                r = aci_store_resolve_id(s, d->image_id, ret);
                if (r < 0)
                        return ca_log_errno(CA_LOG_ERR, r,
                                            "image %s: dependency %s (%s) is not in "
                                            "the store",
                                            parent->record.name, d->image_name, d->image_id);
                if (strcmp(ret->name, d->image_name) != 0) {
                        r = ca_bad("image %s: dependency %s is image %s, which is named %s",
                                   parent->record.name, d->image_id, ret->key, ret->name);
                        aci_image_record_done(ret);
                        return r;
                }
                return 0;
        }
        r = aci_store_find(s, d->image_name, d->labels, d->n_labels, ret);
        if (r == -ENOENT)
                return ca_log_errno(CA_LOG_ERR, r, "image %s: dependency %s is not in the store",
                                    parent->record.name, d->image_name);
        return r;
}

static bool in_ancestry(const aci_render_list *l, ssize_t from, const char *key)
{
        for (ssize_t i = from; i >= 0; i = l->items[i].parent)
                if (strcmp(l->items[i].record.key, key) == 0)
                        return true;
        return false;
}

int aci_render_list_build(aci_store *s, const aci_image_record *top, aci_render_list *ret)
{
        aci_render_list l = {.items = calloc(ACI_RENDER_IMAGES_MAX, sizeof(aci_render_item))};
        if (!l.items)
                return -ENOMEM;
        int r = aci_store_get(s, top->key, &l.items[0].record);
        if (r < 0)
                goto fail;
        l.items[0].parent = -1;
        l.n = 1;
        for (size_t i = 0; i < l.n; i++) {
                r = load_manifest(s, &l.items[i]);
                if (r < 0)
                        goto fail;
                size_t n_deps;
                const aci_dependency *deps =
                    aci_manifest_dependencies(l.items[i].manifest, &n_deps);
                if (n_deps > 0 && l.items[i].depth >= ACI_RENDER_DEPTH_MAX) {
                        r = ca_bad("image %s: dependencies nest deeper than %d levels", top->name,
                                   ACI_RENDER_DEPTH_MAX);
                        goto fail;
                }
                for (size_t k = 0; k < n_deps; k++) {
                        if (l.n >= ACI_RENDER_IMAGES_MAX) {
                                r = ca_bad("image %s: more than %d images with its dependencies",
                                           top->name, ACI_RENDER_IMAGES_MAX);
                                goto fail;
                        }
                        aci_image_record dep;
                        r = resolve_dependency(s, &l.items[i], &deps[k], &dep);
                        if (r < 0)
                                goto fail;
                        if (in_ancestry(&l, (ssize_t)i, dep.key)) {
                                r = ca_bad("image %s: dependency cycle through %s", top->name,
                                           dep.name);
                                aci_image_record_done(&dep);
                                goto fail;
                        }
                        /* Right after its parent: later siblings end up before earlier ones. */
                        memmove(&l.items[i + 2], &l.items[i + 1],
                                (l.n - i - 1) * sizeof(aci_render_item));
                        for (size_t j = i + 2; j <= l.n; j++)
                                if (l.items[j].parent > (ssize_t)i)
                                        l.items[j].parent++;
                        l.items[i + 1] = (aci_render_item){
                            .record = dep, .parent = (ssize_t)i, .depth = l.items[i].depth + 1};
                        l.n++;
                }
        }
        *ret = l;
        return 0;
fail:
        aci_render_list_done(&l);
        return r;
}

static void whitelist_for(const aci_render_list *l, size_t i, bool rerooted, aci_whitelist *w)
{
        *w = (aci_whitelist){.rerooted = rerooted};
        w->own = aci_manifest_path_whitelist(l->items[i].manifest, &w->n_own);
        for (ssize_t a = l->items[i].parent; a >= 0; a = l->items[a].parent) {
                w->ancestor = aci_manifest_path_whitelist(l->items[a].manifest, &w->n_ancestor);
                if (w->n_ancestor > 0)
                        break;
        }
}

/* Extracts item i into dest: fresh (dest must not exist) or merged into an existing tree.
 * dest_name names dest in messages about a full file system. */
static int render_one(aci_store *s, const aci_render_list *l, size_t i, const char *dest,
                      const char *dest_name, bool merge, const aci_render_options *o)
{
        aci_whitelist w;
        whitelist_for(l, i, o->rootfs_only, &w);
        ca_extract_options eo = {
            .no_same_owner = o->no_same_owner,
            .in_place = merge,
            .merge = merge,
            .filter = aci_whitelist_filter,
            .filter_userdata = &w,
            .dest_name = dest_name,
        };
        _cleanup_(ca_extract_freep) ca_extract *e = NULL;
        ca_sink sink;
        int r = ca_extract_new(dest, &eo, &e, &sink);
        if (r < 0)
                return r;
        ca_subtree sub;
        if (o->rootfs_only)
                ca_subtree_init(&sub, "rootfs", &sink, &sink);
        r = aci_image_decode(s, &l->items[i].record, o->jobs, &sink);
        if (r < 0)
                return r;
        return ca_extract_commit(e);
}

int aci_render_merge(aci_store *s, const aci_render_list *l, size_t first, const char *dest,
                     const aci_render_options *o)
{
        for (size_t i = first; i < l->n; i++) {
                int r = render_one(s, l, i, dest, o->dest_name ? o->dest_name : dest, true, o);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Composes every image into the empty directory parent/tmp, then renames it to parent/base
 * (dest). */
static int compose(aci_store *s, const aci_render_list *l, int parent_fd, const char *parent,
                   const char *tmp, const char *base, const char *dest, const aci_render_options *o)
{
        _cleanup_(freep) char *path = NULL;
        if (asprintf(&path, "%s/%s", parent, tmp) < 0)
                return -ENOMEM;
        const char *name = o->dest_name ? o->dest_name : dest;
        int r = render_one(s, l, 0, path, name, false, o);
        if (r < 0)
                return r;
        /* The first extraction replaced the directory: lock the tree it left, so that a render
         * in another pid namespace (where our pid means nothing) leaves it alone. */
        _cleanup_(closep) int fd = fs_open_beneath(parent_fd, tmp, O_RDONLY | O_DIRECTORY, 0);
        if (fd >= 0)
                (void)flock(fd, LOCK_EX | LOCK_NB);
        for (size_t i = 1; i < l->n && r >= 0; i++)
                r = render_one(s, l, i, path, name, true, o);
        if (r >= 0 && renameat(parent_fd, tmp, parent_fd, base) < 0)
                r = ca_log_errno(CA_LOG_ERR, negative_errno(), "%s: %m", dest);
        return r;
}

int aci_render(aci_store *s, const aci_render_list *l, const char *dest,
               const aci_render_options *o)
{
        if (l->n == 0)
                return -EINVAL;
        if (l->n == 1) /* the extract sink keeps dest out of sight until it is complete */
                return render_one(s, l, 0, dest, o->dest_name ? o->dest_name : dest, false, o);

        /* With dependencies, compose beside dest and rename at the end: dest appears whole. */
        struct stat st;
        if (lstat(dest, &st) >= 0 && (!S_ISDIR(st.st_mode) || rmdir(dest) < 0))
                return ca_log_errno(CA_LOG_ERR, -EEXIST,
                                    "%s: exists (and is not an empty directory)", dest);
        _cleanup_(freep) char *a = strdup(dest), *b = strdup(dest), *prefix = NULL, *tmp = NULL;
        if (!a || !b)
                return -ENOMEM;
        const char *parent = dirname(a), *base = basename(b);
        _cleanup_(closep) int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (pfd < 0)
                return ca_log_errno(CA_LOG_ERR, negative_errno(), "%s: %m", parent);
        /* What killed renders to the same dest left. */
        fs_temp_reclaim_siblings(pfd, base, dest);
        if (fs_temp_prefix(base, &prefix) < 0)
                return -ENOMEM;
        int r = fs_mkdtemp_at(pfd, prefix, &tmp);
        if (r < 0)
                return ca_errno_is_no_space(r)
                           ? ca_log_write_error(o->dest_name ? o->dest_name : dest, r)
                           : ca_log_errno(CA_LOG_ERR, r,
                                          "%s: cannot create a temporary directory: %s", dest,
                                          strerror(-r));
        r = compose(s, l, pfd, parent, tmp, base, dest, o);
        if (r < 0)
                fs_remove_tree_at(pfd, tmp);
        return r;
}
