/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The decoder test's metadata records after a root ENTRY: xattrs, ACLs, owners, fcaps, etc. */
#include "test_decoder.h"

typedef void (*meta_fn)(out *o);

/* Builds a root directory with the records `fn` writes after its ENTRY; returns the result. */
static int root_with(meta_fn fn, logbuf *l)
{
        out o = {0};
        dir d;
        open_dir(&o, &d, 0755);
        fn(&o);
        close_dir(&o, &d);
        int level = ca_log_get_max_level();
        if (!l)
                ca_log_set_max_level(0);
        logbuf tmp = {0};
        int r = decode(o.p, o.n, 0, UINT64_MAX, l ? l : &tmp);
        ca_log_set_max_level(level);
        free(tmp.text);
        free(o.p);
        return r;
}

static void m_good(out *o)
{
        put_str(o, CA_FORMAT_USER, "alice");
        put_str(o, CA_FORMAT_GROUP, "staff-1_x");
        put_rec(o, CA_FORMAT_XATTR, "trusted.t\0v1", 12);
        put_rec(o, CA_FORMAT_XATTR, "user.a\0", 7);
        put_rec(o, CA_FORMAT_XATTR, "user.b\0xyz", 10);
        put_acl(o, CA_FORMAT_ACL_USER, 5, 7, NULL);
        put_acl(o, CA_FORMAT_ACL_USER, 5, 4, "bob");
        put_acl(o, CA_FORMAT_ACL_USER, 6, 1, NULL);
        put_acl(o, CA_FORMAT_ACL_GROUP, 7, 5, NULL);
        put64(o, 24);
        put64(o, CA_FORMAT_ACL_GROUP_OBJ);
        put64(o, 6);
        put64(o, 48);
        put64(o, CA_FORMAT_ACL_DEFAULT);
        put64(o, 7);
        put64(o, 5);
        put64(o, 0);
        put64(o, 7);
        put_acl(o, CA_FORMAT_ACL_DEFAULT_USER, 9, 7, NULL);
        put_acl(o, CA_FORMAT_ACL_DEFAULT_GROUP, 9, 7, NULL);
        put_str(o, CA_FORMAT_SELINUX, "system_u:object_r:etc_t:s0");
        put64(o, 24);
        put64(o, CA_FORMAT_QUOTA_PROJID);
        put64(o, 42);
}

static void m_xattr_unsorted(out *o)
{
        put_rec(o, CA_FORMAT_XATTR, "user.b\0", 7);
        put_rec(o, CA_FORMAT_XATTR, "user.a\0", 7);
}

static void m_xattr_dup(out *o)
{
        put_rec(o, CA_FORMAT_XATTR, "user.a\0", 7);
        put_rec(o, CA_FORMAT_XATTR, "user.a\0x", 8);
}

static void m_xattr_security(out *o)
{
        put_rec(o, CA_FORMAT_XATTR, "security.capability\0x", 21);
}

static void m_xattr_no_name(out *o)
{
        put_rec(o, CA_FORMAT_XATTR, "user.\0x", 7);
}

static void m_xattr_after_acl(out *o)
{
        put_acl(o, CA_FORMAT_ACL_GROUP, 7, 5, NULL);
        put_rec(o, CA_FORMAT_XATTR, "user.a\0", 7);
}

static void m_acl_order(out *o)
{
        put_acl(o, CA_FORMAT_ACL_GROUP, 7, 5, NULL);
        put_acl(o, CA_FORMAT_ACL_USER, 5, 7, NULL);
}

static void m_acl_unsorted(out *o)
{
        put_acl(o, CA_FORMAT_ACL_USER, 6, 7, NULL);
        put_acl(o, CA_FORMAT_ACL_USER, 5, 7, NULL);
        put64(o, 24);
        put64(o, CA_FORMAT_ACL_GROUP_OBJ);
        put64(o, 6);
}

static void m_acl_no_group_obj(out *o)
{
        put_acl(o, CA_FORMAT_ACL_USER, 5, 7, NULL);
}

static void m_acl_bad_perm(out *o)
{
        put_acl(o, CA_FORMAT_ACL_USER, 5, 8, NULL);
        put64(o, 24);
        put64(o, CA_FORMAT_ACL_GROUP_OBJ);
        put64(o, 6);
}

static void m_default_no_mask(out *o)
{
        put64(o, 48);
        put64(o, CA_FORMAT_ACL_DEFAULT);
        put64(o, 7);
        put64(o, 5);
        put64(o, 0);
        put64(o, CA_FORMAT_ACL_ABSENT);
        put_acl(o, CA_FORMAT_ACL_DEFAULT_USER, 9, 7, NULL);
}

