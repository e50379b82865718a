/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * S3-compatible object storage (see transfer.h): which key signs a request, the payload hash
 * libcurl does not send by itself, and an S3 error document in words. The signing is
 * libcurl's; the engine applies all three in transfer.c.
 */
#include <string.h>
#include <strings.h>

#include "fetcher/transfer/transfer.h"

bool url_is_s3(const char *url)
{
        return strncasecmp(url, "s3+https://", 11) == 0 || strncasecmp(url, "s3+http://", 10) == 0;
}

bool url_is_remote(const char *url)
{
        return url_is_http(url) || url_is_s3(url);
}

const char *url_transport(const char *url)
{
        return url_is_s3(url) ? url + 3 : url;
}

const s3_key *s3_key_for(const struct auth_config *auth, const s3_key *env, const char *url)
{
        const s3_key *k = auth_config_s3_for(auth, url_transport(url));
        if (k)
                return k;
        return env && env->access_key_id && env->secret_access_key ? env : NULL;
}

int s3_payload_header(const void *body, size_t size, char **ret)
{
        if (!body) {
                *ret = strdup("x-amz-content-sha256: UNSIGNED-PAYLOAD");
                return *ret ? 0 : -ENOMEM;
        }
        /* The hash of the bytes sent, which for a chunk file is not its chunk ID (that one
         * hashes the uncompressed data). */
        ca_chunk_id sum;
        int r = ca_digest_once(CA_DIGEST_SHA256, body, size, &sum);
        if (r < 0)
                return r;
        char hex[CA_CHUNK_ID_HEX_SIZE];
        if (asprintf(ret, "x-amz-content-sha256: %s", ca_chunk_id_to_hex(&sum, hex)) < 0)
                return -ENOMEM;
        return 0;
}

/* The text of the first <TAG>...</TAG> in doc, cut to n-1 bytes, printable ASCII only. */
static bool xml_element(const char *doc, size_t size, const char *tag, char *out, size_t n)
{
        char open[32], close[32];
        snprintf(open, sizeof(open), "<%s>", tag);
        snprintf(close, sizeof(close), "</%s>", tag);
        const char *start = memmem(doc, size, open, strlen(open));
        if (!start)
                return false;
        start += strlen(open);
        const char *end = memmem(start, size - (size_t)(start - doc), close, strlen(close));
        if (!end)
                return false;
        size_t len = MIN((size_t)(end - start), n - 1), k = 0;
        for (size_t i = 0; i < len; i++)
                if (start[i] >= 0x20 && start[i] < 0x7f)
                        out[k++] = start[i];
        out[k] = 0;
        return k > 0;
}

/* What the S3 error codes that a fetch or a publish meets mean for the user. */
static const struct {
        const char *code;
        const char *words;
} s3_errors[] = {
    {"SignatureDoesNotMatch",
     "the secret key does not match the access key ID (check AWS_SECRET_ACCESS_KEY or the "
     "auth.d entry)"},
    {"InvalidAccessKeyId", "the server knows no such access key ID"},
    {"RequestTimeTooSkewed", "this machine's clock differs too much from the server's"},
    {"AccessDenied", "the key, or anonymous access when none is set, may not do this"},
    {"InvalidToken", "the session token is invalid"},
    {"ExpiredToken", "the session token has expired"},
    {"NoSuchBucket", "the bucket does not exist"},
    {"PermanentRedirect", "the bucket is in another region or at another endpoint"},
    {"AuthorizationHeaderMalformed", "the signature's region or key is malformed for this server"},
    {"XAmzContentSHA256Mismatch", "the body did not arrive intact"},
    {"BadDigest", "the body did not arrive intact"},
    {"SlowDown", "the server asks to slow down"},
    {"QuotaExceeded", "the account's quota is used up"},
};

void s3_describe_error(long status, const char *doc, size_t size, char *buf, size_t n)
{
        char code[64], message[160];
        size = MIN(size, (size_t)S3_ERROR_DOC_MAX);
        if (!doc || !xml_element(doc, size, "Code", code, sizeof(code))) {
                snprintf(buf, n, "HTTP status %ld", status);
                return;
        }
        for (size_t i = 0; i < ELEMENTSOF(s3_errors); i++)
                if (strcmp(code, s3_errors[i].code) == 0) {
                        snprintf(buf, n, "HTTP status %ld (S3 %s): %s", status, code,
                                 s3_errors[i].words);
                        return;
                }
        /* An S3 code this list lacks: the server's own message says what it is. */
        if (xml_element(doc, size, "Message", message, sizeof(message)))
                snprintf(buf, n, "HTTP status %ld (S3 %s): %s", status, code, message);
        else
                snprintf(buf, n, "HTTP status %ld (S3 %s)", status, code);
}
