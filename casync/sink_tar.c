/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The canonical tar sink: turns decoder events into the POSIX pax tar stream that `acfetch export`
 * writes, and whose SHA-512 is the appc image ID. The same archive must always give the same
 * bytes, so every choice below is fixed:
 *
 *  - Entries come in archive order. The archive root is not an entry (an ACI's top level is its
 *    children, `manifest` and `rootfs`); directory names end with '/'. Sockets cannot be stored
 *    in tar: they are skipped and counted (ca_tar_sockets_skipped).
 *  - ustar header: mode & 07777; numeric uid/gid; uname/gname when the archive stores user names
 *    (casync omits the name record of id 0, which means "root", so id 0 is named "root" as
 *    `casync mtree` shows it); mtime seconds; typeflag 0/2/3/4/5/6; linkname; devmajor/devminor;
 *    magic "ustar\0" version "00"; checksum as "%06o\0 ". A value that does not fit its field
 *    is written as 0 (names and link targets: their first 100 bytes) and carried by pax.
 *  - A path longer than 100 bytes is split into prefix/name at the leftmost '/' that makes both
 *    fit (the longest name); when no split works it goes into a pax `path` record.
 *  - One pax extended header ('x') precedes an entry when it needs any record. Records, in this
 *    order: path, linkpath, size, uid, gid, uname, gname (when too long for ustar), mtime
 *    (always when the archive stores times, "SEC.NNNNNNNNN"), SCHILY.acl.access,
 *    SCHILY.acl.default (GNU tar's text: one entry per line, numeric ids, since names would be
 *    resolved through the extracting host's NSS), RHT.security.selinux (GNU tar's --selinux),
 *    SCHILY.xattr.security.capability (file capabilities), then SCHILY.xattr.<name> for each
 *    xattr in archive order ('%' and '=' in names escaped as %25 and %3D, as GNU tar does).
 *    The header is named "PaxHeaders/<basename>" (cut to 100 bytes), mode 0644, owner 0,
 *    mtime 0: nothing depends on the host, the time or a PID.
 *  - The stream ends with two zero blocks and nothing else: no padding to tar's 10240-byte
 *    record, since the image ID is simply the hash of exactly these bytes.
 *
 * Not carried (tar has no place for them): the root's own metadata, chattr and FAT flags, the
 * quota project ID.
 *
 * Memory is bounded: payloads go straight to the writer; only one entry's pax records (bounded
 * by the decoder's metadata limits) are held.
 */
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>

#include "casync/casync.h"

#define BLOCK 512

/* ustar field limits (octal digits that fit each field with its terminator). */
#define USTAR_ID_MAX      UINT64_C(07777777)
#define USTAR_SIZE_MAX    UINT64_C(077777777777)
#define USTAR_NAME_SIZE   100
#define USTAR_PREFIX_SIZE 155
#define USTAR_UNAME_SIZE  32

struct ca_tar {
        ca_stream_writer write;
        void *userdata;

        char *pax; /* this entry's pax records */
        size_t pax_size, pax_alloc;
        char *path; /* this entry's path, '/'-terminated for directories */
        size_t path_alloc;

        uint64_t payload_left; /* of the current regular file */
        uint64_t payload_total;
        uint64_t sockets;
        uint64_t written;
        bool in_file;
        bool finished;
};

static int out(ca_tar *t, const void *data, size_t size)
{
        if (size == 0)
                return 0;
        int r = t->write(t->userdata, data, size);
        if (r < 0)
                return r;
        t->written += size;
        return 0;
}

static int out_zeros(ca_tar *t, size_t size)
{
        static const uint8_t zeros[BLOCK];
        while (size > 0) {
                size_t k = MIN(size, sizeof(zeros));
                int r = out(t, zeros, k);
                if (r < 0)
                        return r;
                size -= k;
        }
        return 0;
}

static size_t padding(uint64_t size)
{
        return (size_t)((BLOCK - size % BLOCK) % BLOCK);
}

static int pax_reserve(ca_tar *t, size_t extra)
{
        size_t need;
        if (ADD_OVERFLOW(t->pax_size, extra, &need))
                return -ENOMEM;
        if (need <= t->pax_alloc)
                return 0;
        size_t alloc = MAX(need, t->pax_alloc * 2);
        char *p = realloc(t->pax, alloc);
        if (!p)
                return -ENOMEM;
        t->pax = p;
        t->pax_alloc = alloc;
        return 0;
}