static void m_user_root(out *o)
{
        put_str(o, CA_FORMAT_USER, "root");
}

static void m_user_digit(out *o)
{
        put_str(o, CA_FORMAT_USER, "1abc");
}

static void m_group_before_user(out *o)
{
        put_str(o, CA_FORMAT_GROUP, "staff");
        put_str(o, CA_FORMAT_USER, "alice");
}

static void m_two_selinux(out *o)
{
        put_str(o, CA_FORMAT_SELINUX, "a");
        put_str(o, CA_FORMAT_SELINUX, "b");
}

static void m_fcaps_on_dir(out *o)
{
        put_rec(o, CA_FORMAT_FCAPS, "\1\0\0\2", 4);
}

static void m_projid_zero(out *o)
{
        put64(o, 24);
        put64(o, CA_FORMAT_QUOTA_PROJID);
        put64(o, 0);
}

static void m_selinux_embedded_nul(out *o)
{
        put_rec(o, CA_FORMAT_SELINUX, "a\0b\0", 4);
}

static void m_payload_in_dir(out *o)
{
        put_rec(o, CA_FORMAT_PAYLOAD, "x", 1);
}

/* A node without ACLs hands out empty lists as NULL: the decoder once computed them as offsets
 * from a NULL array, which clang's UBSan stops at (fuzz/regressions/catar_decode/). */
static int check_no_acls(void *userdata, const ca_node *n)
{
        (*(int *)userdata)++;
        CHECK(n->acl_user == NULL && n->n_acl_user == 0);
        CHECK(n->acl_group == NULL && n->n_acl_group == 0);
        CHECK(n->acl_default_user == NULL && n->n_acl_default_user == 0);
        CHECK(n->acl_default_group == NULL && n->n_acl_default_group == 0);
        return 0;
}

static void test_no_acls(void)
{
        out o = {0};
        dir d;
        open_dir(&o, &d, 0755);
        close_dir(&o, &d);
        int nodes = 0;
        ca_sink sink = {.node_begin = check_no_acls, .userdata = &nodes};
        _cleanup_(ca_decoder_freep) ca_decoder *dec = NULL;
        CHECK_EQ_INT(ca_decoder_new(&sink, UINT64_MAX, "no-acls", &dec), 0);
        CHECK_EQ_INT(ca_decoder_feed(dec, o.p, o.n), 0);
        CHECK_EQ_INT(ca_decoder_finish(dec), 0);
        CHECK_EQ_INT(nodes, 1);
        free(o.p);
}

void test_metadata(void)
{
        test_no_acls();

        logbuf l = {0};

        CHECK_EQ_INT(root_with(m_good, &l), 0);
        CHECK_STREQ(l.text,
                    "B . name= depth=0 off=0 mode=40755 mtime=0 user=alice group=staff-1_x "
                    "xattr=trusted.t:v1 xattr=user.a: xattr=user.b:xyz aclu=5:7:- aclu=5:4:bob "
                    "aclu=6:1:- aclg=7:5 groupobj=6 default=7,5,0,7 defu=9 "
                    "selinux=system_u:object_r:etc_t:s0\nE .\nF\n");
        meta_fn bad[] = {
            m_xattr_unsorted,       m_xattr_dup,       m_xattr_security, m_xattr_no_name,
            m_xattr_after_acl,      m_acl_order,       m_acl_unsorted,   m_acl_no_group_obj,
            m_acl_bad_perm,         m_default_no_mask, m_user_root,      m_user_digit,
            m_group_before_user,    m_two_selinux,     m_fcaps_on_dir,   m_projid_zero,
            m_selinux_embedded_nul, m_payload_in_dir,
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                int r = root_with(bad[i], NULL);
                if (r != -EBADMSG) {
                        fprintf(stderr, "metadata case %zu gave %d\n", i, r);
                        exit(EXIT_FAILURE);
                }
        }

        /* Without XATTRS in the flags, an XATTR record is refused. */
        flags = UINT64_C(0xb000000000000000);
        CHECK_EQ_INT(root_with(m_xattr_dup, NULL), -EBADMSG);
        /* ... and the mode must be 0777 for a directory */
        out o = {0};
        dir d;
        open_dir(&o, &d, 0777);
        close_dir(&o, &d);
        CHECK_EQ_INT(decode_quiet(o.p, o.n, UINT64_MAX), 0);
        write_le64(o.p + 24, S_IFDIR | 0755);
        CHECK_EQ_INT(decode_quiet(o.p, o.n, UINT64_MAX), -EBADMSG);
        free(o.p);
        flags = FX_FLAGS;
        free(l.text);
}
