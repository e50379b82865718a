/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Transferable public keys (RFC 9580 §10.1): the primary key, its user IDs, subkeys and the
 * signatures that bind them. Self-signatures are verified as they are read: a user ID is shown
 * only when its certification by the primary key verifies, a subkey is used only when its binding
 * signature verifies (and, for a signing subkey, its embedded back-signature), and a revocation
 * counts only when it verifies. Expiration comes from the newest valid self-signature.
 */
#include <string.h>

#include "aci/openpgp/internal.h"

/* ---------------------------------------------------------------- small helpers */

/* A copy of untrusted text that is safe to print: control bytes and DEL as \xNN. */
static char *printable(const uint8_t *s, size_t n)
{
        char *out = malloc(n * 4 + 1), *p = out;
        if (!out)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < 0x20 || s[i] == 0x7f || s[i] == '\\')
                        p += sprintf(p, "\\x%02x", s[i]);
                else
                        *p++ = (char)s[i];
        }
        *p = 0;
        return out;
}

static const char *reason_text(uint8_t code)
{
        switch (code) {
        case 1:
                return "superseded";
        case 2:
                return "compromised";
        case 3:
                return "retired";
        case 32:
                return "user ID no longer valid";
        default:
                return "no reason given";
        }
}

/* "compromised: lost laptop", from a revocation signature. */
static char *revocation_reason(const pgp_signature *s)
{
        if (!s->has_reason)
                return strdup("no reason given");
        _cleanup_(freep) char *text = printable(s->reason, MIN(s->reason_size, (size_t)200));
        char *out = NULL;
        if (!text ||
            asprintf(&out, "%s%s%s", reason_text(s->reason_code), *text ? ": " : "", text) < 0)
                return NULL;
        return out;
}

/*
 * Checks a key signature: hashes the primary key, then the subkey or the user ID when given, and
 * verifies with signer. 0 when valid, -EBADMSG when not, -EOPNOTSUPP for a refused hash.
 */
static int check_key_signature(const pgp_signature *s, const pgp_pubkey *signer,
                               const pgp_pubkey *primary, const pgp_pubkey *subkey,
                               const uint8_t *uid, size_t uid_size)
{
        EVP_MD_CTX *ctx = NULL;
        int r = pgp_hash_begin(s, &ctx);
        if (r < 0)
                return r;
        r = pgp_hash_key(ctx, primary);
        if (r >= 0 && subkey)
                r = pgp_hash_key(ctx, subkey);
        if (r >= 0 && uid) {
                uint8_t head[5] = {0xb4, (uint8_t)(uid_size >> 24), (uint8_t)(uid_size >> 16),
                                   (uint8_t)(uid_size >> 8), (uint8_t)uid_size};
                if (EVP_DigestUpdate(ctx, head, 5) != 1 ||
                    EVP_DigestUpdate(ctx, uid, uid_size) != 1)
                        r = -ENOMEM;
        }
        if (r >= 0)
                r = pgp_signature_check(s, signer, ctx);
        EVP_MD_CTX_free(ctx);
        return r;
}

/* Why a self-signature could not be used, for the key's "has no valid self-signature". */
static const char *self_sig_failure(const pgp_signature *s, int r)
{
        if (r == -EOPNOTSUPP) {
                const char *name;
                pgp_hash_md(s->hash_algo, &name);
                return strcmp(name, "SHA-1") == 0 ? "its self-signatures use SHA-1, which "
                                                    "acfetch refuses"
                                                  : "its self-signatures use a refused hash";
        }
        return "its self-signatures do not verify";
}

/* ---------------------------------------------------------------- one key */

typedef struct uid_state {
        const uint8_t *data;
        size_t size;
        bool certified, revoked;
} uid_state;

typedef struct key_parse {
        aci_pgp_key *k;
        const char *what;
        uid_state *uids;
        size_t n_uids;
} key_parse;

