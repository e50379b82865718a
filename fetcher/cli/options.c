/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The getopt loop every command runs: --help, unknown options, and the count of operands. */
#include <string.h>

#include "fetcher/cli/cli.h"

/* getopt's own messages lack the program and the way to the help: say it here instead. */
static int bad_option(const command *c, char **argv, int o)
{
        const char *a = argv[optind - 1];
        bool is_long = strncmp(a, "--", 2) == 0;
        int n = is_long ? (int)strcspn(a, "=") : 2;
        char one[3] = {'-', (char)optopt, 0};
        if (!is_long && optopt != 0)
                a = one; /* "-x", or a letter inside a group such as "-fx" */
        if (o == ':')
                return ca_log_errno(CA_LOG_ERR, -EINVAL,
                                    "%s: option '%.*s' needs a value; see "
                                    "'acfetch %s --help'",
                                    c->name, n, a, c->name);
        if (is_long && optopt != 0) /* a known long option given a value it does not take */
                return ca_log_errno(CA_LOG_ERR, -EINVAL,
                                    "%s: option '%.*s' takes no value; see "
                                    "'acfetch %s --help'",
                                    c->name, n, a, c->name);
        return ca_log_errno(CA_LOG_ERR, -EINVAL,
                            "%s: unrecognized option '%.*s'; see 'acfetch %s "
                            "--help'",
                            c->name, n, a, c->name);
}

int command_parse(const command *c, int argc, char **argv, const char *short_opts,
                  const struct option *options, option_handler handle, void *userdata, int n_args,
                  const char *args_usage)
{
        _cleanup_(freep) char *shorts = NULL;
        if (asprintf(&shorts, ":%s", short_opts) < 0)
                return -ENOMEM;
        int o, r = 0;
        optind = 0;
        opterr = 0;
        while (r >= 0 && (o = getopt_long(argc, argv, shorts, options, NULL)) >= 0) {
                if (o == '?' || o == ':')
                        return bad_option(c, argv, o);
                if (o == 'h') {
                        command_help(c);
                        return 1;
                }
                r = handle ? handle(o, optarg, userdata) : 0;
                if (r == 0) /* an option in the table its handler does not know */
                        r = ca_log_errno(CA_LOG_ERR, -EINVAL, "%s: option '%s' is not handled",
                                         c->name, argv[optind - 1]);
                if (r == 2)
                        return 1; /* the option printed what was asked for, as --help does */
        }
        if (r < 0)
                return r;
        int n = argc - optind;
        if (n_args == COMMAND_ARGS_ANY)
                return 0;
        if (n_args == 0 && n != 0)
                return ca_log_errno(CA_LOG_ERR, -EINVAL,
                                    "%s takes no arguments; see 'acfetch %s "
                                    "--help'",
                                    c->name, c->name);
        if (n_args >= 0 ? n != n_args : n < -n_args)
                return ca_log_errno(CA_LOG_ERR, -EINVAL, "%s wants %s; see 'acfetch %s --help'",
                                    c->name, args_usage, c->name);
        return 0;
}
