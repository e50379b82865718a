/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gen_hostile's cases of bad GOODBYE tables, feature flags and archive structure. */
#include "gen_hostile.h"

void goodbye_cases(void)
{
        static const struct {
                const char *name;
                int field; /* 0 header size, 1 tail size, 2 marker, 3 entry offset, 4 item hash,
                              5 item offset, 6 item size, 7 swap items, 8 root header size */
                const char *expect;
        } cases[] = {
            {"goodbye-header-size", 0, "GOODBYE record of size 112, expected 136 for 4 entries"},
            {"goodbye-tail-size", 1, "GOODBYE tail size 160 differs from the record's 136"},
            {"goodbye-marker", 2, "GOODBYE tail has a bad marker"},
            {"goodbye-entry-offset", 3, "GOODBYE tail points to offset 1 instead of the ENTRY"},
            {"goodbye-item-hash", 4, "GOODBYE item 1 is"},
            {"goodbye-item-offset", 5, "GOODBYE item 1 is"},
            {"goodbye-item-size", 6, "GOODBYE item 1 is"},
            {"goodbye-item-order", 7, "GOODBYE item 0 is"},
            {"goodbye-root-size-beyond-stream", 8, "GOODBYE record of size 160, expected 136"},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                writer w;
                w_init(&w, BASE_FLAGS);
                w_root(&w);
                valid_a(&w);
                valid_b(&w);
                valid_rest(&w);
                uint64_t gb = w_goodbye(&w); /* the root's: 4 items */
                const size_t n = 4;
                switch (cases[i].field) {
                case 0:
                        w_patch(&w, gb, read_le64(w.buf + gb) - 24);
                        break;
                case 1:
                        w_patch(&w, GB_TAIL(gb, n) + 8, read_le64(w.buf + gb) + 24);
                        break;
                case 2:
                        w_patch(&w, GB_TAIL(gb, n) + 16, CA_FORMAT_TABLE_TAIL_MARKER);
                        break;
                case 3:
                        w_patch(&w, GB_TAIL(gb, n), read_le64(w.buf + GB_TAIL(gb, n)) - 1);
                        break;
                case 4:
                        w_patch(&w, GB_ITEM(gb, 1) + 16,
                                read_le64(w.buf + GB_ITEM(gb, 1) + 16) ^ 1);
                        break;
                case 5:
                        w_patch(&w, GB_ITEM(gb, 1), read_le64(w.buf + GB_ITEM(gb, 1)) + 1);
                        break;
                case 6:
                        w_patch(&w, GB_ITEM(gb, 1) + 8, read_le64(w.buf + GB_ITEM(gb, 1) + 8) - 1);
                        break;
                case 7: {
                        uint8_t tmp[CA_FORMAT_GOODBYE_ITEM_SIZE];
                        memcpy(tmp, w.buf + GB_ITEM(gb, 0), sizeof(tmp));
                        memcpy(w.buf + GB_ITEM(gb, 0), w.buf + GB_ITEM(gb, 1), sizeof(tmp));
                        memcpy(w.buf + GB_ITEM(gb, 1), tmp, sizeof(tmp));
                        break;
                }
                case 8:
                        w_patch(&w, gb, read_le64(w.buf + gb) + 24);
                        w_patch(&w, GB_TAIL(gb, n) + 8, read_le64(w.buf + gb));
                        break;
                }
                emit_both(&w, cases[i].name, cases[i].expect);
        }
}

