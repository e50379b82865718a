/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The OCI distribution API (see transfer.h): references to a registry's repository, blobs
 * read, checked and pushed, manifests read and put. What acfetch keeps in a registry is
 * fetcher/source/oci_store.c's business; this file knows only the protocol.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "fetcher/transfer/transfer.h"

bool url_is_oci(const char *url)
{
        return strncasecmp(url, "oci://", 6) == 0 || strncasecmp(url, "oci+http://", 11) == 0;
}

void registry_ref_clear(registry_ref *r)
{
        free(r->api);
        free(r->host);
        free(r->name);
        free(r->reference);
        *r = (registry_ref){};
}

bool registry_tag_valid(const char *tag)
{
        size_t n = strlen(tag);
        if (n == 0 || n > REGISTRY_TAG_MAX || !(isalnum((unsigned char)tag[0]) || tag[0] == '_'))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isascii((unsigned char)tag[i]) ||
                    !(isalnum((unsigned char)tag[i]) || strchr("._-", tag[i])))
                        return false;
        return true;
}

bool registry_digest_valid(const char *digest)
{
        if (strncmp(digest, "sha256:", 7) != 0 || strlen(digest) != REGISTRY_DIGEST_SIZE - 1)
                return false;
        for (const char *p = digest + 7; *p; p++)
                if (!isdigit((unsigned char)*p) && !(*p >= 'a' && *p <= 'f'))
                        return false;
        return true;
}

/* The distribution spec's repository names: lower-case components of letters and digits,
 * joined by '.', '_', '__' or dashes, separated by '/'. */
static bool name_valid(const char *name)
{
        size_t n = strlen(name);
        if (n == 0 || n > REGISTRY_NAME_MAX)
                return false;
        bool component_start = true;
        for (size_t i = 0; i < n; i++) {
                char c = name[i];
                bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
                if (alnum) {
                        component_start = false;
                        continue;
                }
                if (component_start || !strchr("._-/", c))
                        return false;
                if (c == '/')
                        component_start = true;
                else if (i + 1 >= n || strchr("/.", name[i + 1]) ||
                         (c == '.' && name[i + 1] == '_'))
                        return false;
        }
        return !component_start;
}

int registry_ref_parse(const char *url, registry_ref *ret)
{
        *ret = (registry_ref){};
        bool http = strncasecmp(url, "oci+http://", 11) == 0;
        if (!url_is_oci(url))
                return ca_log_errno(CA_LOG_ERR, -EINVAL, "%s: not an oci:// URL", url);
        const char *host = url + (http ? 11 : 6), *slash = strchr(host, '/');
        if (!slash || slash == host || strcspn(host, "?#@") < (size_t)(slash - host))
                return ca_log_errno(CA_LOG_ERR, -EINVAL,
                                    "%s: not a registry reference (oci://HOST[:PORT]/REPOSITORY"
                                    "[:TAG])",
                                    url);
        const char *name = slash + 1;
        size_t name_len = strlen(name);
        const char *at = strchr(name, '@'), *colon = strrchr(name, ':');
        const char *reference = NULL;
        if (at) {
                name_len = (size_t)(at - name);
                reference = at + 1;
        } else if (colon && !strchr(colon, '/')) {
                name_len = (size_t)(colon - name);
                reference = colon + 1;
        }
        registry_ref r = {};
        r.host = strndup(host, (size_t)(slash - host));
        r.name = strndup(name, name_len);
        if (reference)
                r.reference = strdup(reference);
        for (char *p = r.host; p && *p; p++)
                *p = (char)tolower((unsigned char)*p);
        if (!r.host || !r.name || (reference && !r.reference) ||
            asprintf(&r.api, "%s://%s/v2/%s", http ? "http" : "https", r.host, r.name) < 0) {
                r.api = NULL;
                registry_ref_clear(&r);
                return -ENOMEM;
        }
        const char *bad = !name_valid(r.name) ? "the repository name is not valid (lower-case "
                                                "letters, digits and . _ - separators)"
                          : reference && at && !registry_digest_valid(reference)
                              ? "the digest is not sha256: and 64 hexadecimal digits"
                          : reference && !at && !registry_tag_valid(reference)
                              ? "the tag is not valid (letters, digits, . _ -; at most 128)"
                              : NULL;
        if (bad) {
                registry_ref_clear(&r);
                return ca_log_errno(CA_LOG_ERR, -EINVAL, "%s: %s", url, bad);
        }
        *ret = r;
        return 0;
}

void registry_digest(const void *data, size_t size, char ret[REGISTRY_DIGEST_SIZE])
{
        ca_chunk_id sum;
        char hex[CA_CHUNK_ID_HEX_SIZE];
        /* SHA-256 cannot fail on memory we hold; an all-zero digest would fail every check. */
        if (ca_digest_once(CA_DIGEST_SHA256, data, size, &sum) < 0)
                memset(&sum, 0, sizeof(sum));
        snprintf(ret, REGISTRY_DIGEST_SIZE, "sha256:%s", ca_chunk_id_to_hex(&sum, hex));
}

