/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Index reader: the spec's fx example parses and re-serializes byte for byte, a real casync index
 * reproduces the spec's chunk table, and every malformed variant is rejected with -EBADMSG.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "casync/casync.h"
#include "tests/test.h"

/* spec §2: the fx tree as a .caidx with a single 645-byte chunk. */
static const uint8_t fx[] = {
    0x30, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf9, 0x9f, 0x12, 0x7b, 0x9c, 0x4d, 0x82, 0x96,
    0x26, 0xfe, 0xef, 0xff, 0x01, 0x00, 0x00, 0xb0, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7d, 0x41, 0x17, 0x2f, 0x11, 0x9e, 0x5b, 0xe7,
    0x85, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x98, 0x77, 0xbe, 0x12, 0xcd, 0x60, 0x03, 0x75,
    0x2a, 0x81, 0x12, 0x5b, 0x8e, 0xa7, 0x09, 0x8f, 0x6a, 0x31, 0x7a, 0x18, 0xc3, 0xa0, 0xaa, 0x4f,
    0x59, 0x1d, 0x9a, 0xe0, 0x10, 0x13, 0x80, 0xa6, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x30, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x60, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xd1, 0xec, 0x49, 0x55, 0x0e, 0x05, 0x4f, 0x4b,
};

static char tmpdir[] = "/tmp/test_index.XXXXXX";

static void expect_bad(const void *data, size_t size, const char *label)
{
        ca_index *i = (ca_index *)0x1;
        int r = ca_index_parse(data, size, label, &i);
        if (r != -EBADMSG) {
                fprintf(stderr, "%s: ca_index_parse returned %d, expected -EBADMSG\n", label, r);
                exit(EXIT_FAILURE);
        }
        CHECK(i == (ca_index *)0x1); /* untouched on failure */
}

static ca_index *expect_good(const void *data, size_t size, const char *label)
{
        ca_index *i = NULL;
        int r = ca_index_parse(data, size, label, &i);
        if (r != 0) {
                fprintf(stderr, "%s: ca_index_parse returned %d, expected 0\n", label, r);
                exit(EXIT_FAILURE);
        }
        return i;
}

/* An index with the given chunk sizes, serialized; ids are filled with the chunk number. */
static uint8_t *make_index(const uint64_t *sizes, size_t n, uint64_t max, size_t *ret_size)
{
        ca_index idx = {
            .feature_flags =
                CA_FORMAT_SHA512_256 | CA_FORMAT_EXCLUDE_NODUMP | CA_FORMAT_EXCLUDE_FILE,
            .chunk_size_min = 1,
            .chunk_size_avg = max,
            .chunk_size_max = max,
            .n_items = n,
        };
        ca_index_item items[16];
        uint64_t off = 0;
        void *buf;

        CHECK(n <= ELEMENTSOF(items));
        for (size_t k = 0; k < n; k++) {
                items[k].offset = off;
                items[k].size = sizes[k];
                memset(items[k].id.bytes, (int)k + 1, CA_CHUNK_ID_SIZE);
                off += sizes[k];
        }
        idx.items = items;
        CHECK_EQ_INT(ca_index_serialize(&idx, &buf, ret_size), 0);
        return buf;
}

static void test_fx(void)
{
        _cleanup_(ca_index_freep) ca_index *i = NULL;
        _cleanup_(freep) void *out = NULL;
        char hex[CA_CHUNK_ID_HEX_SIZE];
        size_t out_size;

        i = expect_good(fx, sizeof(fx), "fx.caidx");
        CHECK(i->feature_flags == UINT64_C(0xb0000001ffeffe26));
        CHECK_EQ_INT(i->chunk_size_min, 16384);
        CHECK_EQ_INT(i->chunk_size_avg, 65536);
        CHECK_EQ_INT(i->chunk_size_max, 262144);
        CHECK_EQ_INT(i->n_items, 1);
        CHECK_EQ_INT(i->items[0].offset, 0);
        CHECK_EQ_INT(i->items[0].size, 645);
        CHECK_EQ_INT(i->total_size, 645);
        CHECK_STREQ(ca_chunk_id_to_hex(&i->items[0].id, hex),
                    "9877be12cd6003752a81125b8ea7098f6a317a18c3a0aa4f591d9ae0101380a6");

        CHECK_EQ_INT(ca_index_serialize(i, &out, &out_size), 0);
        CHECK_EQ_INT(out_size, sizeof(fx));
        CHECK(memcmp(out, fx, sizeof(fx)) == 0);
}

