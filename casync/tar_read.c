/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A bounded streaming tar reader for untrusted input (see casync.h). Two stages: the input is
 * decompressed (gzip, xz, zstd, told by the first bytes' magic) into a fixed buffer, and the tar
 * state machine consumes that: 512-byte headers, entry data handed on as it comes, metadata
 * entries (pax 'x'/'g', GNU 'L'/'K') gathered up to CA_TAR_META_MAX, padding skipped. Nothing is
 * held beyond one header, one metadata entry and one output buffer, whatever the archive size.
 */
#include <errno.h>
#include <inttypes.h>
#include <lzma.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "casync/casync.h"
#include "casync/gunzip.h"

#define BLOCK          512U
#define OUT_BUFFER     (128U * 1024U)
#define XZ_MEMLIMIT    (UINT64_C(256) * 1024 * 1024)
#define ZSTD_WLOG_MAX  27 /* 128 MiB windows, zstd's default limit */
#define MAGIC_SIZE     6U
#define XATTRS_MAX     1024U
#define FORMAT_MAX_TAR (UINT64_C(1) << 62)
/* Pipelined: decompressed buffers in flight between the two threads (2 MiB). */
#define PIPE_SLOTS 16U

typedef enum comp { COMP_UNKNOWN, COMP_NONE, COMP_GZIP, COMP_XZ, COMP_ZSTD } comp;

typedef enum state {
        ST_HEADER,
        ST_DATA, /* a regular file's bytes, to the handler */
        ST_SKIP, /* bytes of another entry type, ignored */
        ST_META, /* a pax or GNU long-name entry, gathered */
        ST_PAD,
        ST_END,
} state;

/* What pax headers and GNU long names say about the next entry. */
typedef struct pending {
        char *path, *link;
        bool has_size, has_mtime, has_uid, has_gid;
        uint64_t size, mtime, uid, gid;
        ca_xattr *xattrs;
        size_t n_xattrs;
        bool sparse;
} pending;

struct ca_tar_reader {
        ca_tar_handler h;
        char *what;
        uint64_t max_bytes;

        comp comp;
        uint8_t magic[MAGIC_SIZE];
        size_t magic_fill;
        /* gzip through isa-l (gunzip.h): about four times zlib's inflate speed, which is what
         * a publish from an OCI image's gzip layers waits for. */
        ca_gunzip *gz;
        lzma_stream xz;
        bool xz_init;
        ZSTD_DStream *zstd;
        size_t zstd_last; /* last ZSTD_decompressStream result: 0 at a frame end */
        uint8_t *out;

        state st;
        uint64_t offset; /* decompressed bytes consumed */
        uint8_t hdr[BLOCK];
        size_t hdr_fill;
        unsigned zero_blocks;
        uint64_t remaining, pad;
        char meta_type;
        uint8_t *meta;
        size_t meta_fill;
        uint64_t entries;

        pending p;
        /* The entry being delivered. */
        ca_tar_entry e;
        char *path, *link;
        bool failed;

        /* Pipelined (ca_tar_reader_pipeline): the caller's thread decompresses into slots, the
         * consumer thread reads the tar from them. Slots [head, head + count) are full; the
         * decompressor fills the one after them (out). */
        bool piped;
        pthread_t consumer;
        pthread_mutex_t lock;
        pthread_cond_t changed;
        uint8_t *slots[PIPE_SLOTS];
        size_t slot_len[PIPE_SLOTS];
        unsigned head, count;
        bool eof;
        int async_error; /* the consumer's first error */
};

static void pending_clear(pending *p)
{
        free(p->path);
        free(p->link);
        for (size_t i = 0; i < p->n_xattrs; i++) {
                free((char *)p->xattrs[i].name);
                free((uint8_t *)p->xattrs[i].value);
        }
        free(p->xattrs);
        *p = (pending){};
}

static void pipe_stop(ca_tar_reader *r);

ca_tar_reader *ca_tar_reader_free(ca_tar_reader *r)
{
        if (!r)
                return NULL;
        if (r->piped) {
                pipe_stop(r);
                pthread_mutex_destroy(&r->lock);
                pthread_cond_destroy(&r->changed);
                r->out = NULL; /* one of the slots */
                for (unsigned i = 0; i < PIPE_SLOTS; i++)
                        free(r->slots[i]);
        }
        ca_gunzip_free(r->gz);
        if (r->xz_init)
                lzma_end(&r->xz);
        ZSTD_freeDStream(r->zstd);
        pending_clear(&r->p);
        free(r->path);
        free(r->link);
        free(r->meta);
        free(r->out);
        free(r->what);
        free(r);
        return NULL;
}

int ca_tar_reader_new(const ca_tar_handler *h, const char *what, uint64_t max_bytes,
                      ca_tar_reader **ret)
{
        ca_tar_reader *r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->h = *h;
        r->what = strdup(what);
        r->out = malloc(OUT_BUFFER);
        if (!r->what || !r->out) {
                ca_tar_reader_free(r);
                return -ENOMEM;
        }
        r->max_bytes = max_bytes ? max_bytes : FORMAT_MAX_TAR;
        *ret = r;
        return 0;
}

const char *ca_tar_reader_compression(const ca_tar_reader *r)
{
        static const char *const names[] = {
            [COMP_UNKNOWN] = NULL, [COMP_NONE] = "none", [COMP_GZIP] = "gzip",
            [COMP_XZ] = "xz",      [COMP_ZSTD] = "zstd",
        };
        return names[r->comp];
}

uint64_t ca_tar_reader_entries(const ca_tar_reader *r)
{
        return r->entries;
}

/* ---------------------------------------------------------------- fields */

/* A numeric header field: octal (leading spaces, ended by space or NUL), or GNU base-256. */
static int parse_number(const uint8_t *f, size_t n, uint64_t *ret)
{
        uint64_t v = 0;
        if (f[0] & 0x80) {
                if (f[0] != 0x80)
                        return -ERANGE; /* negative, or a sign we do not know */
                for (size_t i = 1; i < n; i++) {
                        if (v >> 55)
                                return -ERANGE;
                        v = v << 8 | f[i];
                }
                if (v >= FORMAT_MAX_TAR)
                        return -ERANGE;
                *ret = v;
                return 0;
        }
        size_t i = 0;
        while (i < n && f[i] == ' ')
                i++;
        size_t digits = 0;
        for (; i < n && f[i] >= '0' && f[i] <= '7'; i++, digits++) {
                if (v >> 58)
                        return -ERANGE;
                v = v << 3 | (uint64_t)(f[i] - '0');
        }
        for (; i < n; i++)
                if (f[i] != ' ' && f[i] != 0)
                        return -EINVAL;
        *ret = v;
        return 0;
}

/* A decimal pax value, all digits. */
static int parse_decimal(const char *s, size_t n, uint64_t *ret)
{
        uint64_t v = 0;
        if (n == 0 || n > 19)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                v = v * 10 + (uint64_t)(s[i] - '0');
        }
        *ret = v;
        return 0;
}

