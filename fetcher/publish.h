/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The web-server side of `acfetch publish` (publish_site.c). OUTDIR is the document root of the
 * image name's host:
 *
 *   OUTDIR/default.castr/                    one chunk store for every image and version
 *   OUTDIR/<path>/index.html                 discovery page: ac-discovery (and -pubkeys) tags
 *   OUTDIR/<path>/<version>/<os>-<arch>.caidx        the image (.asc beside it when signed)
 *   OUTDIR/<path>/<version>/default.castr -> ../../default.castr   (relative symlink)
 *   OUTDIR/<path>/latest -> <version>        the version published last
 *
 * <path> is the name without its host ("example.com/team/app" gives team/app). casync and
 * acfetch look for the store as default.castr beside the index, hence the symlinks (web servers
 * follow them by default). The discovery template is
 * BASE<path>/{version}/{os}-{arch}.caidx, so every version and platform has its own URL.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* mkdir -p of OUTDIR/rel (rel may be empty), 0755. */
int publish_mkdirs(const char *outdir, const char *rel);
/* OUTDIR/rel/default.castr -> the shared store, relative; an existing correct link is kept, an
 * existing different entry is an error. */
int publish_store_link(const char *outdir, const char *rel);
/* Writes path atomically (temp file beside it, then rename), mode 0644. */
int publish_write_file(const char *path, const void *data, size_t size);
/* OUTDIR/rel/latest -> version, replaced atomically; left alone when "latest" is something else
 * than a symlink (a version named "latest"). */
int publish_latest_link(const char *outdir, const char *rel, const char *version);
/* The discovery page for name: template, and pubkeys URL (NULL for none). *ret malloc'ed. */
int publish_page(const char *name, const char *template, const char *pubkeys, char **ret);
/* gpg --batch --yes --detach-sign --armor --local-user KEYID --output SIG FILE, run with execvp
 * (no shell). */
int publish_sign(const char *keyid, const char *file, const char *sig);
