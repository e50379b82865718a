/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * rkt's auth.d files as acfetch loads them: the input is written as <system>/auth.d/a.json
 * (the loader's own file reading, size cap and JSON checks run), loaded, and the headers looked
 * up for a few URLs. A header handed out must be one header line: no CR, LF or NUL inside.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "casync/fs_safe.h"
#include "fetcher/transfer/transfer.h"
#include "fuzz/fuzz.h"

static char system_dir[128], file[160];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        fuzz_log_everything();
        snprintf(system_dir, sizeof(system_dir), "%s/system", fuzz_tmpdir());
        snprintf(file, sizeof(file), "%s/auth.d/a.json", system_dir);
        char authd[160];
        snprintf(authd, sizeof(authd), "%s/auth.d", system_dir);
        if (fs_mkdir_parents(authd, 0700) < 0)
                abort();
        return 0;
}

static void check_header(const char *h)
{
        if (!h)
                return;
        FUZZ_ASSERT(strncmp(h, "Authorization: ", 15) == 0);
        FUZZ_ASSERT(!strpbrk(h, "\r\n"));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        _cleanup_(closep) int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || write_full(fd, data, size) < 0)
                abort();
        _cleanup_(auth_config_freep) auth_config *a = NULL;
        if (auth_config_load(system_dir, NULL, &a) < 0)
                return 0;
        static const char *const urls[] = {
            "https://example.com/app.caidx",
            "https://EXAMPLE.com:8443/x",
            "https://[::1]:443/",
            "https://user@example.com/",
            "https://127.0.0.1/",
            "https://s3.test:8080/b/k",
        };
        for (size_t i = 0; i < ELEMENTSOF(urls); i++) {
                check_header(auth_config_header_for(a, urls[i]));
                /* An S3 key is whole, and its strings fit in a header line. */
                const s3_key *k = auth_config_s3_for(a, urls[i]);
                if (k) {
                        FUZZ_ASSERT(k->access_key_id && *k->access_key_id);
                        FUZZ_ASSERT(k->secret_access_key && *k->secret_access_key);
                        FUZZ_ASSERT(!strpbrk(k->access_key_id, "\r\n "));
                        FUZZ_ASSERT(!k->session_token || !strpbrk(k->session_token, "\r\n "));
                        FUZZ_ASSERT(!k->region || !strpbrk(k->region, "\r\n "));
                }
        }
        return 0;
}
