/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of the streaming catar decoder: the spec's fx.catar (made by casync 2, embedded
 * below) decodes to the expected events in any split, every truncation fails, and hand-broken or
 * hand-built archives are accepted or rejected as casync's rules say. test_mtree.sh compares
 * with casync itself on real archives.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#include "casync/casync.h"
#include "tests/test.h"

/* casync make fx.catar fx, tree of casync-formats.md §4.10 (sha256 715314c1...) */
static const uint8_t fx[] = {
        0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x51, 0xbb, 0x5b, 0xea,
        0xbc, 0xfa, 0x96, 0x13, 0x26, 0xfe, 0xef, 0xff, 0x01, 0x00, 0x00, 0xb0,
        0xed, 0x41, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x15, 0xff, 0x81, 0xef,
        0xd5, 0xf2, 0xe5, 0x15, 0x16, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x0b, 0x1f, 0x16, 0xb3, 0xbc, 0x6e, 0xbb, 0x6d, 0x61, 0x2e, 0x74, 0x78,
        0x74, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x51, 0xbb,
        0x5b, 0xea, 0xbc, 0xfa, 0x96, 0x13, 0x26, 0xfe, 0xef, 0xff, 0x01, 0x00,
        0x00, 0xb0, 0xa4, 0x81, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x15, 0xff,
        0x81, 0xef, 0xd5, 0xf2, 0xe5, 0x15, 0x16, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0xc9, 0xff, 0xdc, 0xd6, 0x93, 0x1d, 0x9e, 0x8b, 0x68, 0x65,
        0x6c, 0x6c, 0x6f, 0x0a, 0x15, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x0b, 0x1f, 0x16, 0xb3, 0xbc, 0x6e, 0xbb, 0x6d, 0x6c, 0x69, 0x6e, 0x6b,
        0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x51, 0xbb, 0x5b,
        0xea, 0xbc, 0xfa, 0x96, 0x13, 0x26, 0xfe, 0xef, 0xff, 0x01, 0x00, 0x00,
        0xb0, 0xff, 0xa1, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x97, 0xf3,
        0x05, 0xd6, 0xf2, 0xe5, 0x15, 0x16, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x6c, 0x0d, 0x0e, 0x83, 0xb6, 0x6f, 0x4a, 0x66, 0x61, 0x2e, 0x74,
        0x78, 0x74, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0b,
        0x1f, 0x16, 0xb3, 0xbc, 0x6e, 0xbb, 0x6d, 0x73, 0x75, 0x62, 0x00, 0x40,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x51, 0xbb, 0x5b, 0xea, 0xbc,
        0xfa, 0x96, 0x13, 0x26, 0xfe, 0xef, 0xff, 0x01, 0x00, 0x00, 0xb0, 0xed,
        0x41, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x15, 0xff, 0x81, 0xef, 0xd5,
        0xf2, 0xe5, 0x15, 0x12, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0b,
        0x1f, 0x16, 0xb3, 0xbc, 0x6e, 0xbb, 0x6d, 0x62, 0x00, 0x40, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x51, 0xbb, 0x5b, 0xea, 0xbc, 0xfa, 0x96,
        0x13, 0x26, 0xfe, 0xef, 0xff, 0x01, 0x00, 0x00, 0xb0, 0xa4, 0x81, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x15, 0xff, 0x81, 0xef, 0xd5, 0xf2, 0xe5,
        0x15, 0x18, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc9, 0xff, 0xdc,
        0xd6, 0x93, 0x1d, 0x9e, 0x8b, 0x77, 0x6f, 0x72, 0x6c, 0x64, 0x21, 0x21,
        0x0a, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xc4, 0x27,
        0x83, 0x5e, 0x5c, 0xd3, 0xdf, 0x6a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x6a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x8f, 0xdf, 0xe7,
        0x95, 0x53, 0x69, 0x07, 0x90, 0xaa, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x43, 0x29, 0x70,
        0x33, 0xa5, 0x6f, 0x44, 0x57, 0x70, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x03, 0xc4, 0x27, 0x83, 0x5e, 0x5c, 0xd3, 0xdf, 0xfe, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0xfe, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0xec, 0xde, 0xc3, 0x98, 0x56, 0x93, 0xfe, 0xeb, 0xd5, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x6c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x87, 0x81, 0x77, 0x12, 0x0a, 0xb4, 0xdb, 0x30, 0x69, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x6b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0xaf, 0xdf, 0xb3, 0x7b, 0x6d, 0xbf, 0x22, 0xf9, 0x15, 0x02, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x70, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x43, 0x29, 0x70, 0x33, 0xa5, 0x6f, 0x44, 0x57
};

#define FX_FLAGS UINT64_C(0xb0000001ffeffe26)

/* ---------------------------------------------------------------- a sink that logs events */

typedef struct logbuf {
        char *text;
        size_t len, alloc;
        char payload[64];
        size_t payload_len;
        int fail_at; /* fail the n-th callback (for error propagation), 0: never */
        int calls;
} logbuf;

