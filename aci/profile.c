/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Access profiles: which files of an image a workload read first, and which of their bytes, in
 * the order it read them (format in aci.h). A profile only orders downloads, so a bad one is
 * never worse than none: the parser takes remote input (a published profile) and fails closed
 * on anything outside the format or its bounds. The store keeps one per image name, written
 * whole (temp file, rename) under profiles/.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "aci/aci.h"
#include "casync/fs_safe.h"

#define PROFILE_MAGIC    "acfetch-profile 2\n"
#define PROFILE_MAGIC_V1 "acfetch-profile 1\n"
#define STR_(x)          #x
#define STR(x)           STR_(x)

void aci_profile_done(aci_profile *p)
{
        if (!p)
                return;
        for (size_t i = 0; i < p->n; i++)
                free(p->files[i].path);
        free(p->files);
        free(p->chunks);
        *p = (aci_profile){};
}

/* ---------------------------------------------------------------- building */

int aci_profile_add_file(aci_profile *p, const char *path, size_t *ret)
{
        if (p->n >= ACI_PROFILE_FILES_MAX)
                return -E2BIG;
        if (p->n == p->cap) {
                size_t cap = p->cap ? p->cap * 2 : 64;
                aci_profile_file *f = realloc(p->files, cap * sizeof(*f));
                if (!f)
                        return -ENOMEM;
                p->files = f;
                p->cap = cap;
        }
        char *copy = strdup(path);
        if (!copy)
                return -ENOMEM;
        p->files[p->n] = (aci_profile_file){.path = copy};
        *ret = p->n++;
        return 0;
}

int aci_profile_add_chunk(aci_profile *p, const ca_chunk_id *id)
{
        if (p->n_chunks >= ACI_PROFILE_CHUNKS_MAX)
                return -E2BIG;
        if (p->n_chunks == p->cap_chunks) {
                size_t cap = p->cap_chunks ? p->cap_chunks * 2 : 256;
                ca_chunk_id *c = realloc(p->chunks, cap * sizeof(*c));
                if (!c)
                        return -ENOMEM;
                p->chunks = c;
                p->cap_chunks = cap;
        }
        p->chunks[p->n_chunks++] = *id;
        return 0;
}

bool aci_profile_add_range(aci_profile_file *f, uint64_t offset, uint64_t length)
{
        if (offset >= ACI_PROFILE_BYTES_MAX || length == 0)
                return false;
        length = MIN(length, ACI_PROFILE_BYTES_MAX - offset);
        uint64_t lo = offset, hi = offset + length;
        /* Every range the read touches or adjoins is merged into the first of them (readahead
         * may fill a gap between two earlier reads). */
        bool merged[ACI_PROFILE_RANGES_MAX] = {};
        unsigned first = UINT_MAX;
        for (bool more = true; more;) {
                more = false;
                for (unsigned i = 0; i < f->n_ranges; i++) {
                        const aci_profile_range *g = &f->ranges[i];
                        if (merged[i] || lo > g->offset + g->length || hi < g->offset)
                                continue;
                        merged[i] = more = true;
                        lo = MIN(lo, g->offset);
                        hi = MAX(hi, g->offset + g->length);
                        first = MIN(first, i);
                }
        }
        if (first == UINT_MAX) {
                if (f->n_ranges >= ACI_PROFILE_RANGES_MAX)
                        return false;
                f->ranges[f->n_ranges++] = (aci_profile_range){lo, hi - lo};
                return true;
        }
        const aci_profile_range *g = &f->ranges[first];
        if (g->offset == lo && g->length == hi - lo)
                return false; /* read before: nothing new */
        f->ranges[first] = (aci_profile_range){lo, hi - lo};
        unsigned n = 0;
        for (unsigned i = 0; i < f->n_ranges; i++)
                if (i == first || !merged[i])
                        f->ranges[n++] = f->ranges[i];
        f->n_ranges = n;
        return true;
}

/* ---------------------------------------------------------------- the text format */

/* A profile is a hint: below error level, a bad one is ignored, and the message says so. */
static const char *ignored(int level)
{
        return level > CA_LOG_ERR ? "; the profile is ignored" : "";
}

static bool escaped(unsigned char c)
{
        return c <= ' ' || c == '%' || c == 0x7f;
}