/* A signature on the primary key itself: direct-key, or a key revocation. */
static int primary_signature(key_parse *kp, const pgp_signature *s)
{
        aci_pgp_key *k = kp->k;
        if (s->type != PGP_SIG_DIRECT_KEY && s->type != PGP_SIG_KEY_REVOCATION)
                return 0;
        if (!pgp_signature_issuer_is(s, &k->primary))
                return 0; /* e.g. a designated revoker's: we cannot check it */
        int r = check_key_signature(s, &k->primary, &k->primary, NULL, NULL, 0);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                if (s->type == PGP_SIG_DIRECT_KEY && !k->self_signed)
                        k->why_unsigned = self_sig_failure(s, r);
                ca_log_debug("%s: key %s: ignoring a signature of type 0x%02x that does not "
                             "verify",
                             kp->what, k->primary.fpr_hex, s->type);
                return 0;
        }
        if (s->type == PGP_SIG_KEY_REVOCATION) {
                if (!k->revoked) {
                        k->revoked = true;
                        k->revocation_reason = revocation_reason(s);
                        if (!k->revocation_reason)
                                return -ENOMEM;
                }
                return 0;
        }
        if (!k->self_signed || s->created >= k->self_sig_time) {
                k->self_signed = true;
                k->self_sig_time = s->created;
                k->expires = s->has_key_expires ? s->key_expires : 0;
                k->has_flags = s->has_flags;
                k->flags = s->flags;
        }
        return 0;
}

static int uid_signature(key_parse *kp, uid_state *u, const pgp_signature *s)
{
        aci_pgp_key *k = kp->k;
        bool cert = s->type >= PGP_SIG_CERT_GENERIC && s->type <= PGP_SIG_CERT_POSITIVE;
        if ((!cert && s->type != PGP_SIG_CERT_REVOCATION) ||
            !pgp_signature_issuer_is(s, &k->primary))
                return 0; /* third-party certifications say nothing to us */
        int r = check_key_signature(s, &k->primary, &k->primary, NULL, u->data, u->size);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                if (cert && !k->self_signed)
                        k->why_unsigned = self_sig_failure(s, r);
                ca_log_debug("%s: key %s: ignoring a user ID signature that does not verify",
                             kp->what, k->primary.fpr_hex);
                return 0;
        }
        if (!cert) {
                u->revoked = true;
                return 0;
        }
        u->certified = true;
        if (!k->self_signed || s->created >= k->self_sig_time) {
                k->self_signed = true;
                k->self_sig_time = s->created;
                k->expires = s->has_key_expires ? s->key_expires : 0;
                k->has_flags = s->has_flags;
                k->flags = s->flags;
        }
        return 0;
}

/* The embedded primary-key binding signature of a signing subkey, made by the subkey. */
static bool back_signature_valid(const aci_pgp_key *k, const pgp_subkey *sub,
                                 const pgp_signature *binding)
{
        if (!binding->embedded || !sub->key.pkey)
                return false;
        pgp_packet p = {
            .tag = PGP_TAG_SIGNATURE, .body = binding->embedded, .size = binding->embedded_size};
        pgp_signature back;
        /* A malformed embedded signature only makes the subkey unusable: parse it quietly. */
        if (pgp_signature_parse(&p, "embedded signature", true, &back) < 0 ||
            back.type != PGP_SIG_PRIMARY_BINDING || !pgp_signature_issuer_is(&back, &sub->key))
                return false;
        return check_key_signature(&back, &sub->key, &k->primary, &sub->key, NULL, 0) == 0;
}

static int subkey_signature(key_parse *kp, pgp_subkey *sub, const pgp_signature *s)
{
        aci_pgp_key *k = kp->k;
        if ((s->type != PGP_SIG_SUBKEY_BINDING && s->type != PGP_SIG_SUBKEY_REVOCATION) ||
            !pgp_signature_issuer_is(s, &k->primary))
                return 0;
        int r = check_key_signature(s, &k->primary, &k->primary, &sub->key, NULL, 0);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                if (!sub->bound)
                        sub->why_unbound = r == -EOPNOTSUPP ? "its binding signature uses a "
                                                              "refused hash"
                                                            : "its binding signature does not "
                                                              "verify";
                return 0;
        }
        if (s->type == PGP_SIG_SUBKEY_REVOCATION) {
                if (!sub->revoked) {
                        sub->revoked = true;
                        sub->revocation_reason = revocation_reason(s);
                        if (!sub->revocation_reason)
                                return -ENOMEM;
                }
                return 0;
        }
        if (sub->bound && s->created < sub->bound_time)
                return 0;
        sub->bound = true;
        sub->bound_time = s->created;
        sub->expires = s->has_key_expires ? s->key_expires : 0;
        sub->has_flags = s->has_flags;
        sub->flags = s->flags;
        bool signs = s->has_flags ? (s->flags & PGP_KEY_FLAG_SIGN) : sub->key.pkey != NULL;
        sub->back_signed = signs && back_signature_valid(k, sub, s);
        return 0;
}