char *registry_blob_url(const registry_ref *r, const char *digest)
{
        char *url = NULL;
        if (asprintf(&url, "%s/blobs/%s", r->api, digest) < 0)
                return NULL;
        return url;
}

static char *manifest_url(const registry_ref *r, const char *reference)
{
        char *url = NULL;
        if (asprintf(&url, "%s/manifests/%s", r->api, reference) < 0)
                return NULL;
        return url;
}

/* What the registry sent for url is what `digest` names; else it is dropped and said (-EBADMSG). */
static int check_content(const char *url, const char *what, const char *digest,
                         transfer_response *resp)
{
        char got[REGISTRY_DIGEST_SIZE];
        registry_digest(resp->body, resp->size, got);
        if (strcmp(got, digest) == 0)
                return 0;
        transfer_response_clear(resp);
        return ca_log_errno(CA_LOG_ERR, -EBADMSG, "%s: the registry sent a %s whose digest is %s",
                            url, what, got);
}

int registry_get_manifest(transfer_engine *e, const registry_ref *r, const char *reference,
                          unsigned flags, transfer_response *ret)
{
        *ret = (transfer_response){.max_age = -1};
        static const char *const headers[] = {
            "Accept: " REGISTRY_MEDIA_MANIFEST ", " REGISTRY_MEDIA_INDEX,
            NULL,
        };
        _cleanup_(freep) char *url = manifest_url(r, reference);
        if (!url)
                return -ENOMEM;
        int r2 = transfer_get_flags(e, url, REGISTRY_MANIFEST_MAX, headers,
                                    flags | TRANSFER_REGISTRY, ret);
        if (r2 < 0)
                return r2;
        /* A manifest asked for by digest must be the one named. */
        return registry_digest_valid(reference) ? check_content(url, "manifest", reference, ret)
                                                : 0;
}

int registry_put_manifest(transfer_engine *e, const registry_ref *r, const char *reference,
                          const char *media_type, const void *body, size_t size)
{
        _cleanup_(freep) char *url = manifest_url(r, reference), *type = NULL;
        if (!url || asprintf(&type, "Content-Type: %s", media_type) < 0)
                return -ENOMEM;
        const char *headers[] = {type, NULL};
        transfer_response resp;
        int r2 = transfer_put(e, url, body, size, headers, TRANSFER_REGISTRY, &resp);
        transfer_response_clear(&resp);
        return r2;
}

int registry_get_blob(transfer_engine *e, const registry_ref *r, const char *digest, size_t max,
                      unsigned flags, transfer_response *ret)
{
        _cleanup_(freep) char *url = registry_blob_url(r, digest);
        if (!url)
                return -ENOMEM;
        int r2 = transfer_get_flags(e, url, max, NULL, flags | TRANSFER_REGISTRY, ret);
        return r2 < 0 ? r2 : check_content(url, "blob", digest, ret);
}

int registry_has_blob(transfer_engine *e, const registry_ref *r, const char *digest)
{
        _cleanup_(freep) char *url = registry_blob_url(r, digest);
        if (!url)
                return -ENOMEM;
        transfer_response resp;
        int r2 = transfer_head(e, url, NULL, TRANSFER_NO_DEADLINE | TRANSFER_REGISTRY, &resp);
        transfer_response_clear(&resp);
        return r2 == -ENOENT ? 0 : r2 < 0 ? r2 : 1;
}

int registry_push_blob(transfer_engine *e, const registry_ref *r, const char *digest,
                       const void *body, size_t size)
{
        _cleanup_(freep) char *start = NULL, *upload = NULL, *url = NULL;
        if (asprintf(&start, "%s/blobs/uploads/", r->api) < 0)
                return -ENOMEM;
        /* A monolithic upload: POST opens a session, one PUT sends the blob and closes it. */
        transfer_response resp;
        int r2 =
            transfer_post(e, start, NULL, 0, NULL, TRANSFER_NO_DEADLINE | TRANSFER_REGISTRY, &resp);
        if (r2 >= 0 && (resp.status != 202 || !resp.location))
                r2 = ca_log_errno(CA_LOG_ERR, -EPROTO,
                                  "%s: the registry did not open an upload (HTTP status %ld%s)",
                                  start, resp.status, resp.location ? "" : ", no Location");
        if (r2 >= 0)
                r2 = url_resolve(start, resp.location, &upload);
        transfer_response_clear(&resp);
        if (r2 == -EINVAL)
                return ca_log_errno(CA_LOG_ERR, r2, "%s: the upload's Location does not parse",
                                    start);
        if (r2 < 0)
                return r2;
        /* The upload URL may carry a query of its own (the registry's state). */
        if (asprintf(&url, "%s%cdigest=%s", upload, strchr(upload, '?') ? '&' : '?', digest) < 0)
                return -ENOMEM;
        static const char *const headers[] = {"Content-Type: application/octet-stream", NULL};
        r2 = transfer_put(e, url, body, size, headers, TRANSFER_NO_DEADLINE | TRANSFER_REGISTRY,
                          &resp);
        transfer_response_clear(&resp);
        return r2;
}