static void test_empty_blob(void)
{
        _cleanup_(ca_index_freep) ca_index *i = NULL;
        _cleanup_(freep) uint8_t *buf = NULL;
        size_t size;

        buf = make_index(NULL, 0, 65536, &size);
        CHECK_EQ_INT(size, 104);
        i = expect_good(buf, size, "empty.caibx");
        CHECK_EQ_INT(i->n_items, 0);
        CHECK_EQ_INT(i->total_size, 0);
}

/* Patches the u64 at off in a copy of fx and expects rejection. */
static void bad_fx_field(size_t off, uint64_t v, const char *label)
{
        uint8_t b[sizeof(fx)];

        memcpy(b, fx, sizeof(fx));
        write_le64(b + off, v);
        expect_bad(b, sizeof(b), label);
}

static void test_header(void)
{
        bad_fx_field(0, 47, "header size 47");
        bad_fx_field(0, 49, "header size 49");
        bad_fx_field(0, 0, "header size 0");
        bad_fx_field(8, CA_FORMAT_TABLE, "header type");
        bad_fx_field(16, UINT64_C(0xb0000001ffeffe26) | (UINT64_C(1) << 40), "unknown flag");
        bad_fx_field(16, UINT64_MAX, "flags all ones");
        bad_fx_field(16, CA_FORMAT_WITH_NSEC_TIME | CA_FORMAT_WITH_USEC_TIME, "flags not normal");
        bad_fx_field(16, CA_FORMAT_WITH_16BIT_UIDS | CA_FORMAT_WITH_32BIT_UIDS, "uids not normal");
        bad_fx_field(24, 0, "min 0");
        bad_fx_field(32, 0, "avg 0");
        bad_fx_field(40, 0, "max 0");
        bad_fx_field(40, CA_CHUNK_SIZE_LIMIT_MAX + 1, "max over limit");
        bad_fx_field(24, UINT64_MAX, "min all ones");
        bad_fx_field(24, 65537, "min above avg");
        bad_fx_field(32, 262145, "avg above max");
        bad_fx_field(40, 65535, "max below avg");
        bad_fx_field(48, UINT64_MAX - 1, "table size");
        bad_fx_field(48, 96, "table size real");
        bad_fx_field(56, CA_FORMAT_INDEX, "table type");
}

static void test_limits_accepted(void)
{
        uint8_t b[sizeof(fx)];
        ca_index *i;

        /* All three at the top of the range, and the first chunk exactly max-sized. */
        memcpy(b, fx, sizeof(fx));
        write_le64(b + 24, CA_CHUNK_SIZE_LIMIT_MAX);
        write_le64(b + 32, CA_CHUNK_SIZE_LIMIT_MAX);
        write_le64(b + 40, CA_CHUNK_SIZE_LIMIT_MAX);
        write_le64(b + 64, CA_CHUNK_SIZE_LIMIT_MAX);
        i = expect_good(b, sizeof(b), "max limits");
        CHECK_EQ_INT(i->items[0].size, CA_CHUNK_SIZE_LIMIT_MAX);
        ca_index_free(i);

        memcpy(b, fx, sizeof(fx));
        write_le64(b + 24, 1);
        write_le64(b + 32, 1);
        write_le64(b + 40, 1);
        write_le64(b + 64, 1);
        i = expect_good(b, sizeof(b), "min limits");
        ca_index_free(i);

        /* One above max is not. */
        memcpy(b, fx, sizeof(fx));
        write_le64(b + 64, 262145);
        expect_bad(b, sizeof(b), "first chunk above max");
}

