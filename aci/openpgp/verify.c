/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Detached signatures over a document (the bytes of an image's index): each signature packet in
 * the file is checked on its own, and every one must verify with a usable key from the set given.
 * The checks, in the order their failures are reported: signature form (binary document, v4,
 * accepted hash, no unknown critical subpacket, a creation time); the issuer among the keys;
 * the key (revoked, expired, self-signed, able to sign; a subkey bound, back-signed, not revoked,
 * not expired); times; the signature itself; its expiration.
 */
#include <string.h>

#include "aci/openpgp/internal.h"

/* Clock skew tolerated for a signature's creation time. */
#define FUTURE_SLACK 300

void aci_pgp_signer_done(aci_pgp_signer *s)
{
        free(s->user_id);
        *s = (aci_pgp_signer){};
}

typedef struct candidate {
        const aci_pgp_key *key;
        const pgp_pubkey *pub;
        const pgp_subkey *sub; /* NULL when pub is the primary key */
} candidate;

/* "key <fpr> (Name <mail>)" or "subkey <fpr> of key <fpr> (Name <mail>)". */
static char *key_label(const candidate *c)
{
        const aci_pgp_key *k = c->key;
        char *s = NULL;
        int r;
        const char *uid = k->n_user_ids ? k->user_ids[0] : NULL;
        if (c->sub)
                r = asprintf(&s, "subkey %s of key %s%s%s%s", c->sub->key.fpr_hex,
                             k->primary.fpr_hex, uid ? " (" : "", uid ?: "", uid ? ")" : "");
        else
                r = asprintf(&s, "key %s%s%s%s", k->primary.fpr_hex, uid ? " (" : "", uid ?: "",
                             uid ? ")" : "");
        return r < 0 ? NULL : s;
}

static void issuer_of(const pgp_signature *s, aci_pgp_issuer *ret)
{
        if (s->has_issuer_fpr)
                pgp_hex(s->issuer_fpr, PGP_FPR_SIZE, ret->id);
        else if (s->has_issuer_id)
                pgp_hex(s->issuer_id, PGP_KEYID_SIZE, ret->id);
        else
                ret->id[0] = 0;
}

static int hash_document(const pgp_signature *s, const void *data, size_t size,
                         const pgp_pubkey *pub)
{
        EVP_MD_CTX *ctx = NULL;
        int r = pgp_hash_begin(s, &ctx);
        if (r < 0)
                return r;
        if (EVP_DigestUpdate(ctx, data, size) != 1)
                r = -ENOMEM;
        if (r >= 0)
                r = pgp_signature_check(s, pub, ctx);
        EVP_MD_CTX_free(ctx);
        return r;
}

/* The key the signature names; with no issuer named, the first key whose check passes. */
static int find_key(aci_pgp_key *const *keys, size_t n_keys, const pgp_signature *s,
                    const void *data, size_t size, candidate *ret)
{
        bool named = s->has_issuer_fpr || s->has_issuer_id;
        for (size_t i = 0; i < n_keys; i++) {
                const aci_pgp_key *k = keys[i];
                for (size_t j = 0; j <= k->n_subkeys; j++) {
                        candidate c = {.key = k};
                        if (j == 0)
                                c.pub = &k->primary;
                        else {
                                c.sub = &k->subkeys[j - 1];
                                c.pub = &c.sub->key;
                        }
                        if (named && !pgp_signature_issuer_is(s, c.pub))
                                continue;
                        if (!named) {
                                int r = hash_document(s, data, size, c.pub);
                                if (r == -ENOMEM)
                                        return r;
                                if (r < 0)
                                        continue;
                        }
                        *ret = c;
                        return 0;
                }
        }
        return -ENOKEY;
}

/* Why the candidate may not sign: NULL when it may. */
static int key_refusal(const candidate *c, int64_t now, char **why)
{
        int r = aci_pgp_key_check(c->key, now, why);
        if (r < 0 || !c->sub) {
                if (r >= 0 && c->key->has_flags && !(c->key->flags & PGP_KEY_FLAG_SIGN)) {
                        r = -EKEYREJECTED;
                        if (asprintf(why, "is not a signing key (its key flags say so)") < 0)
                                return -ENOMEM;
                }
                return r;
        }
        const pgp_subkey *sub = c->sub;
        char t[PGP_TIME_STR_MAX];
        int e = 0;
        if (sub->revoked) {
                r = -EKEYREVOKED;
                e = asprintf(why, "is revoked (%s)", sub->revocation_reason);
        } else if (!sub->bound) {
                r = -EKEYREJECTED;
                e = asprintf(why, "is not bound to its key: %s", sub->why_unbound);
        } else if (sub->expires && (int64_t)sub->key.created + sub->expires <= now) {
                r = -EKEYEXPIRED;
                e = asprintf(why, "expired on %s",
                             pgp_time_str((int64_t)sub->key.created + sub->expires, t));
        } else if (sub->has_flags && !(sub->flags & PGP_KEY_FLAG_SIGN)) {
                r = -EKEYREJECTED;
                e = asprintf(why, "is not a signing subkey (its key flags say so)");
        } else if (!sub->back_signed) {
                r = -EKEYREJECTED;
                e = asprintf(why, "lacks a valid back-signature (the primary key binding "
                                  "signature a signing subkey must carry)");
        }
        if (e < 0)
                return -ENOMEM;
        return r;
}

static int verify_one(aci_pgp_key *const *keys, size_t n_keys, const void *data, size_t size,
                      const pgp_signature *s, int64_t now, const char *what,
                      aci_pgp_issuer *unknown, aci_pgp_signer *ret)
{
        const char *hash_name;
        char t[PGP_TIME_STR_MAX];
        if (s->type != PGP_SIG_BINARY)
                return ca_bad("%s: a signature of type 0x%02x%s, not one over a binary document",
                              what, s->type, s->type == PGP_SIG_TEXT ? " (canonical text)" : "");
        if (!pgp_hash_md(s->hash_algo, &hash_name))
                return ca_log_errno(CA_LOG_ERR, -EKEYREJECTED,
                                    "%s: the signature uses %s, which acfetch refuses (sign with "
                                    "SHA-256 or better, e.g. gpg --digest-algo SHA256)",
                                    what, hash_name);
        if (s->unknown_critical)
                return ca_log_errno(CA_LOG_ERR, -EKEYREJECTED,
                                    "%s: the signature has a critical %s subpacket (type %u) "
                                    "acfetch does not understand",
                                    what, s->unknown_critical, s->unknown_critical_type);
        if (!s->has_created)
                return ca_bad("%s: the signature has no creation time", what);

        candidate c;
        int r = find_key(keys, n_keys, s, data, size, &c);
        if (r == -ENOKEY) {
                issuer_of(s, unknown);
                return r;
        }
        if (r < 0)
                return r;
        _cleanup_(freep) char *label = key_label(&c), *why = NULL;
        if (!label)
                return -ENOMEM;
        r = key_refusal(&c, now, &why);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return ca_log_errno(CA_LOG_ERR, r, "%s: signed by %s, which %s", what, label, why);
        if (!c.pub->pkey)
                return ca_log_errno(CA_LOG_ERR, -EKEYREJECTED,
                                    "%s: signed by %s, which cannot be used: %s", what, label,
                                    c.pub->unusable);
        if ((int64_t)s->created < (int64_t)c.pub->created)
                return ca_bad("%s: the signature by %s claims to predate its key (%s)", what, label,
                              pgp_time_str(s->created, t));
        if ((int64_t)s->created > now + FUTURE_SLACK)
                return ca_bad("%s: the signature by %s is dated in the future (%s); check the "
                              "clock",
                              what, label, pgp_time_str(s->created, t));
        r = hash_document(s, data, size, c.pub);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return ca_bad("%s: BAD signature by %s: the data does not match it", what, label);
        if (s->expires && (int64_t)s->created + s->expires <= now)
                return ca_log_errno(CA_LOG_ERR, -EKEYEXPIRED,
                                    "%s: the signature by %s expired on %s", what, label,
                                    pgp_time_str((int64_t)s->created + s->expires, t));

        if (ret->user_id || ret->fingerprint[0])
                return 0; /* the first signature names the signer */
        snprintf(ret->fingerprint, sizeof(ret->fingerprint), "%s", c.key->primary.fpr_hex);
        snprintf(ret->key_fingerprint, sizeof(ret->key_fingerprint), "%s", c.pub->fpr_hex);
        ret->created = s->created;
        if (c.key->n_user_ids) {
                ret->user_id = strdup(c.key->user_ids[0]);
                if (!ret->user_id)
                        return -ENOMEM;
        }
        return 0;
}

int aci_pgp_verify_detached(aci_pgp_key *const *keys, size_t n_keys, const void *data, size_t size,
                            const void *sig, size_t sig_size, int64_t now, const char *what,
                            aci_pgp_issuer *unknown, aci_pgp_signer *ret)
{
        *ret = (aci_pgp_signer){};
        *unknown = (aci_pgp_issuer){};
        _cleanup_(freep) uint8_t *bin = NULL;
        const uint8_t *in;
        size_t in_size;
        int r = pgp_input(sig, sig_size, PGP_ARMOR_SIGNATURE, what, &bin, &in, &in_size);
        if (r < 0)
                return r;

        pgp_reader rd = {.data = in, .size = in_size, .what = what};
        pgp_packet p;
        pgp_signature sigs[PGP_SIGNATURES_MAX];
        size_t n = 0;
        while ((r = pgp_next_packet(&rd, &p)) > 0) {
                if (p.tag == PGP_TAG_COMPRESSED)
                        return ca_bad("%s: byte %zu: a compressed packet (acfetch wants a plain "
                                      "detached signature)",
                                      what, p.offset);
                if (p.tag != PGP_TAG_SIGNATURE)
                        return ca_bad("%s: byte %zu: packet of type %u in a detached signature",
                                      what, p.offset, p.tag);
                if (n == PGP_SIGNATURES_MAX)
                        return ca_bad("%s: more than %d signatures", what, PGP_SIGNATURES_MAX);
                r = pgp_signature_parse(&p, what, false, &sigs[n]);
                if (r < 0)
                        return r;
                n++;
        }
        if (r < 0)
                return r;
        if (n == 0)
                return ca_bad("%s: holds no signature", what);
        for (size_t i = 0; i < n; i++) {
                r = verify_one(keys, n_keys, data, size, &sigs[i], now, what, unknown, ret);
                if (r < 0) {
                        aci_pgp_signer_done(ret);
                        return r;
                }
        }
        return 0;
}
