/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * OpenPGP v4 public key packets (RFC 9580 §5.5): the fingerprint, and the key material as an
 * EVP_PKEY (RSA, ECDSA on the NIST curves, Ed25519 in its legacy EdDSA form and as algorithm 27)
 * or the reason the key can verify nothing.
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include "aci/openpgp/internal.h"

typedef struct curve {
        const char *name; /* OpenSSL's group name, and ours in messages */
        uint8_t oid[9];
        size_t oid_size;
        size_t coord; /* bytes per coordinate */
} curve;

static const curve ecdsa_curves[] = {
    {"P-256", {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}, 8, 32},
    {"P-384", {0x2b, 0x81, 0x04, 0x00, 0x22}, 5, 48},
    {"P-521", {0x2b, 0x81, 0x04, 0x00, 0x23}, 5, 66},
};

/* 1.3.6.1.4.1.11591.15.1: Ed25519 in the legacy EdDSA (22) form gpg makes. */
static const uint8_t ed25519_legacy_oid[] = {0x2b, 0x06, 0x01, 0x04, 0x01, 0xda, 0x47, 0x0f, 0x01};

/* EVP_PKEY from OSSL_PARAMs, for key type `type` ("RSA", "EC", "ED25519"). */
static EVP_PKEY *pkey_from_params(const char *type, OSSL_PARAM *params)
{
        EVP_PKEY *pkey = NULL;
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
        if (!c || EVP_PKEY_fromdata_init(c) != 1 ||
            EVP_PKEY_fromdata(c, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
                pkey = NULL;
        EVP_PKEY_CTX_free(c);
        return pkey;
}

static int rsa_material(pgp_pubkey *k, const uint8_t *p, size_t left, const char *what)
{
        const uint8_t *n, *e;
        size_t n_size, e_size;
        if (pgp_read_mpi(&p, &left, &n, &n_size) < 0 || pgp_read_mpi(&p, &left, &e, &e_size) < 0 ||
            left != 0 || n_size == 0 || e_size == 0)
                return ca_bad("%s: key %s: malformed RSA key material", what, k->fpr_hex);
        if (k->algo == PGP_PK_RSA_ENCRYPT) {
                k->unusable = "an RSA encryption-only key cannot sign";
                return 0;
        }
        if (n_size * 8 < PGP_RSA_BITS_MIN) {
                k->unusable = "its RSA modulus is shorter than 2048 bits";
                return 0;
        }
        if (e_size > 8 || !(e[e_size - 1] & 1)) {
                k->unusable = "its RSA exponent is not a small odd number";
                return 0;
        }
        BIGNUM *bn = BN_bin2bn(n, (int)n_size, NULL), *be = BN_bin2bn(e, (int)e_size, NULL);
        OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
        OSSL_PARAM *params = NULL;
        if (bn && be && b && OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_N, bn) == 1 &&
            OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_E, be) == 1)
                params = OSSL_PARAM_BLD_to_param(b);
        if (params)
                k->pkey = pkey_from_params("RSA", params);
        OSSL_PARAM_free(params);
        OSSL_PARAM_BLD_free(b);
        BN_free(bn);
        BN_free(be);
        if (!k->pkey)
                k->unusable = "OpenSSL refuses its RSA key material";
        return 0;
}

/* The curve OID: one length octet (0 and 0xff are reserved), then the OID. */
static int read_oid(const uint8_t **p, size_t *left, const uint8_t **oid, size_t *oid_size)
{
        if (*left < 1 || (*p)[0] == 0 || (*p)[0] == 0xff || (*p)[0] > *left - 1)
                return -EBADMSG;
        *oid_size = (*p)[0];
        *oid = *p + 1;
        *left -= 1 + *oid_size;
        *p += 1 + *oid_size;
        return 0;
}

static int ecdsa_material(pgp_pubkey *k, const uint8_t *p, size_t left, const char *what)
{
        const uint8_t *oid, *point;
        size_t oid_size, point_size;
        if (read_oid(&p, &left, &oid, &oid_size) < 0 ||
            pgp_read_mpi(&p, &left, &point, &point_size) < 0 || left != 0)
                return ca_bad("%s: key %s: malformed ECDSA key material", what, k->fpr_hex);
        const curve *c = NULL;
        for (size_t i = 0; i < ELEMENTSOF(ecdsa_curves); i++)
                if (oid_size == ecdsa_curves[i].oid_size &&
                    memcmp(oid, ecdsa_curves[i].oid, oid_size) == 0)
                        c = &ecdsa_curves[i];
        if (!c) {
                k->unusable = "its ECDSA curve is not P-256, P-384 or P-521";
                return 0;
        }
        if (point_size != 1 + 2 * c->coord || point[0] != 0x04)
                return ca_bad("%s: key %s: malformed %s point", what, k->fpr_hex, c->name);
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)c->name, 0),
            OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)point, point_size),
            OSSL_PARAM_construct_end(),
        };
        k->pkey = pkey_from_params("EC", params);
        if (!k->pkey)
                return ca_bad("%s: key %s: its %s point is not on the curve", what, k->fpr_hex,
                              c->name);
        return 0;
}

