/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The OpenPGP packet stream (RFC 9580 §4, §5.2): packet framing, MPIs, v4 signature packets with
 * their subpackets (public key packets: pubkey.c). Every length
 * is checked against what is left before anything is read; nothing is allocated from a length.
 */
#include <string.h>
#include <time.h>

#include "aci/openpgp/internal.h"

void pgp_hex(const uint8_t *b, size_t n, char *out)
{
        static const char digits[] = "0123456789abcdef";
        for (size_t i = 0; i < n; i++) {
                out[2 * i] = digits[b[i] >> 4];
                out[2 * i + 1] = digits[b[i] & 15];
        }
        out[2 * n] = 0;
}

const char *pgp_time_str(int64_t t, char buf[static PGP_TIME_STR_MAX])
{
        time_t tt = (time_t)t;
        struct tm tm;
        if (!gmtime_r(&tt, &tm) ||
            strftime(buf, PGP_TIME_STR_MAX, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
                snprintf(buf, PGP_TIME_STR_MAX, "@%lld", (long long)t);
        return buf;
}

int pgp_next_packet(pgp_reader *r, pgp_packet *ret)
{
        if (r->pos >= r->size)
                return 0;
        const uint8_t *p = r->data + r->pos;
        size_t left = r->size - r->pos, hlen, len;
        uint8_t ctb = p[0];
        if (!(ctb & 0x80))
                return ca_bad("%s: byte %zu: not an OpenPGP packet (tag octet 0x%02x)", r->what,
                              r->pos, ctb);
        uint8_t tag;
        if (ctb & 0x40) {
                /* New format: one-, two- or five-octet lengths; partial lengths refused. */
                tag = ctb & 0x3f;
                if (left < 2)
                        goto truncated;
                uint8_t o = p[1];
                if (o < 192) {
                        hlen = 2;
                        len = o;
                } else if (o < 224) {
                        if (left < 3)
                                goto truncated;
                        hlen = 3;
                        len = ((size_t)(o - 192) << 8) + p[2] + 192;
                } else if (o == 255) {
                        if (left < 6)
                                goto truncated;
                        hlen = 6;
                        len = pgp_be32(p + 2);
                } else
                        return ca_bad("%s: byte %zu: packet with a partial (streamed) length, "
                                      "which keys and signatures never use",
                                      r->what, r->pos);
        } else {
                /* Old format: the length type is in the low two bits. */
                tag = (ctb >> 2) & 0x0f;
                unsigned lt = ctb & 3;
                if (lt == 3)
                        return ca_bad("%s: byte %zu: packet of indeterminate length", r->what,
                                      r->pos);
                hlen = 1 + (lt == 0 ? 1 : lt == 1 ? 2 : 4);
                if (left < hlen)
                        goto truncated;
                len = 0;
                for (size_t i = 1; i < hlen; i++)
                        len = len << 8 | p[i];
        }
        if (tag == 0)
                return ca_bad("%s: byte %zu: packet tag 0 is reserved", r->what, r->pos);
        if (len > left - hlen)
                return ca_bad("%s: byte %zu: packet of %zu bytes, only %zu left", r->what, r->pos,
                              len, left - hlen);
        *ret = (pgp_packet){.tag = tag, .body = p + hlen, .size = len, .offset = r->pos};
        r->pos += hlen + len;
        return 1;
truncated:
        return ca_bad("%s: byte %zu: truncated packet header", r->what, r->pos);
}

int pgp_read_mpi(const uint8_t **p, size_t *left, const uint8_t **ret, size_t *ret_size)
{
        if (*left < 2)
                return -EBADMSG;
        size_t bits = (size_t)(*p)[0] << 8 | (*p)[1];
        size_t n = (bits + 7) / 8;
        if (bits > PGP_MPI_BITS_MAX || n > *left - 2)
                return -EBADMSG;
        const uint8_t *v = *p + 2;
        *p += 2 + n;
        *left -= 2 + n;
        while (n > 0 && *v == 0) {
                v++;
                n--;
        }
        *ret = v;
        *ret_size = n;
        return 0;
}

bool pgp_signature_issuer_is(const pgp_signature *s, const pgp_pubkey *k)
{
        if (s->has_issuer_fpr)
                return memcmp(s->issuer_fpr, k->fpr, PGP_FPR_SIZE) == 0;
        if (s->has_issuer_id)
                return memcmp(s->issuer_id, pgp_fpr_keyid(k->fpr), PGP_KEYID_SIZE) == 0;
        return true;
}

/* ---------------------------------------------------------------- subpackets */

enum {
        SUB_CREATED = 2,
        SUB_EXPIRES = 3,
        SUB_EXPORTABLE = 4,
        SUB_TRUST = 5,
        SUB_REGEX = 6,
        SUB_REVOCABLE = 7,
        SUB_KEY_EXPIRES = 9,
        SUB_PREF_SYM = 11,
        SUB_REVOCATION_KEY = 12,
        SUB_ISSUER = 16,
        SUB_NOTATION = 20,
        SUB_PREF_HASH = 21,
        SUB_PREF_COMP = 22,
        SUB_KS_PREFS = 23,
        SUB_PREF_KS = 24,
        SUB_PRIMARY_UID = 25,
        SUB_POLICY = 26,
        SUB_KEY_FLAGS = 27,
        SUB_SIGNER_UID = 28,
        SUB_REASON = 29,
        SUB_FEATURES = 30,
        SUB_TARGET = 31,
        SUB_EMBEDDED = 32,
        SUB_ISSUER_FPR = 33,
        SUB_PREF_AEAD = 34,
        SUB_INTENDED = 35,
        SUB_PREF_AEAD_SUITES = 39,
};

static bool fixed(size_t have, size_t want)
{
        return have == want;
}

/* One subpacket of the hashed (or, when !hashed, unhashed) area. */
static int subpacket(pgp_signature *s, uint8_t type, const uint8_t *d, size_t n, bool hashed,
                     bool critical)
{
        if (!hashed) {
                /* Unhashed data is not signed: only hints for finding the key. */
                if (type == SUB_ISSUER && fixed(n, PGP_KEYID_SIZE) && !s->has_issuer_id) {
                        memcpy(s->issuer_id, d, PGP_KEYID_SIZE);
                        s->has_issuer_id = true;
                } else if (type == SUB_ISSUER_FPR && n == 1 + PGP_FPR_SIZE && d[0] == 4 &&
                           !s->has_issuer_fpr) {
                        memcpy(s->issuer_fpr, d + 1, PGP_FPR_SIZE);
                        s->has_issuer_fpr = true;
                } else if (type == SUB_EMBEDDED && !s->embedded) {
                        /* Itself a signature: its own check makes it trustworthy. */
                        s->embedded = d;
                        s->embedded_size = n;
                }
                return 0;
        }
        switch (type) {
        case SUB_CREATED:
                if (!fixed(n, 4))
                        return -EBADMSG;
                s->created = pgp_be32(d);
                s->has_created = true;
                return 0;
        case SUB_EXPIRES:
                if (!fixed(n, 4))
                        return -EBADMSG;
                s->expires = pgp_be32(d);
                return 0;
        case SUB_KEY_EXPIRES:
                if (!fixed(n, 4))
                        return -EBADMSG;
                s->key_expires = pgp_be32(d);
                s->has_key_expires = true;
                return 0;
        case SUB_ISSUER:
                if (!fixed(n, PGP_KEYID_SIZE))
                        return -EBADMSG;
                memcpy(s->issuer_id, d, PGP_KEYID_SIZE);
                s->has_issuer_id = true;
                return 0;
        case SUB_ISSUER_FPR:
                if (n < 1)
                        return -EBADMSG;
                if (d[0] == 4 && n == 1 + PGP_FPR_SIZE) {
                        memcpy(s->issuer_fpr, d + 1, PGP_FPR_SIZE);
                        s->has_issuer_fpr = true;
                } else if (d[0] == 4) {
                        return -EBADMSG;
                }
                /* A v5/v6 fingerprint names a key we cannot have: the check fails later. */
                return 0;
        case SUB_KEY_FLAGS:
                if (n < 1)
                        return -EBADMSG;
                s->flags = d[0];
                s->has_flags = true;
                return 0;
        case SUB_PRIMARY_UID:
                if (!fixed(n, 1))
                        return -EBADMSG;
                s->primary_user_id = d[0] != 0;
                return 0;
        case SUB_EMBEDDED:
                s->embedded = d;
                s->embedded_size = n;
                return 0;
        case SUB_REASON:
                if (n < 1)
                        return -EBADMSG;
                s->reason_code = d[0];
                s->reason = d + 1;
                s->reason_size = n - 1;
                s->has_reason = true;
                return 0;
        case SUB_EXPORTABLE:
        case SUB_REVOCABLE:
        case SUB_PREF_SYM:
        case SUB_PREF_HASH:
        case SUB_PREF_COMP:
        case SUB_KS_PREFS:
        case SUB_PREF_KS:
        case SUB_POLICY:
        case SUB_SIGNER_UID:
        case SUB_FEATURES:
        case SUB_PREF_AEAD:
        case SUB_INTENDED:
        case SUB_PREF_AEAD_SUITES:
        case SUB_TRUST:
        case SUB_REVOCATION_KEY:
        case SUB_TARGET:
                /* Understood well enough: none of them can make a signature valid. */
                return 0;
        default:
                /* Notations, regular expressions and the unknown: fine unless critical. */
                if (critical && !s->unknown_critical) {
                        s->unknown_critical = type == SUB_NOTATION ? "notation" : "unknown";
                        s->unknown_critical_type = type;
                }
                return 0;
        }
}

static int subpacket_area(pgp_signature *s, const uint8_t *d, size_t n, bool hashed)
{
        while (n > 0) {
                size_t len, hlen;
                uint8_t o = d[0];
                if (o < 192) {
                        hlen = 1;
                        len = o;
                } else if (o < 255) {
                        if (n < 2)
                                return -EBADMSG;
                        hlen = 2;
                        len = ((size_t)(o - 192) << 8) + d[1] + 192;
                } else {
                        if (n < 5)
                                return -EBADMSG;
                        hlen = 5;
                        len = pgp_be32(d + 1);
                }
                /* The length counts the type octet, which must be there. */
                if (len < 1 || len > n - hlen)
                        return -EBADMSG;
                uint8_t type = d[hlen];
                int r = subpacket(s, type & 0x7f, d + hlen + 1, len - 1, hashed, type & 0x80);
                if (r < 0)
                        return r;
                d += hlen + len;
                n -= hlen + len;
        }
        return 0;
}

int pgp_signature_parse(const pgp_packet *p, const char *what, bool quiet, pgp_signature *ret)
{
        const uint8_t *d = p->body;
        size_t n = p->size;
        int level = quiet ? CA_LOG_DEBUG : CA_LOG_ERR;
        *ret = (pgp_signature){.offset = p->offset};
        if (p->tag != PGP_TAG_SIGNATURE)
                return ca_log_errno(
                    level, -EBADMSG,
                    "%s: byte %zu: packet of type %u where a signature was expected", what,
                    p->offset, p->tag);
        if (n < 1)
                return ca_log_errno(level, -EBADMSG, "%s: byte %zu: empty signature packet", what,
                                    p->offset);
        ret->version = d[0];
        if (ret->version != 4)
                return ca_log_errno(level, -EPROTONOSUPPORT,
                                    "%s: byte %zu: version %u signature (acfetch verifies "
                                    "version 4 signatures)",
                                    what, p->offset, ret->version);
        if (n < 6)
                goto truncated;
        ret->type = d[1];
        ret->pk_algo = d[2];
        ret->hash_algo = d[3];
        size_t hashed = (size_t)d[4] << 8 | d[5];
        if (hashed > n - 6)
                goto truncated;
        if (subpacket_area(ret, d + 6, hashed, true) < 0)
                return ca_log_errno(level, -EBADMSG, "%s: byte %zu: malformed hashed subpackets",
                                    what, p->offset);
        ret->hashed = d;
        ret->hashed_size = 6 + hashed;
        d += 6 + hashed;
        n -= 6 + hashed;
        if (n < 2)
                goto truncated;
        size_t unhashed = (size_t)d[0] << 8 | d[1];
        if (unhashed > n - 2)
                goto truncated;
        if (subpacket_area(ret, d + 2, unhashed, false) < 0)
                return ca_log_errno(level, -EBADMSG, "%s: byte %zu: malformed unhashed subpackets",
                                    what, p->offset);
        d += 2 + unhashed;
        n -= 2 + unhashed;
        if (n < 2)
                goto truncated;
        memcpy(ret->left16, d, 2);
        d += 2;
        n -= 2;

        unsigned mpis;
        switch (ret->pk_algo) {
        case PGP_PK_RSA:
        case PGP_PK_RSA_SIGN:
                mpis = 1;
                break;
        case PGP_PK_ECDSA:
        case PGP_PK_EDDSA_LEGACY:
        case PGP_PK_DSA:
                mpis = 2;
                break;
        case PGP_PK_ED25519:
                if (n != 64)
                        return ca_log_errno(level, -EBADMSG,
                                            "%s: byte %zu: Ed25519 signature of %zu bytes, not 64",
                                            what, p->offset, n);
                ret->mpi[0] = d;
                ret->mpi_size[0] = 64;
                return 0;
        default:
                /* Unknown material: kept whole, the algorithm is refused where it matters. */
                ret->mpi[0] = d;
                ret->mpi_size[0] = n;
                return 0;
        }
        for (unsigned i = 0; i < mpis; i++)
                if (pgp_read_mpi(&d, &n, &ret->mpi[i], &ret->mpi_size[i]) < 0)
                        return ca_log_errno(level, -EBADMSG,
                                            "%s: byte %zu: malformed signature value", what,
                                            p->offset);
        if (n != 0)
                return ca_log_errno(level, -EBADMSG,
                                    "%s: byte %zu: %zu stray bytes after the signature value", what,
                                    p->offset, n);
        return 0;
truncated:
        return ca_log_errno(level, -EBADMSG, "%s: byte %zu: truncated signature packet", what,
                            p->offset);
}