static void test_items(void)
{
        const uint64_t sizes[] = {100, 200, 300};
        _cleanup_(freep) uint8_t *buf = NULL;
        size_t size;
        ca_index *i;

#define ITEM(k) (64 + 40 * (k))
        buf = make_index(sizes, 3, 1000, &size);
        CHECK_EQ_INT(size, 104 + 3 * 40);
        i = expect_good(buf, size, "three chunks");
        CHECK_EQ_INT(i->items[2].offset, 300);
        CHECK_EQ_INT(i->items[2].size, 300);
        CHECK_EQ_INT(i->items[1].id.bytes[0], 2);
        CHECK_EQ_INT(i->total_size, 600);
        ca_index_free(i);

        uint8_t b[104 + 3 * 40];
        struct {
                size_t item;
                uint64_t end;
                const char *label;
        } cases[] = {
            {0, 0, "first chunk empty"},
            {1, 100, "equal offsets"},
            {1, 99, "decreasing offsets"},
            {2, 300, "equal offsets at the end"},
            {2, 0, "last offset zero"},
            {2, 1301, "chunk above max"},
            {0, UINT64_MAX, "first end near 2^64"},
            {2, UINT64_MAX, "last end near 2^64"},
            {1, UINT64_MAX - 50, "middle end near 2^64"},
        };
        for (size_t k = 0; k < ELEMENTSOF(cases); k++) {
                memcpy(b, buf, sizeof(b));
                write_le64(b + ITEM(cases[k].item), cases[k].end);
                expect_bad(b, sizeof(b), cases[k].label);
        }

        /* A size of 2^64 - 1 wraps the end offset around to start - 1. */
        uint64_t big[] = {1000, 1000, 1000};
        _cleanup_(freep) uint8_t *b2 = make_index(big, 3, 1000, &size);
        write_le64(b2 + ITEM(1), 1000 + UINT64_MAX);
        expect_bad(b2, size, "wrapping offsets");
#undef ITEM
}

static void test_tail(void)
{
        size_t t = sizeof(fx) - 40;

        bad_fx_field(t + 0, 1, "tail zero1");
        bad_fx_field(t + 8, UINT64_C(1) << 63, "tail zero2");
        bad_fx_field(t + 16, 40, "tail index offset");
        bad_fx_field(t + 16, 0, "tail index offset 0");
        bad_fx_field(t + 24, 136, "tail size +40");
        bad_fx_field(t + 24, 56, "tail size for n=0");
        bad_fx_field(t + 24, UINT64_MAX, "tail size all ones");
        bad_fx_field(t + 32, CA_FORMAT_TABLE_TAIL_MARKER ^ 1, "tail marker");
        bad_fx_field(t + 32, 0, "tail marker zero");
}

static void test_sizes(void)
{
        uint8_t b[sizeof(fx) + 41];

        /* Every truncation. */
        for (size_t len = 0; len < sizeof(fx); len++)
                expect_bad(fx, len, "truncated");

        /* Extra bytes: one, and a whole extra slot of zeros or a copy of the tail. */
        memcpy(b, fx, sizeof(fx));
        memset(b + sizeof(fx), 0, sizeof(b) - sizeof(fx));
        expect_bad(b, sizeof(fx) + 1, "one extra byte");
        expect_bad(b, sizeof(fx) + 40, "extra zero slot");
        memcpy(b + sizeof(fx), fx + sizeof(fx) - 40, 40);
        expect_bad(b, sizeof(fx) + 40, "tail repeated");
        expect_bad(b, sizeof(fx) + 41, "tail repeated plus one");

        /* Chunk count over the cap: only the header is in memory. Reading anything past the
         * header before checking the size would be caught by ASan. */
        uint8_t *h = malloc(64);
        CHECK(h);
        memcpy(h, fx, 64);
        expect_bad(h, 104 + 40 * (CA_INDEX_ITEMS_MAX + 1), "over the item cap");
        expect_bad(h, SIZE_MAX, "size SIZE_MAX");
        expect_bad(h, SIZE_MAX - 39, "size SIZE_MAX - 39");
        free(h);
}

static void write_file(const char *path, const void *data, size_t size)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        CHECK(fd >= 0);
        CHECK(write(fd, data, size) == (ssize_t)size);
        CHECK(close(fd) == 0);
}

