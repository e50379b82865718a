/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* acfetch trust: add keys to the trust store (rkt's layout and rules), list them, remove them. */
#include <getopt.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "fetcher/cli/cli.h"

static const char usage[] =
    "Usage: acfetch trust --prefix=PREFIX [OPTIONS] [KEYFILE|URL]...\n"
    "       acfetch trust --root [OPTIONS] KEYFILE|URL...\n"
    "       acfetch trust --list [--json]\n"
    "       acfetch trust --remove=FINGERPRINT [--prefix=PREFIX|--root]\n\n"
    "Trust OpenPGP public keys to sign images, in rkt's trust store layout under\n"
    "--local-config: trustedkeys/prefix.d/PREFIX/FINGERPRINT for images named PREFIX\n"
    "or below it (whole path components: example.com/foo covers example.com/foo/bar,\n"
    "not example.com/foobar), trustedkeys/root.d/FINGERPRINT for every image. With\n"
    "--prefix and no key, the keys come from meta discovery of PREFIX\n"
    "(ac-discovery-pubkeys). Each key's fingerprint, subkeys and user IDs are shown\n"
    "and trust is asked for on the terminal.\n"
    "Prints the path of each key file written.\n\n"
    "Options:\n"
    "  --prefix=PREFIX            trust the keys for PREFIX and the names below it\n"
    "  --root                     trust the keys for every image\n"
    "                             (key files or URLs required)\n"
    "  --skip-fingerprint-review  trust without asking\n"
    "                             (check the fingerprint another way)\n"
    "  --trust-keys-from-https    no question for keys fetched over https (as rkt)\n"
    "  --list                     list the keys of the system and local trust stores\n"
    "  --json                     with --list: a JSON array\n"
    "  --remove=FINGERPRINT       remove the key from the local trust store\n"
    "                             (everywhere, or only under --prefix or --root)\n"
    "  -h, --help                 show this help\n\n"
    "Keys are read from files, or fetched from https:// URLs (http:// only with\n"
    "--insecure-options=http,pubkey). A key that is revoked, expired or not\n"
    "self-signed is refused. Keys given without --prefix or --root are refused: that\n"
    "would be unbounded trust.\n\n";

typedef struct trust_args {
        const char *prefix;
        bool root, skip_review, list, json;
        const char *remove;
} trust_args;

typedef struct net {
        input_args io;
        auth_config *auth;
        transfer_engine *engine;
        bool ready;
} net;

static int net_engine(net *n, transfer_engine **ret)
{
        if (!n->ready) {
                int r = input_options_open_engine(&n->io.o, &n->auth, &n->engine);
                if (r < 0)
                        return r;
                n->ready = true;
        }
        *ret = n->engine;
        return 0;
}

/* ---------------------------------------------------------------- review */

/* yes: 1, no: 0. Reads answers from stdin, a terminal. */
static int ask(const char *fpr)
{
        for (int tries = 0; tries < 5; tries++) {
                fprintf(stderr, "Are you sure you want to trust this key (yes/no)? ");
                fflush(stderr);
                char line[64];
                if (!fgets(line, sizeof(line), stdin)) {
                        fputc('\n', stderr);
                        return 0;
                }
                line[strcspn(line, "\r\n")] = 0;
                if (strcasecmp(line, "yes") == 0 || strcasecmp(line, "y") == 0)
                        return 1;
                if (strcasecmp(line, "no") == 0 || strcasecmp(line, "n") == 0)
                        return 0;
                fprintf(stderr, "Please answer yes or no.\n");
        }
        ca_log_error("no answer for key %s; not trusting it", fpr);
        return 0;
}

static int review(const trust_args *a, const char *location, const aci_pgp_key *k)
{
        const char *fpr = aci_pgp_key_fingerprint(k);
        fprintf(stderr, "Prefix: \"%s\"\nKey: \"%s\"\n", a->prefix ? a->prefix : "(root)",
                location);
        aci_pgp_key_describe(k, stderr);
        bool https = strncasecmp(location, "https://", 8) == 0;
        if (a->skip_review || (arg_global.trust_keys_from_https && https))
                return 1;
        if (!isatty(STDIN_FILENO))
                return ca_log_errno(CA_LOG_ERR, -EPERM,
                                    "not trusting key %s: it must be reviewed, and there is no "
                                    "terminal to ask on (check its fingerprint, then pass "
                                    "--skip-fingerprint-review)",
                                    fpr);
        return ask(fpr);
}

/* ---------------------------------------------------------------- adding */

static int trust_location(const trust_args *a, net *n, const char *location)
{
        transfer_engine *e = NULL;
        int r = url_is_http(location) ? net_engine(n, &e) : 0;
        if (r < 0)
                return r;
        aci_pgp_key **keys = NULL;
        size_t n_keys = 0;
        r = pubkeys_load(e, arg_global.insecure, location, &keys, &n_keys);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n_keys && r >= 0; i++) {
                const char *fpr = aci_pgp_key_fingerprint(keys[i]);
                _cleanup_(freep) char *why = NULL, *path = NULL;
                r = aci_pgp_key_check(keys[i], (int64_t)time(NULL), &why);
                if (r < 0) {
                        r = ca_log_errno(CA_LOG_ERR, r, "%s: key %s %s; not trusting it", location,
                                         fpr, why ? why : "is unusable");
                        break;
                }
                r = review(a, location, keys[i]);
                if (r < 0)
                        break;
                if (r == 0) {
                        ca_log_info("not trusting key %s", fpr);
                        continue;
                }
                r = aci_trust_add(arg_global.config.local, a->prefix, keys[i], &path);
                if (r < 0)
                        break;
                if (a->prefix)
                        ca_log_info("Added key for prefix \"%s\" at \"%s\"", a->prefix, path);
                else
                        ca_log_info("Added root key at \"%s\"", path);
                printf("%s\n", path);
        }
        aci_pgp_keys_free(keys, n_keys);
        if (r >= 0 && fflush(stdout) != 0)
                r = ca_log_errno(CA_LOG_ERR, -EIO, "writing to stdout failed");
        return r;
}