/* pax mtime: [-]SECONDS[.FRACTION], to ns; before the epoch is 0. */
static int parse_pax_time(const char *s, size_t n, uint64_t *ret)
{
        bool neg = n > 0 && s[0] == '-';
        if (neg) {
                s++;
                n--;
        }
        const char *dot = memchr(s, '.', n);
        size_t int_len = dot ? (size_t)(dot - s) : n;
        uint64_t sec, ns = 0;
        if (parse_decimal(s, int_len, &sec) < 0 || sec > UINT64_MAX / 1000000000U / 2)
                return -EINVAL;
        if (dot) {
                size_t frac_len = n - int_len - 1;
                uint64_t scale = 100000000;
                for (size_t i = 0; i < frac_len; i++) {
                        char c = dot[1 + i];
                        if (c < '0' || c > '9')
                                return -EINVAL;
                        ns += (uint64_t)(c - '0') * scale;
                        scale /= 10;
                }
        }
        *ret = neg ? 0 : sec * 1000000000U + ns;
        return 0;
}

/* A NUL-terminated copy of a fixed-size field (ends at the first NUL or the field end). */
static size_t field_len(const uint8_t *f, size_t n)
{
        const uint8_t *z = memchr(f, 0, n);
        return z ? (size_t)(z - f) : n;
}

/*
 * Normalizes a path in place: drops "./" prefixes and "." components, collapses '/' runs, drops a
 * trailing '/'; "" becomes ".". Refuses absolute paths, "..", over-long components.
 */
static int normalize_path(char *s, const char **why)
{
        if (s[0] == '/') {
                *why = "absolute path";
                return -EINVAL;
        }
        if (strlen(s) > CA_TAR_PATH_MAX) {
                *why = "path too long";
                return -EINVAL;
        }
        char *w = s;
        const char *p = s;
        while (*p) {
                const char *end = strchrnul(p, '/');
                size_t len = (size_t)(end - p);
                if (len == 0 || (len == 1 && p[0] == '.')) {
                        /* empty or "." component */
                } else if (len == 2 && p[0] == '.' && p[1] == '.') {
                        *why = "path with a \"..\" component";
                        return -EINVAL;
                } else if (len > 255) {
                        *why = "file name longer than 255 bytes";
                        return -EINVAL;
                } else {
                        if (w != s)
                                *w++ = '/';
                        memmove(w, p, len);
                        w += len;
                }
                p = *end ? end + 1 : end;
        }
        if (w == s)
                *w++ = '.';
        *w = 0;
        return 0;
}

