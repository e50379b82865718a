/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Writes the hostile-input corpus for hostile.sh: one malformed .catar or .caidx (+ store) per
 * case, plus cases.tsv ("name<TAB>input<TAB>expected stderr substring") and valid.catar /
 * valid/x.caidx. Archives come from a small catar writer of our own that computes correct
 * GOODBYE tables, so each case carries exactly the one defect it is named after.
 *
 * Usage: gen_hostile OUTDIR
 *
 * This file writes the output and runs the case groups; gen_hostile_writer.c is the catar
 * writer, gen_hostile_index.c has the index cases, gen_hostile_entries.c the cases of one bad
 * child entry, gen_hostile_names.c bad names, escapes and roots, gen_hostile_tree.c GOODBYE,
 * feature flag and structure cases (declarations in gen_hostile.h).
 */
#include "gen_hostile.h"

const char *out_dir;
FILE *tsv;

void die(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        fputs("gen_hostile: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
        exit(EXIT_FAILURE);
}

void *xrealloc(void *p, size_t n)
{
        p = realloc(p, n ? n : 1);
        if (!p)
                die("out of memory");
        return p;
}

/* ---------------------------------------------------------------- output */

void write_file(const char *name, const void *data, size_t size)
{
        _cleanup_(freep) char *path = NULL;
        if (asprintf(&path, "%s/%s", out_dir, name) < 0)
                die("out of memory");
        _cleanup_(closep) int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                die("%s: %m", path);
        const uint8_t *p = data;
        while (size > 0) {
                ssize_t k = write(fd, p, size);
                if (k < 0)
                        die("%s: %m", path);
                p += k;
                size -= (size_t)k;
        }
        if (close(TAKE_FD(fd)) < 0)
                die("%s: %m", path);
}

void make_dir(const char *name)
{
        _cleanup_(freep) char *path = NULL;
        if (asprintf(&path, "%s/%s", out_dir, name) < 0)
                die("out of memory");
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
                die("%s: %m", path);
}

void add_case(const char *name, const char *input, const char *expect)
{
        if (strchr(expect, '\t') || strchr(expect, '\n'))
                die("%s: expected text must be one field", name);
        fprintf(tsv, "%s\t%s\t%s\n", name, input, expect);
}

/* Emits the writer's bytes as <name>.catar and registers the case. */
void emit_catar(writer *w, const char *name, const char *expect)
{
        _cleanup_(freep) char *file = NULL;
        if (w->depth != 0)
                die("%s: directories left open", name);
        if (asprintf(&file, "%s.catar", name) < 0)
                die("out of memory");
        write_file(file, w->buf, w->size);
        add_case(name, file, expect);
        w_done(w);
}

int main(int argc, char **argv)
{
        if (argc != 2) {
                fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
                return EXIT_FAILURE;
        }
        out_dir = argv[1];
        if (mkdir(out_dir, 0755) < 0 && errno != EEXIST)
                die("%s: %m", out_dir);

        _cleanup_(freep) char *tsv_path = NULL;
        if (asprintf(&tsv_path, "%s/cases.tsv", out_dir) < 0)
                die("out of memory");
        tsv = fopen(tsv_path, "we");
        if (!tsv)
                die("%s: %m", tsv_path);

        writer w;
        w_init(&w, BASE_FLAGS);
        valid_tree(&w);
        write_file("valid.catar", w.buf, w.size);
        index_cases(w.buf, w.size);
        w_done(&w);

        name_cases();
        escape_cases();
        root_cases();
        goodbye_cases();
        flag_cases();
        structure_cases();
        record_cases();

        if (fclose(tsv) != 0)
                die("%s: %m", tsv_path);
        return EXIT_SUCCESS;
}
