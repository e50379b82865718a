/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Streaming catar decoder. Bytes arrive in any split; ca_sink events come out. Only record headers
 * and metadata records are buffered (each bounded by its type's maximum); file payloads go to the
 * sink straight from the caller's buffer. Anything casync's encoder could not have written is
 * rejected, because the sinks (extraction above all) rely on these invariants.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#include "casync/casync.h"
#include "casync/catar_rules.h"

/* The largest record body ever gathered in memory (PAYLOAD and GOODBYE are streamed). */
#define BODY_MAX (CA_FORMAT_XATTR_SIZE_MAX - CA_FORMAT_HEADER_SIZE)

/* What the goodbye table must say about one child. */
typedef struct child_fact {
        uint64_t offset; /* archive offset of the child's FILENAME record */
        uint64_t size;   /* from that FILENAME to the end of the child */
        uint64_t hash;   /* ca_goodbye_hash of the name */
} child_fact;

typedef enum frame_phase {
        PHASE_ENTRY, /* the node's ENTRY comes next */
        PHASE_META,  /* ENTRY read; metadata records or the body follow */
        PHASE_DIR,   /* a directory's body: FILENAME or GOODBYE */
} frame_phase;

/* One node on the path from the root to the current position. */
typedef struct frame {
        ca_node node;
        frame_phase phase;
        uint64_t filename_offset; /* of this node's FILENAME (not for the root) */

        char *path; /* node.path and node.name point into it */
        size_t path_alloc;

        /* The node's metadata records, verbatim (header included), until node_end. */
        uint8_t *meta;
        size_t meta_size, meta_alloc;
        ca_catar_meta_state ms;

        ca_xattr *xattrs;
        size_t xattrs_alloc;
        ca_acl_entry *acls; /* the four ACL lists back to back */
        size_t acls_alloc;

        child_fact *children;
        size_t n_children, children_alloc;
} frame;

typedef enum decoder_state {
        STATE_HEADER,  /* gathering a record header */
        STATE_BODY,    /* gathering a record body */
        STATE_PAYLOAD, /* passing file bytes to the sink */
        STATE_GOODBYE, /* checking goodbye items one by one */
        STATE_END,     /* the root GOODBYE was read: nothing may follow */
} decoder_state;

struct ca_decoder {
        ca_sink sink;
        char *what;
        uint64_t expected_flags;
        uint64_t flags; /* of the root ENTRY; UINT64_MAX before it */
        uint64_t offset;
        unsigned depth;
        uint64_t children_total;
        int error; /* sticky: once failed, always failed */
        bool finished;

        decoder_state state;
        uint8_t header[CA_FORMAT_HEADER_SIZE];
        size_t header_len;
        uint64_t rec_offset, rec_size, rec_type;
        const ca_catar_record_kind *rec_kind;

        uint8_t *body;
        size_t body_len;
        uint64_t remaining; /* payload bytes still to come */

        uint8_t item[CA_FORMAT_GOODBYE_ITEM_SIZE];
        size_t item_len;
        size_t item_idx;
        uint32_t *layout; /* goodbye slot -> index into the sorted children */
        size_t layout_alloc;

        frame frames[CA_NODES_MAX];
};

/* Renders s[0..len) up to a NUL for a message: bytes that could upset a terminal become \ooo. */
static const char *printable_n(const char *s, size_t len, char *buf, size_t size)
{
        size_t j = 0;
        const unsigned char *p = (const unsigned char *)s, *e = p + len;
        for (; p < e && *p && j + 5 < size; p++) {
                if (*p < ' ' || *p >= 127 || *p == '\\')
                        j += (size_t)snprintf(buf + j, size - j, "\\%03o", *p);
                else
                        buf[j++] = (char)*p;
        }
        buf[j] = 0;
        return buf;
}

static const char *printable(const char *s, char *buf, size_t size)
{
        return printable_n(s, strlen(s), buf, size);
}

_printf_(3, 4) static int bad(ca_decoder *d, uint64_t offset, const char *fmt, ...)
{
        char problem[1536], path[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(problem, sizeof(problem), fmt, ap);
        va_end(ap);
        return ca_bad("%s: offset %" PRIu64 ": %s: %s", d->what, offset,
                      printable(d->frames[d->depth].node.path, path, sizeof(path)), problem);
}

static int grow(void **p, size_t *alloc, size_t need, size_t elem)
{
        if (need <= *alloc)
                return 0;
        size_t n = MAX(need, MAX(*alloc * 2, (size_t)16)), bytes;
        if (MUL_OVERFLOW(n, elem, &bytes))
                return -ENOMEM;
        void *q = realloc(*p, bytes);
        if (!q)
                return -ENOMEM;
        *p = q;
        *alloc = n;
        return 0;
}

int ca_decoder_new(const ca_sink *sink, uint64_t expected_flags, const char *what, ca_decoder **ret)
{
        _cleanup_(ca_decoder_freep) ca_decoder *d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        if (sink)
                d->sink = *sink;
        d->expected_flags = expected_flags;
        d->flags = UINT64_MAX;
        d->what = strdup(what ? what : "archive");
        d->body = malloc(BODY_MAX);
        d->frames[0].path = strdup(".");
        if (!d->what || !d->body || !d->frames[0].path)
                return -ENOMEM;
        d->frames[0].path_alloc = 2;
        d->frames[0].node.path = d->frames[0].path;
        d->frames[0].node.name = d->frames[0].path + 1;
        *ret = TAKE_PTR(d);
        return 0;
}

ca_decoder *ca_decoder_free(ca_decoder *d)
{
        if (!d)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(d->frames); i++) {
                frame *f = &d->frames[i];
                free(f->path);
                free(f->meta);
                free(f->xattrs);
                free(f->acls);
                free(f->children);
        }
        free(d->layout);
        free(d->body);
        free(d->what);
        free(d);
        return NULL;
}

uint64_t ca_decoder_offset(const ca_decoder *d)
{
        return d->offset;
}

/* ---------------------------------------------------------------- ENTRY */

static int check_feature_flags(ca_decoder *d, uint64_t flags)
{
        uint64_t off = d->rec_offset;

        if (d->flags != UINT64_MAX) {
                if (flags != d->flags)
                        return bad(d, off,
                                   "feature flags 0x%" PRIx64 " differ from the root's 0x%" PRIx64,
                                   flags, d->flags);
                return 0;
        }
        if (flags == UINT64_MAX || (flags & ~CA_FORMAT_FEATURE_FLAGS_MAX))
                return bad(d, off, "feature flags 0x%" PRIx64 " have unknown bits", flags);
        if (!ca_feature_flags_are_normalized(flags))
                return bad(d, off, "feature flags 0x%" PRIx64 " are not normalized", flags);
        if (d->expected_flags != UINT64_MAX && flags != d->expected_flags)
                return bad(d, off, "feature flags 0x%" PRIx64 " differ from the index's 0x%" PRIx64,
                           flags, d->expected_flags);
        d->flags = flags;
        return 0;
}

static int on_entry(ca_decoder *d, frame *f, const uint8_t *b)
{
        char why[CA_CATAR_WHY_MAX];
        int r = check_feature_flags(d, read_le64(b));
        if (r < 0)
                return r;
        /* Name and path stay: they were set up by the FILENAME (or are the root's). */
        const char *name = f->node.name, *path = f->node.path;
        if (ca_catar_entry_parse(b, d->rec_offset, d->depth == 0, &f->node, why) < 0)
                return bad(d, d->rec_offset, "%s", why);
        f->node.name = name;
        f->node.path = path;
        f->node.depth = d->depth;
        f->phase = PHASE_META;
        f->meta_size = 0;
        ca_catar_meta_init(&f->ms);
        f->n_children = 0;
        return 0;
}

/* ---------------------------------------------------------------- metadata records */

static int meta_append(frame *f, uint64_t type, const uint8_t *body, size_t len)
{
        int r =
            grow((void **)&f->meta, &f->meta_alloc, f->meta_size + CA_FORMAT_HEADER_SIZE + len, 1);
        if (r < 0)
                return r;
        uint8_t *p = f->meta + f->meta_size;
        write_le64(p, CA_FORMAT_HEADER_SIZE + len);
        write_le64(p + 8, type);
        memcpy(p + CA_FORMAT_HEADER_SIZE, body, len);
        f->meta_size += CA_FORMAT_HEADER_SIZE + len;
        return 0;
}

static int on_meta(ca_decoder *d, frame *f, const uint8_t *b, size_t len)
{
        char why[CA_CATAR_WHY_MAX];
        if (ca_catar_meta_check(&f->ms, d->flags, f->node.mode, d->rec_kind, f->meta, f->meta_size,
                                b, len, why) < 0)
                return bad(d, d->rec_offset, "%s", why);
        return meta_append(f, d->rec_type, b, len);
}

/* ---------------------------------------------------------------- node events */

/* The checks that need all metadata, then the pointers of f->node into f->meta. */
static int finalize_meta(ca_decoder *d, frame *f)
{
        char why[CA_CATAR_WHY_MAX];
        int r;

        if (ca_catar_meta_finish(&f->ms, d->flags, why) < 0)
                return bad(d, d->rec_offset, "%s", why);

        const size_t *n_acl = f->ms.n_acl;
        size_t n_acls = n_acl[0] + n_acl[1] + n_acl[2] + n_acl[3];
        r = grow((void **)&f->xattrs, &f->xattrs_alloc, f->ms.n_xattrs, sizeof(ca_xattr));
        if (r < 0)
                return r;
        r = grow((void **)&f->acls, &f->acls_alloc, n_acls, sizeof(ca_acl_entry));
        if (r < 0)
                return r;

        ca_catar_node_set_meta(&f->node, f->meta, f->meta_size, n_acl, f->xattrs, f->acls);
        return 0;
}

static int begin_node(ca_decoder *d, frame *f)
{
        int r = finalize_meta(d, f);
        if (r < 0)
                return r;
        if (d->sink.node_begin)
                return d->sink.node_begin(d->sink.userdata, &f->node);
        return 0;
}

/* The node at the top of the stack ended just before archive offset `end`. */
static int end_node(ca_decoder *d, uint64_t end)
{
        frame *f = &d->frames[d->depth];
        int r;

        if (d->sink.node_end) {
                r = d->sink.node_end(d->sink.userdata, &f->node);
                if (r < 0)
                        return r;
        }
        d->children_total -= f->n_children;
        f->n_children = 0;
        d->state = STATE_HEADER;

        if (d->depth == 0) {
                d->state = STATE_END;
                return 0;
        }
        frame *parent = &d->frames[d->depth - 1];
        child_fact *c = &parent->children[parent->n_children - 1];
        c->size = end - f->filename_offset;
        d->depth--;
        return 0;
}

/* ---------------------------------------------------------------- directories */

static int on_filename(ca_decoder *d, frame *f, const uint8_t *b, size_t len)
{
        uint64_t off = d->rec_offset;
        char buf[1024];
        int r;

        if (len > 0 && memchr(b, 0, len - 1))
                return bad(d, off, "file name \"%s\" contains a NUL byte",
                           printable_n((const char *)b, len, buf, sizeof(buf)));
        if (len == 0 || b[len - 1] != 0)
                return bad(d, off, "file name is not NUL-terminated");
        if (!ca_catar_c_string_valid(b, len) || strchr((const char *)b, '/') ||
            strcmp((const char *)b, ".") == 0 || strcmp((const char *)b, "..") == 0)
                return bad(d, off, "invalid file name \"%s\"",
                           printable_n((const char *)b, len, buf, sizeof(buf)));
        if (len - 1 > CA_CATAR_FILENAME_LEN_MAX)
                return bad(d, off, "file name longer than %d bytes", CA_CATAR_FILENAME_LEN_MAX);

        frame *c = &d->frames[d->depth + 1];
        /* The child frame still holds the previous child's name: names must strictly increase. */
        if (f->n_children > 0 && strcmp(c->node.name, (const char *)b) >= 0) {
                char prev[1024];
                return bad(d, off, "file name \"%s\" not after \"%s\" (must be sorted, unique)",
                           printable((const char *)b, buf, sizeof(buf)),
                           printable(c->node.name, prev, sizeof(prev)));
        }
        if (f->n_children >= CA_CATAR_CHILDREN_MAX || d->children_total >= CA_CATAR_CHILDREN_MAX)
                return bad(d, off, "more than %" PRIu64 " directory entries",
                           CA_CATAR_CHILDREN_MAX);

        r = grow((void **)&f->children, &f->children_alloc, f->n_children + 1, sizeof(child_fact));
        if (r < 0)
                return r;
        f->children[f->n_children++] = (child_fact){
            .offset = off,
            .hash = ca_goodbye_hash((const char *)b, len - 1),
        };
        d->children_total++;

        /* The child's path is "name" below the root, else "<parent path>/name". */
        size_t plen = d->depth == 0 ? 0 : strlen(f->node.path) + 1;
        r = grow((void **)&c->path, &c->path_alloc, plen + len, 1);
        if (r < 0)
                return r;
        if (plen > 0) {
                memcpy(c->path, f->node.path, plen - 1);
                c->path[plen - 1] = '/';
        }
        memcpy(c->path + plen, b, len);
        c->node = (ca_node){.path = c->path, .name = c->path + plen};
        c->phase = PHASE_ENTRY;
        c->filename_offset = off;
        d->depth++;
        return 0;
}

static int child_fact_compare(const void *x, const void *y)
{
        const child_fact *a = x, *b = y;
        if (a->hash != b->hash)
                return a->hash < b->hash ? -1 : 1;
        return a->offset < b->offset ? -1 : a->offset > b->offset;
}

/* In-order walk of the implicit tree (children of slot i at 2i+1, 2i+2): the BST layout. */
static void fill_layout(uint32_t *layout, size_t n, size_t i, uint32_t *next)
{
        if (i >= n)
                return;
        fill_layout(layout, n, 2 * i + 1, next);
        layout[i] = (*next)++;
        fill_layout(layout, n, 2 * i + 2, next);
}

static int goodbye_begin(ca_decoder *d, frame *f)
{
        uint64_t expected = 16 + CA_FORMAT_GOODBYE_ITEM_SIZE * ((uint64_t)f->n_children + 1);
        int r;

        if (d->rec_size != expected)
                return bad(d, d->rec_offset,
                           "GOODBYE record of size %" PRIu64 ", expected %" PRIu64
                           " for %zu entries",
                           d->rec_size, expected, f->n_children);

        if (f->n_children > 1)
                qsort(f->children, f->n_children, sizeof(child_fact), child_fact_compare);
        r = grow((void **)&d->layout, &d->layout_alloc, f->n_children, sizeof(uint32_t));
        if (r < 0)
                return r;
        uint32_t next = 0;
        fill_layout(d->layout, f->n_children, 0, &next);

        d->state = STATE_GOODBYE;
        d->item_idx = 0;
        d->item_len = 0;
        return 0;
}

static int goodbye_item(ca_decoder *d, const uint8_t *item)
{
        frame *f = &d->frames[d->depth];
        uint64_t a = read_le64(item), b = read_le64(item + 8), c = read_le64(item + 16);
        uint64_t off = d->rec_offset + 16 + CA_FORMAT_GOODBYE_ITEM_SIZE * (uint64_t)d->item_idx;

        if (d->item_idx < f->n_children) {
                const child_fact *x = &f->children[d->layout[d->item_idx]];
                uint64_t back = d->rec_offset - x->offset;
                if (a != back || b != x->size || c != x->hash)
                        return bad(d, off,
                                   "GOODBYE item %zu is {%" PRIu64 ", %" PRIu64 ", %016" PRIx64
                                   "}, expected {%" PRIu64 ", %" PRIu64 ", %016" PRIx64 "}",
                                   d->item_idx, a, b, c, back, x->size, x->hash);
                d->item_idx++;
                return 0;
        }

        if (a != d->rec_offset - f->node.entry_offset)
                return bad(d, off, "GOODBYE tail points to offset %" PRIu64 " instead of the ENTRY",
                           d->rec_offset - a);
        if (b != d->rec_size)
                return bad(d, off,
                           "GOODBYE tail size %" PRIu64 " differs from the record's %" PRIu64, b,
                           d->rec_size);
        if (c != CA_FORMAT_GOODBYE_TAIL_MARKER)
                return bad(d, off, "GOODBYE tail has a bad marker");
        return end_node(d, d->rec_offset + d->rec_size);
}

/* ---------------------------------------------------------------- record dispatch */

static int on_header(ca_decoder *d)
{
        frame *f = &d->frames[d->depth];
        uint64_t size = d->rec_size, type = d->rec_type, off = d->rec_offset;
        const ca_catar_record_kind *k;
        int r;

        if (size < CA_FORMAT_HEADER_SIZE || size == UINT64_MAX)
                return bad(d, off, "invalid record size %" PRIu64, size);
        k = ca_catar_record_kind_lookup(type);
        if (!k)
                return bad(d, off, "unknown record type 0x%016" PRIx64, type);
        if (type == CA_FORMAT_FILENAME && size == CA_FORMAT_HEADER_SIZE + 1)
                return bad(d, off, "empty file name");
        if (type == CA_FORMAT_FILENAME && size > k->size_max)
                return bad(d, off, "file name longer than %d bytes", CA_CATAR_FILENAME_LEN_MAX);
        if (type == CA_FORMAT_SYMLINK && size == CA_FORMAT_HEADER_SIZE + 1)
                return bad(d, off, "empty symlink target");
        if (size < k->size_min || size > k->size_max)
                return bad(d, off, "%s record of invalid size %" PRIu64, k->name, size);
        d->rec_kind = k;

        if (f->phase == PHASE_ENTRY) {
                if (type != CA_FORMAT_ENTRY)
                        return bad(d, off, "%s record where an ENTRY must come", k->name);
                d->state = STATE_BODY;
                return 0;
        }

        if (f->phase == PHASE_DIR) {
                if (type == CA_FORMAT_GOODBYE)
                        return goodbye_begin(d, f);
                if (type != CA_FORMAT_FILENAME && f->n_children > 0) {
                        char prev[1024];
                        const char *last = d->frames[d->depth + 1].node.name;
                        return bad(d, off,
                                   "%s record after the end of \"%s\" (only FILENAME or GOODBYE "
                                   "may follow a node)",
                                   k->name,
                                   printable_n(last, strlen(last) + 1, prev, sizeof(prev)));
                }
                if (type != CA_FORMAT_FILENAME)
                        return bad(d, off, "%s record in a directory", k->name);
                if (d->depth + 1 >= CA_NODES_MAX)
                        return bad(d, off, "directories nested deeper than %d levels",
                                   CA_NODES_MAX - 1);
                d->state = STATE_BODY;
                return 0;
        }

        /* PHASE_META */
        uint64_t mode = f->node.mode;
        if (k->flag && !(d->flags & k->flag))
                return bad(d, off, "%s record in an archive without its feature flag", k->name);
        if (k->rank) {
                if (k->rank < f->ms.rank || (k->rank == f->ms.rank && !k->repeat))
                        return bad(d, off, "%s record out of order", k->name);
                if (f->meta_size + size > CA_CATAR_META_BYTES_MAX)
                        return bad(d, off, "metadata larger than %" PRIu64 " bytes",
                                   CA_CATAR_META_BYTES_MAX);
                f->ms.rank = k->rank;
                d->state = STATE_BODY;
                return 0;
        }

        switch (type) {
        case CA_FORMAT_ENTRY:
                return bad(d, off, "second ENTRY record for one node");

        case CA_FORMAT_PAYLOAD: {
                uint64_t end;
                if (!S_ISREG(mode))
                        return bad(d, off, "PAYLOAD record for a node that is not a regular file");
                if (ADD_OVERFLOW(off, size, &end))
                        return bad(d, off, "PAYLOAD record extends past 2^64");
                f->node.payload_size = size - CA_FORMAT_HEADER_SIZE;
                r = begin_node(d, f);
                if (r < 0)
                        return r;
                if (f->node.payload_size == 0)
                        return end_node(d, end);
                d->remaining = f->node.payload_size;
                d->state = STATE_PAYLOAD;
                return 0;
        }

        case CA_FORMAT_SYMLINK:
                if (!S_ISLNK(mode))
                        return bad(d, off, "SYMLINK record for a node that is not a symlink");
                d->state = STATE_BODY;
                return 0;

        case CA_FORMAT_DEVICE:
                if (!S_ISBLK(mode) && !S_ISCHR(mode))
                        return bad(d, off, "DEVICE record for a node that is not a device");
                d->state = STATE_BODY;
                return 0;

        case CA_FORMAT_FILENAME:
        case CA_FORMAT_GOODBYE:
                /* A directory's body, or the parent's next record after a fifo or socket. */
                if (S_ISDIR(mode)) {
                        r = begin_node(d, f);
                        if (r < 0)
                                return r;
                        f->phase = PHASE_DIR;
                        return on_header(d);
                }
                if (S_ISFIFO(mode) || S_ISSOCK(mode)) {
                        r = begin_node(d, f);
                        if (r < 0)
                                return r;
                        r = end_node(d, off);
                        if (r < 0)
                                return r;
                        return on_header(d);
                }
                return bad(d, off, "%s record where the node's %s record must come", k->name,
                           S_ISREG(mode)   ? "PAYLOAD"
                           : S_ISLNK(mode) ? "SYMLINK"
                                           : "DEVICE");
        }
        return bad(d, off, "unexpected %s record", k->name);
}

static int on_body(ca_decoder *d, const uint8_t *b, size_t len)
{
        frame *f = &d->frames[d->depth];
        uint64_t off = d->rec_offset;
        int r;

        d->state = STATE_HEADER;
        switch (d->rec_type) {
        case CA_FORMAT_ENTRY:
                return on_entry(d, f, b);

        case CA_FORMAT_FILENAME:
                return on_filename(d, f, b, len);

        case CA_FORMAT_SYMLINK:
                if (!ca_catar_c_string_valid(b, len))
                        return bad(d, off, "SYMLINK record with an invalid target");
                r = meta_append(f, CA_FORMAT_SYMLINK, b, len);
                if (r < 0)
                        return r;
                r = begin_node(d, f);
                if (r < 0)
                        return r;
                return end_node(d, off + d->rec_size);

        case CA_FORMAT_DEVICE: {
                uint64_t major = read_le64(b), minor = read_le64(b + 8);
                /* Linux device numbers: 12-bit major, 20-bit minor */
                if (major >= (UINT64_C(1) << 12) || minor >= (UINT64_C(1) << 20))
                        return bad(d, off, "device number %" PRIu64 ":%" PRIu64 " out of range",
                                   major, minor);
                f->node.device_major = major;
                f->node.device_minor = minor;
                r = begin_node(d, f);
                if (r < 0)
                        return r;
                return end_node(d, off + d->rec_size);
        }

        default:
                return on_meta(d, f, b, len);
        }
}

/* Consumes some of p[0..size) and returns how much, or a negative errno. */
static int64_t step(ca_decoder *d, const uint8_t *p, size_t size)
{
        int r;

        switch (d->state) {
        case STATE_HEADER: {
                const uint8_t *h = p;
                size_t n = CA_FORMAT_HEADER_SIZE;
                if (d->header_len == 0)
                        d->rec_offset = d->offset;
                if (d->header_len > 0 || size < CA_FORMAT_HEADER_SIZE) {
                        n = MIN(CA_FORMAT_HEADER_SIZE - d->header_len, size);
                        memcpy(d->header + d->header_len, p, n);
                        d->header_len += n;
                        if (d->header_len < CA_FORMAT_HEADER_SIZE)
                                return (int64_t)n;
                        h = d->header;
                }
                d->header_len = 0;
                d->body_len = 0;
                d->rec_size = read_le64(h);
                d->rec_type = read_le64(h + 8);
                r = on_header(d);
                return r < 0 ? r : (int64_t)n;
        }

        case STATE_BODY: {
                size_t need = (size_t)d->rec_size - CA_FORMAT_HEADER_SIZE - d->body_len;
                if (d->body_len == 0 && size >= need) {
                        r = on_body(d, p, need);
                        return r < 0 ? r : (int64_t)need;
                }
                size_t n = MIN(need, size);
                memcpy(d->body + d->body_len, p, n);
                d->body_len += n;
                if (n == need) {
                        r = on_body(d, d->body, d->body_len);
                        if (r < 0)
                                return r;
                }
                return (int64_t)n;
        }

        case STATE_PAYLOAD: {
                frame *f = &d->frames[d->depth];
                size_t n = (size_t)MIN(d->remaining, (uint64_t)size);
                if (d->sink.payload) {
                        r = d->sink.payload(d->sink.userdata, &f->node, p, n);
                        if (r < 0)
                                return r;
                }
                d->remaining -= n;
                if (d->remaining == 0) {
                        r = end_node(d, d->offset + n);
                        if (r < 0)
                                return r;
                }
                return (int64_t)n;
        }

        case STATE_GOODBYE: {
                const uint8_t *item = p;
                size_t n = CA_FORMAT_GOODBYE_ITEM_SIZE;
                if (d->item_len > 0 || size < CA_FORMAT_GOODBYE_ITEM_SIZE) {
                        n = MIN(CA_FORMAT_GOODBYE_ITEM_SIZE - d->item_len, size);
                        memcpy(d->item + d->item_len, p, n);
                        d->item_len += n;
                        if (d->item_len < CA_FORMAT_GOODBYE_ITEM_SIZE)
                                return (int64_t)n;
                        item = d->item;
                }
                d->item_len = 0;
                r = goodbye_item(d, item);
                return r < 0 ? r : (int64_t)n;
        }

        case STATE_END:
                return bad(d, d->offset, "data after the end of the archive");
        }
        return -EINVAL;
}

int ca_decoder_feed(ca_decoder *d, const void *data, size_t size)
{
        const uint8_t *p = data;

        if (d->error < 0)
                return d->error;
        while (size > 0) {
                int64_t n = step(d, p, size);
                if (n < 0)
                        return d->error = (int)n;
                p += n;
                size -= (size_t)n;
                d->offset += (uint64_t)n;
        }
        return 0;
}

int ca_decoder_finish(ca_decoder *d)
{
        if (d->error < 0)
                return d->error;
        if (d->state != STATE_END)
                return d->error = bad(d, d->offset, "archive truncated");
        if (d->finished)
                return 0;
        d->finished = true;
        if (d->sink.finish) {
                int r = d->sink.finish(d->sink.userdata);
                if (r < 0)
                        return d->error = r;
        }
        return 0;
}
