/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The decoder test's hand-built trees: nesting depth, node kinds, entry rules and file names. */
#include "test_decoder.h"

void test_depth(void)
{
        out o = {0};
        logbuf l = {0};

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
void test_kinds(void)
{
        out o = {0};
        logbuf l = {0};
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
                logbuf s = {0};
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

/* A root directory (mode 0777, valid whatever the flags) with one child, written by `fn`. */
typedef void (*child_fn)(out *o);

static int root_with_child(uint64_t archive_flags, child_fn fn)
{
        out o = {0};
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

void test_rules(void)
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
void test_names(void)
{
        out o = {0};
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