/* ---------------------------------------------------------------- pax records */

static int pax_xattr(ca_tar_reader *r, const char *name, const char *value, size_t value_len)
{
        pending *p = &r->p;
        if (p->n_xattrs >= XATTRS_MAX)
                return ca_bad("%s: entry %" PRIu64 ": more than %u extended attributes", r->what,
                              r->entries + 1, XATTRS_MAX);
        if (name[0] == 0)
                return ca_bad("%s: entry %" PRIu64 ": an extended attribute without a name",
                              r->what, r->entries + 1);
        ca_xattr *x = realloc(p->xattrs, (p->n_xattrs + 1) * sizeof(*x));
        if (!x)
                return -ENOMEM;
        p->xattrs = x;
        char *n = strdup(name);
        uint8_t *v = malloc(value_len ? value_len : 1);
        if (!n || !v) {
                free(n);
                free(v);
                return -ENOMEM;
        }
        memcpy(v, value, value_len);
        x[p->n_xattrs++] = (ca_xattr){.name = n, .value = v, .size = value_len};
        return 0;
}

static int set_string(char **slot, const char *value, size_t len)
{
        char *s = strndup(value, len);
        if (!s)
                return -ENOMEM;
        free(*slot);
        *slot = s;
        return 0;
}

/* Applies one "KEY=VALUE" record of an 'x' header to the next entry. */
static int pax_record(ca_tar_reader *r, const char *key, const char *value, size_t len)
{
        pending *p = &r->p;
        bool has_nul = memchr(value, 0, len) != NULL;
        int k;
        if (strncmp(key, "SCHILY.xattr.", 13) == 0)
                return pax_xattr(r, key + 13, value, len);
        if (strncmp(key, "GNU.sparse.", 11) == 0) {
                p->sparse = true;
                return 0;
        }
        if (strcmp(key, "path") == 0 || strcmp(key, "linkpath") == 0) {
                if (len > CA_TAR_PATH_MAX)
                        return ca_bad("%s: entry %" PRIu64
                                      ": pax %s: path too long (over %u bytes)",
                                      r->what, r->entries + 1, key, CA_TAR_PATH_MAX);
                if (has_nul || len == 0)
                        return ca_bad("%s: entry %" PRIu64 ": bad pax %s", r->what, r->entries + 1,
                                      key);
                return set_string(key[0] == 'p' ? &p->path : &p->link, value, len);
        }
        if (strcmp(key, "size") == 0) {
                k = parse_decimal(value, len, &p->size);
                if (k >= 0 && p->size >= FORMAT_MAX_TAR)
                        k = -ERANGE;
                p->has_size = true;
        } else if (strcmp(key, "uid") == 0) {
                k = parse_decimal(value, len, &p->uid);
                if (k >= 0 && p->uid > UINT32_MAX)
                        k = -ERANGE;
                p->has_uid = true;
        } else if (strcmp(key, "gid") == 0) {
                k = parse_decimal(value, len, &p->gid);
                if (k >= 0 && p->gid > UINT32_MAX)
                        k = -ERANGE;
                p->has_gid = true;
        } else if (strcmp(key, "mtime") == 0) {
                k = parse_pax_time(value, len, &p->mtime);
                p->has_mtime = true;
        } else
                return 0; /* atime, ctime, uname, gname, charset, comments...: not kept */
        if (k < 0)
                return ca_bad("%s: entry %" PRIu64 ": bad pax %s \"%.*s\"", r->what, r->entries + 1,
                              key, (int)MIN(len, (size_t)40), value);
        return 0;
}

