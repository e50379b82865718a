/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A registry's error document (fetcher/transfer/registry_auth.c), as the engine reads the body of
 * a refused request: any bytes, any status, with or without credentials. The description must be
 * one line of printable ASCII that fits the buffer, for a short buffer too, and say the status.
 */
#include "fetcher/transfer/transfer.h"
#include "fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        fuzz_log_everything();
        return 0;
}

static void check(long status, bool credentials, const uint8_t *data, size_t size, size_t n)
{
        char buf[1024];
        memset(buf, 'x', sizeof(buf));
        registry_describe_error(status, "registry.test:5000", credentials, (const char *)data, size,
                                buf, n);
        fuzz_check_status_line(buf, n, status);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        long status = size > 0 ? 400 + data[0] % 200 : 401;
        bool credentials = size > 1 && (data[1] & 1);
        check(status, credentials, data, size, 1024);
        check(status, credentials, data, size, 24);
        check(status, credentials, data, size, 1);
        return 0;
}
