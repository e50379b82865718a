/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The index signature during a fetch: <index URL>.asc is fetched and verified against the trust
 * store for the requested name before anything under the index is requested. Every chunk is
 * checked against its ID in the index, so this one signature covers the whole image. With
 * --trust-keys-from-https, the keys discovery offers for a name nobody trusts keys for yet are
 * trusted on first use (written to the local trust store, with a warning naming them).
 */
#include <string.h>
#include <strings.h>
#include <time.h>

#include "fetcher/pull/pull.h"

bool fetch_verifying(const fetch_context *ctx)
{
        return !(ctx->insecure & INSECURE_IMAGE);
}

void index_signature_done(index_signature *s)
{
        free(s->data);
        aci_pgp_signer_done(&s->signer);
        *s = (index_signature){};
}

bool fetch_wants_pubkeys(const fetch_context *ctx, const dc_image *img)
{
        return fetch_verifying(ctx) && ctx->trust_keys_from_https &&
               aci_trust_has_prefix_keys(ctx->config.system, ctx->config.local, img->name) == 0;
}

/* Trust on first use: failures are logged, never fatal (verification then says why). */
static void trust_on_first_use(fetch_context *ctx, const dc_image *img, const char *pubkeys_url)
{
        if (aci_trust_has_prefix_keys(ctx->config.system, ctx->config.local, img->name) != 0)
                return;
        if (!pubkeys_url) {
                ca_log_warning("%s: no key is trusted for it and discovery offers none "
                               "(ac-discovery-pubkeys)",
                               img->name);
                return;
        }
        if (strncasecmp(pubkeys_url, "https://", 8) != 0 &&
            (ctx->insecure & INSECURE_PUBKEY) == 0) {
                ca_log_warning("%s: not trusting keys from %s: --trust-keys-from-https takes "
                               "https keys only (--insecure-options=http,pubkey allows http)",
                               img->name, pubkeys_url);
                return;
        }
        aci_pgp_key **keys = NULL;
        size_t n = 0;
        if (pubkeys_load(ctx->engine, ctx->insecure, pubkeys_url, &keys, &n) < 0)
                return;
        for (size_t i = 0; i < n; i++) {
                const char *fpr = aci_pgp_key_fingerprint(keys[i]);
                _cleanup_(freep) char *why = NULL, *path = NULL;
                if (aci_pgp_key_check(keys[i], (int64_t)time(NULL), &why) < 0) {
                        ca_log_warning("%s: not trusting key %s from %s: it %s", img->name, fpr,
                                       pubkeys_url, why ? why : "is unusable");
                        continue;
                }
                if (aci_trust_add(ctx->config.local, img->name, keys[i], &path) < 0)
                        continue;
                size_t n_uids;
                const char *const *uids = aci_pgp_key_user_ids(keys[i], &n_uids);
                char pretty[ACI_PGP_FPR_PRETTY_SIZE];
                aci_pgp_fingerprint_pretty(fpr, pretty);
                ca_log_warning("%s: trusting key %s (%s) from %s on first use "
                               "(--trust-keys-from-https), written to %s",
                               img->name, pretty, n_uids ? uids[0] : "no user ID", pubkeys_url,
                               path);
        }
        aci_pgp_keys_free(keys, n);
}

char *signature_url(const char *url)
{
        size_t n = image_source_is_path(url) ? strlen(url) : strcspn(url, "?#");
        char *s = NULL;
        if (asprintf(&s, "%.*s.asc%s", (int)n, url, url + n) < 0)
                return NULL;
        return s;
}

transfer_request *fetch_signature_submit(fetch_context *ctx, const char *url)
{
        if (!fetch_verifying(ctx) || url_is_oci(url) || image_source_is_path(url))
                return NULL;
        _cleanup_(freep) char *asc = signature_url(url);
        transfer_request *q = NULL;
        if (!asc || transfer_submit(ctx->engine, asc, ACI_PGP_SIGNATURE_MAX, NULL, 0, &q) < 0)
                return NULL;
        return q;
}