/* Parses a whole pax header: records "LEN KEY=VALUE\n", LEN counting the whole record. */
static int pax_parse(ca_tar_reader *r, bool global)
{
        const char *s = (const char *)r->meta;
        size_t n = r->meta_fill, i = 0;
        while (i < n) {
                if (s[i] == 0) /* some writers pad with NULs */
                        break;
                size_t j = i, len = 0;
                while (j < n && s[j] >= '0' && s[j] <= '9' && j - i < 8)
                        len = len * 10 + (size_t)(s[j++] - '0');
                if (j == i || j >= n || s[j] != ' ' || len < j - i + 4 || len > n - i ||
                    s[i + len - 1] != '\n')
                        return ca_bad("%s: entry %" PRIu64 ": malformed pax header", r->what,
                                      r->entries + 1);
                const char *key = s + j + 1, *rec_end = s + i + len - 1;
                const char *eq = memchr(key, '=', (size_t)(rec_end - key));
                if (!eq || eq == key || memchr(key, 0, (size_t)(eq - key)))
                        return ca_bad("%s: entry %" PRIu64 ": malformed pax record", r->what,
                                      r->entries + 1);
                char keybuf[256];
                size_t key_len = (size_t)(eq - key);
                if (key_len >= sizeof(keybuf))
                        return ca_bad("%s: entry %" PRIu64 ": pax keyword too long", r->what,
                                      r->entries + 1);
                memcpy(keybuf, key, key_len);
                keybuf[key_len] = 0;
                if (global)
                        ca_log_debug("%s: global pax record %s ignored", r->what, keybuf);
                else {
                        int k = pax_record(r, keybuf, eq + 1, (size_t)(rec_end - eq - 1));
                        if (k < 0)
                                return k;
                }
                i += len;
        }
        return 0;
}

/* ---------------------------------------------------------------- headers */

static bool block_is_zero(const uint8_t *b)
{
        for (size_t i = 0; i < BLOCK; i++)
                if (b[i])
                        return false;
        return true;
}

static int checksum_ok(const uint8_t *h)
{
        uint64_t want;
        if (parse_number(h + 148, 8, &want) < 0)
                return false;
        uint64_t u = 0;
        int64_t s = 0;
        for (size_t i = 0; i < BLOCK; i++) {
                uint8_t c = i >= 148 && i < 156 ? ' ' : h[i];
                u += c;
                s += (int8_t)c;
        }
        return u == want || (uint64_t)s == want;
}

static int start_padding(ca_tar_reader *r, uint64_t size)
{
        r->pad = (BLOCK - size % BLOCK) % BLOCK;
        r->st = r->pad ? ST_PAD : ST_HEADER;
        return 0;
}

static int entry_end(ca_tar_reader *r)
{
        int k = 0;
        if (r->h.entry_end)
                k = r->h.entry_end(r->h.userdata, &r->e);
        pending_clear(&r->p);
        free(r->path);
        free(r->link);
        r->path = r->link = NULL;
        r->e = (ca_tar_entry){};
        return k;
}