_printf_(2, 3) static void logf_(logbuf *l, const char *fmt, ...)
{
        char line[16384];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        CHECK(n > 0 && (size_t)n < sizeof(line));
        if (l->len + (size_t)n + 1 > l->alloc) {
                l->alloc = (l->len + (size_t)n + 1) * 2;
                l->text = realloc(l->text, l->alloc);
                CHECK(l->text);
        }
        memcpy(l->text + l->len, line, (size_t)n + 1);
        l->len += (size_t)n;
}

static int log_begin(void *ud, const ca_node *n)
{
        logbuf *l = ud;
        if (++l->calls == l->fail_at)
                return -ENOTRECOVERABLE;
        logf_(l, "B %s name=%s depth=%u off=%" PRIu64 " mode=%" PRIo64 " mtime=%" PRIu64, n->path,
              n->name, n->depth, n->entry_offset, n->mode, n->mtime);
        if (S_ISREG(n->mode))
                logf_(l, " size=%" PRIu64, n->payload_size);
        if (S_ISLNK(n->mode))
                logf_(l, " target=%s", n->symlink_target);
        if (n->user_name || n->group_name)
                logf_(l, " user=%s group=%s", n->user_name ? n->user_name : "-",
                      n->group_name ? n->group_name : "-");
        for (size_t i = 0; i < n->n_xattrs; i++)
                logf_(l, " xattr=%s:%.*s", n->xattrs[i].name, (int)n->xattrs[i].size,
                      (const char *)n->xattrs[i].value);
        for (size_t i = 0; i < n->n_acl_user; i++)
                logf_(l, " aclu=%" PRIu64 ":%" PRIu64 ":%s", n->acl_user[i].id,
                      n->acl_user[i].permissions, n->acl_user[i].name ? n->acl_user[i].name : "-");
        for (size_t i = 0; i < n->n_acl_group; i++)
                logf_(l, " aclg=%" PRIu64 ":%" PRIu64, n->acl_group[i].id,
                      n->acl_group[i].permissions);
        if (n->has_acl_group_obj)
                logf_(l, " groupobj=%" PRIu64, n->acl_group_obj);
        if (n->has_acl_default)
                logf_(l, " default=%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIx64,
                      n->acl_default_user_obj, n->acl_default_group_obj, n->acl_default_other,
                      n->acl_default_mask);
        for (size_t i = 0; i < n->n_acl_default_user; i++)
                logf_(l, " defu=%" PRIu64, n->acl_default_user[i].id);
        if (n->selinux_label)
                logf_(l, " selinux=%s", n->selinux_label);
        if (n->fcaps)
                logf_(l, " fcaps=%zu", n->fcaps_size);
        if (S_ISCHR(n->mode) || S_ISBLK(n->mode))
                logf_(l, " dev=%" PRIu64 ",%" PRIu64, n->device_major, n->device_minor);
        logf_(l, "\n");
        l->payload_len = 0;
        return 0;
}

static int log_payload(void *ud, const ca_node *n, const void *data, size_t size)
{
        logbuf *l = ud;
        /* Keeps the first bytes (test payloads are short), counts all. */
        if (l->payload_len < sizeof(l->payload))
                memcpy(l->payload + l->payload_len, data,
                       MIN(size, sizeof(l->payload) - l->payload_len));
        l->payload_len += size;
        return 0;
}

static int log_end(void *ud, const ca_node *n)
{
        logbuf *l = ud;
        if (++l->calls == l->fail_at)
                return -ENOTRECOVERABLE;
        if (S_ISREG(n->mode)) {
                CHECK_EQ_INT(l->payload_len, n->payload_size);
                logf_(l, "E %s data=%.*s", n->path,
                      (int)MIN(l->payload_len, sizeof(l->payload)), l->payload);
        } else
                logf_(l, "E %s\n", n->path);
        return 0;
}

static int log_finish(void *ud)
{
        logf_(ud, "F\n");
        return 0;
}

/* Decodes data fed `step` bytes at a time (0: at once); returns the result, fills *log. */
static int decode(const void *data, size_t size, size_t step, uint64_t expected, logbuf *l)
{
        ca_sink sink = { log_begin, log_payload, log_end, log_finish, l };
        ca_decoder *d = NULL;
        int r;

        l->len = 0;
        if (l->text)
                l->text[0] = 0;
        CHECK(ca_decoder_new(&sink, expected, "test.catar", &d) == 0);
        for (size_t o = 0; o < size;) {
                size_t n = step ? MIN(step, size - o) : size - o;
                r = ca_decoder_feed(d, (const uint8_t *)data + o, n);
                if (r < 0) {
                        /* failures are sticky */
                        CHECK_EQ_INT(ca_decoder_feed(d, data, 1), r);
                        CHECK_EQ_INT(ca_decoder_finish(d), r);
                        ca_decoder_free(d);
                        return r;
                }
                o += n;
        }
        CHECK_EQ_INT(ca_decoder_offset(d), size);
        r = ca_decoder_finish(d);
        ca_decoder_free(d);
        return r;
}

static int decode_quiet(const void *data, size_t size, uint64_t expected)
{
        logbuf l = { 0 };
        int level = ca_log_get_max_level();
        ca_log_set_max_level(0);
        int r = decode(data, size, 0, expected, &l);
        ca_log_set_max_level(level);
        free(l.text);
        return r;
}

