/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the parts of the store test share: the root of their stores, helpers and the parts. */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "aci/aci.h"
#include "casync/casync.h"
#include "casync/fs_safe.h"
#include "test.h"

/* Every store lives below this fresh directory (made by main). */
extern char root[];

/* ---------------------------------------------------------------- helpers (test_store_util.c) */

char *strf(const char *fmt, ...) _printf_(1, 2);
char *xstrdup(const char *s);
bool exists(const char *path);
mode_t dir_mode(const char *path);
bool is_regular(const char *path);
void write_file(const char *path, const char *content);
char *read_file(const char *path);
void make_dir(const char *path);
size_t count_entries(const char *path);
uint64_t file_size(const char *path);
void capture_begin(void);
char *capture_end(void);
void make_id(char id[ACI_ID_SIZE], const char *hex, char fill);
void record_init(aci_image_record *r, const char *id, const char *name, const aci_label *labels,
                 size_t n_labels);
void check_record(const aci_image_record *got, const aci_image_record *want);
void add_image_full(aci_store *s, const char *id, const char *name, const aci_label *labels,
                    size_t n_labels, const char *deps, const char *whitelist, int64_t fetched,
                    bool latest, const char *url, const void *index, size_t index_size,
                    char key[ACI_KEY_SIZE]);
void add_image(aci_store *s, const char *id, const char *name, const aci_label *labels,
               size_t n_labels, const char *deps, int64_t fetched, bool latest, const char *url);
void remove_store(const char *dir);

/* ---------------------------------------------------------------- the parts */

void test_resolve(void);      /* test_store_lookup.c */
void test_find(void);         /* test_store_lookup.c */
void test_render_list(void);  /* test_store_render.c */
void test_whitelist(void);    /* test_store_render.c */
void test_install_tree(void); /* test_store_render.c */
void test_gc(void);           /* test_store_gc.c */
void test_pins(void);         /* test_store_gc.c */
void test_claims_gc(void);    /* test_store_gc.c */
void test_gc_grace(void);     /* test_store_gc.c */
void test_tree_check(void);   /* test_store_tree.c */
