/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Access profiles (aci/profile.c): the format both ways, one rejection per rule (one message,
 * naming the file and the line), the recorder's merging and bounds, and the store's file. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aci/aci.h"
#include "casync/casync.h"
#include "test.h"

static char messages[8192];
static size_t n_messages;

static void capture(void *userdata, const char *line, size_t size)
{
        size_t used = strlen(messages);
        if (used + size < sizeof(messages)) {
                memcpy(messages + used, line, size);
                messages[used + size] = 0;
        }
        n_messages++;
}

static int parse(const char *text, size_t size, aci_profile *p)
{
        messages[0] = 0;
        n_messages = 0;
        return aci_profile_parse(text, size, "test.profile", CA_LOG_WARNING, p);
}

static void expect_bad_sized(const char *text, size_t size, const char *substring, int line)
{
        aci_profile p = {};
        int r = parse(text, size, &p);
        if (r != -EBADMSG || n_messages != 1 || !strstr(messages, substring) ||
            !strstr(messages, "test.profile") || !strstr(messages, "warning: ") ||
            !strstr(messages, "the profile is ignored")) {
                fprintf(stderr,
                        "line %d: r=%d, %zu messages \"%s\", expected one warning with \"%s\"\n",
                        line, r, n_messages, messages, substring);
                exit(EXIT_FAILURE);
        }
        CHECK(p.n == 0 && !p.files && p.n_chunks == 0 && !p.chunks);
}
#define expect_bad(text, substring) expect_bad_sized(text, strlen(text), substring, __LINE__)

#define MAGIC "acfetch-profile 2\n"
#define F     "file "
#define ID_A  "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define ID_B  "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"

static void test_round_trip(void)
{
        static const char text[] =
            MAGIC "chunk " ID_A "\n"
                  "chunk " ID_B "\n" F "usr/bin/app 0+65536 1048576+4096\n" F
                  "we%20ird%25name/%0a 5+5\n" F "\xc3\xa9t\xc3\xa9 16777215+1\n";
        aci_profile p = {};
        CHECK_EQ_INT(parse(text, strlen(text), &p), 0);
        CHECK_EQ_INT(n_messages, 0);
        CHECK_EQ_INT(p.n, 3);
        CHECK_EQ_INT(p.n_chunks, 2);
        CHECK_EQ_INT(p.chunks[0].bytes[1], 0x11);
        CHECK_EQ_INT(p.chunks[1].bytes[0], 0xff);
        CHECK_STREQ(p.files[0].path, "usr/bin/app");
        CHECK_EQ_INT(p.files[0].n_ranges, 2);
        CHECK_EQ_INT(p.files[0].ranges[1].offset, 1048576);
        CHECK_EQ_INT(p.files[0].ranges[1].length, 4096);
        CHECK_STREQ(p.files[1].path, "we ird%name/\n");
        CHECK_STREQ(p.files[2].path, "\xc3\xa9t\xc3\xa9");
        char *out = NULL;
        size_t size = 0;
        CHECK_EQ_INT(aci_profile_format(&p, &out, &size), 0);
        CHECK_EQ_INT(size, strlen(text));
        CHECK(memcmp(out, text, size) == 0);
        free(out);
        aci_profile_done(&p);

        /* Any byte may be escaped; the writer escapes only what it must. */
        static const char escaped[] = MAGIC F "%c3%a9%41 0+1\n";
        CHECK_EQ_INT(parse(escaped, strlen(escaped), &p), 0);
        CHECK_STREQ(p.files[0].path, "\xc3\xa9"
                                     "A");
        aci_profile_done(&p);

        /* Version 1: file lines without their keyword, and no chunks. */
        static const char v1[] = "acfetch-profile 1\nusr/bin/app 0+10\nlib/x 5+5\n";
        CHECK_EQ_INT(parse(v1, strlen(v1), &p), 0);
        CHECK_EQ_INT(p.n, 2);
        CHECK_EQ_INT(p.n_chunks, 0);
        CHECK_STREQ(p.files[1].path, "lib/x");
        aci_profile_done(&p);

        /* An empty profile is valid (nothing read yet). */
        CHECK_EQ_INT(parse(MAGIC, strlen(MAGIC), &p), 0);
        CHECK_EQ_INT(p.n, 0);
}

