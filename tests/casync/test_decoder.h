/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the parts of the decoder test share: the logging sink, decoding, the archive writer. */
#pragma once

#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#include "casync/casync.h"
#include "tests/test.h"

/* The feature flags of fx.catar (test_decoder.c), also those of the hand-built archives. */
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

/* Decoding (test_decoder.c): decode() logs the events, decode_quiet() logs nothing at all. */
int decode(const void *data, size_t size, size_t step, uint64_t expected, logbuf *l);
int decode_quiet(const void *data, size_t size, uint64_t expected);

/* ---------------------------------------------------------------- hand-built archives */

typedef struct out {
        uint8_t *p;
        size_t n, alloc;
} out;

typedef struct kid {
        uint64_t off, size, hash;
} kid;

typedef struct dir {
        uint64_t entry;
        kid kids[16];
        size_t n;
} dir;

/* The flags every ENTRY put_entry*() writes carries (FX_FLAGS unless a test changes them). */
extern uint64_t flags;

void put64(out *o, uint64_t v);
void put_rec(out *o, uint64_t type, const void *body, size_t len);
void put_str(out *o, uint64_t type, const char *s);
void put_acl(out *o, uint64_t type, uint64_t id, uint64_t perm, const char *name);
void put_entry_t(out *o, uint64_t mode, uint64_t uid, uint64_t mtime);
void put_entry(out *o, uint64_t mode, uint64_t uid);
void open_dir(out *o, dir *d, uint64_t mode);
void put_name(out *o, dir *d, const char *name);
void end_kid(out *o, dir *d);
void close_dir(out *o, dir *d);
void put_chain(out *o, unsigned levels);

/* ---------------------------------------------------------------- the parts */

void test_depth(void);    /* test_decoder_entries.c */
void test_kinds(void);    /* test_decoder_entries.c */
void test_rules(void);    /* test_decoder_entries.c */
void test_names(void);    /* test_decoder_entries.c */
void test_metadata(void); /* test_decoder_meta.c */