static const char fx_events[] =
        "B . name= depth=0 off=0 mode=40755 mtime=1577934245123456789\n"
        "B a.txt name=a.txt depth=1 off=86 mode=100644 mtime=1577934245123456789 size=6\n"
        "E a.txt data=hello\n"
        "B link name=link depth=1 off=193 mode=120777 mtime=1577934245500000000 target=a.txt\n"
        "E link\n"
        "B sub name=sub depth=1 off=299 mode=40755 mtime=1577934245123456789\n"
        "B sub/b name=b depth=2 off=381 mode=100644 mtime=1577934245123456789 size=8\n"
        "E sub/b data=world!!\n"
        "E sub\n"
        "E .\n"
        "F\n";

static void test_fx(void)
{
        ca_chunk_id id;
        char hex[CA_CHUNK_ID_HEX_SIZE];
        logbuf l = { 0 };

        CHECK(ca_digest_once(CA_DIGEST_SHA256, fx, sizeof(fx), &id) == 0);
        CHECK_STREQ(ca_chunk_id_to_hex(&id, hex),
                    "715314c1f186f2c43c84d3994e8ebe741bd8fc939865f568e23027fcc383e14c");

        size_t steps[] = { 0, 1, 2, 3, 5, 16, 17, 24, 100 };
        for (size_t i = 0; i < ELEMENTSOF(steps); i++) {
                CHECK_EQ_INT(decode(fx, sizeof(fx), steps[i], UINT64_MAX, &l), 0);
                CHECK_STREQ(l.text, fx_events);
        }
        /* A caidx header with the same flags is fine, another is not. */
        CHECK_EQ_INT(decode(fx, sizeof(fx), 0, FX_FLAGS, &l), 0);
        CHECK_EQ_INT(decode_quiet(fx, sizeof(fx), FX_FLAGS ^ CA_FORMAT_WITH_FLAG_HIDDEN), -EBADMSG);

        /* Every truncation fails at finish, never before. */
        ca_log_set_max_level(0);
        for (size_t k = 0; k < sizeof(fx); k++) {
                CHECK_EQ_INT(decode(fx, k, 0, UINT64_MAX, &l), -EBADMSG);
                CHECK(!strstr(l.text ? l.text : "", "F\n"));
        }
        ca_log_set_max_level(CA_LOG_INFO);

        /* Anything after the root GOODBYE. */
        uint8_t more[sizeof(fx) + 1];
        memcpy(more, fx, sizeof(fx));
        more[sizeof(fx)] = 0;
        CHECK_EQ_INT(decode_quiet(more, sizeof(more), UINT64_MAX), -EBADMSG);

        /* A sink's error stops decoding and is returned as is. */
        for (int n = 1; n <= 10; n++) {
                logbuf f = { .fail_at = n };
                CHECK_EQ_INT(decode(fx, sizeof(fx), 7, UINT64_MAX, &f), -ENOTRECOVERABLE);
                free(f.text);
        }
        free(l.text);
}

/* Applies one change to a copy of fx and expects a rejection. */
static void expect_broken(const char *what, size_t off, const void *bytes, size_t n)
{
        uint8_t b[sizeof(fx)];
        memcpy(b, fx, sizeof(fx));
        memcpy(b + off, bytes, n);
        int r = decode_quiet(b, sizeof(b), UINT64_MAX);
        if (r != -EBADMSG) {
                fprintf(stderr, "broken fx (%s) gave %d\n", what, r);
                exit(EXIT_FAILURE);
        }
}

static void expect_broken64(const char *what, size_t off, uint64_t v)
{
        uint8_t le[8];
        write_le64(le, v);
        expect_broken(what, off, le, 8);
}