static size_t decimal_digits(size_t v)
{
        size_t n = 1;
        while (v >= 10) {
                v /= 10;
                n++;
        }
        return n;
}

/*
 * Appends "LEN KEY=VALUE\n". LEN counts the whole record including its own digits: start from
 * the rest and add digits until the count is stable (it changes at most once).
 */
static int pax_add(ca_tar *t, const char *key, size_t key_len, const void *value, size_t size)
{
        size_t rest, len;
        /* " " + key + "=" + value + "\n" */
        if (ADD_OVERFLOW(key_len, size, &rest) || ADD_OVERFLOW(rest, (size_t)3, &rest))
                return -ENOMEM;
        len = rest + decimal_digits(rest);
        if (len < rest)
                return -ENOMEM;
        while (len != rest + decimal_digits(len))
                len = rest + decimal_digits(len);

        int r = pax_reserve(t, len);
        if (r < 0)
                return r;
        char *p = t->pax + t->pax_size;
        int n = snprintf(p, decimal_digits(len) + 2, "%zu ", len);
        p += n;
        memcpy(p, key, key_len);
        p += key_len;
        *p++ = '=';
        memcpy(p, value, size);
        p += size;
        *p++ = '\n';
        t->pax_size += len;
        return 0;
}

static int pax_add_str(ca_tar *t, const char *key, const char *value)
{
        return pax_add(t, key, strlen(key), value, strlen(value));
}

static int pax_add_u64(ca_tar *t, const char *key, uint64_t v)
{
        char buf[24];
        int n = snprintf(buf, sizeof(buf), "%" PRIu64, v);
        return pax_add(t, key, strlen(key), buf, (size_t)n);
}

/* "SCHILY.xattr." + name with '%' and '=' escaped, so the key's '=' stays unambiguous. */
static int pax_add_xattr(ca_tar *t, const char *name, const void *value, size_t size)
{
        static const char prefix[] = "SCHILY.xattr.";
        size_t name_len = strlen(name), key_len;
        /* Each escaped byte takes three. */
        if (MUL_OVERFLOW(name_len, (size_t)3, &key_len) ||
            ADD_OVERFLOW(key_len, sizeof(prefix), &key_len))
                return -ENOMEM;
        _cleanup_(freep) char *key = malloc(key_len);
        if (!key)
                return -ENOMEM;
        char *k = stpcpy(key, prefix);
        for (const char *s = name; *s; s++) {
                if (*s == '%')
                        k = stpcpy(k, "%25");
                else if (*s == '=')
                        k = stpcpy(k, "%3D");
                else
                        *k++ = *s;
        }
        return pax_add(t, key, (size_t)(k - key), value, size);
}

/* ---- ACLs in GNU tar's text form */

typedef struct text {
        char *buf;
        size_t size, alloc;
} text;

static void text_free(text *x)
{
        free(x->buf);
}

static int text_add(text *x, const char *tag, const uint64_t *id, uint64_t perm, const char *what)
{
        char line[64];
        if (perm > 7)
                return ca_bad("%s: invalid ACL permissions %#" PRIx64, what, perm);
        int n;
        if (id)
                n = snprintf(line, sizeof(line), "%s%s:%" PRIu64 ":%c%c%c", x->size ? "\n" : "",
                             tag, *id, perm & 4 ? 'r' : '-', perm & 2 ? 'w' : '-',
                             perm & 1 ? 'x' : '-');
        else
                n = snprintf(line, sizeof(line), "%s%s::%c%c%c", x->size ? "\n" : "", tag,
                             perm & 4 ? 'r' : '-', perm & 2 ? 'w' : '-', perm & 1 ? 'x' : '-');
        size_t need;
        if (ADD_OVERFLOW(x->size, (size_t)n, &need))
                return -ENOMEM;
        if (need > x->alloc) {
                size_t alloc = MAX(need, x->alloc * 2);
                char *p = realloc(x->buf, alloc);
                if (!p)
                        return -ENOMEM;
                x->buf = p;
                x->alloc = alloc;
        }
        memcpy(x->buf + x->size, line, (size_t)n);
        x->size += (size_t)n;
        return 0;
}

