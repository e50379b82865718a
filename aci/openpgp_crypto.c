/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The crypto behind OpenPGP signatures, on OpenSSL 3: hash algorithms, public key material to
 * EVP_PKEY (RSA, ECDSA on the NIST curves, Ed25519 in its legacy EdDSA form and as algorithm 27),
 * and checking one v4 signature against a hash context that already holds the signed data.
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include "aci/openpgp.h"

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

const EVP_MD *pgp_hash_md(uint8_t algo, const char **name)
{
        switch (algo) {
        case PGP_HASH_SHA256:
                *name = "SHA-256";
                return EVP_sha256();
        case PGP_HASH_SHA384:
                *name = "SHA-384";
                return EVP_sha384();
        case PGP_HASH_SHA512:
                *name = "SHA-512";
                return EVP_sha512();
        case PGP_HASH_MD5:
                *name = "MD5";
                return NULL;
        case PGP_HASH_SHA1:
                *name = "SHA-1";
                return NULL;
        case PGP_HASH_RIPEMD160:
                *name = "RIPEMD-160";
                return NULL;
        case PGP_HASH_SHA224:
                *name = "SHA-224";
                return NULL;
        default:
                *name = "an unknown hash";
                return NULL;
        }
}

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

int pgp_pubkey_material(pgp_pubkey *k, const uint8_t *p, size_t left, const char *what)
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

int pgp_hash_begin(const pgp_signature *s, EVP_MD_CTX **ret)
{
        const char *name;
        const EVP_MD *md = pgp_hash_md(s->hash_algo, &name);
        if (!md)
                return -EOPNOTSUPP;
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        if (!ctx || EVP_DigestInit_ex(ctx, md, NULL) != 1) {
                EVP_MD_CTX_free(ctx);
                return -ENOMEM;
        }
        *ret = ctx;
        return 0;
}

int pgp_hash_key(EVP_MD_CTX *ctx, const pgp_pubkey *k)
{
        uint8_t head[3] = {0x99, (uint8_t)(k->body_size >> 8), (uint8_t)k->body_size};
        if (EVP_DigestUpdate(ctx, head, 3) != 1 ||
            EVP_DigestUpdate(ctx, k->body, k->body_size) != 1)
                return -ENOMEM;
        return 0;
}

static bool algo_fits(uint8_t sig_algo, uint8_t key_algo)
{
        bool sig_rsa = sig_algo == PGP_PK_RSA || sig_algo == PGP_PK_RSA_SIGN;
        bool key_rsa = key_algo == PGP_PK_RSA || key_algo == PGP_PK_RSA_SIGN;
        return sig_rsa ? key_rsa : sig_algo == key_algo;
}

/* EVP_PKEY_verify on a digest, with the settings an algorithm needs. */
static int verify_digest(EVP_PKEY *pkey, const EVP_MD *md, bool rsa, const uint8_t *sig,
                         size_t sig_size, const uint8_t *digest, size_t digest_size)
{
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
        int r = -ENOMEM;
        if (c && EVP_PKEY_verify_init(c) == 1 &&
            (!rsa || (EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) == 1 &&
                      EVP_PKEY_CTX_set_signature_md(c, md) == 1)))
                r = EVP_PKEY_verify(c, sig, sig_size, digest, digest_size) == 1 ? 0 : -EBADMSG;
        EVP_PKEY_CTX_free(c);
        return r;
}

static int verify_ecdsa(EVP_PKEY *pkey, const pgp_signature *s, const uint8_t *digest,
                        size_t digest_size)
{
        ECDSA_SIG *es = ECDSA_SIG_new();
        BIGNUM *r = BN_bin2bn(s->mpi[0], (int)s->mpi_size[0], NULL);
        BIGNUM *sv = BN_bin2bn(s->mpi[1], (int)s->mpi_size[1], NULL);
        if (!es || !r || !sv || ECDSA_SIG_set0(es, r, sv) != 1) {
                BN_free(r);
                BN_free(sv);
                ECDSA_SIG_free(es);
                return -ENOMEM;
        }
        uint8_t *der = NULL;
        int der_size = i2d_ECDSA_SIG(es, &der);
        ECDSA_SIG_free(es);
        if (der_size <= 0)
                return -ENOMEM;
        int k = verify_digest(pkey, NULL, false, der, (size_t)der_size, digest, digest_size);
        OPENSSL_free(der);
        return k;
}