static void test_fx_broken(void)
{
        /* record map: 0 ENTRY, 64 FILENAME a.txt, 86 ENTRY, 150 PAYLOAD, 172 FILENAME link,
         * 193 ENTRY, 257 SYMLINK, 279 FILENAME sub, 299 ENTRY, 363 FILENAME b, 381 ENTRY,
         * 445 PAYLOAD, 469 GOODBYE (sub), 533 GOODBYE (root: items at 549, 573, 597; tail 621) */
        expect_broken("name with a slash", 64 + 17, "/", 1);
        expect_broken("name '.'", 363 + 16, ".", 1);
        expect_broken("names out of order", 279 + 16, "aaa", 3);
        expect_broken("name not matching its hash", 172 + 16, "lonk", 4);
        expect_broken("name without NUL", 363 + 17, "x", 1);
        expect_broken64("goodbye item size", 549 + 8, 255);
        expect_broken64("goodbye item offset", 549, 253);
        expect_broken64("goodbye item hash", 549 + 16, 1);
        expect_broken64("goodbye tail marker", 621 + 16, 1);
        expect_broken64("goodbye tail size", 621 + 8, 113);
        expect_broken64("goodbye tail entry offset", 621, 532);
        expect_broken64("goodbye record size", 533, 136);
        expect_broken64("goodbye record size huge", 533, UINT64_C(1) << 60);
        expect_broken64("sub goodbye size", 469, 40);
        expect_broken64("ENTRY size 63", 86, 63);
        expect_broken64("ENTRY size 65", 86, 65);
        expect_broken64("record size < 16", 64, 8);
        expect_broken64("record size UINT64_MAX", 64, UINT64_MAX);
        expect_broken64("unknown record type", 64 + 8, 0x1234);
        expect_broken64("mode with unknown bits", 86 + 24, 0100644 | 010000000);
        expect_broken64("mode of unknown type", 86 + 24, 0170644);
        expect_broken64("root not a directory", 24, 0100755);
        expect_broken64("uid 65535", 86 + 40, 0xffff);
        expect_broken64("uid 2^32-1", 86 + 40, 0xffffffff);
        expect_broken64("gid 2^32", 86 + 48, UINT64_C(1) << 32);
        expect_broken64("mtime UINT64_MAX", 86 + 56, UINT64_MAX);
        expect_broken64("flags differ from the root's", 86 + 16, FX_FLAGS & ~CA_FORMAT_WITH_FCAPS);
        expect_broken64("root flags not normalized", 16, FX_FLAGS | CA_FORMAT_WITH_READ_ONLY);
        expect_broken64("root flags with unknown bits", 16, FX_FLAGS | (UINT64_C(1) << 40));
        expect_broken64("entry flags outside the set", 86 + 32, UINT64_C(1) << 40);
        expect_broken64("entry flags on a symlink", 193 + 32, CA_FORMAT_WITH_FLAG_APPEND);
        expect_broken64("symlink mode 0755", 193 + 24, 0120755);
        expect_broken64("symlink mode on a file", 86 + 24, 0120777);
        expect_broken64("directory mode on a symlink", 193 + 24, 040755);
        expect_broken64("PAYLOAD in a directory", 363 + 8, CA_FORMAT_PAYLOAD);
        expect_broken64("GOODBYE as a file body", 150 + 8, CA_FORMAT_GOODBYE);
        expect_broken64("second ENTRY", 150 + 8, CA_FORMAT_ENTRY);
        expect_broken64("SYMLINK for a file", 150 + 8, CA_FORMAT_SYMLINK);
        expect_broken64("payload longer than the archive", 445, 10000);
        expect_broken64("FILENAME where an ENTRY must come", 0 + 8, CA_FORMAT_FILENAME);
        expect_broken64("DEVICE record for a symlink", 257 + 8, CA_FORMAT_DEVICE);
}

/* ---------------------------------------------------------------- hand-built archives */

typedef struct out {
        uint8_t *p;
        size_t n, alloc;
} out;

static void put(out *o, const void *data, size_t n)
{
        if (o->n + n > o->alloc) {
                o->alloc = (o->n + n) * 2 + 1024;
                o->p = realloc(o->p, o->alloc);
                CHECK(o->p);
        }
        memcpy(o->p + o->n, data, n);
        o->n += n;
}

static void put64(out *o, uint64_t v)
{
        uint8_t b[8];
        write_le64(b, v);
        put(o, b, 8);
}

static void put_rec(out *o, uint64_t type, const void *body, size_t len)
{
        put64(o, 16 + len);
        put64(o, type);
        put(o, body, len);
}

static void put_str(out *o, uint64_t type, const char *s)
{
        put_rec(o, type, s, strlen(s) + 1);
}

static void put_acl(out *o, uint64_t type, uint64_t id, uint64_t perm, const char *name)
{
        put64(o, 32 + (name ? strlen(name) + 1 : 0));
        put64(o, type);
        put64(o, id);
        put64(o, perm);
        if (name)
                put(o, name, strlen(name) + 1);
}

static uint64_t flags = FX_FLAGS;

static void put_entry_t(out *o, uint64_t mode, uint64_t uid, uint64_t mtime)
{
        put64(o, 64);
        put64(o, CA_FORMAT_ENTRY);
        put64(o, flags);
        put64(o, mode);
        put64(o, 0);
        put64(o, uid);
        put64(o, uid);
        put64(o, mtime);
}

static void put_entry(out *o, uint64_t mode, uint64_t uid)
{
        put_entry_t(o, mode, uid, 0);
}

typedef struct kid {
        uint64_t off, size, hash;
} kid;

typedef struct dir {
        uint64_t entry;
        kid kids[16];
        size_t n;
} dir;

static void open_dir(out *o, dir *d, uint64_t mode)
{
        *d = (dir){ .entry = o->n };
        put_entry(o, S_IFDIR | mode, 0);
}

static void put_name(out *o, dir *d, const char *name)
{
        d->kids[d->n++] = (kid){ o->n, 0, ca_goodbye_hash(name, strlen(name)) };
        put_str(o, CA_FORMAT_FILENAME, name);
}

static void end_kid(out *o, dir *d)
{
        d->kids[d->n - 1].size = o->n - d->kids[d->n - 1].off;
}

static int kid_cmp(const void *x, const void *y)
{
        const kid *a = x, *b = y;
        return a->hash < b->hash ? -1 : a->hash > b->hash;
}

