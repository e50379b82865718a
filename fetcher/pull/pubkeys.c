/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Public keys from where the trust store gets them: a local file, an https URL (http only with
 * --insecure-options=http,pubkey, as rkt), or the ac-discovery-pubkeys meta tag found by meta
 * discovery for a prefix. Shared by `acfetch trust` and trust on first use during a fetch.
 */
#include <fcntl.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "fetcher/pull/pull.h"

static bool key_http_allowed(unsigned insecure)
{
        return (insecure & (INSECURE_HTTP | INSECURE_PUBKEY)) == (INSECURE_HTTP | INSECURE_PUBKEY);
}

int pubkeys_discover(transfer_engine *e, const auth_config *auth, unsigned insecure,
                     const char *prefix, char **ret_url)
{
        _cleanup_(dc_image_freep) dc_image *img = NULL;
        int r = dc_image_parse(prefix, &img);
        if (r < 0)
                return r;
        /* os and arch, so that image templates render and the walk can stop early. */
        r = dc_image_set_defaults(img);
        if (r < 0)
                return r;
        discovery_http h = {.engine = e, .auth = auth};
        dc_discover_options o = {
            .http_get = discovery_http_get,
            .userdata = &h,
            .allow_http = key_http_allowed(insecure),
            .skip_pubkeys = false,
        };
        dc_endpoints ep;
        /* The walk reports a missing image endpoint as a failure; here only the keys matter,
         * and their absence is reported below with the attempts. */
        int level = ca_log_get_max_level();
        if (level < CA_LOG_DEBUG)
                ca_log_set_max_level(CA_LOG_ERR - 1);
        r = dc_discover(img, &o, &ep);
        ca_log_set_max_level(level);
        if (r == -ENOMEM) {
                dc_endpoints_done(&ep);
                return r;
        }
        if (ca_log_get_max_level() >= CA_LOG_DEBUG)
                dc_endpoints_print_attempts(&ep, stderr);
        if (!ep.pubkeys_url) {
                _cleanup_(freep) char *tried = NULL;
                size_t tried_size = 0;
                FILE *f = open_memstream(&tried, &tried_size);
                for (size_t i = 0; f && i < ep.n_attempts; i++) {
                        _cleanup_(freep) char *s = NULL;
                        if (dc_attempt_format(&ep.attempts[i], &s) >= 0)
                                fprintf(f, "%s%s", i ? ", " : "", s);
                }
                if (f)
                        fclose(f);
                dc_endpoints_done(&ep);
                return ca_log_errno(CA_LOG_ERR, -ENOENT,
                                    "%s: discovery found no public keys (ac-discovery-pubkeys): "
                                    "tried %s",
                                    prefix, tried && *tried ? tried : "nothing");
        }
        ca_log_debug("%s: public keys at %s", prefix, ep.pubkeys_url);
        *ret_url = TAKE_PTR(ep.pubkeys_url);
        dc_endpoints_done(&ep);
        return 0;
}

static int read_key_file(const char *path, uint8_t **ret, size_t *ret_size)
{
        _cleanup_(closep) int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0)
                return ca_log_errno(CA_LOG_ERR, negative_errno(), "%s: %m", path);
        struct stat st;
        if (fstat(fd, &st) < 0)
                return ca_log_errno(CA_LOG_ERR, negative_errno(), "%s: %m", path);
        if (!S_ISREG(st.st_mode))
                return ca_log_errno(CA_LOG_ERR, -EBADMSG, "%s: not a regular file", path);
        if (st.st_size > ACI_PGP_KEY_FILE_MAX)
                return ca_log_errno(CA_LOG_ERR, -EFBIG, "%s: over %d bytes", path,
                                    ACI_PGP_KEY_FILE_MAX);
        _cleanup_(freep) uint8_t *b = malloc((size_t)st.st_size + 1);
        if (!b)
                return -ENOMEM;
        int r = read_full(fd, b, (size_t)st.st_size);
        if (r < 0)
                return ca_log_errno(CA_LOG_ERR, r, "%s: read: %s", path, strerror(-r));
        *ret = TAKE_PTR(b);
        *ret_size = (size_t)st.st_size;
        return 0;
}

int pubkeys_load(transfer_engine *e, unsigned insecure, const char *location, aci_pgp_key ***ret,
                 size_t *n)
{
        _cleanup_(freep) uint8_t *data = NULL;
        size_t size = 0;
        int r;
        if (url_is_http(location)) {
                bool https = strncasecmp(location, "https://", 8) == 0;
                if (!https && !key_http_allowed(insecure))
                        return ca_log_errno(CA_LOG_ERR, -EPERM,
                                            "%s: keys are fetched over https only "
                                            "(--insecure-options=http,pubkey allows http)",
                                            location);
                if (!e)
                        return -EINVAL;
                transfer_response resp = {};
                r = transfer_get(e, location, ACI_PGP_KEY_FILE_MAX, NULL, &resp);
                char note[1024];
                if (r == -ENOENT)
                        r = ca_log_errno(
                            CA_LOG_ERR, r, "%s: not found (HTTP %ld)%s",
                            transfer_response_url(&resp, location), resp.status,
                            transfer_redirect_note(&resp, location, note, sizeof(note)));
                if (r >= 0 && resp.status != 200)
                        r = ca_log_errno(CA_LOG_ERR, -EIO, "%s: unexpected HTTP %ld", location,
                                         resp.status);
                if (r < 0) {
                        transfer_response_clear(&resp);
                        return r;
                }
                data = TAKE_PTR(resp.body);
                size = resp.size;
                transfer_response_clear(&resp);
        } else if (strstr(location, "://")) {
                return ca_log_errno(CA_LOG_ERR, -EPROTONOSUPPORT,
                                    "%s: a key is a file or an https:// URL", location);
        } else {
                r = read_key_file(location, &data, &size);
                if (r < 0)
                        return r;
        }
        return aci_pgp_keys_parse(data, size, location, ret, n);
}