static int text_add_named(text *x, const char *tag, const ca_acl_entry *e, size_t n,
                          const char *what)
{
        for (size_t i = 0; i < n; i++) {
                int r = text_add(x, tag, &e[i].id, e[i].permissions, what);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The access ACL as acl_to_text(3) orders it: with an ACL_GROUP_OBJ record the mode's group bits
 * are the mask (as casync restores it). Nothing when the mode says it all. */
static int pax_add_acl_access(ca_tar *t, const ca_node *n)
{
        size_t n_named = n->n_acl_user + n->n_acl_group; /* bounded by the decoder */
        if (n_named == 0 && !n->has_acl_group_obj)
                return 0;
        if (!n->has_acl_group_obj)
                return ca_bad("%s: ACL has named entries but no group_obj record", n->path);

        _cleanup_(text_free) text x = {};
        int r;
        if ((r = text_add(&x, "user", NULL, (n->mode >> 6) & 7, n->path)) < 0 ||
            (r = text_add_named(&x, "user", n->acl_user, n->n_acl_user, n->path)) < 0 ||
            (r = text_add(&x, "group", NULL, n->acl_group_obj, n->path)) < 0 ||
            (r = text_add_named(&x, "group", n->acl_group, n->n_acl_group, n->path)) < 0 ||
            (r = text_add(&x, "mask", NULL, (n->mode >> 3) & 7, n->path)) < 0 ||
            (r = text_add(&x, "other", NULL, n->mode & 7, n->path)) < 0)
                return r;
        return pax_add(t, "SCHILY.acl.access", strlen("SCHILY.acl.access"), x.buf, x.size);
}

static int pax_add_acl_default(ca_tar *t, const ca_node *n)
{
        size_t n_named = n->n_acl_default_user + n->n_acl_default_group;
        if (!n->has_acl_default || n->acl_default_user_obj == CA_FORMAT_ACL_ABSENT) {
                if (n_named > 0)
                        return ca_bad("%s: default ACL entries without a default ACL", n->path);
                return 0;
        }
        if (n->acl_default_group_obj == CA_FORMAT_ACL_ABSENT ||
            n->acl_default_other == CA_FORMAT_ACL_ABSENT)
                return ca_bad("%s: default ACL lacks group_obj or other", n->path);
        if (n_named > 0 && n->acl_default_mask == CA_FORMAT_ACL_ABSENT)
                return ca_bad("%s: default ACL has named entries but no mask", n->path);

        _cleanup_(text_free) text x = {};
        int r;
        if ((r = text_add(&x, "user", NULL, n->acl_default_user_obj, n->path)) < 0 ||
            (r = text_add_named(&x, "user", n->acl_default_user, n->n_acl_default_user, n->path)) <
                0 ||
            (r = text_add(&x, "group", NULL, n->acl_default_group_obj, n->path)) < 0 ||
            (r = text_add_named(&x, "group", n->acl_default_group, n->n_acl_default_group,
                                n->path)) < 0)
                return r;
        if (n->acl_default_mask != CA_FORMAT_ACL_ABSENT &&
            (r = text_add(&x, "mask", NULL, n->acl_default_mask, n->path)) < 0)
                return r;
        if ((r = text_add(&x, "other", NULL, n->acl_default_other, n->path)) < 0)
                return r;
        return pax_add(t, "SCHILY.acl.default", strlen("SCHILY.acl.default"), x.buf, x.size);
}

/* ---- ustar header */

/* Writes v in octal, zero-padded to size-1 digits and NUL-terminated; 0 if it does not fit. */
static void put_octal(char *field, size_t size, uint64_t v)
{
        char buf[32];
        snprintf(buf, sizeof(buf), "%0*" PRIo64, (int)(size - 1), v);
        if (strlen(buf) > size - 1)
                snprintf(buf, sizeof(buf), "%0*o", (int)(size - 1), 0);
        memcpy(field, buf, size);
}

typedef struct ustar {
        char name[100], mode[8], uid[8], gid[8], size[12], mtime[12], chksum[8], typeflag,
            linkname[100], magic[6], version[2], uname[32], gname[32], devmajor[8], devminor[8],
            prefix[155], pad[12];
} ustar;

_Static_assert(sizeof(ustar) == BLOCK, "ustar header must be one block");

static void put_str(char *field, size_t size, const char *s, size_t len)
{
        memcpy(field, s, MIN(size, len));
}

static int write_header(ca_tar *t, ustar *h)
{
        memcpy(h->magic, "ustar", 6);
        memcpy(h->version, "00", 2);
        memset(h->chksum, ' ', sizeof(h->chksum));
        unsigned sum = 0;
        for (size_t i = 0; i < sizeof(*h); i++)
                sum += ((const unsigned char *)h)[i];
        snprintf(h->chksum, sizeof(h->chksum), "%06o", sum);
        h->chksum[7] = ' ';
        return out(t, h, sizeof(*h));
}

static char typeflag(uint64_t mode)
{
        switch (mode & S_IFMT) {
        case S_IFREG:
                return '0';
        case S_IFLNK:
                return '2';
        case S_IFCHR:
                return '3';
        case S_IFBLK:
                return '4';
        case S_IFDIR:
                return '5';
        case S_IFIFO:
                return '6';
        }
        return 0;
}

/* Puts path into name/prefix; false when it needs a pax record. */
static bool split_path(ustar *h, const char *path, size_t len)
{
        if (len <= USTAR_NAME_SIZE) {
                put_str(h->name, sizeof(h->name), path, len);
                return true;
        }
        /* The leftmost '/' leaving a name that fits; it must leave a prefix that fits too. */
        size_t start = len - USTAR_NAME_SIZE - 1;
        for (size_t i = start; i < len - 1 && i <= USTAR_PREFIX_SIZE; i++) {
                if (path[i] != '/' || i == 0)
                        continue;
                put_str(h->prefix, sizeof(h->prefix), path, i);
                put_str(h->name, sizeof(h->name), path + i + 1, len - i - 1);
                return true;
        }
        put_str(h->name, sizeof(h->name), path, len);
        return false;
}

static int set_path(ca_tar *t, const ca_node *n)
{
        size_t len = strlen(n->path), need;
        if (ADD_OVERFLOW(len, (size_t)2, &need))
                return -ENOMEM;
        if (need > t->path_alloc) {
                char *p = realloc(t->path, need);
                if (!p)
                        return -ENOMEM;
                t->path = p;
                t->path_alloc = need;
        }
        memcpy(t->path, n->path, len);
        if (S_ISDIR(n->mode))
                t->path[len++] = '/';
        t->path[len] = 0;
        return 0;
}

/* The pax header's name: "PaxHeaders/" + the basename, cut to 100 bytes at a UTF-8 boundary. */
static void pax_header_name(ustar *h, const char *name)
{
        static const char dir[] = "PaxHeaders/";
        size_t len = strlen(name), room = sizeof(h->name) - (sizeof(dir) - 1);
        if (len > room) {
                len = room;
                while (len > 0 && ((unsigned char)name[len] & 0xc0) == 0x80)
                        len--;
        }
        memcpy(h->name, dir, sizeof(dir) - 1);
        memcpy(h->name + sizeof(dir) - 1, name, len);
}

static int tar_node_begin(void *userdata, const ca_node *n)
{
        ca_tar *t = userdata;
        uint64_t f = n->feature_flags;
        int r;

        if (n->depth == 0)
                return 0;
        if (S_ISSOCK(n->mode)) {
                t->sockets++;
                return 0;
        }
        char type = typeflag(n->mode);
        if (!type)
                return ca_bad("%s: file type %#" PRIo64 " cannot be stored in tar", n->path,
                              n->mode & S_IFMT);

        r = set_path(t, n);
        if (r < 0)
                return r;
        size_t path_len = strlen(t->path);
        uint64_t size = S_ISREG(n->mode) ? n->payload_size : 0;

        ustar h = {};
        t->pax_size = 0;
        if (!split_path(&h, t->path, path_len) &&
            (r = pax_add(t, "path", 4, t->path, path_len)) < 0)
                return r;
        if (S_ISLNK(n->mode)) {
                size_t l = strlen(n->symlink_target);
                put_str(h.linkname, sizeof(h.linkname), n->symlink_target, l);
                if (l > sizeof(h.linkname) &&
                    (r = pax_add_str(t, "linkpath", n->symlink_target)) < 0)
                        return r;
        }
        put_octal(h.mode, sizeof(h.mode), n->mode & 07777);
        put_octal(h.size, sizeof(h.size), size);
        if (size > USTAR_SIZE_MAX && (r = pax_add_u64(t, "size", size)) < 0)
                return r;
        put_octal(h.uid, sizeof(h.uid), n->uid);
        if (n->uid > USTAR_ID_MAX && (r = pax_add_u64(t, "uid", n->uid)) < 0)
                return r;
        put_octal(h.gid, sizeof(h.gid), n->gid);
        if (n->gid > USTAR_ID_MAX && (r = pax_add_u64(t, "gid", n->gid)) < 0)
                return r;

        if (f & CA_FORMAT_WITH_USER_NAMES) {
                const char *user = n->user_name, *group = n->group_name;
                if (!user && n->uid == 0)
                        user = "root";
                if (!group && n->gid == 0)
                        group = "root";
                if (user) {
                        size_t l = strlen(user);
                        if (l < USTAR_UNAME_SIZE)
                                put_str(h.uname, sizeof(h.uname), user, l);
                        else if ((r = pax_add_str(t, "uname", user)) < 0)
                                return r;
                }
                if (group) {
                        size_t l = strlen(group);
                        if (l < USTAR_UNAME_SIZE)
                                put_str(h.gname, sizeof(h.gname), group, l);
                        else if ((r = pax_add_str(t, "gname", group)) < 0)
                                return r;
                }
        }

        put_octal(h.mtime, sizeof(h.mtime), n->mtime / 1000000000);
        if (f & CA_FORMAT_WITH_TIME_MASK) {
                char buf[40];
                int l = snprintf(buf, sizeof(buf), "%" PRIu64 ".%09" PRIu64, n->mtime / 1000000000,
                                 n->mtime % 1000000000);
                if ((r = pax_add(t, "mtime", 5, buf, (size_t)l)) < 0)
                        return r;
        }
        h.typeflag = type;
        if (S_ISCHR(n->mode) || S_ISBLK(n->mode)) {
                /* The decoder bounds Linux device numbers (12/20 bits): they always fit. */
                put_octal(h.devmajor, sizeof(h.devmajor), n->device_major);
                put_octal(h.devminor, sizeof(h.devminor), n->device_minor);
        }

        if ((r = pax_add_acl_access(t, n)) < 0 || (r = pax_add_acl_default(t, n)) < 0)
                return r;
        if (n->selinux_label && (r = pax_add_str(t, "RHT.security.selinux", n->selinux_label)) < 0)
                return r;
        if (n->fcaps && (r = pax_add_xattr(t, "security.capability", n->fcaps, n->fcaps_size)) < 0)
                return r;
        for (size_t i = 0; i < n->n_xattrs; i++)
                if ((r = pax_add_xattr(t, n->xattrs[i].name, n->xattrs[i].value,
                                       n->xattrs[i].size)) < 0)
                        return r;

        if (t->pax_size > 0) {
                ustar x = {};
                pax_header_name(&x, n->name);
                put_octal(x.mode, sizeof(x.mode), 0644);
                put_octal(x.uid, sizeof(x.uid), 0);
                put_octal(x.gid, sizeof(x.gid), 0);
                put_octal(x.size, sizeof(x.size), t->pax_size);
                put_octal(x.mtime, sizeof(x.mtime), 0);
                x.typeflag = 'x';
                if ((r = write_header(t, &x)) < 0 || (r = out(t, t->pax, t->pax_size)) < 0 ||
                    (r = out_zeros(t, padding(t->pax_size))) < 0)
                        return r;
        }
        if ((r = write_header(t, &h)) < 0)
                return r;

        t->in_file = S_ISREG(n->mode);
        t->payload_left = t->payload_total = size;
        return 0;
}

static int tar_payload(void *userdata, const ca_node *n, const void *data, size_t size)
{
        ca_tar *t = userdata;
        if (!t->in_file || size > t->payload_left)
                return ca_bad("%s: more payload than the entry declared", n->path);
        t->payload_left -= size;
        return out(t, data, size);
}

static int tar_node_end(void *userdata, const ca_node *n)
{
        ca_tar *t = userdata;
        if (!t->in_file || n->depth == 0)
                return 0;
        t->in_file = false;
        if (t->payload_left != 0)
                return ca_bad("%s: payload ended %" PRIu64 " bytes early", n->path,
                              t->payload_left);
        return out_zeros(t, padding(t->payload_total));
}

static int tar_finish(void *userdata)
{
        ca_tar *t = userdata;
        if (t->finished)
                return 0;
        t->finished = true;
        return out_zeros(t, 2 * BLOCK);
}

int ca_tar_new(ca_stream_writer write, void *userdata, ca_tar **ret, ca_sink *ret_sink)
{
        ca_tar *t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->write = write;
        t->userdata = userdata;
        *ret = t;
        *ret_sink = (ca_sink){
            .node_begin = tar_node_begin,
            .payload = tar_payload,
            .node_end = tar_node_end,
            .finish = tar_finish,
            .userdata = t,
        };
        return 0;
}

uint64_t ca_tar_sockets_skipped(const ca_tar *t)
{
        return t->sockets;
}

uint64_t ca_tar_bytes_written(const ca_tar *t)
{
        return t->written;
}

ca_tar *ca_tar_free(ca_tar *t)
{
        if (t) {
                free(t->pax);
                free(t->path);
                free(t);
        }
        return NULL;
}
