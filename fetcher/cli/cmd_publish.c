/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * acfetch publish: an image (a directory with manifest and rootfs/, or a bare rootfs and a
 * generated manifest) as a casync index in a web server's document root, with the shared chunk
 * store and the appc discovery page `acfetch fetch NAME` looks for (appc's discovery, which rkt
 * reads too; the signature at the index URL + ".asc" is acfetch's rule). Layout: publish.h.
 */
#include <getopt.h>
#include <string.h>

#include "fetcher/cli/cli.h"

static const char usage[] =
    "Usage: acfetch publish [OPTIONS] SOURCE --name NAME OUTDIR\n\n"
    "Publish an appc image as a casync archive index in OUTDIR, the document root of\n"
    "the web server of NAME's host, for 'acfetch fetch NAME'. SOURCE is an image\n"
    "directory (holding 'manifest' and 'rootfs/') or else a bare rootfs, for which a\n"
    "manifest is generated, or an OCI image, oci:DIR[:TAG] (an image layout, as umoci\n"
    "or skopeo write it; TAG may be left out when it holds one image; an index of\n"
    "several platforms gives the one --label os= and arch= name, else this\n"
    "machine's) or docker-archive:FILE[:REF] (as docker save or skopeo write it; REF,\n"
    "a RepoTag or @N, picks one of several images): its layers are applied\n"
    "as a container runtime unpacks them (whiteouts, opaque directories; digests\n"
    "checked; paths that leave the tree refused) and the manifest is made from its\n"
    "config: labels version (the tag), os and arch; app exec (Entrypoint + Cmd), user\n"
    "and group (User, names resolved in the image), workingDirectory, environment,\n"
    "ports, mountPoints; its labels and annotations as annotations. --label, --exec,\n"
    "--user, --group and --manifest override. The archive holds exactly 'manifest'\n"
    "and 'rootfs/'. Writes:\n"
    "  OUTDIR/default.castr/                      chunks of every image and version\n"
    "  OUTDIR/PATH/VERSION/OS-ARCH.caidx          the image (and .asc with --sign)\n"
    "  OUTDIR/PATH/VERSION/OS-ARCH.caidx.profile  with --profile (and .profile.asc)\n"
    "  OUTDIR/PATH/VERSION/default.castr          symlink to the shared store\n"
    "  OUTDIR/PATH/latest                         symlink to the latest version\n"
    "  OUTDIR/PATH/index.html                     the discovery page (ac-discovery)\n"
    "where PATH is NAME without its host. Publishing another version or platform adds\n"
    "it beside the others; only its new chunks are stored. latest moves to the\n"
    "version published unless it points to a later one (SemVer order when both\n"
    "versions are SemVer, else piece by piece with numbers compared as numbers:\n"
    "1.9 < 1.10).\n"
    "Prints the index URL.\n\n"
    "Options:\n"
    "  --name=NAME            the image name (an AC Identifier starting with\n"
    "                         the host)\n"
    "  --label=KEY=VALUE      a label (repeatable): version, os, arch, ...; os and\n"
    "                         arch default to the host's, in appc spelling\n"
    "  --manifest=FILE        use this manifest (its name and labels must agree with\n"
    "                         --name and --label)\n"
    "  --exec=CMD             generated manifest: the app's command, split at spaces\n"
    "                         (repeatable: appends)\n"
    "  --user=U, --group=G    generated manifest: the app's user and group\n"
    "                         (default 0)\n"
    "  --pubkeys=URL          add an ac-discovery-pubkeys tag for the signing keys\n"
    "                         (without it, a warning: clients cannot discover\n"
    "                         the key)\n"
    "  --sign=KEYID           sign the index with\n"
    "                         'gpg --detach-sign --armor --local-user KEYID' into\n"
    "                         <index>.asc (gpg is run only then; a key gpg lacks\n"
    "                         fails the publish before anything is written; without\n"
    "                         --sign, a warning: fetch refuses unsigned images)\n"
    "  --base-url=URL         the URL of OUTDIR (default https://HOST/)\n"
    "  --latest               point latest to this version even if a later one exists\n"
    "  --profile=FILE         publish the access profile FILE beside the index\n"
    "                         (signed as the index is): what 'acfetch mount'\n"
    "                         prefetches first when it has recorded none for the name\n"
    "                         (a mount records one, see 'acfetch mount --help';\n"
    "                         checked before publishing)\n"
    "  --to=URL               then copy the image to an object store,\n"
    "                         s3+https://ENDPOINT/BUCKET/PREFIX (s3+http://\n"
    "                         with --insecure-options=http): the chunks the bucket\n"
    "                         lacks (each with Cache-Control: public,\n"
    "                         max-age=31536000, immutable), then signature, profile,\n"
    "                         index, latest and the page, so no reader sees an index\n"
    "                         whose chunks are missing; rerun it to finish an\n"
    "                         interrupted one. Without symbolic links there, the\n"
    "                         layout is flat per name: PREFIX/PATH (the page, also as\n"
    "                         PATH/index.html), PREFIX/PATH/VERSION-OS-ARCH.caidx,\n"
    "                         PREFIX/PATH/latest-OS-ARCH.caidx and\n"
    "                         PREFIX/PATH/default.castr/; --base-url defaults to URL.\n"
    "                         Or to a registry, oci://REGISTRY/REPOSITORY[:TAG]\n"
    "                         (oci+http:// with --insecure-options=http): the blobs\n"
    "                         it lacks (chunks, index, signature, profile), a\n"
    "                         manifest listing them all (what maps chunk IDs to\n"
    "                         blobs, and keeps them from the registry's gc), then the\n"
    "                         tags VERSION-OS-ARCH, index-SHA256 (of the index),\n"
    "                         latest-OS-ARCH (when it is the latest) and TAG; the\n"
    "                         page stays in OUTDIR and points at the registry,\n"
    "                         oci://REGISTRY/REPOSITORY:{version}-...\n"
    "  -h, --help             show this help\n\n" MAKE_OPTIONS_HELP
    "  (--store is not taken: the store is OUTDIR/default.castr.)\n\n"
    "Transport, for --to:\n" TRANSPORT_OPTIONS_HELP S3_CREDENTIALS_HELP "\n";

enum {
        OPT_NAME = OPT_MAKE_LAST,
        OPT_LABEL,
        OPT_MANIFEST,
        OPT_EXEC,
        OPT_USER,
        OPT_GROUP,
        OPT_PUBKEYS,
        OPT_SIGN,
        OPT_BASE_URL,
        OPT_LATEST,
        OPT_PROFILE,
        OPT_TO,
};

typedef publish_options publish_args; /* its strings are owned here */

/* What the command line fills in: the publish, and the transport for --to. */
typedef struct publish_cli {
        publish_args a;
        input_args net;
} publish_cli;

static void publish_args_done(publish_args *a)
{
        for (size_t i = 0; i < a->n_exec; i++)
                free(a->exec[i]);
        free(a->exec);
        free(a->labels);
}

static int add_exec(publish_args *a, const char *cmd)
{
        const char *p = cmd;

        for (;;) {
                size_t k;
                char **e;

                p += strspn(p, " \t");
                if (!*p)
                        return 0;
                k = strcspn(p, " \t");
                e = realloc(a->exec, (a->n_exec + 1) * sizeof(char *));
                if (!e)
                        return -ENOMEM;
                a->exec = e;
                e[a->n_exec] = strndup(p, k);
                if (!e[a->n_exec])
                        return -ENOMEM;
                a->n_exec++;
                p += k;
        }
}

static int add_label(publish_args *a, const char *kv)
{
        char *s;

        if (!strchr(kv, '=') || strchr(kv, ','))
                return ca_log_errno(CA_LOG_ERR, -EINVAL, "--label wants KEY=VALUE, not '%s'", kv);
        if (asprintf(&s, "%s,%s", a->labels ? a->labels : "", kv) < 0)
                return -ENOMEM;
        free(a->labels);
        a->labels = s;
        return 0;
}

static int publish_option(int c, const char *arg, void *userdata)
{
        publish_cli *cli = userdata;
        publish_args *a = &cli->a;
        int r = input_args_parse(&cli->net, c, arg);
        if (r != 0)
                return r;
        switch (c) {
        case OPT_MAKE_STORE:
                return ca_log_errno(CA_LOG_ERR, -EINVAL,
                                    "publish stores chunks in OUTDIR/default.castr; --store is "
                                    "not taken");
        case OPT_NAME:
                a->name = arg;
                return 1;
        case OPT_LABEL:
                r = add_label(a, arg);
                return r < 0 ? r : 1;
        case OPT_MANIFEST:
                a->manifest = arg;
                return 1;
        case OPT_EXEC:
                r = add_exec(a, arg);
                return r < 0 ? r : 1;
        case OPT_USER:
                a->user = arg;
                return 1;
        case OPT_GROUP:
                a->group = arg;
                return 1;
        case OPT_PUBKEYS:
                a->pubkeys = arg;
                return 1;
        case OPT_SIGN:
                a->sign = arg;
                return 1;
        case OPT_BASE_URL:
                a->base_url = arg;
                return 1;
        case OPT_LATEST:
                a->latest = true;
                return 1;
        case OPT_PROFILE:
                a->profile = arg;
                return 1;
        case OPT_TO:
                if (!url_is_s3(arg) && !url_is_oci(arg))
                        return ca_log_errno(CA_LOG_ERR, -EINVAL,
                                            "--to wants an object store, "
                                            "s3+https://ENDPOINT/BUCKET/PREFIX, or a registry, "
                                            "oci://REGISTRY/REPOSITORY, not '%s'",
                                            arg);
                a->to = arg;
                return 1;
        default:
                return make_options_parse(&a->make, c, arg);
        }
}

/* 1 when there is something to publish, 0 after --help, or a negative errno. */
static int parse_args(int argc, char **argv, publish_cli *cli)
{
        publish_args *a = &cli->a;
        static const struct option options[] = {
            MAKE_LONG_OPTIONS,
            TRANSPORT_LONG_OPTIONS,
            {"to", required_argument, NULL, OPT_TO},
            {"name", required_argument, NULL, OPT_NAME},
            {"label", required_argument, NULL, OPT_LABEL},
            {"manifest", required_argument, NULL, OPT_MANIFEST},
            {"exec", required_argument, NULL, OPT_EXEC},
            {"user", required_argument, NULL, OPT_USER},
            {"group", required_argument, NULL, OPT_GROUP},
            {"pubkeys", required_argument, NULL, OPT_PUBKEYS},
            {"sign", required_argument, NULL, OPT_SIGN},
            {"base-url", required_argument, NULL, OPT_BASE_URL},
            {"latest", no_argument, NULL, OPT_LATEST},
            {"profile", required_argument, NULL, OPT_PROFILE},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        static const char what[] = "SOURCE, --name NAME and OUTDIR";
        int r =
            command_parse(&command_publish, argc, argv, "h", options, publish_option, cli, 2, what);
        if (r != 0)
                return MIN(r, 0);
        if (!a->name)
                return ca_log_errno(CA_LOG_ERR, -EINVAL,
                                    "publish wants %s; see 'acfetch publish "
                                    "--help'",
                                    what);
        if (a->manifest && (a->n_exec > 0 || a->user || a->group))
                return ca_log_errno(CA_LOG_ERR, -EINVAL,
                                    "--exec, --user and --group describe a generated manifest; "
                                    "not with --manifest");
        if (a->to && url_is_plain_http(a->to) && !(arg_global.insecure & INSECURE_HTTP))
                return ca_log_errno(CA_LOG_ERR, -EPROTO,
                                    "%s: plain http needs --insecure-options=http", a->to);
        r = make_options_check(&a->make);
        return r < 0 ? r : 1;
}

static int run_publish(int argc, char **argv)
{
        publish_cli cli = {};
        publish_args *a = &cli.a;
        _cleanup_(auth_config_freep) auth_config *auth = NULL;
        _cleanup_(freep) char *url = NULL;

        make_options_init(&a->make);
        int r = input_args_init(&cli.net, argc);
        if (r >= 0)
                r = parse_args(argc, argv, &cli);
        /* --to: the transfer engine, with auth.d (the bucket's s3 key) and the transport
         * options. */
        if (r > 0 && a->to)
                r = input_options_open_engine(&cli.net.o, &auth, &a->engine) ?: 1;
        if (r > 0)
                r = publish_image(a, argv[optind], argv[optind + 1], &url);
        if (r >= 0 && url)
                printf("%s\n", url);
        if (r >= 0 && url && !a->sign)
                ca_log_warning("no --sign: 'acfetch fetch' refuses an unsigned image (unless "
                               "--insecure-options=image)");
        if (r >= 0 && url && !a->pubkeys)
                ca_log_warning("no --pubkeys: the discovery page names no signing key, so "
                               "'acfetch trust --prefix' and 'rkt trust' cannot find one");
        publish_args_done(a);
        transfer_engine_free(a->engine);
        input_args_done(&cli.net);
        if (r >= 0 && (fflush(stdout) != 0 || ferror(stdout)))
                r = ca_log_errno(CA_LOG_ERR, -EIO, "writing to stdout failed");
        return r;
}

const command command_publish = {
    .name = "publish",
    .run = run_publish,
    .summary = "publish an image as a casync index with its discovery page",
    .usage = usage,
    .local_only = true,
};
