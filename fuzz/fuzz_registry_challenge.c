/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A registry's WWW-Authenticate value (fetcher/transfer/registry_auth.c), as a 401 brings it:
 * any bytes up to the engine's cap. A challenge taken must be Basic, or Bearer with a realm, with
 * each field a terminated string of printable ASCII (they go into a URL and messages).
 */
#include "fetcher/transfer/transfer.h"
#include "fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        fuzz_log_everything();
        return 0;
}

static void printable(const char *s, size_t n)
{
        size_t len = strnlen(s, n);
        FUZZ_ASSERT(len < n);
        for (size_t i = 0; i < len; i++)
                FUZZ_ASSERT(s[i] >= 0x20 && s[i] < 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size > REGISTRY_CHALLENGE_MAX + 16)
                return 0;
        registry_challenge c;
        int r = registry_challenge_parse((const char *)data, size, &c);
        if (size > REGISTRY_CHALLENGE_MAX)
                FUZZ_ASSERT(r < 0);
        if (r < 0)
                return 0;
        FUZZ_ASSERT(r == 0);
        FUZZ_ASSERT(c.scheme == REGISTRY_CHALLENGE_BASIC || c.scheme == REGISTRY_CHALLENGE_BEARER);
        printable(c.realm, sizeof(c.realm));
        printable(c.service, sizeof(c.service));
        printable(c.scope, sizeof(c.scope));
        if (c.scheme == REGISTRY_CHALLENGE_BEARER)
                FUZZ_ASSERT(c.realm[0]);
        /* The same answer again (no hidden state). */
        registry_challenge d;
        FUZZ_ASSERT(registry_challenge_parse((const char *)data, size, &d) == 0);
        FUZZ_ASSERT(memcmp(&c, &d, sizeof(c)) == 0);
        return 0;
}