/* Parses the packets of one key, packets[0] being its public key packet. */
static int parse_key(const pgp_packet *packets, size_t n, const uint8_t *input, const char *what,
                     aci_pgp_key **ret)
{
        size_t n_uids = 0, n_subkeys = 0;
        for (size_t i = 1; i < n; i++) {
                n_uids += packets[i].tag == PGP_TAG_USER_ID;
                n_subkeys += packets[i].tag == PGP_TAG_PUBLIC_SUBKEY;
        }
        if (n_uids > PGP_USER_IDS_MAX || n_subkeys > PGP_SUBKEYS_MAX)
                return ca_bad("%s: key at byte %zu has %zu user IDs and %zu subkeys (at most %d "
                              "of each)",
                              what, packets[0].offset, n_uids, n_subkeys, PGP_USER_IDS_MAX);

        aci_pgp_key *k = calloc(1, sizeof(*k));
        uid_state *uids = calloc(n_uids + 1, sizeof(*uids));
        if (!k || !uids) {
                free(k);
                free(uids);
                return -ENOMEM;
        }
        key_parse kp = {.k = k, .what = what, .uids = uids};
        k->subkeys = calloc(n_subkeys + 1, sizeof(*k->subkeys));
        k->user_ids = calloc(n_uids + 1, sizeof(char *));
        int r = k->subkeys && k->user_ids ? 0 : -ENOMEM;
        if (r >= 0)
                r = pgp_pubkey_parse(&packets[0], what, &k->primary);
        if (r >= 0 && !k->primary.pkey)
                ca_log_debug("%s: key %s cannot verify signatures: %s", what, k->primary.fpr_hex,
                             k->primary.unusable);
        k->why_unsigned = "it has no self-signature";

        /* What the signatures that follow are about. */
        enum { ON_PRIMARY, ON_UID, ON_ATTRIBUTE, ON_SUBKEY } on = ON_PRIMARY;
        for (size_t i = 1; r >= 0 && i < n; i++) {
                const pgp_packet *p = &packets[i];
                switch (p->tag) {
                case PGP_TAG_USER_ID:
                        if (p->size > PGP_USER_ID_MAX) {
                                r = ca_bad("%s: byte %zu: user ID of %zu bytes", what, p->offset,
                                           p->size);
                                break;
                        }
                        uids[kp.n_uids++] = (uid_state){.data = p->body, .size = p->size};
                        on = ON_UID;
                        break;
                case PGP_TAG_USER_ATTRIBUTE:
                        on = ON_ATTRIBUTE;
                        break;
                case PGP_TAG_PUBLIC_SUBKEY:
                        r = pgp_pubkey_parse(p, what, &k->subkeys[k->n_subkeys].key);
                        if (r < 0)
                                pgp_pubkey_done(&k->subkeys[k->n_subkeys].key);
                        else
                                k->subkeys[k->n_subkeys++].why_unbound =
                                    "it has no binding signature";
                        on = ON_SUBKEY;
                        break;
                case PGP_TAG_TRUST:
                        break;
                case PGP_TAG_SIGNATURE: {
                        pgp_signature s;
                        /* An old v3 certification, say, or a v6 one: not ours to judge. */
                        if (p->size > 0 && p->body[0] != 4)
                                break;
                        r = pgp_signature_parse(p, what, false, &s);
                        if (r < 0)
                                break;
                        if (s.unknown_critical || !s.has_created)
                                break; /* invalid, so ignored */
                        if (on == ON_PRIMARY)
                                r = primary_signature(&kp, &s);
                        else if (on == ON_UID)
                                r = uid_signature(&kp, &uids[kp.n_uids - 1], &s);
                        else if (on == ON_SUBKEY)
                                r = subkey_signature(&kp, &k->subkeys[k->n_subkeys - 1], &s);
                        break;
                }
                case PGP_TAG_SECRET_KEY:
                case PGP_TAG_SECRET_SUBKEY:
                        r = ca_bad("%s: holds a secret key; give the public key (gpg --export)",
                                   what);
                        break;
                default:
                        r = ca_bad("%s: byte %zu: packet of type %u in a public key", what,
                                   p->offset, p->tag);
                }
        }

        for (size_t i = 0; r >= 0 && i < kp.n_uids; i++) {
                if (!uids[i].certified || uids[i].revoked)
                        continue;
                k->user_ids[k->n_user_ids] = printable(uids[i].data, uids[i].size);
                if (!k->user_ids[k->n_user_ids++])
                        r = -ENOMEM;
        }
        if (r >= 0) {
                size_t start = packets[0].offset;
                size_t end = (size_t)(packets[n - 1].body - input) + packets[n - 1].size;
                k->packets = malloc(end - start);
                if (!k->packets)
                        r = -ENOMEM;
                else {
                        memcpy(k->packets, input + start, end - start);
                        k->packets_size = end - start;
                }
        }
        free(uids);
        if (r < 0) {
                aci_pgp_key_free(k);
                return r;
        }
        *ret = k;
        return 0;
}

