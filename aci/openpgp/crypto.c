/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The crypto behind OpenPGP signatures, on OpenSSL 3: hash algorithms, and checking one v4
 * signature against a hash context that already holds the signed data (keys: pubkey.c).
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include "aci/openpgp/internal.h"

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
