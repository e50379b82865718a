/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * acfetch: rkt-style front end. Global options may stand before or after the subcommand, so
 * they are lifted out of argv first; each subcommand then parses what is left.
 */
#include <getopt.h>
#include <string.h>

#include "fetcher/cli/cli.h"

global_options arg_global;

static const command *const commands[] = {
    &command_fetch, &command_render, &command_export,  &command_image,
    &command_gc,    &command_verify, &command_trust,   &command_extract,
    &command_mtree, &command_make,   &command_publish, &command_mount,
};

static const char global_help[] =
    "Global options (before or after the command):\n"
    "  --dir=DIR                image store (default: $ACFETCH_DIR, else\n"
    "                           /var/lib/acfetch for root, $XDG_DATA_HOME/acfetch\n"
    "                           otherwise)\n"
    "  --insecure-options=LIST  comma-separated: none, http, tls, image, pubkey,\n"
    "                           ondisk, all (tls and image say so with a warning)\n"
    "  --system-config=DIR      system configuration (default /usr/lib/acfetch)\n"
    "  --local-config=DIR       local configuration (default /etc/acfetch)\n"
    "  --trust-keys-from-https  trust discovered https keys on first use\n"
    "                           (fetch, trust)\n"
    "  --debug                  log more to stderr\n"
    "  --quiet                  log only errors\n"
    "  -h, --help               show help\n";

/* One line of the command list; a summary too long for 80 columns goes on under itself. */
static void print_command(const char *name, const char *summary)
{
        enum { WIDTH = 80, COLUMN = 13 };
        size_t col = COLUMN;
        printf("  %-10s ", name);
        for (const char *p = summary; *p; p += strspn(p, " ")) {
                size_t n = strcspn(p, " ");
                if (col > COLUMN && col + 1 + n > WIDTH) {
                        printf("\n%*s", COLUMN, "");
                        col = COLUMN;
                } else if (col > COLUMN) {
                        putchar(' ');
                        col++;
                }
                printf("%.*s", (int)n, p);
                col += n;
                p += n;
        }
        putchar('\n');
}

static void main_help(void)
{
        printf("Usage: acfetch [GLOBAL OPTIONS] COMMAND [OPTIONS] [ARGS]\n\n"
               "Fetch appc images stored as casync archives, moving only missing chunks.\n\n"
               "Commands:\n");
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                print_command(commands[i]->name, commands[i]->summary);
        print_command("help", "show help, or a command's help");
        printf("\n%s\nSee 'acfetch COMMAND --help' for a command's options.\n", global_help);
}

void command_help(const command *c)
{
        if (c->local_only)
                printf("%s%s", c->usage, global_help);
        else
                printf("%s%s\n%s", c->usage, input_options_help, global_help);
}

static const command *find_command(const char *name)
{
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                if (strcmp(commands[i]->name, name) == 0)
                        return commands[i];
        return NULL;
}

static int parse_insecure(const char *list, unsigned *ret)
{
        static const struct {
                const char *word;
                unsigned bits;
        } words[] = {
            {"none", 0},
            {"http", INSECURE_HTTP},
            {"tls", INSECURE_TLS},
            {"image", INSECURE_IMAGE},
            {"pubkey", INSECURE_PUBKEY},
            {"ondisk", INSECURE_ONDISK},
            {"all",
             INSECURE_HTTP | INSECURE_TLS | INSECURE_IMAGE | INSECURE_PUBKEY | INSECURE_ONDISK},
        };
        unsigned bits = 0;
        const char *p = list;
        while (*p) {
                size_t n = strcspn(p, ",");
                bool found = false;
                for (size_t i = 0; i < ELEMENTSOF(words); i++)
                        if (strlen(words[i].word) == n && strncmp(words[i].word, p, n) == 0) {
                                bits |= words[i].bits;
                                found = true;
                        }
                if (!found)
                        return ca_log_errno(CA_LOG_ERR, -EINVAL,
                                            "unknown --insecure-options word '%.*s'", (int)n, p);
                p += n;
                if (*p == ',')
                        p++;
        }
        *ret = bits;
        return 0;
}

