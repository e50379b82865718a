/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The access profile a publisher ships beside an index (X.caidx.profile, signed as
 * X.caidx.profile.asc, see `acfetch publish --profile`): fetched when a mount has none of its own,
 * and verified against the trust store as the index is, for the image's name. A profile only
 * orders downloads, so anything wrong with it is one warning and the mount goes on without it.
 */
#include <string.h>

#include "fetcher/pull/pull.h"

/* "<index URL>.profile", the suffix before any query or fragment; "<path>.profile" for a path. */
static char *profile_url(const char *index_url)
{
        size_t n = image_source_is_path(index_url) ? strlen(index_url) : strcspn(index_url, "?#");
        char *s = NULL;
        if (asprintf(&s, "%.*s.profile%s", (int)n, index_url, index_url + n) < 0)
                return NULL;
        return s;
}

/* Downloads url (at most max bytes) into *ret; -ENOENT when it is not there. */
static int get(transfer_engine *e, const char *url, size_t max, transfer_response *ret)
{
        int r = image_source_get(e, url, max, NULL, ret);
        if (r >= 0 && ret->status != 200)
                r = -EIO;
        if (r < 0)
                transfer_response_clear(ret);
        return r;
}

static int fetch_and_verify(const published_profile_options *o, const char *url, aci_profile *ret,
                            const char **why)
{
        transfer_response body = {}, sig = {};
        _cleanup_(freep) char *asc = signature_url(url), *what = NULL;
        if (!asc || asprintf(&what, "%s: signature %s", o->name, asc) < 0)
                return -ENOMEM;
        int r = get(o->engine, url, ACI_PROFILE_SIZE_MAX, &body);
        if (r == -ENOENT)
                return r;
        *why = "it cannot be downloaded";
        if (r >= 0 && !(o->insecure & INSECURE_IMAGE)) {
                r = get(o->engine, asc, ACI_PGP_SIGNATURE_MAX, &sig);
                *why = r == -ENOENT ? "it is not signed" : "its signature cannot be downloaded";
                if (r >= 0) {
                        aci_pgp_signer signer = {};
                        r = aci_trust_verify(o->config.system, o->config.local, o->name, body.body,
                                             body.size, sig.body, sig.size, what, &signer);
                        *why = r == -ENOKEY    ? "it is signed by no key trusted for the name"
                               : r == -EBADMSG ? "its signature is bad"
                                               : "its signature is not accepted";
                        aci_pgp_signer_done(&signer);
                }
        }
        if (r >= 0) {
                r = aci_profile_parse(body.body, body.size, url, CA_LOG_ERR, ret);
                *why = "it is not a valid profile";
        }
        transfer_response_clear(&body);
        transfer_response_clear(&sig);
        return r;
}

int fetch_published_profile(const published_profile_options *o, aci_profile *ret)
{
        *ret = (aci_profile){};
        _cleanup_(freep) char *url = profile_url(o->index_url);
        if (!url)
                return -ENOMEM;
        /* The profile is optional: what the transfer, the trust store or the parser would say
         * is detail for --debug; the user gets one line. */
        int level = ca_log_get_max_level();
        if (level < CA_LOG_DEBUG)
                ca_log_set_max_level(CA_LOG_ERR - 1);
        const char *why = "";
        int r = fetch_and_verify(o, url, ret, &why);
        ca_log_set_max_level(level);
        if (r == -ENOENT) {
                ca_log_debug("%s: no access profile published at %s", o->name, url);
                return r;
        }
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return ca_log_errno(CA_LOG_WARNING, r,
                                    "%s: ignoring the published profile %s: %s%s", o->name, url,
                                    why, level < CA_LOG_DEBUG ? " (--debug says more)" : "");
        if (o->insecure & INSECURE_IMAGE)
                ca_log_debug("%s: the signature of %s is not checked (--insecure-options=image)",
                             o->name, url);
        ca_log_debug("%s: using the access profile published at %s (%zu files)", o->name, url,
                     ret->n);
        return 0;
}
