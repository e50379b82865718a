/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libopenpgp's internals, private to the files of aci/openpgp/ and their unit test (the public
 * API is openpgp.h): ASCII armor, the packet stream, signature and public-key packets, and the
 * crypto behind them (OpenSSL). Only what a detached-signature verifier needs: v4 signatures and keys;
 * RSA, ECDSA (P-256, P-384, P-521), EdDSA (legacy algorithm 22 with Ed25519, and algorithm 27);
 * SHA-256, SHA-384, SHA-512.
 *
 * Every parser works on a buffer it is given and checks each length against what is left before
 * reading or allocating; bad input is logged once, naming `what` and the byte offset, and gives
 * -EBADMSG. Pointers in parsed structures borrow from the parsed buffer.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "aci/openpgp/openpgp.h"
#include "casync/casync.h"

/* Packet tags (RFC 9580 §5). */
enum {
        PGP_TAG_SIGNATURE = 2,
        PGP_TAG_SECRET_KEY = 5,
        PGP_TAG_PUBLIC_KEY = 6,
        PGP_TAG_SECRET_SUBKEY = 7,
        PGP_TAG_COMPRESSED = 8,
        PGP_TAG_MARKER = 10,
        PGP_TAG_LITERAL = 11,
        PGP_TAG_TRUST = 12,
        PGP_TAG_USER_ID = 13,
        PGP_TAG_PUBLIC_SUBKEY = 14,
        PGP_TAG_USER_ATTRIBUTE = 17,
};

/* Signature types. */
enum {
        PGP_SIG_BINARY = 0x00,
        PGP_SIG_TEXT = 0x01,
        PGP_SIG_CERT_GENERIC = 0x10,
        PGP_SIG_CERT_POSITIVE = 0x13,
        PGP_SIG_SUBKEY_BINDING = 0x18,
        PGP_SIG_PRIMARY_BINDING = 0x19,
        PGP_SIG_DIRECT_KEY = 0x1f,
        PGP_SIG_KEY_REVOCATION = 0x20,
        PGP_SIG_SUBKEY_REVOCATION = 0x28,
        PGP_SIG_CERT_REVOCATION = 0x30,
};

/* Public-key algorithms. */
enum {
        PGP_PK_RSA = 1,
        PGP_PK_RSA_ENCRYPT = 2,
        PGP_PK_RSA_SIGN = 3,
        PGP_PK_ELGAMAL = 16,
        PGP_PK_DSA = 17,
        PGP_PK_ECDH = 18,
        PGP_PK_ECDSA = 19,
        PGP_PK_EDDSA_LEGACY = 22,
        PGP_PK_X25519 = 25,
        PGP_PK_ED25519 = 27,
};

/* Hash algorithms. */
enum {
        PGP_HASH_MD5 = 1,
        PGP_HASH_SHA1 = 2,
        PGP_HASH_RIPEMD160 = 3,
        PGP_HASH_SHA256 = 8,
        PGP_HASH_SHA384 = 9,
        PGP_HASH_SHA512 = 10,
        PGP_HASH_SHA224 = 11,
};

/* Key flags (subpacket 27, first octet). */
enum {
        PGP_KEY_FLAG_CERTIFY = 0x01,
        PGP_KEY_FLAG_SIGN = 0x02,
};

/* Caps on what one input may hold. */
#define PGP_PACKETS_MAX    8192 /* packets in one key file */
#define PGP_KEYS_MAX       16   /* keys (primary keys) in one key file */
#define PGP_USER_IDS_MAX   256  /* per key */
#define PGP_SUBKEYS_MAX    256  /* per key */
#define PGP_SIGNATURES_MAX 8    /* signatures in one detached-signature file */
#define PGP_USER_ID_MAX    4096 /* bytes */
#define PGP_MPI_BITS_MAX   16384
#define PGP_RSA_BITS_MIN   2048

#define PGP_FPR_SIZE   20
#define PGP_KEYID_SIZE 8

/* ---------------------------------------------------------------- armor (armor.c) */
typedef enum pgp_armor_kind {
        PGP_ARMOR_SIGNATURE,
        PGP_ARMOR_PUBLIC_KEY,
} pgp_armor_kind;

