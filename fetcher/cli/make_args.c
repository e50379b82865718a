/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* casync make's options, shared by `make` and `publish`. */
#include <string.h>

#include "fetcher/cli/cli.h"

static int parse_bool(const char *s, const char *what, bool *ret)
{
        static const char *const yes[] = {"1", "yes", "y", "true", "t", "on"};
        static const char *const no[] = {"0", "no", "n", "false", "f", "off"};

        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (strcasecmp(s, yes[i]) == 0) {
                        *ret = true;
                        return 0;
                }
                if (strcasecmp(s, no[i]) == 0) {
                        *ret = false;
                        return 0;
                }
        }
        return ca_log_errno(CA_LOG_ERR, -EINVAL, "%s wants yes or no, not '%s'", what, s);
}

static void print_feature_names(void)
{
        printf("Supported --with= and --without= flags:\n");
        for (unsigned i = 0; i < 64; i++) {
                const char *n = ca_feature_flag_name(UINT64_C(1) << i);
                if (n)
                        printf("%s\n", n);
        }
        printf("Sets: best unix fat chattr fat-attrs privileged fuse all\n");
}

int make_options_parse(make_options *o, int c, const char *arg)
{
        uint64_t bits;
        char *end;
        long l;
        int r;

        switch (c) {
        case OPT_MAKE_STORE:
                o->store = arg;
                return 1;
        case OPT_MAKE_CHUNK_SIZE:
                r = ca_chunk_size_parse(arg, &o->chunk_size_min, &o->chunk_size_avg,
                                        &o->chunk_size_max);
                if (r < 0)
                        return ca_log_errno(CA_LOG_ERR, -EINVAL,
                                            "--chunk-size=%s: want AVG, MIN:AVG:MAX or auto, "
                                            "1 <= MIN <= AVG <= MAX <= 128M",
                                            arg);
                return 1;
        case OPT_MAKE_WITH:
        case OPT_MAKE_WITHOUT:
                if (strcmp(arg, "help") == 0) {
                        print_feature_names();
                        return 2;
                }
                if (ca_feature_flags_from_name(arg, &bits) < 0)
                        return ca_log_errno(CA_LOG_ERR, -EINVAL,
                                            "unknown feature '%s'; see --with=help", arg);
                if (c == OPT_MAKE_WITH)
                        o->with |= bits;
                else
                        o->without |= bits;
                return 1;
        case OPT_MAKE_DIGEST:
                if (strcmp(arg, "sha256") == 0)
                        o->digest = CA_DIGEST_SHA256;
                else if (strcmp(arg, "sha512-256") == 0)
                        o->digest = CA_DIGEST_SHA512_256;
                else
                        return ca_log_errno(CA_LOG_ERR, -EINVAL,
                                            "--digest wants sha512-256 or sha256");
                return 1;
        case OPT_MAKE_COMPRESSION:
                if (ca_compression_from_name(arg, &o->compression) < 0)
                        return ca_log_errno(CA_LOG_ERR, -EINVAL,
                                            "--compression wants zstd, xz or gzip");
                return 1;
        case OPT_MAKE_COMPRESSION_LEVEL:
                errno = 0;
                l = strtol(arg, &end, 10);
                if (errno || end == arg || *end || l < -1000 || l > 1000)
                        return ca_log_errno(CA_LOG_ERR, -EINVAL,
                                            "--compression-level wants a number");
                o->compression_level = (int)l;
                return 1;
        case OPT_MAKE_EXCLUDE_NODUMP:
                r = parse_bool(arg, "--exclude-nodump", &o->exclude_nodump);
                return r < 0 ? r : 1;
        case OPT_MAKE_EXCLUDE_SUBMOUNTS:
                r = parse_bool(arg, "--exclude-submounts", &o->exclude_submounts);
                return r < 0 ? r : 1;
        case OPT_MAKE_EXCLUDE_FILE:
                r = parse_bool(arg, "--exclude-file", &o->exclude_file);
                return r < 0 ? r : 1;
        case OPT_MAKE_JOBS:
                errno = 0;
                l = strtol(arg, &end, 10);
                if (errno || end == arg || *end || l < 0 || l > 256)
                        return ca_log_errno(CA_LOG_ERR, -EINVAL, "--jobs wants 0..256");
                o->jobs = (unsigned)l;
                return 1;
        default:
                return 0;
        }
}
