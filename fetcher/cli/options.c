/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The getopt loop every command runs: --help, unknown options, and the count of operands. */
#include <string.h>

#include "fetcher/cli/cli.h"

int command_parse(const command *c, int argc, char **argv, const char *short_opts,
                  const struct option *options, option_handler handle, void *userdata, int n_args,
                  const char *args_usage)
{
        int o, r = 0;
        optind = 0;
        while (r >= 0 && (o = getopt_long(argc, argv, short_opts, options, NULL)) >= 0) {
                if (o == 'h') {
                        command_help(c);
                        return 1;
                }
                r = handle ? handle(o, optarg, userdata) : 0;
                if (r == 0)
                        r = -EINVAL; /* getopt already said what was wrong */
                if (r == 2)
                        return 1; /* the option printed what was asked for, as --help does */
        }
        if (r < 0)
                return r;
        int n = argc - optind;
        if (n_args == COMMAND_ARGS_ANY)
                return 0;
        if (n_args == 0 && n != 0)
                return ca_log_errno(CA_LOG_ERR, -EINVAL, "%s takes no arguments", c->name);
        if (n_args >= 0 ? n != n_args : n < -n_args)
                return ca_log_errno(CA_LOG_ERR, -EINVAL, "%s wants %s; see 'acfetch %s --help'",
                                    c->name, args_usage, c->name);
        return 0;
}
