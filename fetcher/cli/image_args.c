/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the store commands share: opening the store, and naming an image by ID or by name. */
#include <string.h>

#include "fetcher/cli/cli.h"

int open_image_store(aci_store **ret)
{
        return aci_store_open(arg_global.dir, ret);
}

int resolve_image_arg(aci_store *s, const char *arg, aci_image_record *ret)
{
        if (strncmp(arg, "sha512-", 7) == 0)
                return aci_store_resolve_id(s, arg, ret);
        /* A name finds what `fetch --pull-policy=never` would use. */
        _cleanup_(dc_image_freep) dc_image *img = NULL;
        int r = dc_image_parse(arg, &img);
        if (r >= 0)
                r = dc_image_set_defaults(img);
        if (r < 0)
                return r;
        _cleanup_(freep) aci_label *labels = aci_request_labels(img);
        if (!labels)
                return -ENOMEM;
        r = aci_store_find(s, img->name, labels, img->n_labels, ret);
        if (r == -ENOENT)
                return ca_log_errno(CA_LOG_ERR, r, "%s: no such image in %s", arg,
                                    aci_store_path(s));
        return r;
}

int parse_pull_policy(const char *s, pull_policy *ret)
{
        if (strcmp(s, "new") == 0)
                *ret = PULL_NEW;
        else if (strcmp(s, "update") == 0)
                *ret = PULL_UPDATE;
        else if (strcmp(s, "never") == 0)
                *ret = PULL_NEVER;
        else
                return ca_log_errno(CA_LOG_ERR, -EINVAL,
                                    "--pull-policy: '%s' is not new, update or never", s);
        return 0;
}

int open_image_arg(const char *arg, aci_store **ret_store, aci_image_record *ret)
{
        int r = open_image_store(ret_store);
        return r < 0 ? r : resolve_image_arg(*ret_store, arg, ret);
}