static int trust_keys(const trust_args *a, net *n, char **locations, size_t n_locations)
{
        if (a->root && a->prefix)
                return ca_log_errno(CA_LOG_ERR, -EINVAL, "--root and --prefix exclude each other");
        if (!a->root && !a->prefix)
                return ca_log_errno(CA_LOG_ERR, -EINVAL,
                                    n_locations ? "refusing to trust keys for every image "
                                                  "implicitly: pass --prefix=PREFIX, or --root "
                                                  "for keys trusted for every image"
                                                : "trust wants --prefix=PREFIX (keys given or "
                                                  "discovered) or --root KEYFILE...; see "
                                                  "'acfetch trust --help'");
        if (a->root && n_locations == 0)
                return ca_log_errno(CA_LOG_ERR, -EINVAL,
                                    "--root wants key files or URLs (there is no discovery for "
                                    "root keys)");
        if (a->prefix && !dc_identifier_valid(a->prefix))
                return ca_log_errno(CA_LOG_ERR, -EINVAL,
                                    "--prefix=%s: not an image name prefix (no scheme, lower "
                                    "case, e.g. example.com/app)",
                                    a->prefix);
        _cleanup_(freep) char *discovered = NULL;
        if (n_locations == 0) {
                transfer_engine *e;
                int r = net_engine(n, &e);
                if (r >= 0)
                        r = pubkeys_discover(e, n->auth, arg_global.insecure, a->prefix,
                                             &discovered);
                if (r < 0)
                        return r;
                return trust_location(a, n, discovered);
        }
        for (size_t i = 0; i < n_locations; i++) {
                int r = trust_location(a, n, locations[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---------------------------------------------------------------- list, remove */

static json_t *entry_json(const aci_trust_entry *e, const aci_pgp_key *k)
{
        json_t *uids = json_array(), *subs = json_array();
        size_t n = 0;
        const char *const *u = k ? aci_pgp_key_user_ids(k, &n) : NULL;
        for (size_t i = 0; uids && i < n; i++)
                json_array_append_new(uids, json_string(u[i]));
        for (size_t i = 0; subs && k && i < aci_pgp_key_n_subkeys(k); i++)
                json_array_append_new(subs, json_string(aci_pgp_key_subkey_fingerprint(k, i)));
        return json_pack("{s:s?,s:s,s:o,s:o,s:s,s:s,s:b}", "prefix", e->prefix, "fingerprint",
                         k ? aci_pgp_key_fingerprint(k) : e->fingerprint, "userIDs", uids,
                         "subkeys", subs, "path", e->path, "store", e->system ? "system" : "local",
                         "masked", !k);
}

static void entry_print(const aci_trust_entry *e, const aci_pgp_key *k)
{
        printf("%-30s %s %-6s ", e->prefix ? e->prefix : "(root)",
               k ? aci_pgp_key_fingerprint(k) : e->fingerprint, e->system ? "system" : "local");
        if (!k) {
                printf("(masked: empty file)\n");
                return;
        }
        size_t n;
        const char *const *u = aci_pgp_key_user_ids(k, &n);
        for (size_t i = 0; i < n; i++)
                printf("%s%s", i ? "; " : "", u[i]);
        printf("\n");
}

static int trust_list(bool json)
{
        _cleanup_(aci_keyring_done) aci_keyring all = {};
        int r = aci_trust_list(arg_global.config.system, arg_global.config.local, &all);
        if (r < 0)
                return r;
        json_t *out = json ? json_array() : NULL;
        if (json && !out)
                return -ENOMEM;
        for (size_t i = 0; i < all.n; i++) {
                const aci_trust_entry *e = &all.entries[i];
                for (size_t k = 0; k < MAX(e->n_keys, (size_t)1); k++) {
                        const aci_pgp_key *key = e->n_keys ? e->keys[k] : NULL;
                        if (out)
                                json_array_append_new(out, entry_json(e, key));
                        else
                                entry_print(e, key);
                }
        }
        if (out) {
                if (json_dumpf(out, stdout, JSON_COMPACT) < 0 || fputc('\n', stdout) == EOF)
                        r = -EIO;
                json_decref(out);
        }
        if (fflush(stdout) != 0 || r < 0)
                return ca_log_errno(CA_LOG_ERR, -EIO, "writing to stdout failed");
        return 0;
}

static int trust_remove(const trust_args *a)
{
        char fpr[ACI_PGP_FPR_HEX_SIZE];
        if (aci_pgp_fingerprint_normalize(a->remove, fpr) < 0)
                return ca_log_errno(CA_LOG_ERR, -EINVAL,
                                    "--remove=%s: not a key fingerprint (40 hex digits, spaces "
                                    "allowed)",
                                    a->remove);
        if (a->root && a->prefix)
                return ca_log_errno(CA_LOG_ERR, -EINVAL, "--root and --prefix exclude each other");
        unsigned n = 0;
        int r = aci_trust_remove(arg_global.config.local, fpr, a->root, a->prefix, &n);
        if (r < 0)
                return r;
        if (n > 0)
                return 0;
        /* Nothing local: say whether the system store has it, and how to mask it. */
        _cleanup_(aci_keyring_done) aci_keyring all = {};
        if (aci_trust_list(arg_global.config.system, NULL, &all) >= 0)
                for (size_t i = 0; i < all.n; i++)
                        if (strcmp(all.entries[i].fingerprint, fpr) == 0)
                                return ca_log_errno(
                                    CA_LOG_ERR, -ENOENT,
                                    "key %s is in the system trust store (%s), which acfetch "
                                    "does not change; an empty file of that name in the same "
                                    "place under %s masks it",
                                    fpr, all.entries[i].path, arg_global.config.local);
        return ca_log_errno(CA_LOG_ERR, -ENOENT, "key %s is not in the trust store %s/trustedkeys",
                            fpr, arg_global.config.local);
}

enum {
        OPT_PREFIX = OPT_INPUT_LAST,
        OPT_ROOT,
        OPT_SKIP_REVIEW,
        OPT_TRUST_HTTPS,
        OPT_LIST,
        OPT_JSON,
        OPT_REMOVE,
};

typedef struct trust_cmd {
        trust_args *args;
        net *net;
} trust_cmd;

static int trust_option(int c, const char *arg, void *userdata)
{
        trust_cmd *t = userdata;
        switch (c) {
        case OPT_PREFIX:
                t->args->prefix = arg;
                return 1;
        case OPT_ROOT:
                t->args->root = true;
                return 1;
        case OPT_SKIP_REVIEW:
                t->args->skip_review = true;
                return 1;
        case OPT_TRUST_HTTPS:
                arg_global.trust_keys_from_https = true;
                return 1;
        case OPT_LIST:
                t->args->list = true;
                return 1;
        case OPT_JSON:
                t->args->json = true;
                return 1;
        case OPT_REMOVE:
                t->args->remove = arg;
                return 1;
        default:
                return input_args_parse(&t->net->io, c, arg);
        }
}

static int run_trust(int argc, char **argv)
{
        static const struct option options[] = {
            INPUT_LONG_OPTIONS,
            {"prefix", required_argument, NULL, OPT_PREFIX},
            {"root", no_argument, NULL, OPT_ROOT},
            {"skip-fingerprint-review", no_argument, NULL, OPT_SKIP_REVIEW},
            {"trust-keys-from-https", no_argument, NULL, OPT_TRUST_HTTPS},
            {"list", no_argument, NULL, OPT_LIST},
            {"json", no_argument, NULL, OPT_JSON},
            {"remove", required_argument, NULL, OPT_REMOVE},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        trust_args a = {};
        net n = {};
        int r = input_args_init(&n.io, argc);
        if (r >= 0)
                r = command_parse(&command_trust, argc, argv, "h", options, trust_option,
                                  &(trust_cmd){&a, &n}, COMMAND_ARGS_ANY, NULL);
        if (r > 0) {
                input_args_done(&n.io);
                return 0;
        }
        char **rest = argv + optind;
        size_t n_rest = r >= 0 ? (size_t)(argc - optind) : 0;
        if (r >= 0 && (a.list || a.remove) && n_rest > 0)
                r = ca_log_errno(CA_LOG_ERR, -EINVAL, "--list and --remove take no key");
        if (r >= 0 && a.list && a.remove)
                r = ca_log_errno(CA_LOG_ERR, -EINVAL, "--list and --remove exclude each other");
        if (r >= 0 && a.json && !a.list)
                r = ca_log_errno(CA_LOG_ERR, -EINVAL, "--json goes with --list");
        if (r >= 0) {
                if (a.list)
                        r = trust_list(a.json);
                else if (a.remove)
                        r = trust_remove(&a);
                else
                        r = trust_keys(&a, &n, rest, n_rest);
        }
        transfer_engine_free(n.engine);
        auth_config_free(n.auth);
        input_args_done(&n.io);
        return r;
}

const command command_trust = {
    .name = "trust",
    .run = run_trust,
    .summary = "trust public keys to sign images (rkt's trust store)",
    .usage = usage,
};
