/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Builds the kernel's binary POSIX ACL xattr values from a decoded node (see acl_xattr.h). */
#include <stdlib.h>
#include <string.h>

#include "casync/acl_xattr.h"

/* As many entries as fit in one xattr value (XATTR_SIZE_MAX). */
#define ACL_ENTRIES_MAX ((65536 - CA_ACL_XATTR_HEADER_SIZE) / CA_ACL_XATTR_ENTRY_SIZE)

typedef struct acl_item {
        uint16_t tag, perm;
        uint32_t id;
} acl_item;

typedef struct acl_builder {
        acl_item *items;
        size_t n, allocated;
        const char *what;
} acl_builder;

static int builder_init(acl_builder *b, size_t n_named, const char *what)
{
        size_t total;
        /* The four object entries plus the named ones, bounded before allocating. */
        if (ADD_OVERFLOW(n_named, (size_t)4, &total) || total > ACL_ENTRIES_MAX)
                return ca_bad("%s: too many ACL entries (%zu)", what, n_named);
        b->items = calloc(total, sizeof(acl_item));
        if (!b->items)
                return -ENOMEM;
        b->n = 0;
        b->allocated = total;
        b->what = what;
        return 0;
}

static int builder_add(acl_builder *b, uint16_t tag, uint64_t perm, uint64_t id)
{
        if (perm > 7)
                return ca_bad("%s: invalid ACL permissions %#llx", b->what,
                              (unsigned long long)perm);
        /* (uid_t)-1 means "no id" to the kernel; larger ids would be truncated. */
        if (id != CA_ACL_UNDEFINED_ID && id >= UINT32_MAX)
                return ca_bad("%s: invalid ACL id %llu", b->what, (unsigned long long)id);
        if (b->n >= b->allocated)
                return ca_bad("%s: too many ACL entries", b->what);
        b->items[b->n++] = (acl_item){.tag = tag, .perm = (uint16_t)perm, .id = (uint32_t)id};
        return 0;
}

