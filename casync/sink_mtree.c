/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The mtree sink: one line per node, byte for byte what `casync mtree` prints, so the two tools can
 * be compared with diff. casync's quirks are kept on purpose (see the comments below).
 */
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>

#include "casync/casync.h"

struct ca_mtree {
        FILE *out;
        ca_digest_type key; /* names the digest field */
        ca_digest *digest;
};

/* casync's escaping: \ooo for every byte <= ' ', >= 127, '\' and '#'. */
static void put_escaped(FILE *out, const char *s)
{
        for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
                if (*p <= ' ' || *p >= 127 || *p == '\\' || *p == '#')
                        fprintf(out, "\\%03o", *p);
                else
                        putc_unlocked(*p, out);
        }
}

static const char *type_name(uint64_t mode)
{
        switch (mode & S_IFMT) {
        case S_IFLNK:
                return "link";
        case S_IFDIR:
                return "dir";
        case S_IFREG:
                return "file";
        case S_IFSOCK:
                return "socket";
        case S_IFCHR:
                return "char";
        case S_IFBLK:
                return "block";
        case S_IFIFO:
                return "fifo";
        }
        return "unknown";
}

static void put_flags(FILE *out, const ca_node *n)
{
        static const struct {
                uint64_t flag;
                const char *name;
        } table[] = {
            {CA_FORMAT_WITH_FLAG_HIDDEN, "hidden"},   {CA_FORMAT_WITH_FLAG_SYSTEM, "system"},
            {CA_FORMAT_WITH_FLAG_ARCHIVE, "archive"}, {CA_FORMAT_WITH_FLAG_APPEND, "sappend"},
            {CA_FORMAT_WITH_FLAG_NODUMP, "nodump"},   {CA_FORMAT_WITH_FLAG_IMMUTABLE, "simmutable"},
        };
        uint64_t features = n->feature_flags, shown = 0;
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                shown |= table[i].flag;
        if (!(features & shown))
                return;

        /* casync has no attributes for other node types and prints them as all set. */
        bool known = S_ISREG(n->mode) || S_ISDIR(n->mode);
        const char *sep = " flags=";
        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                if (!(features & table[i].flag))
                        continue;
                bool set = !known || (n->flags & table[i].flag);
                fprintf(out, "%s%s%s", sep, set ? "" : "no", table[i].name);
                sep = ",";
        }
}

static int mtree_node_begin(void *userdata, const ca_node *n)
{
        ca_mtree *m = userdata;
        FILE *out = m->out;
        uint64_t f = n->feature_flags;
        int r;

        put_escaped(out, n->depth == 0 ? "." : n->path);
        fprintf(out, " type=%s mode=%04" PRIo64, type_name(n->mode), n->mode & 07777);
        if (S_ISREG(n->mode))
                fprintf(out, " size=%" PRIu64, n->payload_size);
        if (S_ISLNK(n->mode)) {
                fputs(" link=", out);
                put_escaped(out, n->symlink_target);
        }
        if (S_ISCHR(n->mode) || S_ISBLK(n->mode))
                fprintf(out, " device=linux,%" PRIu64 ",%" PRIu64, n->device_major,
                        n->device_minor);
        if (f & CA_FORMAT_WITH_UID_MASK)
                fprintf(out, " uid=%" PRIu64 " gid=%" PRIu64, n->uid, n->gid);
        if (f & CA_FORMAT_WITH_USER_NAMES) {
                /* id 0 is stored without a name record; casync shows it as root. */
                const char *user = n->user_name, *group = n->group_name;
                if (!user && (f & CA_FORMAT_WITH_UID_MASK) && n->uid == 0)
                        user = "root";
                if (!group && (f & CA_FORMAT_WITH_UID_MASK) && n->gid == 0)
                        group = "root";
                if (user) {
                        fputs(" uname=", out);
                        put_escaped(out, user);
                }
                if (group) {
                        fputs(" gname=", out);
                        put_escaped(out, group);
                }
        }
        put_flags(out, n);
        if (f & CA_FORMAT_WITH_TIME_MASK)
                fprintf(out, " time=%" PRIu64 ".%09" PRIu64, n->mtime / 1000000000,
                        n->mtime % 1000000000);

        if (!S_ISREG(n->mode)) {
                putc_unlocked('\n', out);
                return 0;
        }

        /*
         * The line ends with the payload digest. As in casync, the value is computed with the
         * archive's digest while the key follows the caller's choice.
         */
        if (!m->digest) {
                r = ca_digest_new(ca_digest_type_from_flags(f), &m->digest);
                if (r < 0)
                        return r;
        }
        return ca_digest_reset(m->digest);
}

static int mtree_payload(void *userdata, const ca_node *n, const void *data, size_t size)
{
        ca_mtree *m = userdata;
        return ca_digest_update(m->digest, data, size);
}

static int mtree_node_end(void *userdata, const ca_node *n)
{
        ca_mtree *m = userdata;
        ca_chunk_id id;
        char hex[CA_CHUNK_ID_HEX_SIZE];
        int r;

        if (!S_ISREG(n->mode))
                return 0;
        r = ca_digest_final(m->digest, id.bytes);
        if (r < 0)
                return r;
        fprintf(m->out, " %s=%s\n", m->key == CA_DIGEST_SHA256 ? "sha256digest" : "sha512256digest",
                ca_chunk_id_to_hex(&id, hex));
        return 0;
}

static int mtree_finish(void *userdata)
{
        ca_mtree *m = userdata;
        if (fflush(m->out) != 0 || ferror(m->out))
                return ca_log_errno(CA_LOG_ERR, -EIO, "failed to write the mtree output");
        return 0;
}

int ca_mtree_new(FILE *out, ca_digest_type digest, ca_mtree **ret, ca_sink *ret_sink)
{
        ca_mtree *m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->out = out;
        m->key = digest;
        *ret = m;
        *ret_sink = (ca_sink){
            .node_begin = mtree_node_begin,
            .payload = mtree_payload,
            .node_end = mtree_node_end,
            .finish = mtree_finish,
            .userdata = m,
        };
        return 0;
}

ca_mtree *ca_mtree_free(ca_mtree *m)
{
        if (m) {
                ca_digest_free(m->digest);
                free(m);
        }
        return NULL;
}
