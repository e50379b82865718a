/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Drives the transfer engine against a registry's API with TRANSFER_REGISTRY, for
 * tests/oci/registry_auth.sh (which starts the registry and its token service):
 *
 *   test_registry_auth [--ca PEM] [--config DIR] [--debug] [--http] push BASE REPO SIZE SEED
 *       HEAD BASE/v2/REPO/blobs/DIGEST (absent: a pull token), POST BASE/v2/REPO/blobs/uploads/
 *       (a push token), PUT Location?digest=DIGEST, HEAD and GET the blob (SIZE pseudo-random
 *       bytes from SEED); prints its digest.
 *   test_registry_auth [...] get BASE REPO DIGEST COUNT THREADS
 *       COUNT GETs of the blob from THREADS threads at once, each body checked.
 *
 * --config DIR: auth.d is DIR/auth.d. --pause-ms N: each getter thread waits N ms after each
 * GET (requests spread over a token's life). Exit 0 when every request did as it should; else prints
 * "failed: ERRNO status STATUS" and exits 1 (the engine has logged the reason on stderr).
 */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "fetcher/transfer/transfer.h"
#include "tests/test.h"

static transfer_engine *engine;
static const char *base, *repo, *digest;
static unsigned count, next;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned pause_ms;
static int first_error;
static long first_status;

static void failed(int r, long status)
{
        pthread_mutex_lock(&lock);
        if (!first_error) {
                first_error = r;
                first_status = status;
        }
        pthread_mutex_unlock(&lock);
}

static int report(void)
{
        if (!first_error)
                return 0;
        printf("failed: %s status %ld\n", strerror(-first_error), first_status);
        return 1;
}

static void digest_of(const uint8_t *p, size_t n, char *out, size_t size)
{
        ca_chunk_id id;
        char hex[CA_CHUNK_ID_HEX_SIZE];
        CHECK(ca_digest_once(CA_DIGEST_SHA256, p, n, &id) >= 0);
        snprintf(out, size, "sha256:%s", ca_chunk_id_to_hex(&id, hex));
}

static int push(size_t size, unsigned seed)
{
        uint8_t *blob = malloc(size ? size : 1);
        CHECK(blob);
        uint64_t x = 0x9e3779b97f4a7c15u * (seed + 1);
        for (size_t i = 0; i < size; i++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                blob[i] = (uint8_t)x;
        }
        char d[80], url[2048];
        digest_of(blob, size, d, sizeof(d));
        transfer_response resp;

        /* As a publisher does: is it there already? */
        snprintf(url, sizeof(url), "%s/v2/%s/blobs/%s", base, repo, d);
        int r = transfer_head(engine, url, NULL, TRANSFER_REGISTRY, &resp);
        long status = resp.status;
        transfer_response_clear(&resp);
        if (r != -ENOENT) {
                failed(r < 0 ? r : -EEXIST, status);
                free(blob);
                return report();
        }

        snprintf(url, sizeof(url), "%s/v2/%s/blobs/uploads/", base, repo);
        r = transfer_post(engine, url, NULL, 0, NULL, TRANSFER_REGISTRY, &resp);
        if (r < 0 || resp.status != 202 || !resp.location) {
                failed(r < 0 ? r : -EPROTO, resp.status);
                transfer_response_clear(&resp);
                free(blob);
                return report();
        }
        _cleanup_(freep) char *loc = NULL, *put = NULL;
        CHECK(url_resolve(url, resp.location, &loc) == 0);
        transfer_response_clear(&resp);
        CHECK(asprintf(&put, "%s%sdigest=%s", loc, strchr(loc, '?') ? "&" : "?", d) > 0);
        const char *ct[] = {"Content-Type: application/octet-stream", NULL};
        r = transfer_put(engine, put, blob, size, ct, TRANSFER_REGISTRY, &resp);
        status = resp.status;
        transfer_response_clear(&resp);
        if (r < 0 || status != 201) {
                failed(r < 0 ? r : -EPROTO, status);
                free(blob);
                return report();
        }

        snprintf(url, sizeof(url), "%s/v2/%s/blobs/%s", base, repo, d);
        r = transfer_head(engine, url, NULL, TRANSFER_REGISTRY, &resp);
        status = resp.status;
        transfer_response_clear(&resp);
        if (r < 0) {
                failed(r, status);
                free(blob);
                return report();
        }
        r = transfer_get_flags(engine, url, size + 1, NULL, TRANSFER_REGISTRY, &resp);
        if (r < 0)
                failed(r, resp.status);
        else if (resp.size != size || (size && memcmp(resp.body, blob, size) != 0))
                failed(-EBADMSG, resp.status);
        transfer_response_clear(&resp);
        free(blob);
        if (!first_error)
                printf("%s\n", d);
        return report();
}

static void *getter(void *arg)
{
        (void)arg;
        char url[2048];
        snprintf(url, sizeof(url), "%s/v2/%s/blobs/%s", base, repo, digest);
        for (;;) {
                pthread_mutex_lock(&lock);
                bool more = next < count;
                next++;
                pthread_mutex_unlock(&lock);
                if (!more)
                        return NULL;
                transfer_response resp;
                int r = transfer_get_flags(engine, url, 64 << 20, NULL,
                                           TRANSFER_REGISTRY | TRANSFER_NO_DEADLINE, &resp);
                if (r < 0) {
                        failed(r, resp.status);
                } else {
                        char d[80];
                        digest_of(resp.body, resp.size, d, sizeof(d));
                        if (strcmp(d, digest) != 0)
                                failed(-EBADMSG, resp.status);
                }
                transfer_response_clear(&resp);
                if (pause_ms)
                        nanosleep(&(struct timespec){.tv_sec = pause_ms / 1000,
                                                     .tv_nsec = (long)(pause_ms % 1000) * 1000000},
                                  NULL);
        }
}

static int get(unsigned threads)
{
        pthread_t t[256];
        threads = MIN(MAX(threads, 1U), (unsigned)ELEMENTSOF(t));
        for (unsigned i = 0; i < threads; i++)
                CHECK(pthread_create(&t[i], NULL, getter, NULL) == 0);
        for (unsigned i = 0; i < threads; i++)
                pthread_join(t[i], NULL);
        return report();
}

int main(int argc, char **argv)
{
        transfer_options o;
        transfer_options_init(&o);
        const char *config = NULL;
        int i = 1;
        for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
                if (strcmp(argv[i], "--ca") == 0 && i + 1 < argc)
                        o.ca_cert = argv[++i];
                else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
                        config = argv[++i];
                else if (strcmp(argv[i], "--debug") == 0)
                        ca_log_set_max_level(CA_LOG_DEBUG);
                else if (strcmp(argv[i], "--pause-ms") == 0 && i + 1 < argc)
                        pause_ms = (unsigned)strtoul(argv[++i], NULL, 10);
                else if (strcmp(argv[i], "--http") == 0)
                        o.allow_http = true;
                else {
                        fprintf(stderr, "unknown option %s\n", argv[i]);
                        return 2;
                }
        }
        if (argc - i < 4) {
                fprintf(stderr,
                        "usage: test_registry_auth [OPTIONS] push BASE REPO SIZE SEED | get "
                        "BASE REPO DIGEST COUNT THREADS\n");
                return 2;
        }
        const char *cmd = argv[i];
        base = argv[i + 1];
        repo = argv[i + 2];
        auth_config *auth = NULL;
        if (config && auth_config_load(NULL, config, &auth) < 0)
                return 1;
        o.auth = auth;
        CHECK(transfer_engine_new(&o, &engine) == 0);
        int ret = 2;
        if (strcmp(cmd, "push") == 0 && argc - i == 5)
                ret =
                    push(strtoul(argv[i + 3], NULL, 10), (unsigned)strtoul(argv[i + 4], NULL, 10));
        else if (strcmp(cmd, "get") == 0 && argc - i == 6) {
                digest = argv[i + 3];
                count = (unsigned)strtoul(argv[i + 4], NULL, 10);
                ret = get((unsigned)strtoul(argv[i + 5], NULL, 10));
        } else
                fprintf(stderr, "bad arguments\n");
        transfer_engine_free(engine);
        auth_config_free(auth);
        return ret;
}