static void test_rejects(void)
{
        expect_bad("", "not an acfetch profile");
        expect_bad("acfetch-profile 3\nfile x 0+1\n", "not an acfetch profile");
        expect_bad(MAGIC "x 0+1\n", "line 2: a line that is neither");
        expect_bad(MAGIC "files x 0+1\n", "line 2: a line that is neither");
        expect_bad(MAGIC "chunk\n", "line 2: a line that is neither");
        expect_bad(MAGIC "chunk " ID_A "0\n", "line 2: a chunk ID that is not 64");
        expect_bad(MAGIC "chunk 0123\n", "line 2: a chunk ID that is not 64");
        expect_bad(MAGIC "chunk " ID_A " \n", "line 2: a chunk ID that is not 64");
        expect_bad(MAGIC "chunk  " ID_A "\n", "line 2: a chunk ID that is not 64");
        expect_bad(MAGIC "chunk 00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff\n",
                   "a chunk ID that is not 64 lowercase hex digits");
        expect_bad(MAGIC "chunk 0g112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
                   "a chunk ID that is not 64 lowercase hex digits");
        expect_bad(MAGIC F "x 0+1\nchunk xyz\n", "line 3: a chunk ID");
        expect_bad(MAGIC F "x 0+1", "does not end in a newline");
        expect_bad(MAGIC F "x\n", "line 2: a path without ranges");
        expect_bad(MAGIC F "x 0+1\nfile /etc/passwd 0+1\n", "line 3: an absolute path");
        expect_bad(MAGIC F "../etc/passwd 0+1\n", "\"..\" component");
        expect_bad(MAGIC F "a/../b 0+1\n", "\"..\" component");
        expect_bad(MAGIC F "a/%2e%2e/b 0+1\n", "\"..\" component");
        expect_bad(MAGIC F "a/./b 0+1\n", "\"..\" component");
        expect_bad(MAGIC F "a//b 0+1\n", "empty");
        expect_bad(MAGIC F "a/ 0+1\n", "empty");
        expect_bad(MAGIC F "%2fetc 0+1\n", "an absolute path");
        expect_bad(MAGIC F "a%00b 0+1\n", "a NUL byte");
        expect_bad(MAGIC F "a%0 0+1\n", "bad %-escape");
        expect_bad(MAGIC F "a%zz 0+1\n", "bad %-escape");
        expect_bad_sized(MAGIC F "a\0b 0+1\n", strlen(MAGIC F) + 8, "control character", __LINE__);
        expect_bad(MAGIC F "a\tb 0+1\n", "control character");
        expect_bad(MAGIC F "x 0+0\n", "empty or beyond");
        expect_bad(MAGIC F "x 16777216+1\n", "empty or beyond");
        expect_bad(MAGIC F "x 16777215+2\n", "empty or beyond");
        expect_bad(MAGIC F "x 01+1\n", "not OFFSET+LENGTH");
        expect_bad(MAGIC F "x -1+1\n", "not OFFSET+LENGTH");
        expect_bad(MAGIC F "x 1+\n", "not OFFSET+LENGTH");
        expect_bad(MAGIC F "x 99999999999999999999+1\n", "not OFFSET+LENGTH");
        expect_bad(MAGIC F "x 0+1  2+1\n", "not OFFSET+LENGTH");
        expect_bad(MAGIC F "x 0+1 \n", "not OFFSET+LENGTH");

        char name[300];
        memset(name, 'n', 256);
        strcpy(name + 256, " 0+1\n");
        char text[8192];
        snprintf(text, sizeof(text), MAGIC F "%s", name);
        expect_bad(text, "file name longer than 255");

        /* A path of 4097 bytes: 17 components of 240 bytes. */
        size_t pos = strlen(MAGIC F);
        memcpy(text, MAGIC F, pos);
        for (int i = 0; i < 17; i++) {
                memset(text + pos, 'p', 240);
                pos += 240;
                text[pos++] = '/';
        }
        memcpy(text + pos - 1, "x 0+1\n", 7);
        expect_bad(text, "longer than 4096 bytes");

        /* 17 ranges for one file. */
        pos = (size_t)snprintf(text, sizeof(text), MAGIC F "x");
        for (int i = 0; i < 17; i++)
                pos += (size_t)snprintf(text + pos, sizeof(text) - pos, " %d+1", i * 10);
        snprintf(text + pos, sizeof(text) - pos, "\n");
        expect_bad(text, "more than 16 ranges");

        /* 65537 files; a file larger than the cap. */
        size_t big = ACI_PROFILE_SIZE_MAX + 1;
        char *many = malloc(big + 1);
        CHECK(many);
        pos = (size_t)snprintf(many, big, MAGIC);
        for (int i = 0; i <= ACI_PROFILE_FILES_MAX; i++)
                pos += (size_t)snprintf(many + pos, big - pos, F "f%d 0+1\n", i);
        expect_bad_sized(many, pos, "more than 65536 files", __LINE__);
        pos = (size_t)snprintf(many, big, MAGIC);
        for (int i = 0; i <= ACI_PROFILE_CHUNKS_MAX; i++)
                pos += (size_t)snprintf(many + pos, big - pos, "chunk %064x\n", i);
        expect_bad_sized(many, pos, "more than 32768 chunks", __LINE__);
        memset(many, 'x', big);
        memcpy(many, MAGIC, strlen(MAGIC));
        expect_bad_sized(many, big, "larger than 4194304 bytes", __LINE__);
        free(many);
}