static int header(ca_tar_reader *r)
{
        const uint8_t *h = r->hdr;
        uint64_t n = r->entries + 1;

        if (block_is_zero(h)) {
                if (++r->zero_blocks == 2)
                        r->st = ST_END;
                return 0;
        }
        if (r->zero_blocks)
                return ca_bad("%s: a lone zero block before entry %" PRIu64, r->what, n);
        bool posix = memcmp(h + 257, "ustar\0", 6) == 0;
        bool gnu = memcmp(h + 257, "ustar  \0", 8) == 0;
        if (!posix && !gnu)
                return ca_bad("%s: entry %" PRIu64 " (offset %" PRIu64 "): not a tar header",
                              r->what, n, r->offset - BLOCK);
        if (!checksum_ok(h))
                return ca_bad("%s: entry %" PRIu64 " (offset %" PRIu64 "): bad header checksum",
                              r->what, n, r->offset - BLOCK);

        uint64_t size, mode, uid, gid, mtime, major = 0, minor = 0;
        if (parse_number(h + 124, 12, &size) < 0 || parse_number(h + 100, 8, &mode) < 0 ||
            parse_number(h + 108, 8, &uid) < 0 || parse_number(h + 116, 8, &gid) < 0 ||
            parse_number(h + 136, 12, &mtime) < 0 || parse_number(h + 329, 8, &major) < 0 ||
            parse_number(h + 337, 8, &minor) < 0)
                return ca_bad("%s: entry %" PRIu64 ": bad numeric field in its header", r->what, n);

        char type = (char)h[156];
        if (type == 'x' || type == 'g' || type == 'L' || type == 'K') {
                if (size > CA_TAR_META_MAX)
                        return ca_bad("%s: entry %" PRIu64 ": %s of %" PRIu64 " bytes (at most %u)",
                                      r->what, n,
                                      type == 'L' || type == 'K' ? "long name" : "pax header", size,
                                      CA_TAR_META_MAX);
                if ((type == 'x' || type == 'L' || type == 'K') &&
                    ((type == 'x' && (r->p.path || r->p.has_size)) || (type == 'L' && r->p.path) ||
                     (type == 'K' && r->p.link)))
                        return ca_bad("%s: entry %" PRIu64 ": repeated extended header", r->what,
                                      n);
                free(r->meta);
                r->meta = malloc(size + 1);
                if (!r->meta)
                        return -ENOMEM;
                r->meta_fill = 0;
                r->meta_type = type;
                r->remaining = size;
                r->st = ST_META; /* an empty one is handled at once by consume() */
                return 0;
        }

        if (++r->entries > CA_TAR_ENTRIES_MAX)
                return ca_bad("%s: more than %u entries", r->what, CA_TAR_ENTRIES_MAX);

        ca_tar_type t;
        switch (type) {
        case '0':
        case '\0':
        case '7':
                t = CA_TAR_REGULAR;
                break;
        case '1':
                t = CA_TAR_HARDLINK;
                break;
        case '2':
                t = CA_TAR_SYMLINK;
                break;
        case '3':
                t = CA_TAR_CHAR;
                break;
        case '4':
                t = CA_TAR_BLOCK;
                break;
        case '5':
                t = CA_TAR_DIRECTORY;
                break;
        case '6':
                t = CA_TAR_FIFO;
                break;
        default:
                return ca_bad("%s: entry %" PRIu64 ": unsupported tar entry type '%c'%s", r->what,
                              n, type >= 0x20 && type < 0x7f ? type : '?',
                              type == 'S' ? " (GNU sparse file)" : "");
        }
        if (r->p.sparse)
                return ca_bad("%s: entry %" PRIu64 ": sparse files are not supported", r->what, n);

        /* The path: pax, GNU long name, or prefix + name. */
        if (r->p.path) {
                r->path = TAKE_PTR(r->p.path);
        } else {
                size_t nl = field_len(h, 100), pl = posix ? field_len(h + 345, 155) : 0;
                r->path = malloc(pl + 1 + nl + 1);
                if (!r->path)
                        return -ENOMEM;
                char *w = r->path;
                if (pl) {
                        memcpy(w, h + 345, pl);
                        w += pl;
                        *w++ = '/';
                }
                memcpy(w, h, nl);
                w[nl] = 0;
        }
        const char *why = NULL;
        if (r->path[0] == 0)
                return ca_bad("%s: entry %" PRIu64 ": empty name", r->what, n);
        char *shown = strndup(r->path, 200);
        if (!shown)
                return -ENOMEM;
        int k = normalize_path(r->path, &why);
        if (k < 0) {
                ca_bad("%s: \"%s\": %s", r->what, shown, why);
                free(shown);
                return -EBADMSG;
        }
        free(shown);

        if (t == CA_TAR_SYMLINK || t == CA_TAR_HARDLINK) {
                if (r->p.link)
                        r->link = TAKE_PTR(r->p.link);
                else {
                        size_t ll = field_len(h + 157, 100);
                        r->link = strndup((const char *)h + 157, ll);
                        if (!r->link)
                                return -ENOMEM;
                }
                if (r->link[0] == 0)
                        return ca_bad("%s: \"%s\": link with an empty target", r->what, r->path);
                if (strlen(r->link) > CA_TAR_PATH_MAX)
                        return ca_bad("%s: \"%s\": link target too long", r->what, r->path);
                if (t == CA_TAR_HARDLINK && normalize_path(r->link, &why) < 0)
                        return ca_bad("%s: \"%s\": hardlink target: %s", r->what, r->path, why);
        }

        if (r->p.has_size)
                size = r->p.size;
        if (size >= FORMAT_MAX_TAR || r->offset + size > r->max_bytes)
                return ca_bad("%s: \"%s\": entry size %" PRIu64 " is too large", r->what, r->path,
                              size);
        if (major > UINT32_MAX || minor > UINT32_MAX || uid > UINT32_MAX || gid > UINT32_MAX)
                return ca_bad("%s: \"%s\": id out of range", r->what, r->path);

        r->e = (ca_tar_entry){
            .path = r->path,
            .link_target = r->link,
            .type = t,
            .mode = (uint32_t)(mode & 07777),
            .uid = r->p.has_uid ? r->p.uid : uid,
            .gid = r->p.has_gid ? r->p.gid : gid,
            .mtime = r->p.has_mtime ? r->p.mtime
                                    : (mtime > UINT64_MAX / 1000000000U ? 0 : mtime * 1000000000U),
            .size = t == CA_TAR_REGULAR ? size : 0,
            .dev_major = (uint32_t)major,
            .dev_minor = (uint32_t)minor,
            .xattrs = r->p.xattrs,
            .n_xattrs = r->p.n_xattrs,
        };
        if (r->h.entry) {
                k = r->h.entry(r->h.userdata, &r->e);
                if (k < 0)
                        return k;
        }
        r->remaining = size;
        if (size == 0) {
                k = entry_end(r);
                r->st = ST_HEADER;
                return k;
        }
        r->st = t == CA_TAR_REGULAR ? ST_DATA : ST_SKIP;
        return 0;
}

