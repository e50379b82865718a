/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the parts of the extract test share: flags and times, the event helpers, file helpers. */
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/fs.h>
#include <sched.h>
#include <stdarg.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "casync/casync.h"
#include "casync/fs_safe.h"
#include "tests/test.h"

/* What `casync make` writes by default: all of "best", SHA512/256, EXCLUDE_NODUMP|FILE. */
#define FLAGS UINT64_C(0xb0000001ffeffe26)
#define T0    UINT64_C(1577934245123456789)
#define T1    UINT64_C(1600000000000000001)
#define T2    UINT64_C(1500000000987654321)

/* The test's directory: every destination lies below it. */
extern char base[PATH_MAX];

/* ------------------------------------------------------------------ events to a sink */

static inline ca_node mk(const char *path, uint64_t mode)
{
        ca_node n = {
            .path = path,
            .feature_flags = FLAGS,
            .mode = mode,
            .mtime = T0,
            .acl_default_user_obj = CA_FORMAT_ACL_ABSENT,
            .acl_default_group_obj = CA_FORMAT_ACL_ABSENT,
            .acl_default_other = CA_FORMAT_ACL_ABSENT,
            .acl_default_mask = CA_FORMAT_ACL_ABSENT,
        };
        if (strcmp(path, ".") == 0) {
                n.name = "";
                n.depth = 0;
        } else {
                const char *s = strrchr(path, '/');
                n.name = s ? s + 1 : path;
                n.depth = 1;
                for (const char *p = path; *p; p++)
                        n.depth += *p == '/';
        }
        return n;
}

static inline int begin(const ca_sink *s, const ca_node *n)
{
        return s->node_begin(s->userdata, n);
}

static inline int end(const ca_sink *s, const ca_node *n)
{
        return s->node_end(s->userdata, n);
}

static inline int leaf(const ca_sink *s, const ca_node *n)
{
        int r = begin(s, n);
        return r < 0 ? r : end(s, n);
}

/* A regular file whose data arrives in uneven pieces, as chunks would deliver it. */
static inline int file(const ca_sink *s, ca_node *n, const void *data, size_t size)
{
        n->payload_size = size;
        int r = begin(s, n);
        if (r < 0)
                return r;
        const uint8_t *p = data;
        for (size_t off = 0, piece = 1; off < size; piece = piece * 3 + 7) {
                size_t k = MIN(piece % 70001 + 1, size - off);
                r = s->payload(s->userdata, n, p + off, k);
                if (r < 0)
                        return r;
                off += k;
        }
        return end(s, n);
}

/* ------------------------------------------------------------------ files (test_extract_util.c) */

const char *at(const char *fmt, ...) _printf_(1, 2);
bool exists(const char *path);
unsigned count_prefixed(const char *dir, const char *prefix);
unsigned count_entries(const char *dir);
void read_file(const char *path, char *buf, size_t size);
void check_mtime(const char *path, uint64_t ns);
void remove_all(const char *path);
extern const uint8_t fcaps_net_raw[20];

/* ------------------------------------------------------------------ the parts */

void test_hostile(void); /* test_extract_hostile.c */
/* ca_extract_new(dest, opts) must return want_new; if it succeeded, a root with one file "f" is
 * extracted and committed (test_extract_dest.c). */
void extract_small(const char *dest, const ca_extract_options *opts, int want_new);
void test_dest(void);          /* test_extract_dest.c */
void test_in_place(void);      /* test_extract_dest.c */
void test_merge(void);         /* test_extract_merge.c */
void test_filter(void);        /* test_extract_merge.c */
void test_unprivileged(void);  /* test_extract_policy.c */
void test_no_same_owner(void); /* test_extract_policy.c */
void test_enospc(void);        /* test_extract_policy.c */
