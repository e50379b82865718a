/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gen_hostile's cases of one bad child entry below a good root (the record cases). */
#include "gen_hostile.h"

/* ---------------------------------------------------------------- catar cases */

/* A root holding one child written by `child`, as the only defect. */
typedef void (*child_fn)(writer *w);

static void one_child_case(const char *name, child_fn child, const char *expect)
{
        writer w;
        w_init(&w, BASE_FLAGS);
        w_root(&w);
        child(&w);
        w_goodbye(&w);
        emit_both(&w, name, expect);
}

static void child_entry_size(writer *w)
{
        w_filename(w, "a.txt");
        w->last_entry = w->size;
        w_header(w, CA_FORMAT_ENTRY_SIZE + 8, CA_FORMAT_ENTRY);
        w_u64(w, w->flags);
        w_u64(w, S_IFREG | 0644);
        for (int i = 0; i < 5; i++)
                w_u64(w, i == 3 ? T0 : 0);
        w_payload(w, "x", 1);
}

static void child_unknown_type(writer *w)
{
        w_filename(w, "a.txt");
        w_entry(w, S_IFREG | 0644);
        w_header(w, 24, UINT64_C(0x0123456789abcdef));
        w_u64(w, 0);
        w_payload(w, "x", 1);
}

static void child_payload_in_dir(writer *w)
{
        w_filename(w, "d");
        w_entry(w, S_IFDIR | 0755);
        w_payload(w, "x", 1);
        w_open(w);
        w_goodbye(w);
}

static void child_two_payloads(writer *w)
{
        w_file(w, "a.txt", 0644, "hello\n");
        w_payload(w, "again\n", 6);
}

static void child_symlink_on_file(writer *w)
{
        w_filename(w, "a.txt");
        w_entry(w, S_IFREG | 0644);
        w_symlink(w, "/etc");
}

static void child_filename_in_file(writer *w)
{
        w_filename(w, "a.txt");
        w_entry(w, S_IFREG | 0644);
        /* A FILENAME where the file's body belongs. */
        w_filename(w, "b.txt");
        w_entry(w, S_IFREG | 0644);
        w_payload(w, "x", 1);
}

static void child_mode_bad_type(writer *w)
{
        w_filename(w, "a.txt");
        w_entry(w, 0170644);
        w_payload(w, "x", 1);
}

static void child_mode_extra_bits(writer *w)
{
        w_filename(w, "a.txt");
        w_entry(w, S_IFREG | 0644 | 0200000);
        w_payload(w, "x", 1);
}

static void child_socket_not_allowed(writer *w)
{
        w_filename(w, "sock");
        w_entry(w, S_IFSOCK | 0755);
}

static void child_device_not_allowed(writer *w)
{
        w_filename(w, "null");
        w_entry(w, S_IFCHR | 0666);
        w_device(w, 1, 3);
}

static void child_uid_2_32(writer *w)
{
        w_filename(w, "a.txt");
        w_entry_full(w, w->flags, S_IFREG | 0644, 0, UINT64_C(1) << 32, 0, T0);
        w_payload(w, "x", 1);
}

static void child_gid_2_32(writer *w)
{
        w_filename(w, "a.txt");
        w_entry_full(w, w->flags, S_IFREG | 0644, 0, 0, (UINT64_C(1) << 32) + 5, T0);
        w_payload(w, "x", 1);
}

static void child_uid_max32(writer *w)
{
        w_filename(w, "a.txt");
        w_entry_full(w, w->flags, S_IFREG | 0644, 0, UINT32_MAX, 0, T0);
        w_payload(w, "x", 1);
}

static void child_uid_u64max(writer *w)
{
        w_filename(w, "a.txt");
        w_entry_full(w, w->flags, S_IFREG | 0644, 0, UINT64_MAX, 0, T0);
        w_payload(w, "x", 1);
}

static void child_flags_differ(writer *w)
{
        w_filename(w, "a.txt");
        w_entry_full(w, w->flags | CA_FORMAT_WITH_SOCKETS, S_IFREG | 0644, 0, 0, 0, T0);
        w_payload(w, "x", 1);
}

static void child_entry_flags_unknown(writer *w)
{
        w_filename(w, "a.txt");
        /* Append-only, while the archive's flags do not carry WITH_FLAG_APPEND. */
        w_entry_full(w, w->flags, S_IFREG | 0644, CA_FORMAT_WITH_FLAG_APPEND, 0, 0, T0);
        w_payload(w, "x", 1);
}