/* ---------------------------------------------------------------- the public API */

aci_pgp_key *aci_pgp_key_free(aci_pgp_key *k)
{
        if (!k)
                return NULL;
        pgp_pubkey_done(&k->primary);
        free(k->revocation_reason);
        for (size_t i = 0; i < k->n_user_ids; i++)
                free(k->user_ids[i]);
        free(k->user_ids);
        for (size_t i = 0; i < k->n_subkeys; i++) {
                pgp_pubkey_done(&k->subkeys[i].key);
                free(k->subkeys[i].revocation_reason);
        }
        free(k->subkeys);
        free(k->packets);
        free(k);
        return NULL;
}

void aci_pgp_keys_free(aci_pgp_key **keys, size_t n)
{
        for (size_t i = 0; keys && i < n; i++)
                aci_pgp_key_free(keys[i]);
        free(keys);
}

int aci_pgp_keys_parse(const void *data, size_t size, const char *what, aci_pgp_key ***ret,
                       size_t *ret_n)
{
        _cleanup_(freep) uint8_t *bin = NULL;
        const uint8_t *in;
        size_t in_size;
        int r = pgp_input(data, size, PGP_ARMOR_PUBLIC_KEY, what, &bin, &in, &in_size);
        if (r < 0)
                return r;

        /* Count, then read: nothing is allocated before the count is known to be bounded. */
        pgp_reader rd = {.data = in, .size = in_size, .what = what};
        pgp_packet p;
        size_t n = 0, n_keys = 0;
        while ((r = pgp_next_packet(&rd, &p)) > 0) {
                if (++n > PGP_PACKETS_MAX)
                        return ca_bad("%s: more than %d packets", what, PGP_PACKETS_MAX);
                n_keys += p.tag == PGP_TAG_PUBLIC_KEY;
                if (n == 1 && p.tag != PGP_TAG_PUBLIC_KEY)
                        return p.tag == PGP_TAG_SECRET_KEY
                                   ? ca_bad("%s: holds a secret key; give the public key "
                                            "(gpg --export)",
                                            what)
                                   : ca_bad("%s: starts with a packet of type %u, not a "
                                            "public key",
                                            what, p.tag);
        }
        if (r < 0)
                return r;
        if (n_keys > PGP_KEYS_MAX)
                return ca_bad("%s: %zu keys in one file (at most %d)", what, n_keys, PGP_KEYS_MAX);
        _cleanup_(freep) pgp_packet *packets = calloc(n, sizeof(*packets));
        aci_pgp_key **keys = calloc(n_keys, sizeof(*keys));
        if (!packets || !keys) {
                free(keys);
                return -ENOMEM;
        }
        rd.pos = 0;
        for (size_t i = 0; i < n; i++)
                (void)pgp_next_packet(&rd, &packets[i]);

        size_t got = 0;
        for (size_t i = 0; i < n && r >= 0;) {
                size_t j = i + 1;
                while (j < n && packets[j].tag != PGP_TAG_PUBLIC_KEY)
                        j++;
                r = parse_key(packets + i, j - i, in, what, &keys[got]);
                if (r >= 0)
                        got++;
                i = j;
        }
        if (r < 0) {
                aci_pgp_keys_free(keys, got);
                return r;
        }
        *ret = keys;
        *ret_n = got;
        return 0;
}

const char *aci_pgp_key_fingerprint(const aci_pgp_key *k)
{
        return k->primary.fpr_hex;
}

const char *const *aci_pgp_key_user_ids(const aci_pgp_key *k, size_t *n)
{
        *n = k->n_user_ids;
        return (const char *const *)k->user_ids;
}