static int ed25519_key(pgp_pubkey *k, const uint8_t raw[32], const char *what)
{
        k->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, 32);
        if (!k->pkey)
                return ca_bad("%s: key %s: OpenSSL refuses its Ed25519 key", what, k->fpr_hex);
        return 0;
}

static int eddsa_legacy_material(pgp_pubkey *k, const uint8_t *p, size_t left, const char *what)
{
        const uint8_t *oid, *point;
        size_t oid_size, point_size;
        if (read_oid(&p, &left, &oid, &oid_size) < 0 ||
            pgp_read_mpi(&p, &left, &point, &point_size) < 0 || left != 0)
                return ca_bad("%s: key %s: malformed EdDSA key material", what, k->fpr_hex);
        if (oid_size != sizeof(ed25519_legacy_oid) ||
            memcmp(oid, ed25519_legacy_oid, oid_size) != 0) {
                k->unusable = "its EdDSA curve is not Ed25519";
                return 0;
        }
        /* The native point, prefixed with 0x40. */
        if (point_size != 33 || point[0] != 0x40)
                return ca_bad("%s: key %s: malformed Ed25519 point", what, k->fpr_hex);
        return ed25519_key(k, point + 1, what);
}

static int pubkey_material(pgp_pubkey *k, const uint8_t *p, size_t left, const char *what)
{
        switch (k->algo) {
        case PGP_PK_RSA:
        case PGP_PK_RSA_SIGN:
        case PGP_PK_RSA_ENCRYPT:
                return rsa_material(k, p, left, what);
        case PGP_PK_ECDSA:
                return ecdsa_material(k, p, left, what);
        case PGP_PK_EDDSA_LEGACY:
                return eddsa_legacy_material(k, p, left, what);
        case PGP_PK_ED25519:
                if (left != 32)
                        return ca_bad("%s: key %s: Ed25519 key of %zu bytes, not 32", what,
                                      k->fpr_hex, left);
                return ed25519_key(k, p, what);
        case PGP_PK_ECDH:
        case PGP_PK_X25519:
        case PGP_PK_ELGAMAL:
                k->unusable = "it is an encryption key";
                return 0;
        case PGP_PK_DSA:
                k->unusable = "DSA is not supported";
                return 0;
        default:
                k->unusable = "its public-key algorithm is not supported";
                return 0;
        }
}

void pgp_pubkey_done(pgp_pubkey *k)
{
        EVP_PKEY_free(k->pkey);
        k->pkey = NULL;
}

int pgp_pubkey_parse(const pgp_packet *p, const char *what, pgp_pubkey *ret)
{
        const uint8_t *d = p->body;
        size_t n = p->size;
        *ret = (pgp_pubkey){};
        if (n < 1)
                return ca_bad("%s: byte %zu: empty public key packet", what, p->offset);
        if (d[0] != 4)
                return ca_log_errno(CA_LOG_ERR, -EPROTONOSUPPORT,
                                    "%s: byte %zu: version %u key (acfetch reads version 4 keys)",
                                    what, p->offset, d[0]);
        if (n < 6)
                return ca_bad("%s: byte %zu: truncated public key packet", what, p->offset);
        /* v4 fingerprints hash a two-octet length. */
        if (n > 0xffff)
                return ca_bad("%s: byte %zu: public key packet of %zu bytes", what, p->offset, n);
        ret->version = 4;
        ret->created = pgp_be32(d + 1);
        ret->algo = d[5];
        ret->body = d;
        ret->body_size = n;

        uint8_t head[3] = {0x99, (uint8_t)(n >> 8), (uint8_t)n};
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) == 1 &&
                  EVP_DigestUpdate(ctx, head, 3) == 1 && EVP_DigestUpdate(ctx, d, n) == 1 &&
                  EVP_DigestFinal_ex(ctx, ret->fpr, NULL) == 1;
        EVP_MD_CTX_free(ctx);
        if (!ok)
                return -ENOMEM;
        pgp_hex(ret->fpr, PGP_FPR_SIZE, ret->fpr_hex);
        return pubkey_material(ret, d + 6, n - 6, what);
}