/*
 * If data holds ASCII armor ("-----BEGIN PGP ..." at the start of a line), decodes its one block
 * of the expected kind into *ret (malloc'ed): headers skipped, base64 decoded, the CRC-24 line
 * checked when present. Returns 1 when armor was decoded, 0 when data holds no armor at all
 * (*ret untouched: the caller treats data as binary), -EBADMSG (logged) for broken armor, a
 * block of another kind, or a second block.
 */
int pgp_dearmor(const void *data, size_t size, pgp_armor_kind kind, const char *what, uint8_t **ret,
                size_t *ret_size);
/*
 * The start of reading a key file (PGP_ARMOR_PUBLIC_KEY) or a detached signature: refuses empty
 * input and input over ACI_PGP_KEY_FILE_MAX / ACI_PGP_SIGNATURE_MAX, decodes armor of that kind,
 * and refuses binary input that does not start with a packet header (-EBADMSG, logged). *ret and
 * *ret_size are the binary packets: *owned (malloc'ed, the caller frees it) when armored, else
 * data itself.
 */
int pgp_input(const void *data, size_t size, pgp_armor_kind kind, const char *what, uint8_t **owned,
              const uint8_t **ret, size_t *ret_size);
/* The armored form of binary packets (with a CRC-24 line), malloc'ed and NUL-terminated. */
int pgp_armor(const uint8_t *data, size_t size, pgp_armor_kind kind, char **ret, size_t *ret_size);
/* CRC-24 of RFC 9580 §6.1. */
uint32_t pgp_crc24(const uint8_t *data, size_t size);

/* ---------------------------------------------------------------- packets (packet.c, pubkey.c) */
typedef struct pgp_packet {
        uint8_t tag;
        const uint8_t *body;
        size_t size;
        size_t offset; /* of the header, in the whole input */
} pgp_packet;

typedef struct pgp_reader {
        const uint8_t *data;
        size_t size, pos;
        const char *what;
} pgp_reader;

/*
 * The next packet: 1 with *ret set, 0 at the end of the input, -EBADMSG (logged) for a broken
 * header, a length past the end, a partial (streamed) length or the old indeterminate length
 * (neither appears in keys or signatures).
 */
int pgp_next_packet(pgp_reader *r, pgp_packet *ret);

/* A v4 signature packet, parsed. Pointers borrow from the packet body. */
typedef struct pgp_signature {
        size_t offset; /* for messages */
        uint8_t version, type, pk_algo, hash_algo;
        const uint8_t
            *hashed; /* version .. end of the hashed subpackets: what the trailer hashes */
        size_t hashed_size;
        uint8_t left16[2];
        /* Signature material: RSA one MPI, ECDSA and EdDSA legacy two (r, s), stripped of
         * leading zero octets; Ed25519 (27) 64 native octets in mpi[0]. */
        const uint8_t *mpi[2];
        size_t mpi_size[2];
        /* Subpackets (hashed unless noted). */
        bool has_created;
        uint32_t created;
        uint32_t expires;     /* signature expiration, seconds after creation; 0: never */
        bool has_key_expires; /* key expiration, seconds after the key's creation; 0: never */
        uint32_t key_expires;
        bool has_flags;
        uint8_t flags;
        bool has_issuer_fpr; /* hashed or unhashed: only a hint for picking the key */
        uint8_t issuer_fpr[PGP_FPR_SIZE];
        bool has_issuer_id;
        uint8_t issuer_id[PGP_KEYID_SIZE];
        bool primary_user_id;
        const uint8_t *embedded; /* embedded signature (hashed or unhashed), body of a packet */
        size_t embedded_size;
        uint8_t reason_code; /* reason for revocation */
        const uint8_t *reason;
        size_t reason_size;
        bool has_reason;
        const char *unknown_critical; /* set when a critical subpacket is not understood */
        uint8_t unknown_critical_type;
} pgp_signature;

/*
 * Parses a signature packet body. Only version 4 is accepted (-EPROTONOSUPPORT for 3, 5, 6).
 * Subpackets are all parsed and bounded; an unknown critical subpacket is noted, not fatal.
 * quiet: failures are logged at debug level only (an embedded signature's failure is the
 * caller's to report).
 */
int pgp_signature_parse(const pgp_packet *p, const char *what, bool quiet, pgp_signature *ret);