size_t aci_pgp_key_n_subkeys(const aci_pgp_key *k)
{
        return k->n_subkeys;
}

const char *aci_pgp_key_subkey_fingerprint(const aci_pgp_key *k, size_t i)
{
        return i < k->n_subkeys ? k->subkeys[i].key.fpr_hex : NULL;
}

bool aci_pgp_key_has(const aci_pgp_key *k, const char *fpr_or_keyid)
{
        size_t n = strlen(fpr_or_keyid);
        if (n != 16 && n != 40)
                return false;
        if (strcmp(k->primary.fpr_hex + 40 - n, fpr_or_keyid) == 0)
                return true;
        for (size_t i = 0; i < k->n_subkeys; i++)
                if (strcmp(k->subkeys[i].key.fpr_hex + 40 - n, fpr_or_keyid) == 0)
                        return true;
        return false;
}

int aci_pgp_key_check(const aci_pgp_key *k, int64_t now, char **why)
{
        char t[PGP_TIME_STR_MAX];
        int r = 0, e;
        *why = NULL;
        if (k->revoked) {
                r = -EKEYREVOKED;
                e = asprintf(why, "is revoked (%s)", k->revocation_reason);
        } else if (!k->primary.pkey) {
                r = -EKEYREJECTED;
                e = asprintf(why, "cannot be used: %s", k->primary.unusable);
        } else if (!k->self_signed) {
                r = -EKEYREJECTED;
                e = asprintf(why, "has no valid self-signature: %s", k->why_unsigned);
        } else if (k->expires && (int64_t)k->primary.created + k->expires <= now) {
                r = -EKEYEXPIRED;
                e = asprintf(why, "expired on %s",
                             pgp_time_str((int64_t)k->primary.created + k->expires, t));
        } else
                return 0;
        if (e < 0) {
                *why = NULL;
                return -ENOMEM;
        }
        return r;
}

int aci_pgp_key_armor(const aci_pgp_key *k, char **ret, size_t *ret_size)
{
        return pgp_armor(k->packets, k->packets_size, PGP_ARMOR_PUBLIC_KEY, ret, ret_size);
}

void aci_pgp_fingerprint_pretty(const char *hex, char out[static ACI_PGP_FPR_PRETTY_SIZE])
{
        /* rkt's (and gpg's) layout: ten groups of four, two spaces after the fifth. */
        char *p = out;
        for (size_t i = 0; i < 40 && hex[i]; i++) {
                if (i > 0 && i % 4 == 0) {
                        *p++ = ' ';
                        if (i == 20)
                                *p++ = ' ';
                }
                *p++ = (char)(hex[i] >= 'a' && hex[i] <= 'f' ? hex[i] - 'a' + 'A' : hex[i]);
        }
        *p = 0;
}

int aci_pgp_fingerprint_normalize(const char *s, char out[static ACI_PGP_FPR_HEX_SIZE])
{
        size_t n = 0;
        for (; *s; s++) {
                char c = *s;
                if (c == ' ' || c == '\t')
                        continue;
                if (c >= 'A' && c <= 'F')
                        c = (char)(c - 'A' + 'a');
                if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) || n >= 40)
                        return -EINVAL;
                out[n++] = c;
        }
        if (n != 40)
                return -EINVAL;
        out[n] = 0;
        return 0;
}

void aci_pgp_key_describe(const aci_pgp_key *k, FILE *f)
{
        char pretty[ACI_PGP_FPR_PRETTY_SIZE], t[PGP_TIME_STR_MAX];
        aci_pgp_fingerprint_pretty(k->primary.fpr_hex, pretty);
        fprintf(f, "GPG key fingerprint is: %s\n", pretty);
        for (size_t i = 0; i < k->n_subkeys; i++) {
                aci_pgp_fingerprint_pretty(k->subkeys[i].key.fpr_hex, pretty);
                fprintf(f, "\tSubkey fingerprint: %s%s\n", pretty,
                        k->subkeys[i].revoked ? " (revoked)" : "");
        }
        for (size_t i = 0; i < k->n_user_ids; i++)
                fprintf(f, "\t%s\n", k->user_ids[i]);
        if (k->expires)
                fprintf(f, "\tExpires: %s\n",
                        pgp_time_str((int64_t)k->primary.created + k->expires, t));
}