/* Matches "--name", "--name=value" and "--name value"; returns 1 when argv[*i] was it. */
static int take_value(int argc, char **argv, int *i, const char *name, const char **value)
{
        size_t n = strlen(name);
        const char *a = argv[*i];
        if (strncmp(a, name, n) != 0)
                return 0;
        if (a[n] == '=') {
                *value = a + n + 1;
                return 1;
        }
        if (a[n] != 0)
                return 0;
        if (*i + 1 >= argc)
                return ca_log_errno(CA_LOG_ERR, -EINVAL, "option %s needs a value", name);
        *value = argv[++*i];
        return 1;
}

/* Removes global options from argv (up to a "--"), leaving the command and its arguments. */
static int lift_global_options(int *argc, char **argv)
{
        int out = 1;
        bool done = false;
        for (int i = 1; i < *argc; i++) {
                const char *a = argv[i], *v = NULL;
                int r;
                if (done || a[0] != '-' || a[1] != '-') {
                        argv[out++] = argv[i];
                        continue;
                }
                if (strcmp(a, "--") == 0) {
                        done = true;
                        argv[out++] = argv[i];
                } else if (strcmp(a, "--debug") == 0) {
                        arg_global.debug = true;
                } else if (strcmp(a, "--quiet") == 0) {
                        arg_global.quiet = true;
                } else if (strcmp(a, "--trust-keys-from-https") == 0) {
                        arg_global.trust_keys_from_https = true;
                } else if ((r = take_value(*argc, argv, &i, "--dir", &v)) != 0) {
                        if (r < 0)
                                return r;
                        arg_global.dir = v;
                } else if ((r = take_value(*argc, argv, &i, "--insecure-options", &v)) != 0) {
                        if (r < 0 || (r = parse_insecure(v, &arg_global.insecure)) < 0)
                                return r;
                } else if ((r = take_value(*argc, argv, &i, "--system-config", &v)) != 0) {
                        if (r < 0)
                                return r;
                        arg_global.config.system = v;
                } else if ((r = take_value(*argc, argv, &i, "--local-config", &v)) != 0) {
                        if (r < 0)
                                return r;
                        arg_global.config.local = v;
                } else {
                        argv[out++] = argv[i];
                }
        }
        argv[out] = NULL;
        *argc = out;
        return 0;
}

static char *default_dir(void)
{
        const char *e = getenv("ACFETCH_DIR");
        if (e && *e)
                return strdup(e);
        if (geteuid() == 0)
                return strdup("/var/lib/acfetch");
        char *p = NULL;
        e = getenv("XDG_DATA_HOME");
        if (e && *e) {
                if (asprintf(&p, "%s/acfetch", e) < 0)
                        return NULL;
        } else {
                const char *home = getenv("HOME");
                if (asprintf(&p, "%s/.local/share/acfetch", home && *home ? home : "/") < 0)
                        return NULL;
        }
        return p;
}

int main(int argc, char **argv)
{
        if (lift_global_options(&argc, argv) < 0)
                return ACFETCH_EXIT_FAILURE;
        if (arg_global.debug)
                ca_log_set_max_level(CA_LOG_DEBUG);
        else if (arg_global.quiet)
                ca_log_set_max_level(CA_LOG_ERR);
        if (!arg_global.config.system)
                arg_global.config.system = "/usr/lib/acfetch";
        if (!arg_global.config.local)
                arg_global.config.local = "/etc/acfetch";
        _cleanup_(freep) char *dir = NULL;
        if (!arg_global.dir) {
                dir = default_dir();
                if (!dir)
                        return ACFETCH_EXIT_FAILURE;
                arg_global.dir = dir;
        }

        if (argc < 2) {
                main_help();
                return ACFETCH_EXIT_FAILURE;
        }
        const char *name = argv[1];
        if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0) {
                main_help();
                return EXIT_SUCCESS;
        }
        if (strcmp(name, "help") == 0) {
                if (argc < 3) {
                        main_help();
                        return EXIT_SUCCESS;
                }
                const command *c = find_command(argv[2]);
                if (!c) {
                        ca_log_error("unknown command '%s'; see 'acfetch help'", argv[2]);
                        return ACFETCH_EXIT_FAILURE;
                }
                command_help(c);
                return EXIT_SUCCESS;
        }
        if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
                printf("acfetch 0.1.0\n");
                return EXIT_SUCCESS;
        }
        const command *c = find_command(name);
        if (!c) {
                ca_log_error("unknown command '%s'; see 'acfetch help'", name);
                return ACFETCH_EXIT_FAILURE;
        }
        return c->run(argc - 1, argv + 1) < 0 ? ACFETCH_EXIT_FAILURE : EXIT_SUCCESS;
}
