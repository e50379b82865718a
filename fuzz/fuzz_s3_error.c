/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * S3 error documents (fetcher/transfer/s3.c), as the engine reads the body of a refused request:
 * any bytes, any status. The description must be one line of printable ASCII that fits the
 * buffer, for a short buffer too, and say the status.
 */
#include <stdio.h>
#include <string.h>

#include "fetcher/transfer/transfer.h"
#include "fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        fuzz_log_everything();
        return 0;
}

static void check(long status, const uint8_t *data, size_t size, size_t n)
{
        char buf[512];
        memset(buf, 'x', sizeof(buf));
        s3_describe_error(status, (const char *)data, size, buf, n);
        fuzz_check_status_line(buf, n, status);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        long status = size > 0 ? 400 + data[0] % 200 : 403;
        check(status, data, size, 512);
        check(status, data, size, 24);
        check(status, data, size, 1);
        return 0;
}
