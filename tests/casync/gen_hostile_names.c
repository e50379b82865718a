/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gen_hostile's cases of bad file names, attempts to escape the destination and bad roots. */
#include "gen_hostile.h"

static void name_case(const char *name, const void *raw, size_t n, const char *expect)
{
        writer w;
        w_init(&w, BASE_FLAGS);
        w_root(&w);
        w_filename_raw(&w, raw, n);
        w_entry(&w, S_IFREG | 0644);
        w_payload(&w, "x", 1);
        w_goodbye(&w);
        emit_both(&w, name, expect);
}

/* ---- the escape attempts */

static void escape_slash(writer *w, const char *target, const char *inner)
{
        char name[64];
        w_link(w, "evil", target);
        snprintf(name, sizeof(name), "evil/%s", inner);
        w_file(w, name, 0644, "pwned\n");
}

static void escape_dup_dir(writer *w, const char *target, const char *inner)
{
        w_link(w, "evil", target);
        w_dir(w, "evil", 0755);
        w_file(w, inner, 0644, "pwned\n");
        w_goodbye(w);
}

void escape_cases(void)
{
        static const struct {
                const char *name, *target, *inner;
                bool dup;
                const char *expect;
        } cases[] = {
            {"escape-slash-etc", "/etc", "passwd", false, "invalid file name \"evil/passwd\""},
            {"escape-slash-outside", "../outside", "probe", false,
             "invalid file name \"evil/probe\""},
            {"escape-dup-etc", "/etc", "passwd", true, "file name \"evil\" not after \"evil\""},
            {"escape-dup-outside", "../outside", "probe", true,
             "file name \"evil\" not after \"evil\""},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                writer w;
                w_init(&w, BASE_FLAGS);
                w_root(&w);
                valid_a(&w);
                if (cases[i].dup)
                        escape_dup_dir(&w, cases[i].target, cases[i].inner);
                else
                        escape_slash(&w, cases[i].target, cases[i].inner);
                w_goodbye(&w);
                emit_both(&w, cases[i].name, cases[i].expect);
        }
}

void name_cases(void)
{
        char longname[257];
        memset(longname, 'n', 256);
        longname[256] = 0;

        name_case("name-empty", "", 1, "empty file name");
        name_case("name-dot", ".", 2, "invalid file name \".\"");
        name_case("name-dotdot", "..", 3, "invalid file name \"..\"");
        name_case("name-slash", "a/b", 4, "invalid file name \"a/b\"");
        name_case("name-absolute", "/etc", 5, "invalid file name \"/etc\"");
        name_case("name-embedded-nul", "a\0b", 4, "contains a NUL byte");
        name_case("name-no-nul", "abc", 3, "file name is not NUL-terminated");
        name_case("name-256-bytes", longname, 257, "file name longer than 255 bytes");

        /* Duplicates and order: casync writes children in strictly increasing strcmp order. */
        writer w;
        w_init(&w, BASE_FLAGS);
        w_root(&w);
        valid_a(&w);
        w_file(&w, "a.txt", 0644, "again\n");
        w_goodbye(&w);
        emit_both(&w, "name-duplicate", "file name \"a.txt\" not after \"a.txt\"");

        w_init(&w, BASE_FLAGS);
        w_root(&w);
        w_file(&w, "b.txt", 0644, "b\n");
        valid_a(&w);
        w_goodbye(&w);
        emit_both(&w, "name-unsorted", "file name \"a.txt\" not after \"b.txt\"");

        /* A directory and a file with the same name. */
        w_init(&w, BASE_FLAGS);
        w_root(&w);
        w_dir(&w, "a.txt", 0755);
        w_goodbye(&w);
        valid_a(&w);
        w_goodbye(&w);
        emit_both(&w, "name-duplicate-dir-file", "file name \"a.txt\" not after \"a.txt\"");
}

void root_cases(void)
{
        writer w;
        w_init(&w, BASE_FLAGS);
        w_entry(&w, S_IFREG | 0644);
        w_payload(&w, "x", 1);
        emit_both(&w, "root-file", "the archive's root is not a directory");

        w_init(&w, BASE_FLAGS);
        w_entry(&w, S_IFLNK | 0777);
        w_symlink(&w, "/etc");
        emit_both(&w, "root-symlink", "the archive's root is not a directory");

        /* A stream that starts with something other than ENTRY. */
        w_init(&w, BASE_FLAGS);
        w_open(&w);
        w_filename(&w, "a.txt");
        w_entry(&w, S_IFREG | 0644);
        w_payload(&w, "x", 1);
        w.stack[0].entry_offset = 0;
        w_goodbye(&w);
        emit_both(&w, "root-filename-first", "FILENAME record where an ENTRY must come");
}