static void child_xattr_unsorted(writer *w)
{
        w_filename(w, "a.txt");
        w_entry(w, S_IFREG | 0644);
        w_xattr(w, "user.b", "1");
        w_xattr(w, "user.a", "2");
        w_payload(w, "x", 1);
}

static void child_xattr_duplicate(writer *w)
{
        w_filename(w, "a.txt");
        w_entry(w, S_IFREG | 0644);
        w_xattr(w, "user.a", "1");
        w_xattr(w, "user.a", "2");
        w_payload(w, "x", 1);
}

static void child_xattr_bad_name(writer *w)
{
        w_filename(w, "a.txt");
        w_entry(w, S_IFREG | 0644);
        w_xattr(w, "security.capability", "1");
        w_payload(w, "x", 1);
}

static void child_xattr_size_max(writer *w)
{
        w_filename(w, "a.txt");
        w_entry(w, S_IFREG | 0644);
        w_header(w, UINT64_MAX, CA_FORMAT_XATTR);
        w_bytes(w, "user.a\0v", 8);
        w_payload(w, "x", 1);
}

static void child_record_size_small(writer *w)
{
        w_filename(w, "a.txt");
        w_entry(w, S_IFREG | 0644);
        w_header(w, 8, CA_FORMAT_XATTR);
        w_payload(w, "x", 1);
}

static void child_payload_size_max(writer *w)
{
        w_filename(w, "a.txt");
        w_entry(w, S_IFREG | 0644);
        w_header(w, UINT64_MAX, CA_FORMAT_PAYLOAD);
        w_bytes(w, "x", 1);
}

static void child_symlink_empty(writer *w)
{
        w_filename(w, "link");
        w_entry(w, S_IFLNK | 0777);
        w_symlink(w, "");
}

static void child_symlink_no_nul(writer *w)
{
        w_filename(w, "link");
        w_entry(w, S_IFLNK | 0777);
        w_header(w, CA_FORMAT_HEADER_SIZE + 5, CA_FORMAT_SYMLINK);
        w_bytes(w, "a.txt", 5);
}

void record_cases(void)
{
        static const struct {
                const char *name;
                child_fn fn;
                const char *expect;
        } cases[] = {
            {"entry-size", child_entry_size, "ENTRY record of invalid size 72"},
            {"record-type-unknown", child_unknown_type, "unknown record type 0x0123456789abcdef"},
            {"record-size-small", child_record_size_small, "invalid record size 8"},
            {"record-size-u64max", child_xattr_size_max,
             "invalid record size 18446744073709551615"},
            {"payload-size-u64max", child_payload_size_max,
             "invalid record size 18446744073709551615"},
            {"payload-in-dir", child_payload_in_dir,
             "PAYLOAD record for a node that is not a regular file"},
            {"payload-twice", child_two_payloads, "PAYLOAD record after the end of \"a.txt\""},
            {"symlink-on-file", child_symlink_on_file,
             "SYMLINK record for a node that is not a symlink"},
            {"filename-in-file", child_filename_in_file,
             "FILENAME record where the node's PAYLOAD record must come"},
            {"mode-bad-type", child_mode_bad_type, "mode 0170644 has an unknown file type"},
            {"mode-extra-bits", child_mode_extra_bits, "mode 0300644 has unknown bits"},
            {"socket-not-allowed", child_socket_not_allowed,
             "socket in an archive without sockets"},
            {"device-not-allowed", child_device_not_allowed,
             "device node in an archive without device nodes"},
            {"uid-2^32", child_uid_2_32, "uid 4294967296 invalid for the archive's uid format"},
            {"gid-2^32", child_gid_2_32, "gid 4294967301 invalid for the archive's uid format"},
            {"uid-ffffffff", child_uid_max32,
             "uid 4294967295 invalid for the archive's uid format"},
            {"uid-u64max", child_uid_u64max, "uid 18446744073709551615 invalid"},
            {"flags-differ-between-entries", child_flags_differ, "differ from the root's"},
            {"entry-flags-not-in-archive", child_entry_flags_unknown,
             "entry flags 0x10000 outside the archive's 0x0"},
            {"xattr-unsorted", child_xattr_unsorted,
             "XATTR names not in strictly increasing order"},
            {"xattr-duplicate", child_xattr_duplicate,
             "XATTR names not in strictly increasing order"},
            {"xattr-bad-name", child_xattr_bad_name, "XATTR record with an invalid name"},
            {"symlink-empty", child_symlink_empty, "empty symlink target"},
            {"symlink-no-nul", child_symlink_no_nul, "SYMLINK record with an invalid target"},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                one_child_case(cases[i].name, cases[i].fn, cases[i].expect);
}