static void layout(const kid *sorted, size_t n, size_t i, size_t *next, kid *tree)
{
        if (i >= n)
                return;
        layout(sorted, n, 2 * i + 1, next, tree);
        tree[i] = sorted[(*next)++];
        layout(sorted, n, 2 * i + 2, next, tree);
}

static void close_dir(out *o, dir *d)
{
        kid sorted[16], tree[16];
        size_t next = 0;
        uint64_t start = o->n, size = 16 + 24 * (d->n + 1);

        memcpy(sorted, d->kids, sizeof(kid) * d->n);
        qsort(sorted, d->n, sizeof(kid), kid_cmp);
        layout(sorted, d->n, 0, &next, tree);
        put64(o, size);
        put64(o, CA_FORMAT_GOODBYE);
        for (size_t i = 0; i < d->n; i++) {
                put64(o, start - tree[i].off);
                put64(o, tree[i].size);
                put64(o, tree[i].hash);
        }
        put64(o, start - d->entry);
        put64(o, size);
        put64(o, CA_FORMAT_GOODBYE_TAIL_MARKER);
}

/* A chain of `levels` directories below the root, the deepest empty. */
static void put_chain(out *o, unsigned levels)
{
        dir d;
        open_dir(o, &d, 0755);
        if (levels > 0) {
                put_name(o, &d, "d");
                put_chain(o, levels - 1);
                end_kid(o, &d);
        }
        close_dir(o, &d);
}

static void test_depth(void)
{
        out o = { 0 };
        logbuf l = { 0 };

        /* casync writes and reads at most 63 levels below the root. */
        put_chain(&o, CA_NODES_MAX - 1);
        CHECK_EQ_INT(decode(o.p, o.n, 0, UINT64_MAX, &l), 0);
        CHECK(strstr(l.text, " depth=63 "));
        o.n = 0;
        put_chain(&o, CA_NODES_MAX);
        CHECK_EQ_INT(decode_quiet(o.p, o.n, UINT64_MAX), -EBADMSG);
        free(o.p);
        free(l.text);
}

/* A root with a fifo, a device and a file: event order and goodbye of several children. */
static void test_kinds(void)
{
        out o = { 0 };
        logbuf l = { 0 };
        dir d;

        open_dir(&o, &d, 0755);
        put_name(&o, &d, "dev");
        put_entry(&o, S_IFCHR | 0600, 0);
        put64(&o, 32);
        put64(&o, CA_FORMAT_DEVICE);
        put64(&o, 4095);
        put64(&o, 1048575);
        end_kid(&o, &d);
        put_name(&o, &d, "fifo");
        put_entry(&o, S_IFIFO | 0644, 1000);
        put_str(&o, CA_FORMAT_USER, "someone");
        end_kid(&o, &d);
        put_name(&o, &d, "file");
        put_entry(&o, S_IFREG | 0644, 0);
        put_rec(&o, CA_FORMAT_PAYLOAD, "abc", 3);
        end_kid(&o, &d);
        put_name(&o, &d, "sock");
        put_entry(&o, S_IFSOCK | 0755, 0);
        end_kid(&o, &d);
        close_dir(&o, &d);
        CHECK_EQ_INT(decode(o.p, o.n, 0, UINT64_MAX, &l), 0);
        CHECK_STREQ(l.text,
                    "B . name= depth=0 off=0 mode=40755 mtime=0\n"
                    "B dev name=dev depth=1 off=84 mode=20600 mtime=0 dev=4095,1048575\n"
                    "E dev\n"
                    "B fifo name=fifo depth=1 off=201 mode=10644 mtime=0 user=someone group=-\n"
                    "E fifo\n"
                    "B file name=file depth=1 off=310 mode=100644 mtime=0 size=3\n"
                    "E file data=abc"
                    "B sock name=sock depth=1 off=414 mode=140755 mtime=0\n"
                    "E sock\n"
                    "E .\n"
                    "F\n");
        for (size_t step = 1; step < 30; step++) {
                logbuf s = { 0 };
                CHECK_EQ_INT(decode(o.p, o.n, step, UINT64_MAX, &s), 0);
                CHECK_STREQ(s.text, l.text);
                free(s.text);
        }
        /* device numbers beyond Linux's 12/20 bits */
        uint64_t dev_off = 84 + 64 + 16;
        write_le64(o.p + dev_off, 4096);
        CHECK_EQ_INT(decode_quiet(o.p, o.n, UINT64_MAX), -EBADMSG);
        write_le64(o.p + dev_off, 4095);
        write_le64(o.p + dev_off + 8, 1048576);
        CHECK_EQ_INT(decode_quiet(o.p, o.n, UINT64_MAX), -EBADMSG);
        free(o.p);
        free(l.text);
}

typedef void (*meta_fn)(out *o);

/* Builds a root directory with the records `fn` writes after its ENTRY; returns the result. */
static int root_with(meta_fn fn, logbuf *l)
{
        out o = { 0 };
        dir d;
        open_dir(&o, &d, 0755);
        fn(&o);
        close_dir(&o, &d);
        int level = ca_log_get_max_level();
        if (!l)
                ca_log_set_max_level(0);
        logbuf tmp = { 0 };
        int r = decode(o.p, o.n, 0, UINT64_MAX, l ? l : &tmp);
        ca_log_set_max_level(level);
        free(tmp.text);
        free(o.p);
        return r;
}

