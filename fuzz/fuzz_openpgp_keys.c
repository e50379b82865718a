/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * OpenPGP public keys as `trust` and --trust-keys-from-https download them, and as the trust
 * store reads its files: armored or binary, then everything trust shows and checks of a key. A
 * key we armor must read back as the same key.
 */
#include "aci/openpgp/openpgp.h"
#include "fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        fuzz_log_everything();
        return 0;
}

static void inspect(aci_pgp_key *k)
{
        const char *fpr = aci_pgp_key_fingerprint(k);
        FUZZ_ASSERT(strlen(fpr) == ACI_PGP_FPR_HEX_SIZE - 1);
        char pretty[ACI_PGP_FPR_PRETTY_SIZE], back[ACI_PGP_FPR_HEX_SIZE];
        aci_pgp_fingerprint_pretty(fpr, pretty);
        FUZZ_ASSERT(aci_pgp_fingerprint_normalize(pretty, back) == 0 && strcmp(back, fpr) == 0);
        FUZZ_ASSERT(aci_pgp_key_has(k, fpr));
        size_t n;
        (void)aci_pgp_key_user_ids(k, &n);
        for (size_t i = 0; i < aci_pgp_key_n_subkeys(k); i++)
                FUZZ_ASSERT(aci_pgp_key_has(k, aci_pgp_key_subkey_fingerprint(k, i)));
        _cleanup_(freep) char *why = NULL;
        (void)aci_pgp_key_check(k, FUZZ_NOW, &why);
        aci_pgp_key_describe(k, fuzz_devnull());

        _cleanup_(freep) char *armored = NULL;
        size_t size;
        if (aci_pgp_key_armor(k, &armored, &size) < 0)
                return;
        aci_pgp_key **again = NULL;
        size_t n_again = 0;
        FUZZ_ASSERT(
            aci_pgp_keys_parse(armored, size, "fuzz key (armored again)", &again, &n_again) == 0);
        FUZZ_ASSERT(n_again == 1 && strcmp(aci_pgp_key_fingerprint(again[0]), fpr) == 0);
        aci_pgp_keys_free(again, n_again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size > ACI_PGP_KEY_FILE_MAX)
                return 0;
        aci_pgp_key **keys = NULL;
        size_t n = 0;
        if (aci_pgp_keys_parse(data, size, "fuzz key", &keys, &n) < 0)
                return 0;
        for (size_t i = 0; i < n; i++)
                inspect(keys[i]);
        aci_pgp_keys_free(keys, n);
        return 0;
}