int aci_profile_format(const aci_profile *p, char **ret, size_t *ret_size)
{
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        fputs(PROFILE_MAGIC, f);
        for (size_t i = 0; i < p->n_chunks; i++) {
                char hex[CA_CHUNK_ID_HEX_SIZE];
                fprintf(f, "chunk %s\n", ca_chunk_id_to_hex(&p->chunks[i], hex));
        }
        for (size_t i = 0; i < p->n; i++) {
                const aci_profile_file *e = &p->files[i];
                if (e->n_ranges == 0)
                        continue;
                fputs("file ", f);
                for (const unsigned char *c = (const unsigned char *)e->path; *c; c++)
                        if (escaped(*c))
                                fprintf(f, "%%%02x", *c);
                        else
                                fputc(*c, f);
                for (unsigned k = 0; k < e->n_ranges; k++)
                        fprintf(f, " %" PRIu64 "+%" PRIu64, e->ranges[k].offset,
                                e->ranges[k].length);
                fputc('\n', f);
        }
        if (fclose(f) != 0) {
                free(buf);
                return -ENOMEM;
        }
        *ret = buf;
        *ret_size = size;
        return 0;
}

static int hex_digit(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* The escaped path in [s, e) into out (ACI_PROFILE_PATH_MAX + 1 bytes): relative, components
 * neither empty nor "." nor "..", no NUL, at most FS_NAME_MAX bytes each. NULL: why not. */
static const char *parse_path(const char *s, const char *e, char *out)
{
        size_t n = 0;
        for (const char *c = s; c < e; c++) {
                int v = (unsigned char)*c;
                if (*c != '%' && escaped((unsigned char)*c))
                        return "a control character or space in a path";
                if (*c == '%') {
                        int hi = c + 2 < e ? hex_digit(c[1]) : -1,
                            lo = hi >= 0 ? hex_digit(c[2]) : -1;
                        if (lo < 0)
                                return "a bad %-escape in a path";
                        v = hi * 16 + lo;
                        if (v == 0)
                                return "a NUL byte in a path";
                        c += 2;
                }
                if (n >= ACI_PROFILE_PATH_MAX)
                        return "a path longer than " STR(ACI_PROFILE_PATH_MAX) " bytes";
                out[n++] = (char)v;
        }
        out[n] = 0;
        if (n == 0)
                return "an empty path";
        if (out[0] == '/')
                return "an absolute path";
        for (char *c = out;;) {
                size_t l = strcspn(c, "/");
                if (l == 0 || (l == 1 && c[0] == '.') || (l == 2 && c[0] == '.' && c[1] == '.'))
                        return "a path with an empty, \".\" or \"..\" component";
                if (l > FS_NAME_MAX)
                        return "a file name longer than " STR(FS_NAME_MAX) " bytes";
                if (!c[l])
                        break;
                c += l + 1;
        }
        return NULL;
}

/* A decimal number of at most 19 digits (no sign, no leading zeros but "0"). */
static const char *parse_number(const char *s, const char *e, uint64_t *ret)
{
        if (s == e || e - s > 19 || (e - s > 1 && *s == '0'))
                return NULL;
        uint64_t v = 0;
        for (const char *c = s; c < e; c++) {
                if (*c < '0' || *c > '9')
                        return NULL;
                v = v * 10 + (uint64_t)(*c - '0');
        }
        *ret = v;
        return e;
}

/* A file line after its keyword (without its newline): NULL when good, else why not. */
static const char *parse_file(const char *s, const char *e, aci_profile *p, bool *oom)
{
        char path[ACI_PROFILE_PATH_MAX + 1];
        const char *sp = memchr(s, ' ', (size_t)(e - s));
        if (!sp)
                return "a path without ranges";
        const char *why = parse_path(s, sp, path);
        if (why)
                return why;
        size_t idx;
        int r = aci_profile_add_file(p, path, &idx);
        if (r == -E2BIG)
                return "more than " STR(ACI_PROFILE_FILES_MAX) " files";
        if (r < 0) {
                *oom = true;
                return "out of memory";
        }
        aci_profile_file *f = &p->files[idx];
        for (const char *c = sp; c < e;) {
                if (*c != ' ')
                        return "ranges not separated by one space";
                c++;
                const char *end = memchr(c, ' ', (size_t)(e - c));
                end = end ? end : e;
                const char *plus = memchr(c, '+', (size_t)(end - c));
                uint64_t off, len;
                if (!plus || !parse_number(c, plus, &off) || !parse_number(plus + 1, end, &len))
                        return "a range that is not OFFSET+LENGTH";
                if (len == 0 || off >= ACI_PROFILE_BYTES_MAX || len > ACI_PROFILE_BYTES_MAX - off)
                        return "a range that is empty or beyond the first " STR(
                            ACI_PROFILE_BYTES_MAX) " bytes of a file";
                if (f->n_ranges >= ACI_PROFILE_RANGES_MAX)
                        return "more than " STR(ACI_PROFILE_RANGES_MAX) " ranges for a file";
                f->ranges[f->n_ranges++] = (aci_profile_range){off, len};
                c = end;
        }
        return NULL;
}

/* "chunk HEX" after its keyword: NULL when good, else why not. */
static const char *parse_chunk(const char *s, const char *e, aci_profile *p, bool *oom)
{
        char hex[CA_CHUNK_ID_HEX_SIZE];
        ca_chunk_id id;
        if (e - s != CA_CHUNK_ID_HEX_SIZE - 1)
                return "a chunk ID that is not 64 lowercase hex digits";
        memcpy(hex, s, CA_CHUNK_ID_HEX_SIZE - 1);
        hex[CA_CHUNK_ID_HEX_SIZE - 1] = 0;
        if (ca_chunk_id_from_hex(hex, &id) < 0)
                return "a chunk ID that is not 64 lowercase hex digits";
        int r = aci_profile_add_chunk(p, &id);
        if (r == -E2BIG)
                return "more than " STR(ACI_PROFILE_CHUNKS_MAX) " chunks";
        if (r < 0) {
                *oom = true;
                return "out of memory";
        }
        return NULL;
}

/* One line (without its newline) of a version 2 profile, or of version 1 (only file lines,
 * without their keyword): NULL when good, else why not. */
static const char *parse_line(const char *s, const char *e, bool v1, aci_profile *p, bool *oom)
{
        if (v1)
                return parse_file(s, e, p, oom);
        if ((size_t)(e - s) > 6 && memcmp(s, "chunk ", 6) == 0)
                return parse_chunk(s + 6, e, p, oom);
        if ((size_t)(e - s) > 5 && memcmp(s, "file ", 5) == 0)
                return parse_file(s + 5, e, p, oom);
        return "a line that is neither \"chunk ID\" nor \"file PATH RANGES\"";
}

int aci_profile_parse(const void *data, size_t size, const char *what, int level, aci_profile *ret)
{
        *ret = (aci_profile){};
        const char *s = data, *end = s + size;
        size_t magic = strlen(PROFILE_MAGIC);
        if (size > ACI_PROFILE_SIZE_MAX)
                return ca_log_errno(level, -EBADMSG, "%s: larger than %d bytes: not a profile%s",
                                    what, ACI_PROFILE_SIZE_MAX, ignored(level));
        bool v1 = size >= magic && memcmp(s, PROFILE_MAGIC_V1, magic) == 0;
        if (!v1 && (size < magic || memcmp(s, PROFILE_MAGIC, magic) != 0))
                return ca_log_errno(
                    level, -EBADMSG,
                    "%s: not an acfetch profile (it does not start with \"%.*s\")%s", what,
                    (int)magic - 1, PROFILE_MAGIC, ignored(level));
        s += magic;
        for (unsigned line = 2; s < end; line++) {
                const char *nl = memchr(s, '\n', (size_t)(end - s));
                bool oom = false;
                const char *why = nl ? parse_line(s, nl, v1, ret, &oom)
                                     : "the last line does not end in a newline";
                if (why) {
                        aci_profile_done(ret);
                        return oom ? -ENOMEM
                                   : ca_log_errno(level, -EBADMSG, "%s: line %u: %s%s", what, line,
                                                  why, ignored(level));
                }
                s = nl + 1;
        }
        return 0;
}

/* ---------------------------------------------------------------- files */

int aci_profile_read_fd(int fd, const char *what, int level, aci_profile *ret)
{
        *ret = (aci_profile){};
        struct stat st;
        if (fstat(fd, &st) < 0)
                return ca_log_errno(level, negative_errno(), "%s: %m%s", what, ignored(level));
        if (!S_ISREG(st.st_mode) || st.st_size > ACI_PROFILE_SIZE_MAX)
                return ca_log_errno(level, -EBADMSG,
                                    "%s: not a regular file of at most %d bytes: not a profile%s",
                                    what, ACI_PROFILE_SIZE_MAX, ignored(level));
        _cleanup_(freep) char *buf = malloc((size_t)st.st_size + 1);
        if (!buf)
                return -ENOMEM;
        int r = read_full(fd, buf, (size_t)st.st_size);
        if (r < 0)
                return ca_log_errno(level, r, "%s: read: %s%s", what, strerror(-r), ignored(level));
        return aci_profile_parse(buf, (size_t)st.st_size, what, level, ret);
}

int aci_profile_load(const char *path, int level, aci_profile *ret)
{
        *ret = (aci_profile){};
        _cleanup_(closep) int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return ca_log_errno(level, negative_errno(), "%s: %m", path);
        return aci_profile_read_fd(fd, path, level, ret);
}

static int write_at(int dir_fd, const char *name, const char *what, const aci_profile *p)
{
        _cleanup_(freep) char *text = NULL;
        size_t size;
        int r = aci_profile_format(p, &text, &size);
        if (r < 0)
                return r;
        _cleanup_(ca_atomic_file_freep) ca_atomic_file *f = NULL;
        r = ca_atomic_file_new_at(dir_fd, name, what, 0644, CA_ATOMIC_RECLAIM, &f);
        if (r < 0)
                return r;
        r = ca_atomic_file_write(f, text, size);
        if (r < 0)
                return ca_log_write_error(what, r);
        return ca_atomic_file_commit(f);
}

int aci_profile_save(const char *path, const aci_profile *p)
{
        _cleanup_(freep) char *dir = strdup(path);
        if (!dir)
                return -ENOMEM;
        char *slash = strrchr(dir, '/');
        const char *name = path;
        if (slash == dir)
                dir[1] = 0;
        else if (slash)
                *slash = 0;
        if (slash)
                name = path + (slash - dir) + 1;
        _cleanup_(closep) int fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return ca_log_errno(CA_LOG_ERR, negative_errno(), "%s: %m", slash ? dir : ".");
        return write_at(fd, name, path, p);
}

/* ---------------------------------------------------------------- in the store */

/* profiles/<sha256 of name, hex>: any name, one component. */
static int store_key(const char *name, char key[CA_CHUNK_ID_HEX_SIZE])
{
        ca_chunk_id id;
        int r = ca_digest_once(CA_DIGEST_SHA256, name, strlen(name), &id);
        if (r < 0)
                return r;
        ca_chunk_id_to_hex(&id, key);
        return 0;
}

/* The name's file under profiles/ (key) and its whole path, for messages (*ret). */
static int store_file(const aci_store *s, const char *name, char key[CA_CHUNK_ID_HEX_SIZE],
                      char **ret)
{
        int r = store_key(name, key);
        if (r < 0)
                return r;
        return asprintf(ret, "%s/profiles/%s", aci_store_path(s), key) < 0 ? -ENOMEM : 0;
}

int aci_profile_store_path(const aci_store *s, const char *name, char **ret)
{
        char key[CA_CHUNK_ID_HEX_SIZE];
        return store_file(s, name, key, ret);
}

int aci_profile_store_load(aci_store *s, const char *name, aci_profile *ret)
{
        *ret = (aci_profile){};
        char key[CA_CHUNK_ID_HEX_SIZE];
        _cleanup_(freep) char *what = NULL;
        int r = store_file(s, name, key, &what);
        if (r < 0)
                return r;
        _cleanup_(closep) int dir =
            fs_open_beneath(aci_store_fd(s), "profiles", O_RDONLY | O_DIRECTORY, 0);
        if (dir == -ENOENT)
                return -ENOENT;
        if (dir < 0)
                return ca_log_errno(CA_LOG_WARNING, dir, "%s/profiles: %s%s", aci_store_path(s),
                                    strerror(-dir), ignored(CA_LOG_WARNING));
        _cleanup_(closep) int fd = fs_open_beneath(dir, key, O_RDONLY, 0);
        if (fd == -ENOENT)
                return -ENOENT;
        if (fd < 0)
                return ca_log_errno(CA_LOG_WARNING, fd, "%s: %s%s", what, strerror(-fd),
                                    ignored(CA_LOG_WARNING));
        return aci_profile_read_fd(fd, what, CA_LOG_WARNING, ret);
}

int aci_profile_store_save(aci_store *s, const char *name, const aci_profile *p)
{
        char key[CA_CHUNK_ID_HEX_SIZE];
        _cleanup_(freep) char *what = NULL;
        int r = store_file(s, name, key, &what);
        if (r < 0)
                return r;
        _cleanup_(closep) int dir = fs_mkdir_at(aci_store_fd(s), "profiles", 0700);
        if (dir < 0)
                return ca_log_errno(CA_LOG_ERR, dir, "%s/profiles: %s", aci_store_path(s),
                                    strerror(-dir));
        return write_at(dir, key, what, p);
}
