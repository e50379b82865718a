/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Test driver for the tar reader: lists a tar (compressed or not) as the reader reports it.
 *   tar_list [--pipeline] [--chunk=N] FILE|-
 * One line per entry: "PATH|TYPE|MODE|UID|GID|SIZE|MTIME|LINK|SHA256|XATTRS" (TYPE as find's %y,
 * h for a hardlink; MODE octal; MTIME in seconds; SHA256 of a regular file's data, else -;
 * XATTRS "name=hexvalue,..."), then "compression: NAME" on stderr. --chunk feeds the reader N
 * bytes at a time; --pipeline reads the tar in a thread of its own (ca_tar_reader_pipeline).
 * Exits 1 when the reader fails (its message on stderr).
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "casync/casync.h"

typedef struct lister {
        ca_digest *d;
} lister;

static int on_entry(void *userdata, const ca_tar_entry *e)
{
        lister *l = userdata;
        return ca_digest_reset(l->d);
}

static int on_data(void *userdata, const ca_tar_entry *e, const void *data, size_t size)
{
        lister *l = userdata;
        return ca_digest_update(l->d, data, size);
}

static int on_end(void *userdata, const ca_tar_entry *e)
{
        lister *l = userdata;
        static const char types[] = {
            [CA_TAR_REGULAR] = 'f',  [CA_TAR_DIRECTORY] = 'd', [CA_TAR_SYMLINK] = 'l',
            [CA_TAR_HARDLINK] = 'h', [CA_TAR_CHAR] = 'c',      [CA_TAR_BLOCK] = 'b',
            [CA_TAR_FIFO] = 'p',
        };
        char hex[CA_CHUNK_ID_HEX_SIZE] = "-";
        if (e->type == CA_TAR_REGULAR) {
                ca_chunk_id id;
                int r = ca_digest_final(l->d, id.bytes);
                if (r < 0)
                        return r;
                ca_chunk_id_to_hex(&id, hex);
        }
        printf("%s|%c|%o|%" PRIu64 "|%" PRIu64 "|%" PRIu64 "|%" PRIu64 "|%s|%s|", e->path,
               types[e->type], e->mode, e->uid, e->gid, e->size, e->mtime / 1000000000U,
               e->link_target ? e->link_target : "", hex);
        for (size_t i = 0; i < e->n_xattrs; i++) {
                printf("%s%s=", i ? "," : "", e->xattrs[i].name);
                for (size_t j = 0; j < e->xattrs[i].size; j++)
                        printf("%02x", e->xattrs[i].value[j]);
        }
        if (e->type == CA_TAR_CHAR || e->type == CA_TAR_BLOCK)
                printf("|%u:%u", e->dev_major, e->dev_minor);
        putchar('\n');
        return 0;
}

int main(int argc, char **argv)
{
        size_t chunk = 65536;
        bool pipeline = false;
        if (argc > 1 && strcmp(argv[1], "--pipeline") == 0) {
                pipeline = true;
                argv++;
                argc--;
        }
        if (argc > 1 && strncmp(argv[1], "--chunk=", 8) == 0) {
                chunk = strtoul(argv[1] + 8, NULL, 10);
                argv++;
                argc--;
        }
        if (argc != 2 || chunk == 0) {
                fprintf(stderr, "usage: tar_list [--pipeline] [--chunk=N] FILE|-\n");
                return 2;
        }
        int fd = strcmp(argv[1], "-") == 0 ? 0 : open(argv[1], O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                perror(argv[1]);
                return 2;
        }
        lister l = {};
        if (ca_digest_new(CA_DIGEST_SHA256, &l.d) < 0)
                return 2;
        ca_tar_handler h = {on_entry, on_data, on_end, &l};
        ca_tar_reader *r = NULL;
        if (ca_tar_reader_new(&h, argv[1], 0, &r) < 0 ||
            (pipeline && ca_tar_reader_pipeline(r) < 0))
                return 2;
        uint8_t *buf = malloc(chunk);
        int k = buf ? 0 : -ENOMEM;
        while (k >= 0) {
                ssize_t n = read(fd, buf, chunk);
                if (n < 0) {
                        perror("read");
                        return 2;
                }
                if (n == 0) {
                        k = ca_tar_reader_finish(r);
                        break;
                }
                k = ca_tar_reader_feed(r, buf, (size_t)n);
        }
        const char *c = ca_tar_reader_compression(r);
        fprintf(stderr, "compression: %s\n", c ? c : "unknown");
        fflush(stdout);
        ca_tar_reader_free(r);
        ca_digest_free(l.d);
        free(buf);
        return k < 0 ? 1 : 0;
}