static int builder_add_named(acl_builder *b, uint16_t tag, const ca_acl_entry *e, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                /* Numeric ids: names would be resolved through this host's NSS, which says
                 * nothing about the image's users. */
                int r = builder_add(b, tag, e[i].permissions, e[i].id);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int item_compare(const void *x, const void *y)
{
        const acl_item *a = x, *b = y;
        if (a->tag != b->tag)
                return a->tag < b->tag ? -1 : 1;
        if (a->id != b->id)
                return a->id < b->id ? -1 : 1;
        return 0;
}

/* The kernel wants entries sorted by tag then id, each named id once. */
static int builder_finish(acl_builder *b, void **ret, size_t *ret_size)
{
        qsort(b->items, b->n, sizeof(acl_item), item_compare);
        for (size_t i = 1; i < b->n; i++)
                if (item_compare(&b->items[i - 1], &b->items[i]) == 0)
                        return ca_bad("%s: duplicate ACL entry for id %u", b->what,
                                      (unsigned)b->items[i].id);

        size_t size = CA_ACL_XATTR_HEADER_SIZE + b->n * CA_ACL_XATTR_ENTRY_SIZE; /* n is bounded */
        uint8_t *p = malloc(size);
        if (!p)
                return -ENOMEM;
        uint8_t *q = p;
        *q++ = CA_ACL_XATTR_VERSION;
        *q++ = 0;
        *q++ = 0;
        *q++ = 0;
        for (size_t i = 0; i < b->n; i++) {
                const acl_item *it = &b->items[i];
                *q++ = (uint8_t)it->tag;
                *q++ = (uint8_t)(it->tag >> 8);
                *q++ = (uint8_t)it->perm;
                *q++ = (uint8_t)(it->perm >> 8);
                for (int k = 0; k < 4; k++)
                        *q++ = (uint8_t)(it->id >> (8 * k));
        }
        *ret = p;
        *ret_size = size;
        return 0;
}

static void builder_free(acl_builder *b)
{
        free(b->items);
}

int ca_acl_access_xattr(const ca_node *n, const char *what, void **ret, size_t *ret_size)
{
        *ret = NULL;
        *ret_size = 0;

        size_t n_named;
        if (ADD_OVERFLOW(n->n_acl_user, n->n_acl_group, &n_named))
                return ca_bad("%s: too many ACL entries", what);
        if (n_named == 0 && !n->has_acl_group_obj)
                return 0; /* the mode is the whole ACL */
        /* Named entries need a mask, which only exists together with ACL_GROUP_OBJ. */
        if (n_named > 0 && !n->has_acl_group_obj)
                return ca_bad("%s: ACL has named entries but no group_obj record", what);

        _cleanup_(builder_free) acl_builder b = {};
        int r = builder_init(&b, n_named, what);
        if (r < 0)
                return r;

        uint64_t mode = n->mode;
        if ((r = builder_add(&b, CA_ACL_TAG_USER_OBJ, (mode >> 6) & 7, CA_ACL_UNDEFINED_ID)) < 0 ||
            (r = builder_add(&b, CA_ACL_TAG_GROUP_OBJ, n->acl_group_obj, CA_ACL_UNDEFINED_ID)) <
                0 ||
            /* With an ACL, stat()'s group bits are the mask. */
            (r = builder_add(&b, CA_ACL_TAG_MASK, (mode >> 3) & 7, CA_ACL_UNDEFINED_ID)) < 0 ||
            (r = builder_add(&b, CA_ACL_TAG_OTHER, mode & 7, CA_ACL_UNDEFINED_ID)) < 0 ||
            (r = builder_add_named(&b, CA_ACL_TAG_USER, n->acl_user, n->n_acl_user)) < 0 ||
            (r = builder_add_named(&b, CA_ACL_TAG_GROUP, n->acl_group, n->n_acl_group)) < 0)
                return r;
        return builder_finish(&b, ret, ret_size);
}

int ca_acl_default_xattr(const ca_node *n, const char *what, void **ret, size_t *ret_size)
{
        *ret = NULL;
        *ret_size = 0;

        size_t n_named;
        if (ADD_OVERFLOW(n->n_acl_default_user, n->n_acl_default_group, &n_named))
                return ca_bad("%s: too many default ACL entries", what);
        if (!n->has_acl_default || n->acl_default_user_obj == CA_FORMAT_ACL_ABSENT) {
                if (n_named > 0)
                        return ca_bad("%s: default ACL entries without a default ACL", what);
                return 0;
        }
        /* A valid ACL has user_obj, group_obj and other; the mask is needed with named
         * entries (acl(5), "VALID ACLs"). */
        if (n->acl_default_group_obj == CA_FORMAT_ACL_ABSENT ||
            n->acl_default_other == CA_FORMAT_ACL_ABSENT)
                return ca_bad("%s: default ACL lacks group_obj or other", what);
        if (n_named > 0 && n->acl_default_mask == CA_FORMAT_ACL_ABSENT)
                return ca_bad("%s: default ACL has named entries but no mask", what);

        _cleanup_(builder_free) acl_builder b = {};
        int r = builder_init(&b, n_named, what);
        if (r < 0)
                return r;
        if ((r = builder_add(&b, CA_ACL_TAG_USER_OBJ, n->acl_default_user_obj,
                             CA_ACL_UNDEFINED_ID)) < 0 ||
            (r = builder_add(&b, CA_ACL_TAG_GROUP_OBJ, n->acl_default_group_obj,
                             CA_ACL_UNDEFINED_ID)) < 0 ||
            (r = builder_add(&b, CA_ACL_TAG_OTHER, n->acl_default_other, CA_ACL_UNDEFINED_ID)) < 0)
                return r;
        if (n->acl_default_mask != CA_FORMAT_ACL_ABSENT &&
            (r = builder_add(&b, CA_ACL_TAG_MASK, n->acl_default_mask, CA_ACL_UNDEFINED_ID)) < 0)
                return r;
        if ((r = builder_add_named(&b, CA_ACL_TAG_USER, n->acl_default_user,
                                   n->n_acl_default_user)) < 0 ||
            (r = builder_add_named(&b, CA_ACL_TAG_GROUP, n->acl_default_group,
                                   n->n_acl_default_group)) < 0)
                return r;
        return builder_finish(&b, ret, ret_size);
}
