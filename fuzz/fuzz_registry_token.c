/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A token service's answer (fetcher/transfer/registry_auth.c): any bytes up to the engine's cap.
 * A token taken goes into an Authorization header as it is: non-empty printable ASCII without
 * spaces, within REGISTRY_TOKEN_MAX; its lifetime is 1 s to a day.
 */
#include "fetcher/transfer/transfer.h"
#include "fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        fuzz_log_everything();
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *token = NULL;
        unsigned expires = 0;
        int r = registry_token_parse((const char *)data, size, &token, &expires);
        if (r < 0) {
                FUZZ_ASSERT(!token);
                return 0;
        }
        FUZZ_ASSERT(r == 0 && token);
        size_t len = strlen(token);
        FUZZ_ASSERT(len > 0 && len <= REGISTRY_TOKEN_MAX);
        for (size_t i = 0; i < len; i++)
                FUZZ_ASSERT(token[i] > 0x20 && token[i] < 0x7f);
        FUZZ_ASSERT(expires >= 1 && expires <= 86400);
        free(token);
        return 0;
}