static void m_good(out *o)
{
        put_str(o, CA_FORMAT_USER, "alice");
        put_str(o, CA_FORMAT_GROUP, "staff-1_x");
        put_rec(o, CA_FORMAT_XATTR, "trusted.t\0v1", 12);
        put_rec(o, CA_FORMAT_XATTR, "user.a\0", 7);
        put_rec(o, CA_FORMAT_XATTR, "user.b\0xyz", 10);
        put_acl(o, CA_FORMAT_ACL_USER, 5, 7, NULL);
        put_acl(o, CA_FORMAT_ACL_USER, 5, 4, "bob");
        put_acl(o, CA_FORMAT_ACL_USER, 6, 1, NULL);
        put_acl(o, CA_FORMAT_ACL_GROUP, 7, 5, NULL);
        put64(o, 24);
        put64(o, CA_FORMAT_ACL_GROUP_OBJ);
        put64(o, 6);
        put64(o, 48);
        put64(o, CA_FORMAT_ACL_DEFAULT);
        put64(o, 7);
        put64(o, 5);
        put64(o, 0);
        put64(o, 7);
        put_acl(o, CA_FORMAT_ACL_DEFAULT_USER, 9, 7, NULL);
        put_acl(o, CA_FORMAT_ACL_DEFAULT_GROUP, 9, 7, NULL);
        put_str(o, CA_FORMAT_SELINUX, "system_u:object_r:etc_t:s0");
        put64(o, 24);
        put64(o, CA_FORMAT_QUOTA_PROJID);
        put64(o, 42);
}

static void m_xattr_unsorted(out *o)
{
        put_rec(o, CA_FORMAT_XATTR, "user.b\0", 7);
        put_rec(o, CA_FORMAT_XATTR, "user.a\0", 7);
}

static void m_xattr_dup(out *o)
{
        put_rec(o, CA_FORMAT_XATTR, "user.a\0", 7);
        put_rec(o, CA_FORMAT_XATTR, "user.a\0x", 8);
}

static void m_xattr_security(out *o)
{
        put_rec(o, CA_FORMAT_XATTR, "security.capability\0x", 21);
}

static void m_xattr_no_name(out *o)
{
        put_rec(o, CA_FORMAT_XATTR, "user.\0x", 7);
}

static void m_xattr_after_acl(out *o)
{
        put_acl(o, CA_FORMAT_ACL_GROUP, 7, 5, NULL);
        put_rec(o, CA_FORMAT_XATTR, "user.a\0", 7);
}

static void m_acl_order(out *o)
{
        put_acl(o, CA_FORMAT_ACL_GROUP, 7, 5, NULL);
        put_acl(o, CA_FORMAT_ACL_USER, 5, 7, NULL);
}

static void m_acl_unsorted(out *o)
{
        put_acl(o, CA_FORMAT_ACL_USER, 6, 7, NULL);
        put_acl(o, CA_FORMAT_ACL_USER, 5, 7, NULL);
        put64(o, 24);
        put64(o, CA_FORMAT_ACL_GROUP_OBJ);
        put64(o, 6);
}

static void m_acl_no_group_obj(out *o)
{
        put_acl(o, CA_FORMAT_ACL_USER, 5, 7, NULL);
}

static void m_acl_bad_perm(out *o)
{
        put_acl(o, CA_FORMAT_ACL_USER, 5, 8, NULL);
        put64(o, 24);
        put64(o, CA_FORMAT_ACL_GROUP_OBJ);
        put64(o, 6);
}

static void m_default_no_mask(out *o)
{
        put64(o, 48);
        put64(o, CA_FORMAT_ACL_DEFAULT);
        put64(o, 7);
        put64(o, 5);
        put64(o, 0);
        put64(o, CA_FORMAT_ACL_ABSENT);
        put_acl(o, CA_FORMAT_ACL_DEFAULT_USER, 9, 7, NULL);
}

static void m_user_root(out *o)
{
        put_str(o, CA_FORMAT_USER, "root");
}

static void m_user_digit(out *o)
{
        put_str(o, CA_FORMAT_USER, "1abc");
}

static void m_group_before_user(out *o)
{
        put_str(o, CA_FORMAT_GROUP, "staff");
        put_str(o, CA_FORMAT_USER, "alice");
}

static void m_two_selinux(out *o)
{
        put_str(o, CA_FORMAT_SELINUX, "a");
        put_str(o, CA_FORMAT_SELINUX, "b");
}

static void m_fcaps_on_dir(out *o)
{
        put_rec(o, CA_FORMAT_FCAPS, "\1\0\0\2", 4);
}

static void m_projid_zero(out *o)
{
        put64(o, 24);
        put64(o, CA_FORMAT_QUOTA_PROJID);
        put64(o, 0);
}

static void m_selinux_embedded_nul(out *o)
{
        put_rec(o, CA_FORMAT_SELINUX, "a\0b\0", 4);
}

static void m_payload_in_dir(out *o)
{
        put_rec(o, CA_FORMAT_PAYLOAD, "x", 1);
}

