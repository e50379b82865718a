/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Is this the image that was asked for: one rule for a manifest, a stored record and a fetch. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "aci/aci.h"
#include "aci/show.h"

/* Sets *why (when asked for) to a formatted reason; returns 0 (mismatch) or -ENOMEM. */
_printf_(2, 3) static int mismatch(char **why, const char *fmt, ...)
{
        va_list ap;
        char *s;
        int n;

        if (!why)
                return 0;
        va_start(ap, fmt);
        n = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -ENOMEM;
        *why = s;
        return 0;
}

const char *aci_labels_get(const aci_label *labels, size_t n_labels, const char *name)
{
        for (size_t i = 0; i < n_labels; i++)
                if (strcmp(labels[i].name, name) == 0)
                        return labels[i].value;
        return NULL;
}

int aci_image_matches(const char *name, const aci_label *labels, size_t n_labels,
                      const char *want_name, const aci_label *want, size_t n_want,
                      const char *subject, char **why)
{
        if (why)
                *why = NULL;
        if (strcmp(name, want_name) != 0)
                return mismatch(why, "%s name %s does not match requested %s", subject, SHOW(name),
                                SHOW(want_name));
        for (size_t i = 0; i < n_want; i++) {
                const char *have = aci_labels_get(labels, n_labels, want[i].name);
                aci_shown req = aci_show(want[i].name), val = aci_show(want[i].value);
                if (!have)
                        return mismatch(why, "label %s=%s requested, %s has none", req.s, val.s,
                                        subject);
                if (strcmp(have, want[i].value) != 0)
                        return mismatch(why, "label %s=%s requested, %s has %s=%s", req.s, val.s,
                                        subject, req.s, SHOW(have));
        }
        return 1;
}

aci_label *aci_request_labels(const dc_image *img)
{
        aci_label *l = calloc(MAX(img->n_labels, (size_t)1), sizeof(*l));
        for (size_t i = 0; l && i < img->n_labels; i++)
                l[i] = (aci_label){img->labels[i].key, img->labels[i].value};
        return l;
}