static int meta_done(ca_tar_reader *r)
{
        r->meta[r->meta_fill] = 0;
        int k = 0;
        if (r->meta_type == 'x' || r->meta_type == 'g')
                k = pax_parse(r, r->meta_type == 'g');
        else {
                /* GNU long name: NUL-terminated within its data */
                size_t len = strnlen((char *)r->meta, r->meta_fill);
                if (len == 0 || len > CA_TAR_PATH_MAX)
                        return ca_bad("%s: entry %" PRIu64 ": bad GNU long %s", r->what,
                                      r->entries + 1, r->meta_type == 'L' ? "name" : "link name");
                k = set_string(r->meta_type == 'L' ? &r->p.path : &r->p.link, (char *)r->meta, len);
        }
        free(r->meta);
        r->meta = NULL;
        return k;
}

/* Consumes decompressed tar bytes. */
static int consume(ca_tar_reader *r, const uint8_t *p, size_t n)
{
        while (n > 0 || (r->st == ST_META && r->remaining == 0)) {
                size_t take;
                int k;
                switch (r->st) {
                case ST_HEADER:
                        take = MIN(n, BLOCK - r->hdr_fill);
                        memcpy(r->hdr + r->hdr_fill, p, take);
                        r->hdr_fill += take;
                        r->offset += take;
                        p += take;
                        n -= take;
                        if (r->hdr_fill == BLOCK) {
                                r->hdr_fill = 0;
                                k = header(r);
                                if (k < 0)
                                        return k;
                        }
                        break;
                case ST_DATA:
                case ST_SKIP:
                        take = (size_t)MIN((uint64_t)n, r->remaining);
                        if (r->st == ST_DATA && r->h.data) {
                                k = r->h.data(r->h.userdata, &r->e, p, take);
                                if (k < 0)
                                        return k;
                        }
                        r->remaining -= take;
                        r->offset += take;
                        p += take;
                        n -= take;
                        if (r->remaining == 0) {
                                k = entry_end(r);
                                if (k < 0)
                                        return k;
                                start_padding(r, r->offset);
                        }
                        break;
                case ST_META:
                        take = (size_t)MIN((uint64_t)n, r->remaining);
                        memcpy(r->meta + r->meta_fill, p, take);
                        r->meta_fill += take;
                        r->remaining -= take;
                        r->offset += take;
                        p += take;
                        n -= take;
                        if (r->remaining == 0) {
                                k = meta_done(r);
                                if (k < 0)
                                        return k;
                                start_padding(r, r->offset);
                        }
                        break;
                case ST_PAD:
                        take = (size_t)MIN((uint64_t)n, r->pad);
                        r->pad -= take;
                        r->offset += take;
                        p += take;
                        n -= take;
                        if (r->pad == 0)
                                r->st = ST_HEADER;
                        break;
                case ST_END:
                        r->offset += n;
                        n = 0; /* the record's zero padding, and anything after */
                        break;
                }
                if (r->offset > r->max_bytes)
                        return ca_bad("%s: larger than %" PRIu64 " bytes", r->what, r->max_bytes);
        }
        return 0;
}

/* ---------------------------------------------------------------- pipelining */

static void *consumer_main(void *userdata)
{
        ca_tar_reader *r = userdata;
        pthread_mutex_lock(&r->lock);
        for (;;) {
                while (r->count == 0 && !r->eof)
                        pthread_cond_wait(&r->changed, &r->lock);
                if (r->count == 0)
                        break;
                unsigned i = r->head;
                int error = r->async_error;
                pthread_mutex_unlock(&r->lock);
                /* After an error the rest is drained, unread, so the producer never waits. */
                int k = error < 0 ? 0 : consume(r, r->slots[i], r->slot_len[i]);
                pthread_mutex_lock(&r->lock);
                if (k < 0 && r->async_error == 0)
                        r->async_error = k;
                r->head = (r->head + 1) % PIPE_SLOTS;
                r->count--;
                pthread_cond_broadcast(&r->changed);
        }
        pthread_mutex_unlock(&r->lock);
        return NULL;
}

