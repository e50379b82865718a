/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of the streaming catar decoder: the spec's fx.catar (made by casync 2, embedded
 * below) decodes to the expected events in any split, every truncation fails, and hand-broken or
 * hand-built archives are accepted or rejected as casync's rules say. test_mtree.sh compares
 * with casync itself on real archives.
 *
 * This file has fx.catar, the logging sink and main; test_decoder_build.c writes hand-built
 * archives, test_decoder_entries.c checks nesting, node kinds, entry rules and names with them,
 * test_decoder_meta.c the metadata records (declarations in test_decoder.h).
 */
#include "test_decoder.h"

/* casync make fx.catar fx, tree of casync-formats.md §4.10 (sha256 715314c1...) */
static const uint8_t fx[] = {
    0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x51, 0xbb, 0x5b, 0xea, 0xbc, 0xfa, 0x96, 0x13,
    0x26, 0xfe, 0xef, 0xff, 0x01, 0x00, 0x00, 0xb0, 0xed, 0x41, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x15, 0xff, 0x81, 0xef, 0xd5, 0xf2, 0xe5, 0x15,
    0x16, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0b, 0x1f, 0x16, 0xb3, 0xbc, 0x6e, 0xbb, 0x6d,
    0x61, 0x2e, 0x74, 0x78, 0x74, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x51, 0xbb,
    0x5b, 0xea, 0xbc, 0xfa, 0x96, 0x13, 0x26, 0xfe, 0xef, 0xff, 0x01, 0x00, 0x00, 0xb0, 0xa4, 0x81,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x15, 0xff,
    0x81, 0xef, 0xd5, 0xf2, 0xe5, 0x15, 0x16, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc9, 0xff,
    0xdc, 0xd6, 0x93, 0x1d, 0x9e, 0x8b, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x0a, 0x15, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x0b, 0x1f, 0x16, 0xb3, 0xbc, 0x6e, 0xbb, 0x6d, 0x6c, 0x69, 0x6e, 0x6b,
    0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x51, 0xbb, 0x5b, 0xea, 0xbc, 0xfa, 0x96,
    0x13, 0x26, 0xfe, 0xef, 0xff, 0x01, 0x00, 0x00, 0xb0, 0xff, 0xa1, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x97, 0xf3, 0x05, 0xd6, 0xf2, 0xe5,
    0x15, 0x16, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x6c, 0x0d, 0x0e, 0x83, 0xb6, 0x6f, 0x4a,
    0x66, 0x61, 0x2e, 0x74, 0x78, 0x74, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0b,
    0x1f, 0x16, 0xb3, 0xbc, 0x6e, 0xbb, 0x6d, 0x73, 0x75, 0x62, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x51, 0xbb, 0x5b, 0xea, 0xbc, 0xfa, 0x96, 0x13, 0x26, 0xfe, 0xef, 0xff, 0x01,
    0x00, 0x00, 0xb0, 0xed, 0x41, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x15, 0xff, 0x81, 0xef, 0xd5, 0xf2, 0xe5, 0x15, 0x12, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x0b, 0x1f, 0x16, 0xb3, 0xbc, 0x6e, 0xbb, 0x6d, 0x62, 0x00, 0x40, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x51, 0xbb, 0x5b, 0xea, 0xbc, 0xfa, 0x96, 0x13, 0x26, 0xfe, 0xef,
    0xff, 0x01, 0x00, 0x00, 0xb0, 0xa4, 0x81, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x15, 0xff, 0x81, 0xef, 0xd5, 0xf2, 0xe5, 0x15, 0x18, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0xc9, 0xff, 0xdc, 0xd6, 0x93, 0x1d, 0x9e, 0x8b, 0x77, 0x6f, 0x72,
    0x6c, 0x64, 0x21, 0x21, 0x0a, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xc4, 0x27,
    0x83, 0x5e, 0x5c, 0xd3, 0xdf, 0x6a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x6a, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x8f, 0xdf, 0xe7, 0x95, 0x53, 0x69, 0x07, 0x90, 0xaa, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x43, 0x29, 0x70,
    0x33, 0xa5, 0x6f, 0x44, 0x57, 0x70, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xc4, 0x27,
    0x83, 0x5e, 0x5c, 0xd3, 0xdf, 0xfe, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xfe, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0xec, 0xde, 0xc3, 0x98, 0x56, 0x93, 0xfe, 0xeb, 0xd5, 0x01, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x6c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x87, 0x81, 0x77,
    0x12, 0x0a, 0xb4, 0xdb, 0x30, 0x69, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x6b, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0xaf, 0xdf, 0xb3, 0x7b, 0x6d, 0xbf, 0x22, 0xf9, 0x15, 0x02, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x70, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x43, 0x29, 0x70,
    0x33, 0xa5, 0x6f, 0x44, 0x57};

/* ---------------------------------------------------------------- a sink that logs events */

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
                logf_(l, "E %s data=%.*s", n->path, (int)MIN(l->payload_len, sizeof(l->payload)),
                      l->payload);
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
int decode(const void *data, size_t size, size_t step, uint64_t expected, logbuf *l)
{
        ca_sink sink = {log_begin, log_payload, log_end, log_finish, l};
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

int decode_quiet(const void *data, size_t size, uint64_t expected)
{
        logbuf l = {0};
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
        logbuf l = {0};

        CHECK(ca_digest_once(CA_DIGEST_SHA256, fx, sizeof(fx), &id) == 0);
        CHECK_STREQ(ca_chunk_id_to_hex(&id, hex),
                    "715314c1f186f2c43c84d3994e8ebe741bd8fc939865f568e23027fcc383e14c");

        size_t steps[] = {0, 1, 2, 3, 5, 16, 17, 24, 100};
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
                logbuf f = {.fail_at = n};
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