static void test_load(void)
{
        char path[256], link[256];
        ca_index *i = NULL;
        int fd;

        snprintf(path, sizeof(path), "%s/fx.caidx", tmpdir);
        write_file(path, fx, sizeof(fx));
        snprintf(link, sizeof(link), "%s/link.caidx", tmpdir);
        CHECK(symlink("fx.caidx", link) == 0);
        CHECK_EQ_INT(ca_index_load(link, &i), 0); /* user paths may be symlinks */
        CHECK_EQ_INT(i->items[0].size, 645);
        ca_index_free(i);

        snprintf(path, sizeof(path), "%s/missing.caidx", tmpdir);
        CHECK_EQ_INT(ca_index_load(path, &i), -ENOENT);

        /* A directory and a FIFO (which must not block) are not index files. */
        CHECK_EQ_INT(ca_index_load(tmpdir, &i), -EBADMSG);
        snprintf(path, sizeof(path), "%s/fifo.caidx", tmpdir);
        CHECK(mkfifo(path, 0600) == 0);
        CHECK_EQ_INT(ca_index_load(path, &i), -EBADMSG);

        /* A huge sparse file is refused from its size, before reading. */
        snprintf(path, sizeof(path), "%s/huge.caidx", tmpdir);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        CHECK(fd >= 0);
        CHECK(write(fd, fx, 64) == 64);
        CHECK(ftruncate(fd, (off_t)(104 + 40 * (CA_INDEX_ITEMS_MAX + 1))) == 0);
        CHECK(close(fd) == 0);
        CHECK_EQ_INT(ca_index_load(path, &i), -EBADMSG);

        /* A truncated file on disk. */
        snprintf(path, sizeof(path), "%s/short.caidx", tmpdir);
        write_file(path, fx, sizeof(fx) - 1);
        CHECK_EQ_INT(ca_index_load(path, &i), -EBADMSG);
}

static void test_kind(void)
{
        CHECK_EQ_INT(ca_index_kind_from_name("x.caidx"), CA_INDEX_ARCHIVE);
        CHECK_EQ_INT(ca_index_kind_from_name("/a/b/x.caibx"), CA_INDEX_BLOB);
        CHECK_EQ_INT(ca_index_kind_from_name("x.catar"), CA_INDEX_UNKNOWN);
        CHECK_EQ_INT(ca_index_kind_from_name(".caidx"), CA_INDEX_UNKNOWN);
        CHECK_EQ_INT(ca_index_kind_from_name("dir/.caidx"), CA_INDEX_UNKNOWN);
        CHECK_EQ_INT(ca_index_kind_from_name("x.caidx/"), CA_INDEX_UNKNOWN);
        CHECK_EQ_INT(ca_index_kind_from_name("x.caidx.gz"), CA_INDEX_UNKNOWN);
        CHECK_EQ_INT(ca_index_kind_from_name(""), CA_INDEX_UNKNOWN);
        CHECK_EQ_INT(ca_index_kind_from_name("https://h/p/x.caidx?sig=abc"), CA_INDEX_ARCHIVE);
        CHECK_EQ_INT(ca_index_kind_from_name("https://h/p/x.caibx#frag"), CA_INDEX_BLOB);
        CHECK_EQ_INT(ca_index_kind_from_name("https://h/p/x.caibx;v=1"), CA_INDEX_BLOB);
        CHECK_EQ_INT(ca_index_kind_from_name("https://h/p?f=x.caidx"), CA_INDEX_UNKNOWN);
        /* A local file name may contain '?'. */
        CHECK_EQ_INT(ca_index_kind_from_name("what?.caidx"), CA_INDEX_ARCHIVE);
}

static void test_serialize_rejects(void)
{
        ca_index_item items[2] = {{.offset = 0, .size = 10}, {.offset = 11, .size = 10}};
        ca_index idx = {.chunk_size_min = 1,
                        .chunk_size_avg = 10,
                        .chunk_size_max = 10,
                        .n_items = 2,
                        .items = items};
        void *buf;
        size_t size;

        CHECK_EQ_INT(ca_index_serialize(&idx, &buf, &size), -EINVAL); /* gap */
        items[1].offset = 10;
        items[1].size = 0;
        CHECK_EQ_INT(ca_index_serialize(&idx, &buf, &size), -EINVAL); /* empty chunk */
        items[1].size = 10;
        CHECK_EQ_INT(ca_index_serialize(&idx, &buf, &size), 0);
        free(buf);
}