static int verify_ed25519(EVP_PKEY *pkey, const uint8_t sig[64], const uint8_t *digest,
                          size_t digest_size)
{
        EVP_MD_CTX *c = EVP_MD_CTX_new();
        int r = -ENOMEM;
        if (c && EVP_DigestVerifyInit(c, NULL, NULL, NULL, pkey) == 1)
                r = EVP_DigestVerify(c, sig, 64, digest, digest_size) == 1 ? 0 : -EBADMSG;
        EVP_MD_CTX_free(c);
        return r;
}

int pgp_signature_check(const pgp_signature *s, const pgp_pubkey *key, EVP_MD_CTX *ctx)
{
        uint8_t trailer[6] = {4,
                              0xff,
                              (uint8_t)(s->hashed_size >> 24),
                              (uint8_t)(s->hashed_size >> 16),
                              (uint8_t)(s->hashed_size >> 8),
                              (uint8_t)s->hashed_size};
        uint8_t digest[EVP_MAX_MD_SIZE];
        unsigned digest_size = 0;
        if (EVP_DigestUpdate(ctx, s->hashed, s->hashed_size) != 1 ||
            EVP_DigestUpdate(ctx, trailer, sizeof(trailer)) != 1 ||
            EVP_DigestFinal_ex(ctx, digest, &digest_size) != 1)
                return -ENOMEM;
        if (!key->pkey || !algo_fits(s->pk_algo, key->algo))
                return -EBADMSG;
        /* The quick check: cheap, and enough to reject most wrong data. */
        if (digest_size < 2 || memcmp(digest, s->left16, 2) != 0)
                return -EBADMSG;
        const char *name;
        const EVP_MD *md = pgp_hash_md(s->hash_algo, &name);

        switch (key->algo) {
        case PGP_PK_RSA:
        case PGP_PK_RSA_SIGN: {
                /* The value, left-padded to the modulus length. */
                size_t mod = (size_t)EVP_PKEY_get_size(key->pkey);
                if (s->mpi_size[0] == 0 || s->mpi_size[0] > mod || mod > PGP_MPI_BITS_MAX / 8)
                        return -EBADMSG;
                uint8_t buf[PGP_MPI_BITS_MAX / 8];
                memset(buf, 0, mod - s->mpi_size[0]);
                memcpy(buf + mod - s->mpi_size[0], s->mpi[0], s->mpi_size[0]);
                return verify_digest(key->pkey, md, true, buf, mod, digest, digest_size);
        }
        case PGP_PK_ECDSA:
                if (s->mpi_size[0] == 0 || s->mpi_size[1] == 0 || s->mpi_size[0] > 66 ||
                    s->mpi_size[1] > 66)
                        return -EBADMSG;
                return verify_ecdsa(key->pkey, s, digest, digest_size);
        case PGP_PK_EDDSA_LEGACY: {
                /* r and s, each an MPI of at most 32 octets, make the native signature. */
                if (s->mpi_size[0] > 32 || s->mpi_size[1] > 32)
                        return -EBADMSG;
                uint8_t sig[64] = {};
                memcpy(sig + 32 - s->mpi_size[0], s->mpi[0], s->mpi_size[0]);
                memcpy(sig + 64 - s->mpi_size[1], s->mpi[1], s->mpi_size[1]);
                return verify_ed25519(key->pkey, sig, digest, digest_size);
        }
        case PGP_PK_ED25519:
                if (s->mpi_size[0] != 64)
                        return -EBADMSG;
                return verify_ed25519(key->pkey, s->mpi[0], digest, digest_size);
        default:
                return -EBADMSG;
        }
}