static void test_metadata(void)
{
        logbuf l = { 0 };

        CHECK_EQ_INT(root_with(m_good, &l), 0);
        CHECK_STREQ(l.text,
                    "B . name= depth=0 off=0 mode=40755 mtime=0 user=alice group=staff-1_x "
                    "xattr=trusted.t:v1 xattr=user.a: xattr=user.b:xyz aclu=5:7:- aclu=5:4:bob "
                    "aclu=6:1:- aclg=7:5 groupobj=6 default=7,5,0,7 defu=9 "
                    "selinux=system_u:object_r:etc_t:s0\nE .\nF\n");
        meta_fn bad[] = {
                m_xattr_unsorted, m_xattr_dup,   m_xattr_security,    m_xattr_no_name,
                m_xattr_after_acl, m_acl_order,  m_acl_unsorted,      m_acl_no_group_obj,
                m_acl_bad_perm,   m_default_no_mask, m_user_root,     m_user_digit,
                m_group_before_user, m_two_selinux, m_fcaps_on_dir,   m_projid_zero,
                m_selinux_embedded_nul, m_payload_in_dir,
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                int r = root_with(bad[i], NULL);
                if (r != -EBADMSG) {
                        fprintf(stderr, "metadata case %zu gave %d\n", i, r);
                        exit(EXIT_FAILURE);
                }
        }

        /* Without XATTRS in the flags, an XATTR record is refused. */
        flags = UINT64_C(0xb000000000000000);
        CHECK_EQ_INT(root_with(m_xattr_dup, NULL), -EBADMSG);
        /* ... and the mode must be 0777 for a directory */
        out o = { 0 };
        dir d;
        open_dir(&o, &d, 0777);
        close_dir(&o, &d);
        CHECK_EQ_INT(decode_quiet(o.p, o.n, UINT64_MAX), 0);
        write_le64(o.p + 24, S_IFDIR | 0755);
        CHECK_EQ_INT(decode_quiet(o.p, o.n, UINT64_MAX), -EBADMSG);
        free(o.p);
        flags = FX_FLAGS;
        free(l.text);
}

/* A root directory (mode 0777, valid whatever the flags) with one child, written by `fn`. */
typedef void (*child_fn)(out *o);

static int root_with_child(uint64_t archive_flags, child_fn fn)
{
        out o = { 0 };
        dir d;
        uint64_t saved = flags;

        flags = archive_flags;
        open_dir(&o, &d, 0777);
        if ((flags & CA_FORMAT_WITH_USER_NAMES) && !(flags & CA_FORMAT_WITH_UID_MASK)) {
                put_str(&o, CA_FORMAT_USER, "u");
                put_str(&o, CA_FORMAT_GROUP, "g");
        }
        put_name(&o, &d, "c");
        fn(&o);
        end_kid(&o, &d);
        close_dir(&o, &d);
        int r = decode_quiet(o.p, o.n, UINT64_MAX);
        flags = saved;
        free(o.p);
        return r;
}

static void c_file_no_payload(out *o)
{
        put_entry(o, S_IFREG | 0666, 0);
}

static void c_two_entries(out *o)
{
        put_entry(o, S_IFREG | 0666, 0);
        put_entry(o, S_IFREG | 0666, 0);
        put_rec(o, CA_FORMAT_PAYLOAD, "", 0);
}

static void c_file(out *o)
{
        put_entry(o, S_IFREG | 0666, 0);
        put_rec(o, CA_FORMAT_PAYLOAD, "", 0);
}

static void c_file_named(out *o)
{
        put_entry(o, S_IFREG | 0666, 0);
        put_str(o, CA_FORMAT_USER, "u");
        put_str(o, CA_FORMAT_GROUP, "g");
        put_rec(o, CA_FORMAT_PAYLOAD, "", 0);
}

static void c_file_uid_65534(out *o)
{
        put_entry(o, S_IFREG | 0644, 65534);
        put_rec(o, CA_FORMAT_PAYLOAD, "", 0);
}

static void c_file_uid_65535(out *o)
{
        put_entry(o, S_IFREG | 0644, 65535);
        put_rec(o, CA_FORMAT_PAYLOAD, "", 0);
}

static void c_file_uid_1(out *o)
{
        put_entry(o, S_IFREG | 0666, 1);
        put_rec(o, CA_FORMAT_PAYLOAD, "", 0);
}

static void c_file_second(out *o)
{
        put_entry_t(o, S_IFREG | 0666, 0, UINT64_C(1577934245000000000));
        put_rec(o, CA_FORMAT_PAYLOAD, "", 0);
}

static void c_file_second_plus_1(out *o)
{
        put_entry_t(o, S_IFREG | 0666, 0, UINT64_C(1577934245000000001));
        put_rec(o, CA_FORMAT_PAYLOAD, "", 0);
}

static void c_fifo(out *o)
{
        put_entry(o, S_IFIFO | 0666, 0);
}

static void c_symlink_empty(out *o)
{
        put_entry(o, S_IFLNK | 0777, 0);
        put_rec(o, CA_FORMAT_SYMLINK, "", 1);
}

