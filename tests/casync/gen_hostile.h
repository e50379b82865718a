/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the parts of gen_hostile share: the catar writer, the output, the groups of cases. */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "casync/casync.h"

/* 2020-01-02 03:04:05.123456789 UTC: a multiple of 1 ns but not of 1 µs, 1 s or 2 s. */
#define T0 UINT64_C(1577934245123456789)

/* The flags of the valid archive: what `casync make --with=32bit-uids --with=nsec-time
 * --with=permissions --with=symlinks --with=fifos --with=xattrs` writes. */
#define BASE_FLAGS                                                                                 \
        (CA_FORMAT_WITH_32BIT_UIDS | CA_FORMAT_WITH_NSEC_TIME | CA_FORMAT_WITH_PERMISSIONS |       \
         CA_FORMAT_WITH_SYMLINKS | CA_FORMAT_WITH_FIFOS | CA_FORMAT_WITH_XATTRS |                  \
         CA_FORMAT_EXCLUDE_FILE | CA_FORMAT_SHA512_256 | CA_FORMAT_EXCLUDE_NODUMP)

#define DEPTH_MAX 80

/* ---------------------------------------------------------------- writer (gen_hostile_writer.c) */

typedef struct kid {
        uint64_t filename_offset, end_offset, hash;
} kid;

typedef struct frame {
        uint64_t entry_offset;
        kid *kids;
        size_t n_kids;
} frame;

typedef struct writer {
        uint8_t *buf;
        size_t size, alloc;
        uint64_t flags; /* written into every ENTRY */
        uint64_t last_entry;
        frame stack[DEPTH_MAX];
        size_t depth;
} writer;

void w_init(writer *w, uint64_t flags);
void w_done(writer *w);
void w_bytes(writer *w, const void *p, size_t n);
void w_u64(writer *w, uint64_t v);
void w_header(writer *w, uint64_t size, uint64_t type);
void w_patch(writer *w, uint64_t at, uint64_t v);
uint64_t w_entry_full(writer *w, uint64_t feature_flags, uint64_t mode, uint64_t flags,
                      uint64_t uid, uint64_t gid, uint64_t mtime);
uint64_t w_entry(writer *w, uint64_t mode);
uint64_t w_filename_raw(writer *w, const void *name, size_t n);
uint64_t w_filename(writer *w, const char *name);
uint64_t w_payload(writer *w, const void *data, size_t n);
void w_symlink(writer *w, const char *target);
void w_device(writer *w, uint64_t major, uint64_t minor);
void w_xattr(writer *w, const char *name, const char *value);
void w_abandon(writer *w);
void w_open(writer *w);
uint64_t w_goodbye(writer *w);
void w_root(writer *w);
void w_file(writer *w, const char *name, uint64_t mode, const char *content);
void w_dir(writer *w, const char *name, uint64_t mode);
void w_link(writer *w, const char *name, const char *target);

/* Offsets inside a GOODBYE record at `gb` (items start after the 16-byte header). */
#define GB_ITEM(gb, i) ((gb) + CA_FORMAT_HEADER_SIZE + CA_FORMAT_GOODBYE_ITEM_SIZE * (i))
#define GB_TAIL(gb, n) GB_ITEM(gb, n)

/* The valid tree, whole and in parts (so that a case can differ from it in one place). */
void valid_a(writer *w);
void valid_b(writer *w);
void valid_rest(writer *w);
void valid_tree(writer *w);

/* ---------------------------------------------------------------- output (gen_hostile.c) */

extern const char *out_dir;
extern FILE *tsv;

void die(const char *fmt, ...) _printf_(1, 2);
void *xrealloc(void *p, size_t n);
void write_file(const char *name, const void *data, size_t size);
void make_dir(const char *name);
void add_case(const char *name, const char *input, const char *expect);
void emit_catar(writer *w, const char *name, const char *expect);

/* ---------------------------------------------------------------- the cases */

/* As emit_catar, and the same bytes as an index (gen_hostile_index.c). */
void emit_both(writer *w, const char *name, const char *expect);

void index_cases(const uint8_t *stream, size_t size); /* gen_hostile_index.c */
void record_cases(void);                              /* gen_hostile_entries.c */
void name_cases(void);                                /* gen_hostile_names.c */
void escape_cases(void);                              /* gen_hostile_names.c */
void root_cases(void);                                /* gen_hostile_names.c */
void goodbye_cases(void);                             /* gen_hostile_tree.c */
void flag_cases(void);                                /* gen_hostile_tree.c */
void structure_cases(void);                           /* gen_hostile_tree.c */
