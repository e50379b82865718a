/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Finding stored images: by ID prefix (as rkt resolves it), by name and labels (as rkt's store
 * lookup picks), by the URL the index came from. Each answer is a copy the caller owns. */
#include <string.h>

#include "aci/aci.h"

static int record_copy(const aci_image_record *from, aci_image_record *to)
{
        *to = *from;
        to->name = strdup(from->name);
        to->index_url = from->index_url ? strdup(from->index_url) : NULL;
        to->etag = from->etag ? strdup(from->etag) : NULL;
        to->signer = from->signer ? strdup(from->signer) : NULL;
        to->signer_fingerprint = from->signer_fingerprint ? strdup(from->signer_fingerprint) : NULL;
        to->labels = calloc(from->n_labels + 1, sizeof(aci_label));
        to->n_labels = 0;
        if ((from->signer && !to->signer) ||
            (from->signer_fingerprint && !to->signer_fingerprint)) {
                aci_image_record_done(to);
                return -ENOMEM;
        }
        if (!to->name || !to->labels || (from->index_url && !to->index_url) ||
            (from->etag && !to->etag)) {
                aci_image_record_done(to);
                return -ENOMEM;
        }
        for (size_t i = 0; i < from->n_labels; i++) {
                to->labels[i].name = strdup(from->labels[i].name);
                to->labels[i].value = strdup(from->labels[i].value);
                to->n_labels++;
                if (!to->labels[i].name || !to->labels[i].value) {
                        aci_image_record_done(to);
                        return -ENOMEM;
                }
        }
        return 0;
}

static int resolve_id(aci_store *s, const char *id, bool quiet, aci_image_record *ret)
{
        int level = quiet ? CA_LOG_DEBUG : CA_LOG_ERR;
        if (!dc_image_id_valid(id))
                return ca_log_errno(level, -EINVAL,
                                    "%s: not an image ID (sha512- and at least 2 hex digits)", id);
        size_t len = MIN(strlen(id), (size_t)ACI_KEY_SIZE - 1);
        _cleanup_(freep) aci_image_record *list = NULL;
        size_t n = 0, found = SIZE_MAX;
        int r = aci_store_list(s, &list, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n && r >= 0; i++) {
                if (strncmp(list[i].key, id, len) != 0)
                        continue;
                if (found != SIZE_MAX)
                        r = ca_log_errno(level, -ENOTUNIQ, "%s: ambiguous image ID", id);
                found = i;
        }
        if (r >= 0 && found == SIZE_MAX)
                r = ca_log_errno(level, -ENOENT, "%s: no such image in %s", id, aci_store_path(s));
        if (r >= 0)
                r = record_copy(&list[found], ret);
        for (size_t i = 0; i < n; i++)
                aci_image_record_done(&list[i]);
        return r;
}

int aci_store_resolve_id(aci_store *s, const char *id, aci_image_record *ret)
{
        return resolve_id(s, id, false, ret);
}

int aci_store_resolve_id_quiet(aci_store *s, const char *id, aci_image_record *ret)
{
        return resolve_id(s, id, true, ret);
}

/*
 * Is a better than b for a lookup (prefer_latest: no version was asked for)? Then what was
 * fetched as latest (the publisher's choice, the most recent fetch first), else the later
 * version label (dc_version_compare); otherwise the most recent fetch.
 */
static bool better(const aci_image_record *a, const aci_image_record *b, bool prefer_latest)
{
        if (prefer_latest && a->latest != b->latest)
                return a->latest;
        if (prefer_latest && !a->latest) {
                const char *va = aci_labels_get(a->labels, a->n_labels, "version");
                const char *vb = aci_labels_get(b->labels, b->n_labels, "version");
                int c = va && vb ? dc_version_compare(va, vb) : 0;
                if (c != 0)
                        return c > 0;
        }
        return aci_record_newer(a, b);
}

int aci_store_find(aci_store *s, const char *name, const aci_label *labels, size_t n_labels,
                   aci_image_record *ret)
{
        _cleanup_(freep) aci_image_record *list = NULL;
        size_t n = 0, best = SIZE_MAX;
        int r = aci_store_list(s, &list, &n);
        if (r < 0)
                return r;
        bool prefer_latest = true;
        for (size_t k = 0; k < n_labels; k++)
                if (strcmp(labels[k].name, "version") == 0)
                        prefer_latest = false;
        for (size_t i = 0; i < n; i++) {
                bool match = aci_image_matches(list[i].name, list[i].labels, list[i].n_labels, name,
                                               labels, n_labels, "image", NULL) > 0;
                if (match && (best == SIZE_MAX || better(&list[i], &list[best], prefer_latest)))
                        best = i;
        }
        r = best == SIZE_MAX ? -ENOENT : record_copy(&list[best], ret);
        for (size_t i = 0; i < n; i++)
                aci_image_record_done(&list[i]);
        return r;
}

int aci_store_find_by_url(aci_store *s, const char *url, aci_image_record *ret)
{
        _cleanup_(freep) aci_image_record *list = NULL;
        size_t n = 0, best = SIZE_MAX;
        int r = aci_store_list(s, &list, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++)
                if (list[i].index_url && strcmp(list[i].index_url, url) == 0 &&
                    (best == SIZE_MAX || aci_record_newer(&list[i], &list[best])))
                        best = i;
        r = best == SIZE_MAX ? -ENOENT : record_copy(&list[best], ret);
        for (size_t i = 0; i < n; i++)
                aci_image_record_done(&list[i]);
        return r;
}