void flag_cases(void)
{
        writer w;

        /* Second-granularity archive with a nanosecond mtime. */
        w_init(&w, (BASE_FLAGS & ~CA_FORMAT_WITH_NSEC_TIME) | CA_FORMAT_WITH_SEC_TIME);
        w_entry_full(&w, w.flags, S_IFDIR | 0755, 0, 0, 0, 1577934245000000000);
        w_open(&w);
        w_filename(&w, "a.txt");
        w_entry_full(&w, w.flags, S_IFREG | 0644, 0, 0, 0, T0);
        w_payload(&w, "x", 1);
        w_goodbye(&w);
        emit_both(&w, "mtime-granularity", "not a multiple of the archive's granularity");

        /* No time flag at all, yet an mtime. */
        w_init(&w, BASE_FLAGS & ~CA_FORMAT_WITH_NSEC_TIME);
        w_entry_full(&w, w.flags, S_IFDIR | 0755, 0, 0, 0, 0);
        w_open(&w);
        w_filename(&w, "a.txt");
        w_entry_full(&w, w.flags, S_IFREG | 0644, 0, 0, 0, T0);
        w_payload(&w, "x", 1);
        w_goodbye(&w);
        emit_both(&w, "mtime-without-time-flag", "set in an archive that stores no times");

        /* No uid flag, yet a uid. */
        w_init(&w, BASE_FLAGS & ~CA_FORMAT_WITH_32BIT_UIDS);
        w_root(&w);
        w_filename(&w, "a.txt");
        w_entry_full(&w, w.flags, S_IFREG | 0644, 0, 1000, 0, T0);
        w_payload(&w, "x", 1);
        w_goodbye(&w);
        emit_both(&w, "uid-without-uid-flag", "uid 1000 invalid for the archive's uid format");

        /* Unknown and non-normalized feature flags in the root ENTRY of a .catar. */
        w_init(&w, BASE_FLAGS | (UINT64_C(1) << 40));
        valid_tree(&w);
        emit_catar(&w, "flags-unknown", "have unknown bits");

        w_init(&w, BASE_FLAGS | CA_FORMAT_WITH_USEC_TIME);
        valid_tree(&w);
        emit_catar(&w, "flags-not-normalized", "are not normalized");

        /* Devices allowed by the flags, but major/minor beyond what Linux can name. */
        w_init(&w, BASE_FLAGS | CA_FORMAT_WITH_DEVICE_NODES);
        w_root(&w);
        w_filename(&w, "dev");
        w_entry(&w, S_IFCHR | 0600);
        w_device(&w, 1 << 12, 0);
        w_goodbye(&w);
        emit_both(&w, "device-major-too-big", "device number 4096:0 out of range");

        /* Append-only is in the archive's flags, but only files and directories carry it. */
        w_init(&w, BASE_FLAGS | CA_FORMAT_WITH_FLAG_APPEND);
        w_root(&w);
        w_filename(&w, "link");
        w_entry_full(&w, w.flags, S_IFLNK | 0777, CA_FORMAT_WITH_FLAG_APPEND, 0, 0, T0);
        w_symlink(&w, "a.txt");
        w_goodbye(&w);
        emit_both(&w, "entry-flags-on-symlink",
                  "entry flags on a node that is neither file nor directory");

        /* Xattrs without the flag. */
        w_init(&w, BASE_FLAGS & ~CA_FORMAT_WITH_XATTRS);
        w_root(&w);
        w_filename(&w, "a.txt");
        w_entry(&w, S_IFREG | 0644);
        w_xattr(&w, "user.a", "1");
        w_payload(&w, "x", 1);
        w_goodbye(&w);
        emit_both(&w, "xattr-without-flag", "XATTR record in an archive without its feature flag");

        /* Without PERMISSIONS a file's mode must be 0666 (casync's fixed value). */
        w_init(&w, BASE_FLAGS & ~CA_FORMAT_WITH_PERMISSIONS);
        w_entry(&w, S_IFDIR | 0777);
        w_open(&w);
        w_filename(&w, "a.txt");
        w_entry(&w, S_IFREG | 04755);
        w_payload(&w, "x", 1);
        w_goodbye(&w);
        emit_both(&w, "mode-without-permissions",
                  "mode 4755 not possible in an archive without permissions");
}

void structure_cases(void)
{
        writer w;

        /* Nesting: a path of 65 nodes (root + 64 directories) is one more than casync allows. */
        w_init(&w, BASE_FLAGS);
        w_root(&w);
        for (int i = 0; i < CA_NODES_MAX; i++)
                w_dir(&w, "d", 0755);
        for (int i = 0; i <= CA_NODES_MAX; i++)
                w_goodbye(&w);
        emit_both(&w, "nesting-too-deep", "directories nested deeper than 63 levels");

        /* Data after the root GOODBYE: some bytes, and a whole second archive. */
        w_init(&w, BASE_FLAGS);
        valid_tree(&w);
        w_bytes(&w, "garbage!", 8);
        emit_both(&w, "trailing-bytes", "data after the end of the archive");

        w_init(&w, BASE_FLAGS);
        valid_tree(&w);
        w_entry(&w, S_IFDIR | 0755);
        emit_both(&w, "trailing-entry", "data after the end of the archive");

        /* A PAYLOAD that says it is longer than the rest of the stream. */
        w_init(&w, BASE_FLAGS);
        w_root(&w);
        w_filename(&w, "a.txt");
        w_entry(&w, S_IFREG | 0644);
        w_header(&w, CA_FORMAT_HEADER_SIZE + (1 << 20), CA_FORMAT_PAYLOAD);
        w_bytes(&w, "hello\n", 6);
        w_abandon(&w);
        emit_both(&w, "payload-beyond-stream", "archive truncated");

        /* A metadata record whose declared size runs past the end of the stream. */
        w_init(&w, BASE_FLAGS);
        w_root(&w);
        w_filename(&w, "a.txt");
        w_entry(&w, S_IFREG | 0644);
        w_header(&w, 64, CA_FORMAT_XATTR);
        w_bytes(&w, "user.a\0", 7);
        w_abandon(&w);
        emit_both(&w, "record-beyond-stream", "archive truncated");

        /* A directory never closed: the stream just ends. */
        w_init(&w, BASE_FLAGS);
        w_root(&w);
        valid_a(&w);
        w_abandon(&w);
        emit_both(&w, "missing-root-goodbye", "archive truncated");
}