/* A v4 public key (or subkey) packet. */
typedef struct pgp_pubkey {
        uint8_t version;
        uint32_t created;
        uint8_t algo;
        const uint8_t *body; /* the whole packet body: what fingerprints and key signatures hash */
        size_t body_size;
        uint8_t fpr[PGP_FPR_SIZE];
        char fpr_hex[ACI_PGP_FPR_HEX_SIZE]; /* lower case */
        EVP_PKEY *pkey;                     /* NULL when the algorithm cannot be used to verify */
        const char *unusable;               /* why pkey is NULL: "ElGamal (16) cannot sign", ... */
} pgp_pubkey;

/*
 * Parses a public key or subkey packet body: version 4 only, fingerprint computed; the key
 * material of a supported algorithm becomes an EVP_PKEY (an RSA modulus under
 * PGP_RSA_BITS_MIN, an unknown curve and such leave it NULL with a reason: such a key can be
 * listed but verifies nothing). Material that is malformed is an error.
 */
int pgp_pubkey_parse(const pgp_packet *p, const char *what, pgp_pubkey *ret);
void pgp_pubkey_done(pgp_pubkey *k);

/* Reads a 2-octet bit count and its octets; strips leading zero octets. 0 or -EBADMSG (quiet:
 * the caller names the object). */
int pgp_read_mpi(const uint8_t **p, size_t *left, const uint8_t **ret, size_t *ret_size);

/* The key ID: the low 64 bits of a v4 fingerprint. */
static inline const uint8_t *pgp_fpr_keyid(const uint8_t fpr[PGP_FPR_SIZE])
{
        return fpr + PGP_FPR_SIZE - PGP_KEYID_SIZE;
}
void pgp_hex(const uint8_t *b, size_t n, char *out);
/* A big-endian 4-octet number (lengths, times). */
static inline uint32_t pgp_be32(const uint8_t *p)
{
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Does the signature name this key as its issuer (fingerprint, else key ID)? A signature that
 * names no issuer matches every key. */
bool pgp_signature_issuer_is(const pgp_signature *s, const pgp_pubkey *k);

/* ---------------------------------------------------------------- crypto (crypto.c) */
/* The EVP_MD of an accepted hash algorithm, or NULL; *name is set either way ("SHA-1", ...). */
const EVP_MD *pgp_hash_md(uint8_t algo, const char **name);

/*
 * Finishes the v4 signature hash: ctx already holds the signed data (document, or key material
 * and user ID); this adds the hashed part and the trailer, then checks the quick-check octets
 * and the signature with key. 0 when it verifies, -EBADMSG (not logged) when not, other errors
 * negative errno.
 */
int pgp_signature_check(const pgp_signature *s, const pgp_pubkey *key, EVP_MD_CTX *ctx);

/* Starts a hash context for s's algorithm; -EOPNOTSUPP when not accepted. */
int pgp_hash_begin(const pgp_signature *s, EVP_MD_CTX **ret);
/* Feeds a key packet as key signatures hash it: 0x99, 2-octet length, body. */
int pgp_hash_key(EVP_MD_CTX *ctx, const pgp_pubkey *k);

/* ---------------------------------------------------------------- keys (key.c) */
typedef struct pgp_subkey {
        pgp_pubkey key;
        bool bound;         /* a valid binding signature by the primary key */
        int64_t bound_time; /* creation of the newest valid binding signature */
        uint32_t expires;   /* from that binding signature; 0: never */
        bool has_flags;
        uint8_t flags;
        bool back_signed; /* a valid embedded primary-key binding signature */
        bool revoked;
        char *revocation_reason;
        const char *why_unbound; /* when !bound: the reason, for messages */
} pgp_subkey;

struct aci_pgp_key {
        pgp_pubkey primary;
        bool self_signed;      /* a valid self-signature (user ID certification or direct) */
        int64_t self_sig_time; /* creation of the newest one */
        uint32_t expires;      /* key expiration from it; 0: never */
        bool has_flags;
        uint8_t flags;
        const char *why_unsigned; /* when !self_signed */
        bool revoked;
        char *revocation_reason;
        char **user_ids; /* with a valid self-signature and not revoked, in file order */
        size_t n_user_ids;
        pgp_subkey *subkeys;
        size_t n_subkeys;
        uint8_t *packets; /* this key's packets as read, for re-armoring */
        size_t packets_size;
};

/* ---------------------------------------------------------------- time */
/* "2026-01-02 03:04:05 UTC" */
#define PGP_TIME_STR_MAX 32
const char *pgp_time_str(int64_t t, char buf[static PGP_TIME_STR_MAX]);
