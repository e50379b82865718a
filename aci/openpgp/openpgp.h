/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libopenpgp: public keys and detached OpenPGP signatures (RFC 9580), checked with OpenSSL and
 * no gpg. Reads transferable public keys (armored or binary) and says whether one is usable,
 * armors and describes them, and verifies a detached signature over a buffer with a set of keys.
 * Supported: v4 keys and signatures; RSA (2048 bits and more), ECDSA (P-256, P-384, P-521),
 * Ed25519 (the legacy EdDSA algorithm 22 gpg makes, and algorithm 27); SHA-256, SHA-384, SHA-512
 * (MD5, SHA-1 and the rest refused). Every length in the input is checked before use;
 * compressed or streamed packets are refused. It knows nothing of images or trust stores.
 *
 * Conventions as in casync/casync.h: 0 or a negative errno; bad input is logged once with
 * ca_log, naming `what`, and gives -EBADMSG.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define ACI_PGP_KEY_FILE_MAX    (1024 * 1024) /* bytes of a key file */
#define ACI_PGP_SIGNATURE_MAX   (64 * 1024)   /* bytes of a detached signature file */
#define ACI_PGP_FPR_HEX_SIZE    41            /* 40 lower-case hex digits and a NUL */
#define ACI_PGP_FPR_PRETTY_SIZE 51            /* "ABCD ... ABCD  ABCD ... ABCD" and a NUL */

typedef struct aci_pgp_key aci_pgp_key;

/*
 * Reads one or more transferable public keys (armored "PGP PUBLIC KEY BLOCK" or binary; at most
 * 16): each primary key with its user IDs and subkeys, self-signatures verified (user IDs whose
 * certification fails are dropped, subkeys whose binding fails are unusable, revocations that
 * verify are kept). Malformed input: -EBADMSG, logged naming `what`. *ret is an array of *n.
 */
int aci_pgp_keys_parse(const void *data, size_t size, const char *what, aci_pgp_key ***ret,
                       size_t *n);
aci_pgp_key *aci_pgp_key_free(aci_pgp_key *k);
void aci_pgp_keys_free(aci_pgp_key **keys, size_t n);

/* The primary key's v4 fingerprint, 40 lower-case hex digits. */
const char *aci_pgp_key_fingerprint(const aci_pgp_key *k);
/* User IDs with a valid self-signature, not revoked, control bytes escaped as \xNN. */
const char *const *aci_pgp_key_user_ids(const aci_pgp_key *k, size_t *n);
size_t aci_pgp_key_n_subkeys(const aci_pgp_key *k);
const char *aci_pgp_key_subkey_fingerprint(const aci_pgp_key *k, size_t i);
/* Is this (40 hex) fingerprint or (16 hex) key ID the primary key's or a subkey's? */
bool aci_pgp_key_has(const aci_pgp_key *k, const char *fpr_or_keyid);
/*
 * May the key be used at time `now`? 0, or -EKEYREVOKED, -EKEYEXPIRED, -EKEYREJECTED (no valid
 * self-signature, an algorithm that cannot verify) with *why a malloc'ed phrase to follow "key
 * X ": "is revoked (compromised: ...)", "expired on 2020-01-02 00:00:00 UTC", ...
 */
int aci_pgp_key_check(const aci_pgp_key *k, int64_t now, char **why);
/* The key's packets, armored as a "PGP PUBLIC KEY BLOCK" (malloc'ed, NUL-terminated). */
int aci_pgp_key_armor(const aci_pgp_key *k, char **ret, size_t *ret_size);
/* For review: "GPG key fingerprint is: ...", subkey fingerprints, user IDs, expiration. */
void aci_pgp_key_describe(const aci_pgp_key *k, FILE *f);
/* rkt's (and gpg's) display form: upper case, groups of four, two spaces in the middle. */
void aci_pgp_fingerprint_pretty(const char *hex, char out[static ACI_PGP_FPR_PRETTY_SIZE]);
/* A fingerprint as typed (either case, spaces anywhere) to 40 lower-case hex; -EINVAL. */
int aci_pgp_fingerprint_normalize(const char *s, char out[static ACI_PGP_FPR_HEX_SIZE]);

typedef struct aci_pgp_signer {
        char fingerprint[ACI_PGP_FPR_HEX_SIZE];     /* the primary key's */
        char key_fingerprint[ACI_PGP_FPR_HEX_SIZE]; /* the key that signed (a subkey's?) */
        char *user_id;                              /* its first user ID; NULL if none */
        int64_t created;                            /* of the signature */
} aci_pgp_signer;
void aci_pgp_signer_done(aci_pgp_signer *s);

/* Who made a signature none of the keys could be found for: 40 hex digits (fingerprint), 16
 * (key ID), or "" when the signature does not say. */
typedef struct aci_pgp_issuer {
        char id[ACI_PGP_FPR_HEX_SIZE];
} aci_pgp_issuer;

/*
 * Verifies a detached signature file over data with keys, at time now. Every signature packet
 * in the file (at most 8) must be over a binary document, v4, with an accepted hash, made by
 * one of the keys (or a subkey of one) that is usable (not revoked, not expired, self-signed,
 * able to sign; a subkey bound, back-signed, not revoked or expired), after the key was made,
 * not in the future, not expired, and must verify. 0 with *ret (the first signature's signer);
 * -ENOKEY (not logged: the caller knows where the keys came from) when a signature's issuer is
 * not among the keys, with *unknown set; anything else is logged once naming `what`: -EBADMSG
 * (malformed, empty, bad signature), -EKEYREVOKED, -EKEYEXPIRED (key or signature),
 * -EKEYREJECTED (refused hash or algorithm, unusable key).
 */
int aci_pgp_verify_detached(aci_pgp_key *const *keys, size_t n_keys, const void *data, size_t size,
                            const void *sig, size_t sig_size, int64_t now, const char *what,
                            aci_pgp_issuer *unknown, aci_pgp_signer *ret);