static void test_recording(void)
{
        aci_profile p = {};
        size_t i;
        CHECK_EQ_INT(aci_profile_add_file(&p, "f", &i), 0);
        aci_profile_file *f = &p.files[i];
        CHECK(aci_profile_add_range(f, 0, 4096));
        CHECK(aci_profile_add_range(f, 4096, 4096)); /* adjacent: merged */
        CHECK(!aci_profile_add_range(f, 100, 200));  /* inside: nothing new */
        CHECK_EQ_INT(f->n_ranges, 1);
        CHECK_EQ_INT(f->ranges[0].length, 8192);
        CHECK(aci_profile_add_range(f, 65536, 4096));
        CHECK(aci_profile_add_range(f, 32768, 4096));
        CHECK_EQ_INT(f->n_ranges, 3);
        /* A read filling the gaps joins all three into the first. */
        CHECK(aci_profile_add_range(f, 8192, 65536 - 8192));
        CHECK_EQ_INT(f->n_ranges, 1);
        CHECK_EQ_INT(f->ranges[0].offset, 0);
        CHECK_EQ_INT(f->ranges[0].length, 65536 + 4096);
        /* Past the first 16 MiB: cut, then dropped. */
        CHECK(aci_profile_add_range(f, ACI_PROFILE_BYTES_MAX - 10, 100));
        CHECK_EQ_INT(f->ranges[1].length, 10);
        CHECK(!aci_profile_add_range(f, ACI_PROFILE_BYTES_MAX, 100));
        /* At most 16 ranges. */
        for (unsigned k = 0; k < 20; k++)
                aci_profile_add_range(f, 1048576 + k * 8192, 10);
        CHECK_EQ_INT(f->n_ranges, ACI_PROFILE_RANGES_MAX);
        /* A file without ranges is not written. */
        CHECK_EQ_INT(aci_profile_add_file(&p, "unread", &i), 0);
        char *out = NULL;
        size_t size;
        CHECK_EQ_INT(aci_profile_format(&p, &out, &size), 0);
        CHECK(!strstr(out, "unread"));
        free(out);
        aci_profile_done(&p);
}

static void test_store(void)
{
        char dir[] = "/tmp/acfetch-test-profile.XXXXXX";
        CHECK(mkdtemp(dir));
        aci_store *s = NULL;
        CHECK_EQ_INT(aci_store_open(dir, &s), 0);
        aci_profile p = {}, q = {};
        CHECK_EQ_INT(aci_profile_store_load(s, "example.com/app", &p), -ENOENT);
        size_t i;
        CHECK_EQ_INT(aci_profile_add_file(&p, "bin/sh", &i), 0);
        CHECK(aci_profile_add_range(&p.files[i], 0, 1000));
        CHECK_EQ_INT(aci_profile_store_save(s, "example.com/app", &p), 0);
        char *path = NULL;
        CHECK_EQ_INT(aci_profile_store_path(s, "example.com/app", &path), 0);
        /* sha256("example.com/app") */
        CHECK(strstr(path, "/profiles/"));
        CHECK_EQ_INT(strlen(strrchr(path, '/') + 1), 64);
        CHECK_EQ_INT(aci_profile_store_load(s, "example.com/app", &q), 0);
        CHECK_EQ_INT(q.n, 1);
        CHECK_STREQ(q.files[0].path, "bin/sh");
        aci_profile_done(&q);
        CHECK_EQ_INT(aci_profile_store_load(s, "example.com/other", &q), -ENOENT);
        /* A corrupt file: one warning naming it. */
        FILE *f = fopen(path, "w");
        CHECK(f);
        fputs(MAGIC F "/abs 0+1\n", f);
        fclose(f);
        messages[0] = 0;
        n_messages = 0;
        CHECK_EQ_INT(aci_profile_store_load(s, "example.com/app", &q), -EBADMSG);
        CHECK_EQ_INT(n_messages, 1);
        CHECK(strstr(messages, path) && strstr(messages, "warning: "));
        /* A symlink is not followed. */
        CHECK(unlink(path) == 0);
        CHECK(symlink("/etc/passwd", path) == 0);
        n_messages = 0;
        CHECK(aci_profile_store_load(s, "example.com/app", &q) < 0);
        CHECK_EQ_INT(n_messages, 1);
        free(path);
        aci_profile_done(&p);
        aci_store_free(s);
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        CHECK(system(cmd) == 0);
}

int main(void)
{
        ca_log_set_writer(capture, NULL);
        test_round_trip();
        test_rejects();
        test_recording();
        test_store();
        ca_log_set_writer(NULL, NULL);
        printf("profile tests passed\n");
        return 0;
}
