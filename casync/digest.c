/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Chunk IDs and archive digests: SHA-256 or SHA-512/256, picked by CA_FORMAT_SHA512_256. */
#include <openssl/evp.h>
#include <string.h>

#include "casync/casync.h"

struct ca_digest {
        EVP_MD_CTX *ctx;
        const EVP_MD *md;
};

ca_digest_type ca_digest_type_from_flags(uint64_t feature_flags)
{
        return (feature_flags & CA_FORMAT_SHA512_256) ? CA_DIGEST_SHA512_256 : CA_DIGEST_SHA256;
}

const char *ca_digest_type_name(ca_digest_type t)
{
        return t == CA_DIGEST_SHA256 ? "sha256" : "sha512-256";
}

static const EVP_MD *digest_md(ca_digest_type t)
{
        return t == CA_DIGEST_SHA256 ? EVP_sha256() : EVP_sha512_256();
}

int ca_digest_new(ca_digest_type t, ca_digest **ret)
{
        ca_digest *d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        d->md = digest_md(t);
        d->ctx = EVP_MD_CTX_new();
        if (!d->ctx || !d->md || EVP_DigestInit_ex(d->ctx, d->md, NULL) != 1) {
                ca_digest_free(d);
                return -ENOMEM;
        }
        *ret = d;
        return 0;
}

ca_digest *ca_digest_free(ca_digest *d)
{
        if (d) {
                EVP_MD_CTX_free(d->ctx);
                free(d);
        }
        return NULL;
}

int ca_digest_reset(ca_digest *d)
{
        return EVP_DigestInit_ex(d->ctx, d->md, NULL) == 1 ? 0 : -EIO;
}

int ca_digest_update(ca_digest *d, const void *data, size_t size)
{
        return EVP_DigestUpdate(d->ctx, data, size) == 1 ? 0 : -EIO;
}

int ca_digest_final(ca_digest *d, uint8_t out[CA_CHUNK_ID_SIZE])
{
        unsigned len = 0;
        if (EVP_DigestFinal_ex(d->ctx, out, &len) != 1 || len != CA_CHUNK_ID_SIZE)
                return -EIO;
        return ca_digest_reset(d);
}

int ca_digest_once(ca_digest_type t, const void *data, size_t size, ca_chunk_id *ret)
{
        unsigned len = 0;
        if (EVP_Digest(data, size, ret->bytes, &len, digest_md(t), NULL) != 1 ||
            len != CA_CHUNK_ID_SIZE)
                return -EIO;
        return 0;
}

char *ca_chunk_id_to_hex(const ca_chunk_id *id, char buf[CA_CHUNK_ID_HEX_SIZE])
{
        static const char hex[] = "0123456789abcdef";
        for (size_t i = 0; i < CA_CHUNK_ID_SIZE; i++) {
                buf[2 * i] = hex[id->bytes[i] >> 4];
                buf[2 * i + 1] = hex[id->bytes[i] & 15];
        }
        buf[CA_CHUNK_ID_HEX_SIZE - 1] = 0;
        return buf;
}

static int unhex(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -1;
}

int ca_chunk_id_from_hex(const char *s, ca_chunk_id *ret)
{
        if (strlen(s) != CA_CHUNK_ID_SIZE * 2)
                return -EINVAL;
        for (size_t i = 0; i < CA_CHUNK_ID_SIZE; i++) {
                int hi = unhex(s[2 * i]), lo = unhex(s[2 * i + 1]);
                if (hi < 0 || lo < 0)
                        return -EINVAL;
                ret->bytes[i] = (uint8_t)(hi << 4 | lo);
        }
        return 0;
}