int ca_tar_reader_pipeline(ca_tar_reader *r)
{
        if (r->piped || r->comp != COMP_UNKNOWN)
                return -EINVAL;
        for (unsigned i = 0; i < PIPE_SLOTS; i++)
                if (!(r->slots[i] = malloc(OUT_BUFFER))) {
                        for (unsigned j = 0; j < i; j++)
                                free(r->slots[j]);
                        return -ENOMEM;
                }
        pthread_mutex_init(&r->lock, NULL);
        pthread_cond_init(&r->changed, NULL);
        if (pthread_create(&r->consumer, NULL, consumer_main, r) != 0) {
                for (unsigned i = 0; i < PIPE_SLOTS; i++)
                        free(r->slots[i]);
                pthread_mutex_destroy(&r->lock);
                pthread_cond_destroy(&r->changed);
                return -EAGAIN;
        }
        free(r->out);
        r->out = r->slots[0];
        r->piped = true;
        return 0;
}

/* The consumer reads what was handed to it, then ends; its first error, if any. */
static int pipe_finish(ca_tar_reader *r)
{
        pthread_mutex_lock(&r->lock);
        r->eof = true;
        pthread_cond_broadcast(&r->changed);
        pthread_mutex_unlock(&r->lock);
        pthread_join(r->consumer, NULL);
        return r->async_error;
}

static void pipe_stop(ca_tar_reader *r)
{
        if (r->eof)
                return;
        pthread_mutex_lock(&r->lock);
        if (r->async_error == 0)
                r->async_error = -ECANCELED; /* what is left is not read */
        pthread_mutex_unlock(&r->lock);
        (void)pipe_finish(r);
}

/* Decompressed bytes to the tar reader: read now, or, pipelined, handed to the consumer in the
 * slot they were decompressed into (copied into one when they are the caller's). Returns the
 * consumer's error as soon as it has one. */
static int deliver(ca_tar_reader *r, const uint8_t *p, size_t n)
{
        if (!r->piped)
                return consume(r, p, n);
        while (n > 0) {
                size_t take = p == r->out ? n : MIN(n, (size_t)OUT_BUFFER);
                if (p != r->out)
                        memcpy(r->out, p, take);
                pthread_mutex_lock(&r->lock);
                r->slot_len[(r->head + r->count) % PIPE_SLOTS] = take;
                r->count++;
                pthread_cond_broadcast(&r->changed);
                while (r->count == PIPE_SLOTS && r->async_error == 0)
                        pthread_cond_wait(&r->changed, &r->lock);
                int error = r->async_error;
                r->out = r->slots[(r->head + r->count) % PIPE_SLOTS];
                pthread_mutex_unlock(&r->lock);
                if (error < 0)
                        return error;
                p += take;
                n -= take;
        }
        return 0;
}

/* ---------------------------------------------------------------- decompression */

static int detect(ca_tar_reader *r)
{
        const uint8_t *m = r->magic;
        size_t n = r->magic_fill;
        if (n >= 2 && m[0] == 0x1f && m[1] == 0x8b) {
                if (ca_gunzip_new(&r->gz) < 0)
                        return -ENOMEM;
                r->comp = COMP_GZIP;
        } else if (n >= 6 && memcmp(m,
                                    "\xfd"
                                    "7zXZ\0",
                                    6) == 0) {
                r->xz = (lzma_stream)LZMA_STREAM_INIT;
                if (lzma_stream_decoder(&r->xz, XZ_MEMLIMIT, LZMA_CONCATENATED) != LZMA_OK)
                        return -ENOMEM;
                r->xz_init = true;
                r->comp = COMP_XZ;
        } else if (n >= 4 && memcmp(m, "\x28\xb5\x2f\xfd", 4) == 0) {
                r->zstd = ZSTD_createDStream();
                if (!r->zstd || ZSTD_isError(ZSTD_DCtx_setParameter(r->zstd, ZSTD_d_windowLogMax,
                                                                    ZSTD_WLOG_MAX)))
                        return -ENOMEM;
                r->comp = COMP_ZSTD;
        } else if (n >= 3 && memcmp(m, "BZh", 3) == 0)
                return ca_bad("%s: bzip2-compressed; only gzip, xz and zstd are supported",
                              r->what);
        else
                r->comp = COMP_NONE;
        return 0;
}

static int deliver_gz(void *userdata, const void *data, size_t size)
{
        return deliver(userdata, data, size);
}