/* spec §3.5: vec1m.bin chunked by the real casync gives this table. */
static void test_casync_index(void)
{
        static const struct {
                uint64_t end;
                const char *id;
        } expect[] = {
            {80921, "0fac270dc01e8432b80e21552476de6483653a3b261f710457abdd5c8f22e860"},
            {138220, "9f0c3d2c709f1b9d28ecbfde5cdcf70bf7e1bf317fbf115896d75e0a5aef9aa5"},
            {187412, "ccb2b7fdf100a825cc8325a75e5cee8bc207821e7284e5f19be39d7c6e562c81"},
            {237372, "605945b8129447dd121d60e4a5459c5c801c23867b9dd35988a7edb95fb2ed1b"},
            {296795, "4ff44b15cf44d0fb3aa46d2e9f22acde9f8fe83212e189e7a856ddc90937abd5"},
            {348909, "27b2c22befee4e098548489b5688839ab8e7ed7d5fb853b7d9e3812c0cf3ec9f"},
            {437333, "5d85b4b89504497f14dbac004815b940fbb39d90cd19818df6676f00440f1f22"},
            {483751, "9800d13f5de1d39ab8eb4490f7a1952a0d280ce7e5fe602740998b55f24269b9"},
            {584033, "26f2b52e82e3689fd6a0b65020d6cb4f3001af63ddaf93cc22e16d647083914b"},
            {676269, "5d4b5c91c282cafbf1700b7cb458d48cd527816d8ac3cff560e296ebb4a6a7c6"},
            {776182, "2cb1dc5ebeabf4b8f0ec7469d14f4102e12793d45ec9e847060e9936f9b98214"},
            {792964, "07d05610224d294db6fb4a10247372d5f2a73da26fcdc1e78d924b44486381c5"},
            {865744, "c4854da72bab4363772c5735c73a75ce8d9210693547f4b9fa2b0a240456f442"},
            {907329, "2407c94193f7a1faf98a930ea0aeac461e07d8222339b0f452b94e07126f7e81"},
            {945783, "7d0a66178e627ee064fdc2de18190e5a0237ed169ad59acc5cee774756c10c94"},
            {1048576, "1a8885417125d1230d2f171bff771a5f50a48f3f5ede5dbc7f0ef47419bb7c7d"},
        };
        _cleanup_(ca_index_freep) ca_index *i = NULL;
        _cleanup_(freep) void *out = NULL;
        _cleanup_(freep) uint8_t *orig = NULL;
        char path[256], cmd[1024], hex[CA_CHUNK_ID_HEX_SIZE];
        size_t out_size;
        uint64_t start = 0;
        FILE *f;

        if (access("/usr/bin/casync", X_OK) != 0) {
                printf("casync not installed: skipping the casync-made index check\n");
                return;
        }

        /* vec1m.bin = SHA-256(u64le(k)) for k = 0..32767. */
        snprintf(path, sizeof(path), "%s/vec1m.bin", tmpdir);
        f = fopen(path, "we");
        CHECK(f);
        for (uint64_t k = 0; k < 32768; k++) {
                uint8_t le[8];
                ca_chunk_id h;
                write_le64(le, k);
                CHECK_EQ_INT(ca_digest_once(CA_DIGEST_SHA256, le, 8, &h), 0);
                CHECK(fwrite(h.bytes, 1, 32, f) == 32);
        }
        CHECK(fclose(f) == 0);

        snprintf(cmd, sizeof(cmd), "casync make --store=%s/s.castr %s/vec1m.caibx %s >/dev/null",
                 tmpdir, tmpdir, path);
        CHECK_EQ_INT(system(cmd), 0);
        snprintf(path, sizeof(path), "%s/vec1m.caibx", tmpdir);
        CHECK_EQ_INT(ca_index_load(path, &i), 0);
        CHECK(i->feature_flags == UINT64_C(0xb000000000000000));
        CHECK_EQ_INT(i->n_items, ELEMENTSOF(expect));
        for (size_t k = 0; k < ELEMENTSOF(expect); k++) {
                CHECK_EQ_INT(i->items[k].offset, start);
                CHECK_EQ_INT(i->items[k].offset + i->items[k].size, expect[k].end);
                CHECK_STREQ(ca_chunk_id_to_hex(&i->items[k].id, hex), expect[k].id);
                start = expect[k].end;
        }

        /* Re-serialized, it is byte-identical to what casync wrote. */
        CHECK_EQ_INT(ca_index_serialize(i, &out, &out_size), 0);
        orig = malloc(out_size + 1);
        CHECK(orig);
        f = fopen(path, "re");
        CHECK(f);
        CHECK_EQ_INT(fread(orig, 1, out_size + 1, f), out_size);
        fclose(f);
        CHECK(memcmp(orig, out, out_size) == 0);
}

static void cleanup_tmpdir(void)
{
        char cmd[512];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        (void)!system(cmd);
}

int main(void)
{
        CHECK(mkdtemp(tmpdir));
        atexit(cleanup_tmpdir);

        test_fx();
        test_empty_blob();
        test_header();
        test_limits_accepted();
        test_items();
        test_tail();
        test_sizes();
        test_load();
        test_kind();
        test_serialize_rejects();
        test_casync_index();
        printf("test_index: all checks passed\n");
        return 0;
}
