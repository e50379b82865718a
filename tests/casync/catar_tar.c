/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Test driver: converts a .catar to the canonical tar with the streaming decoder and the tar
 * sink, hashing the bytes with SHA-512 as they are written (the way fetch computes the image ID).
 *   catar_tar [--chunk=N] CATAR|- OUT.tar|-
 * Prints "sha512-<hex>" and then "sockets skipped: N" on stderr. --chunk feeds the decoder N
 * bytes at a time.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <string.h>

#include "casync/casync.h"
#include "catar_feed.h"

/* Output goes through a buffer: with --chunk=1 the sink hands over a byte at a time, and a
 * write(2) per byte made the test take minutes. */
typedef struct hash_out {
        int fd;
        EVP_MD_CTX *md;
        uint8_t buf[1 << 20];
        size_t len;
} hash_out;

static int flush_out(hash_out *t)
{
        int r = write_full(t->fd, t->buf, t->len);
        t->len = 0;
        return r;
}

static int tee_write(void *userdata, const void *data, size_t size)
{
        hash_out *t = userdata;
        if (EVP_DigestUpdate(t->md, data, size) != 1)
                return -EIO;
        if (t->len + size > sizeof(t->buf)) {
                int r = flush_out(t);
                if (r < 0)
                        return r;
        }
        if (size >= sizeof(t->buf))
                return write_full(t->fd, data, size);
        memcpy(t->buf + t->len, data, size);
        t->len += size;
        return 0;
}

static void md_freep(EVP_MD_CTX **m)
{
        EVP_MD_CTX_free(*m);
}

int main(int argc, char **argv)
{
        size_t chunk = 0;
        const char *in = NULL, *outp = NULL;

        for (int i = 1; i < argc; i++) {
                if (strncmp(argv[i], "--chunk=", 8) == 0)
                        chunk = strtoul(argv[i] + 8, NULL, 10);
                else if (!in)
                        in = argv[i];
                else
                        outp = argv[i];
        }
        if (!in || !outp) {
                fprintf(stderr, "usage: %s [--chunk=N] CATAR|- OUT.tar|-\n", argv[0]);
                return 2;
        }

        _cleanup_(closep) int ifd = strcmp(in, "-") == 0 ? dup(0) : open(in, O_RDONLY | O_CLOEXEC);
        if (ifd < 0) {
                perror(in);
                return 1;
        }
        _cleanup_(closep) int ofd =
            strcmp(outp, "-") == 0 ? dup(1)
                                   : open(outp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (ofd < 0) {
                perror(outp);
                return 1;
        }

        _cleanup_(md_freep) EVP_MD_CTX *md = EVP_MD_CTX_new();
        if (!md || EVP_DigestInit_ex(md, EVP_sha512(), NULL) != 1)
                return 1;
        static hash_out t; /* 1 MiB: not on the stack */
        t.fd = ofd;
        t.md = md;

        _cleanup_(ca_tar_freep) ca_tar *tar = NULL;
        ca_sink sink;
        if (ca_tar_new(tee_write, &t, &tar, &sink) < 0)
                return 1;
        _cleanup_(ca_decoder_freep) ca_decoder *d = NULL;
        if (ca_decoder_new(&sink, UINT64_MAX, in, &d) < 0)
                return 1;

        int r = feed_all(d, ifd, chunk);
        if (r >= 0)
                r = flush_out(&t);
        if (r < 0) {
                if (r != -EBADMSG)
                        fprintf(stderr, "%s: %s\n", in, strerror(-r));
                return 1;
        }

        uint8_t digest[EVP_MAX_MD_SIZE];
        unsigned len = 0;
        if (EVP_DigestFinal_ex(md, digest, &len) != 1 || len != 64)
                return 1;
        fputs("sha512-", stderr);
        for (unsigned i = 0; i < len; i++)
                fprintf(stderr, "%02x", digest[i]);
        fprintf(stderr, "\nsockets skipped: %" PRIu64 "\n", ca_tar_sockets_skipped(tar));
        return 0;
}