static void c_symlink_4096(out *o)
{
        char t[4097];
        memset(t, 'x', 4096);
        t[4096] = 0;
        put_entry(o, S_IFLNK | 0777, 0);
        put_str(o, CA_FORMAT_SYMLINK, t);
}

static void c_symlink_4095(out *o)
{
        char t[4096];
        memset(t, 'x', 4095);
        t[4095] = 0;
        put_entry(o, S_IFLNK | 0777, 0);
        put_str(o, CA_FORMAT_SYMLINK, t);
}

static void c_file_fcaps(out *o)
{
        put_entry(o, S_IFREG | 0666, 0);
        put_rec(o, CA_FORMAT_FCAPS, "\1\0\0\2", 4);
        put_rec(o, CA_FORMAT_PAYLOAD, "", 0);
}

static void test_rules(void)
{
        const uint64_t base = UINT64_C(0xb000000000000000), perms = CA_FORMAT_WITH_PERMISSIONS;
        const uint64_t names = base | CA_FORMAT_WITH_USER_NAMES;

        CHECK_EQ_INT(root_with_child(base, c_file), 0);
        CHECK_EQ_INT(root_with_child(base, c_file_no_payload), -EBADMSG);
        CHECK_EQ_INT(root_with_child(base, c_two_entries), -EBADMSG);
        /* user names without numeric ids: casync requires both name records */
        CHECK_EQ_INT(root_with_child(names, c_file), -EBADMSG);
        CHECK_EQ_INT(root_with_child(names | CA_FORMAT_WITH_16BIT_UIDS, c_file), 0);
        CHECK_EQ_INT(root_with_child(names, c_file_named), 0);
        CHECK_EQ_INT(root_with_child(base | CA_FORMAT_WITH_16BIT_UIDS | perms, c_file_uid_65534),
                     0);
        CHECK_EQ_INT(root_with_child(base | CA_FORMAT_WITH_16BIT_UIDS | perms, c_file_uid_65535),
                     -EBADMSG);
        CHECK_EQ_INT(root_with_child(base | CA_FORMAT_WITH_32BIT_UIDS | perms, c_file_uid_65535),
                     -EBADMSG);
        CHECK_EQ_INT(root_with_child(base, c_file_uid_1), -EBADMSG);
        CHECK_EQ_INT(root_with_child(base | CA_FORMAT_WITH_SEC_TIME, c_file_second), 0);
        CHECK_EQ_INT(root_with_child(base | CA_FORMAT_WITH_SEC_TIME, c_file_second_plus_1),
                     -EBADMSG);
        /* an odd second is no multiple of 2 s */
        CHECK_EQ_INT(root_with_child(base | CA_FORMAT_WITH_2SEC_TIME, c_file_second), -EBADMSG);
        CHECK_EQ_INT(root_with_child(base, c_file_second), -EBADMSG);
        CHECK_EQ_INT(root_with_child(base | CA_FORMAT_WITH_FIFOS, c_fifo), 0);
        CHECK_EQ_INT(root_with_child(base, c_fifo), -EBADMSG);
        CHECK_EQ_INT(root_with_child(base | CA_FORMAT_WITH_SYMLINKS, c_symlink_4095), 0);
        CHECK_EQ_INT(root_with_child(base | CA_FORMAT_WITH_SYMLINKS, c_symlink_4096), -EBADMSG);
        CHECK_EQ_INT(root_with_child(base | CA_FORMAT_WITH_SYMLINKS, c_symlink_empty), -EBADMSG);
        CHECK_EQ_INT(root_with_child(base | CA_FORMAT_WITH_FCAPS, c_file_fcaps), 0);
        CHECK_EQ_INT(root_with_child(base, c_file_fcaps), -EBADMSG);
}

/* File names: the longest allowed, too long, and duplicates. */
static void test_names(void)
{
        out o = { 0 };
        dir d;
        char name[257];

        for (size_t len = 255; len <= 256; len++) {
                memset(name, 'n', len);
                name[len] = 0;
                o.n = 0;
                open_dir(&o, &d, 0755);
                put_name(&o, &d, name);
                put_entry(&o, S_IFREG | 0644, 0);
                put_rec(&o, CA_FORMAT_PAYLOAD, "", 0);
                end_kid(&o, &d);
                close_dir(&o, &d);
                CHECK_EQ_INT(decode_quiet(o.p, o.n, UINT64_MAX), len == 255 ? 0 : -EBADMSG);
        }

        o.n = 0;
        open_dir(&o, &d, 0755);
        for (int i = 0; i < 2; i++) {
                put_name(&o, &d, "same");
                put_entry(&o, S_IFREG | 0644, 0);
                put_rec(&o, CA_FORMAT_PAYLOAD, "", 0);
                end_kid(&o, &d);
        }
        close_dir(&o, &d);
        CHECK_EQ_INT(decode_quiet(o.p, o.n, UINT64_MAX), -EBADMSG);
        free(o.p);
}

int main(void)
{
        test_fx();
        test_fx_broken();
        test_depth();
        test_kinds();
        test_metadata();
        test_rules();
        test_names();
        return EXIT_SUCCESS;
}