int fetch_verify_index(fetch_context *ctx, const dc_image *img, const char *url,
                       const char *pubkeys_url, const void *index, size_t size,
                       transfer_request *early, index_signature *ret)
{
        /* early is consumed: finished below, else cancelled on the way out. */
        _cleanup_(transfer_request_cancelp) transfer_request *early_q = early;
        *ret = (index_signature){};
        if (!fetch_verifying(ctx)) {
                ca_log_warning("%s: the signature of %s is not checked (--insecure-options=image)",
                               img->name, url);
                return 0;
        }
        bool by_location = fetch_by_location(ctx);
        if (ctx->trust_keys_from_https && !by_location)
                trust_on_first_use(ctx, img, pubkeys_url);

        _cleanup_(freep) char *asc = signature_url(url), *what = NULL;
        if (!asc || asprintf(&what, "%s: signature %s", img->name, asc) < 0)
                return -ENOMEM;
        transfer_response resp = {};
        int r = early_q ? transfer_request_finish(TAKE_PTR(early_q), &resp)
                        : image_source_get(ctx->engine, asc, ACI_PGP_SIGNATURE_MAX, NULL, &resp);
        char note[1024];
        if (r == -ENOENT && image_source_is_path(asc))
                r = ca_log_errno(CA_LOG_ERR, -ENOKEY,
                                 "%s: no signature %s: refusing the unsigned image "
                                 "(--insecure-options=image fetches it unchecked)",
                                 img->name, asc);
        else if (r == -ENOENT)
                r = ca_log_errno(CA_LOG_ERR, -ENOKEY,
                                 "%s: no signature at %s (HTTP %ld)%s: refusing the unsigned "
                                 "image (--insecure-options=image fetches it unchecked)",
                                 img->name, transfer_response_url(&resp, asc), resp.status,
                                 transfer_redirect_note(&resp, asc, note, sizeof(note)));
        else if (r >= 0 && resp.status != 200)
                r = ca_log_errno(CA_LOG_ERR, -EIO, "%s: unexpected HTTP %ld for %s", img->name,
                                 resp.status, asc);
        /* By location the name is known only from the manifest: any trusted key now, a key
         * trusted for that name once the manifest arrives (before rootfs/ is requested). */
        if (r >= 0 && by_location)
                r = aci_trust_verify_any(ctx->config.system, ctx->config.local, index, size,
                                         resp.body, resp.size, what, &ret->signer);
        else if (r >= 0)
                r = aci_trust_verify(ctx->config.system, ctx->config.local, img->name, index, size,
                                     resp.body, resp.size, what, &ret->signer);
        if (r < 0) {
                transfer_response_clear(&resp);
                return r;
        }
        ret->data = TAKE_PTR(resp.body);
        ret->size = resp.size;
        transfer_response_clear(&resp);
        if (by_location) {
                ctx->loc_index = index;
                ctx->loc_index_size = size;
                ctx->loc_sig = ret->data;
                ctx->loc_sig_size = ret->size;
        }
        return 0;
}

int fetch_verify_signer(fetch_context *ctx, const char *name)
{
        if (!fetch_verifying(ctx))
                return 0;
        if (!ctx->loc_sig) /* it is verified before any chunk is requested */
                return ca_log_errno(CA_LOG_ERR, -EINVAL, "%s: the signature of %s was not checked",
                                    name, ctx->location);
        _cleanup_(freep) char *asc = signature_url(ctx->location), *what = NULL;
        if (!asc || asprintf(&what, "%s (from %s): signature %s", name, ctx->location, asc) < 0)
                return -ENOMEM;
        aci_pgp_signer signer = {};
        int r =
            aci_trust_verify(ctx->config.system, ctx->config.local, name, ctx->loc_index,
                             ctx->loc_index_size, ctx->loc_sig, ctx->loc_sig_size, what, &signer);
        aci_pgp_signer_done(&signer);
        return r;
}

int index_signature_accept(const index_signature *s, aci_image_record *r)
{
        if (!s->signer.fingerprint[0])
                return 0;
        /* Said once the image is accepted (as rkt, after the download), so that a rejection
         * later on, a manifest that does not match, stays a one-line failure. */
        ca_log_info("signature verified: %s",
                    s->signer.user_id ? s->signer.user_id : s->signer.fingerprint);
        r->signer_fingerprint = strdup(s->signer.fingerprint);
        r->signer = s->signer.user_id ? strdup(s->signer.user_id) : NULL;
        if (!r->signer_fingerprint || (s->signer.user_id && !r->signer))
                return -ENOMEM;
        return 0;
}