static int decompress(ca_tar_reader *r, const uint8_t *in, size_t n, bool end)
{
        int k;
        switch (r->comp) {
        case COMP_NONE:
                return deliver(r, in, n);
        case COMP_GZIP: {
                const char *why = NULL;
                k = ca_gunzip_feed(r->gz, in, n, &r->out, OUT_BUFFER, deliver_gz, r, &why);
                if (k == -EBADMSG && why)
                        return ca_bad("%s: gzip data is corrupt (%s)", r->what, why);
                return k;
        }
        case COMP_XZ:
                r->xz.next_in = in;
                r->xz.avail_in = n;
                for (;;) {
                        r->xz.next_out = r->out;
                        r->xz.avail_out = OUT_BUFFER;
                        lzma_ret x = lzma_code(&r->xz, end ? LZMA_FINISH : LZMA_RUN);
                        size_t got = OUT_BUFFER - r->xz.avail_out;
                        if (x != LZMA_OK && x != LZMA_STREAM_END && x != LZMA_BUF_ERROR)
                                return ca_bad("%s: xz data is %s", r->what,
                                              x == LZMA_MEMLIMIT_ERROR ? "beyond the memory limit"
                                                                       : "corrupt");
                        k = deliver(r, r->out, got);
                        if (k < 0)
                                return k;
                        if (x == LZMA_STREAM_END)
                                return 0;
                        if (got == 0 && r->xz.avail_in == 0)
                                return end ? ca_bad("%s: xz data is truncated", r->what) : 0;
                        if (got == 0 && x == LZMA_BUF_ERROR)
                                return ca_bad("%s: xz data is corrupt", r->what);
                }
        case COMP_ZSTD: {
                ZSTD_inBuffer ib = {in, n, 0};
                for (;;) {
                        ZSTD_outBuffer ob = {r->out, OUT_BUFFER, 0};
                        size_t z = ZSTD_decompressStream(r->zstd, &ob, &ib);
                        if (ZSTD_isError(z))
                                return ca_bad("%s: zstd data is corrupt: %s", r->what,
                                              ZSTD_getErrorName(z));
                        r->zstd_last = z;
                        k = deliver(r, r->out, ob.pos);
                        if (k < 0)
                                return k;
                        if (ib.pos == ib.size && ob.pos < ob.size)
                                return 0;
                }
        }
        case COMP_UNKNOWN:
                break;
        }
        return -EINVAL;
}

int ca_tar_reader_feed(ca_tar_reader *r, const void *data, size_t size)
{
        const uint8_t *p = data;
        if (r->failed)
                return -EBADMSG;
        int k = 0;
        if (r->comp == COMP_UNKNOWN) {
                size_t take = MIN(size, MAGIC_SIZE - r->magic_fill);
                memcpy(r->magic + r->magic_fill, p, take);
                r->magic_fill += take;
                p += take;
                size -= take;
                if (r->magic_fill < MAGIC_SIZE)
                        return 0;
                k = detect(r);
                if (k >= 0)
                        k = decompress(r, r->magic, MAGIC_SIZE, false);
        }
        if (k >= 0 && size > 0)
                k = decompress(r, p, size, false);
        if (k < 0)
                r->failed = true;
        return k;
}

int ca_tar_reader_finish(ca_tar_reader *r)
{
        if (r->failed)
                return -EBADMSG;
        int k = 0;
        if (r->comp == COMP_UNKNOWN) {
                k = detect(r);
                if (k >= 0)
                        k = decompress(r, r->magic, r->magic_fill, false);
        }
        if (k >= 0 && r->comp == COMP_XZ)
                k = decompress(r, NULL, 0, true);
        /* Everything handed over is read before the tar's state is looked at. */
        if (r->piped && !r->eof) {
                int q = pipe_finish(r);
                if (k >= 0 && q < 0)
                        k = q;
        }
        if (k < 0) {
                r->failed = true;
                return k;
        }
        if ((r->comp == COMP_GZIP && !ca_gunzip_complete(r->gz)) ||
            (r->comp == COMP_ZSTD && r->zstd_last != 0))
                return ca_bad("%s: %s data is truncated", r->what, ca_tar_reader_compression(r));
        if (r->st == ST_END || (r->st == ST_HEADER && r->hdr_fill == 0 && r->zero_blocks == 1))
                return 0;
        if (r->st == ST_HEADER && r->hdr_fill == 0 && r->entries == 0 && r->offset == 0)
                return ca_bad("%s: empty file", r->what);
        if (r->st == ST_DATA || r->st == ST_SKIP)
                return ca_bad("%s: \"%s\": truncated (%" PRIu64 " bytes missing)", r->what,
                              r->e.path, r->remaining);
        if (r->st == ST_META)
                return ca_bad("%s: truncated in an extended header", r->what);
        if (r->st == ST_HEADER && r->hdr_fill > 0)
                return ca_bad("%s: truncated in a header (offset %" PRIu64 ")", r->what,
                              r->offset - r->hdr_fill);
        return ca_bad("%s: truncated (no end-of-archive marker)", r->what);
}
