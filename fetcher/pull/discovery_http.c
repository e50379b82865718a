/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The discovery walk's page fetcher over the transfer engine, shared by fetching an image and by
 * finding a prefix's public keys. A missing page is an answer (its status), not a failure. A host
 * that gave no response at all (cannot be resolved, refused, not trusted, silent) is asked once:
 * the walk's levels above share its scheme and authority, and would each fail the same way,
 * each after the same timeouts.
 */
#include <string.h>
#include <strings.h>

#include "fetcher/pull/pull.h"

/* "scheme://authority" of url, cut to size. */
static void url_origin(const char *url, char *buf, size_t size)
{
        const char *p = strstr(url, "://");
        size_t n = p ? (size_t)(p + 3 - url) + strcspn(p + 3, "/?#") : strlen(url);
        snprintf(buf, size, "%.*s", (int)MIN(n, size - 1), url);
}

int discovery_http_get(void *userdata, const char *url, size_t max_size, long *status,
                       uint8_t **body, size_t *size)
{
        discovery_http *h = userdata;
        char origin[sizeof(h->failed[0])];
        url_origin(url, origin, sizeof(origin));
        for (unsigned i = 0; i < h->n_failed; i++)
                if (strcmp(h->failed[i], origin) == 0) {
                        ca_log_debug("discovery: %s: not asked, %s gave no response", url, origin);
                        return -ECANCELED;
                }
        const char *headers[2] = {};
        /* rkt sends auth.d credentials on discovery requests over http too (appc/spec#528);
         * over https the engine adds them itself. */
        if (strncasecmp(url, "http://", 7) == 0)
                headers[0] = auth_config_header_for(h->auth, url);
        /* The walk tries URLs that need not exist: failures are its to report (the engine
         * still names a host that failed, once). */
        unsigned flags = TRANSFER_QUIET;
        /* With a plain http attempt to follow, a failed https one is not retried first. */
        if (h->http_fallback && strncasecmp(url, "https://", 8) == 0)
                flags |= TRANSFER_NO_RETRY;
        transfer_response resp = {};
        int r = transfer_get_flags(h->engine, url, max_size, headers, flags, &resp);
        if (r < 0 && resp.status == 0) {
                transfer_response_clear(&resp);
                if (h->n_failed < ELEMENTSOF(h->failed))
                        memcpy(h->failed[h->n_failed++], origin, sizeof(origin));
                return r; /* no response at all */
        }
        *status = r == -ENOENT ? (resp.status ? resp.status : 404) : resp.status;
        *body = TAKE_PTR(resp.body);
        *size = resp.size;
        transfer_response_clear(&resp);
        return r == -EFBIG ? r : 0;
}
