/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A detached signature (an index's .asc, armored or binary) verified as fetch verifies it, over
 * fixed data, with the key that comes with it. Input: fuzz_split2's two parts, the key file and
 * the signature file (fuzz/make-corpus.sh pairs the ones gpg made over FUZZ_SIGNED_DATA).
 */
#include "aci/openpgp/openpgp.h"
#include "fuzz/fuzz.h"

/* The bytes of tests/openpgp/data/data, which its signatures (and the corpus's) are over. */
#define FUZZ_SIGNED_DATA "acfetch signed data\n"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        fuzz_log_everything();
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const uint8_t *key, *sig;
        size_t key_size, sig_size;
        fuzz_split2(data, size, &key, &key_size, &sig, &sig_size);
        if (sig_size > ACI_PGP_SIGNATURE_MAX)
                return 0;
        aci_pgp_key **keys = NULL;
        size_t n = 0;
        if (aci_pgp_keys_parse(key, key_size, "fuzz key", &keys, &n) < 0)
                return 0;
        aci_pgp_issuer unknown;
        aci_pgp_signer signer;
        if (aci_pgp_verify_detached(keys, n, FUZZ_SIGNED_DATA, strlen(FUZZ_SIGNED_DATA), sig,
                                    sig_size, FUZZ_NOW, "fuzz.asc", &unknown, &signer) == 0) {
                FUZZ_ASSERT(strlen(signer.fingerprint) == ACI_PGP_FPR_HEX_SIZE - 1);
                aci_pgp_signer_done(&signer);
        }
        aci_pgp_keys_free(keys, n);
        return 0;
}
