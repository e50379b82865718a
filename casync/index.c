/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Index files (.caidx/.caibx): a fixed header, a table of {end offset, chunk ID} items and a
 * tail. The file size fixes the item count, so everything is validated before any allocation.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>

#include "casync/casync.h"

/* Everything but the items: INDEX header, TABLE header and tail. */
#define INDEX_FIXED_SIZE (CA_INDEX_HEADER_SIZE + CA_INDEX_TABLE_HEADER_SIZE + CA_INDEX_TAIL_SIZE)

/* Offsets of the fields in the file. */
enum {
        OFF_SIZE = 0,
        OFF_TYPE = 8,
        OFF_FLAGS = 16,
        OFF_MIN = 24,
        OFF_AVG = 32,
        OFF_MAX = 40,
        OFF_TABLE_SIZE = 48,
        OFF_TABLE_TYPE = 56,
        OFF_ITEMS = 64,
};

/* Offsets inside the tail. */
enum {
        TAIL_ZERO1 = 0,
        TAIL_ZERO2 = 8,
        TAIL_INDEX_OFFSET = 16,
        TAIL_SIZE = 24,
        TAIL_MARKER = 32,
};

static int check_chunk_limit(const char *what, const char *name, uint64_t v)
{
        if (v < CA_CHUNK_SIZE_LIMIT_MIN || v > CA_CHUNK_SIZE_LIMIT_MAX)
                return ca_bad("%s: chunk_size_%s %" PRIu64 " is outside [%u, %u]", what, name, v,
                              CA_CHUNK_SIZE_LIMIT_MIN, CA_CHUNK_SIZE_LIMIT_MAX);
        return 0;
}

static int parse_header(const uint8_t *p, size_t size, const char *what, ca_index *i)
{
        int r;

        if (size < OFF_ITEMS)
                return ca_bad("%s: truncated index: %zu bytes, the header alone needs %d", what,
                              size, OFF_ITEMS);
        if (read_le64(p + OFF_SIZE) != CA_INDEX_HEADER_SIZE)
                return ca_bad("%s: index header size is %" PRIu64 ", expected %d", what,
                              read_le64(p + OFF_SIZE), CA_INDEX_HEADER_SIZE);
        if (read_le64(p + OFF_TYPE) != CA_FORMAT_INDEX)
                return ca_bad("%s: not a casync index (header type 0x%016" PRIx64 ")", what,
                              read_le64(p + OFF_TYPE));

        i->feature_flags = read_le64(p + OFF_FLAGS);
        if (i->feature_flags & ~CA_FORMAT_FEATURE_FLAGS_MAX)
                return ca_bad("%s: unknown feature flags 0x%016" PRIx64, what,
                              i->feature_flags & ~CA_FORMAT_FEATURE_FLAGS_MAX);
        if (!ca_feature_flags_are_normalized(i->feature_flags))
                return ca_bad("%s: feature flags 0x%016" PRIx64 " are not in normal form", what,
                              i->feature_flags);

        i->chunk_size_min = read_le64(p + OFF_MIN);
        i->chunk_size_avg = read_le64(p + OFF_AVG);
        i->chunk_size_max = read_le64(p + OFF_MAX);
        r = check_chunk_limit(what, "min", i->chunk_size_min);
        if (r < 0)
                return r;
        r = check_chunk_limit(what, "avg", i->chunk_size_avg);
        if (r < 0)
                return r;
        r = check_chunk_limit(what, "max", i->chunk_size_max);
        if (r < 0)
                return r;
        if (i->chunk_size_min > i->chunk_size_avg || i->chunk_size_avg > i->chunk_size_max)
                return ca_bad("%s: chunk sizes min %" PRIu64 " avg %" PRIu64 " max %" PRIu64
                              " are not ordered",
                              what, i->chunk_size_min, i->chunk_size_avg, i->chunk_size_max);

        /* casync writes the table incrementally, so its header size is a placeholder. */
        if (read_le64(p + OFF_TABLE_SIZE) != UINT64_MAX)
                return ca_bad("%s: table header size is 0x%016" PRIx64 ", expected all ones", what,
                              read_le64(p + OFF_TABLE_SIZE));
        if (read_le64(p + OFF_TABLE_TYPE) != CA_FORMAT_TABLE)
                return ca_bad("%s: table header type 0x%016" PRIx64 " is wrong", what,
                              read_le64(p + OFF_TABLE_TYPE));
        return 0;
}

/* The file size determines n; anything else means a truncated table or stray bytes. */
static int item_count(size_t size, const char *what, size_t *ret)
{
        if (size > CA_INDEX_FILE_SIZE_MAX)
                return ca_bad("%s: index of %zu bytes has more than %" PRIu64 " chunks", what, size,
                              CA_INDEX_ITEMS_MAX);
        if (size < INDEX_FIXED_SIZE)
                return ca_bad("%s: table tail marker missing (truncated at %zu bytes)", what, size);
        if ((size - INDEX_FIXED_SIZE) % CA_INDEX_ITEM_SIZE != 0)
                return ca_bad("%s: table tail marker missing (file size %zu is not 104 + 40*n: "
                              "truncated table or trailing bytes)",
                              what, size);
        *ret = (size - INDEX_FIXED_SIZE) / CA_INDEX_ITEM_SIZE;
        return 0;
}

static int parse_tail(const uint8_t *t, size_t n, const char *what)
{
        uint64_t expected_size =
            CA_INDEX_TABLE_HEADER_SIZE + (uint64_t)n * CA_INDEX_ITEM_SIZE + CA_INDEX_TAIL_SIZE;

        if (read_le64(t + TAIL_MARKER) != CA_FORMAT_TABLE_TAIL_MARKER)
                return ca_bad("%s: table tail marker missing", what);
        if (read_le64(t + TAIL_ZERO1) != 0 || read_le64(t + TAIL_ZERO2) != 0)
                return ca_bad("%s: table tail padding is not zero", what);
        if (read_le64(t + TAIL_INDEX_OFFSET) != CA_INDEX_HEADER_SIZE)
                return ca_bad("%s: table tail index offset is %" PRIu64 ", expected %d", what,
                              read_le64(t + TAIL_INDEX_OFFSET), CA_INDEX_HEADER_SIZE);
        if (read_le64(t + TAIL_SIZE) != expected_size)
                return ca_bad("%s: table tail size is %" PRIu64 ", expected %" PRIu64
                              " for %zu chunks",
                              what, read_le64(t + TAIL_SIZE), expected_size, n);
        return 0;
}

static int parse_items(const uint8_t *p, size_t n, const char *what, ca_index *i)
{
        uint64_t start = 0;

        for (size_t k = 0; k < n; k++) {
                const uint8_t *item = p + OFF_ITEMS + k * CA_INDEX_ITEM_SIZE;
                uint64_t end = read_le64(item);

                /* Strictly increasing end offsets; a first end of 0 is an empty chunk. */
                if (end == start)
                        return ca_bad("%s: chunk %zu at offset %" PRIu64 " has size 0", what, k,
                                      start);
                if (end < start)
                        return ca_bad("%s: chunk %zu ends at offset %" PRIu64
                                      ", before its start %" PRIu64,
                                      what, k, end, start);
                /* end > start, so no wrap-around; the size bound keeps the total < 2^50. */
                if (end - start > i->chunk_size_max)
                        return ca_bad("%s: chunk %zu at offset %" PRIu64 " has size %" PRIu64
                                      ", above the maximum %" PRIu64,
                                      what, k, start, end - start, i->chunk_size_max);

                i->items[k].offset = start;
                i->items[k].size = end - start;
                memcpy(i->items[k].id.bytes, item + 8, CA_CHUNK_ID_SIZE);
                start = end;
        }
        i->total_size = start;
        return 0;
}

int ca_index_parse(const void *data, size_t size, const char *what, ca_index **ret)
{
        _cleanup_(ca_index_freep) ca_index *i = NULL;
        const uint8_t *p = data;
        size_t n = 0;
        int r;

        i = calloc(1, sizeof(*i));
        if (!i)
                return -ENOMEM;

        r = parse_header(p, size, what, i);
        if (r < 0)
                return r;
        r = item_count(size, what, &n);
        if (r < 0)
                return r;
        r = parse_tail(p + size - CA_INDEX_TAIL_SIZE, n, what);
        if (r < 0)
                return r;

        /* n == 0 is a valid (empty) blob; callers that need chunks check n_items. */
        if (n > 0) {
                i->items = calloc(n, sizeof(ca_index_item));
                if (!i->items)
                        return -ENOMEM;
        }
        i->n_items = n;

        r = parse_items(p, n, what, i);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(i);
        return 0;
}

int ca_index_load(const char *path, ca_index **ret)
{
        _cleanup_(closep) int fd = -1;
        _cleanup_(freep) uint8_t *buf = NULL;
        struct stat st;
        size_t size;
        uint8_t extra;
        int r;

        /* User paths may be symlinks; O_NONBLOCK keeps a FIFO from hanging us before fstat. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                r = negative_errno();
                return ca_log_errno(CA_LOG_ERR, r, "%s: cannot open: %s", path, strerror(-r));
        }
        if (fstat(fd, &st) < 0) {
                r = negative_errno();
                return ca_log_errno(CA_LOG_ERR, r, "%s: cannot stat: %s", path, strerror(-r));
        }
        if (!S_ISREG(st.st_mode))
                return ca_bad("%s: not a regular file", path);
        if ((uint64_t)st.st_size > CA_INDEX_FILE_SIZE_MAX)
                return ca_bad("%s: index of %" PRIu64 " bytes has more than %" PRIu64 " chunks",
                              path, (uint64_t)st.st_size, CA_INDEX_ITEMS_MAX);

        size = (size_t)st.st_size;
        buf = malloc(MAX(size, (size_t)1));
        if (!buf)
                return -ENOMEM;
        r = read_full(fd, buf, size);
        if (r == -EBADMSG)
                return ca_bad("%s: file shrank while being read", path);
        if (r < 0)
                return ca_log_errno(CA_LOG_ERR, r, "%s: read failed: %s", path, strerror(-r));
        /* A file that grew while we read it is not the one we measured. */
        r = read_full(fd, &extra, 1);
        if (r == 0)
                return ca_bad("%s: file grew while being read", path);
        if (r != -EBADMSG)
                return ca_log_errno(CA_LOG_ERR, r, "%s: read failed: %s", path, strerror(-r));

        return ca_index_parse(buf, size, path, ret);
}

ca_index *ca_index_free(ca_index *i)
{
        if (i) {
                free(i->items);
                free(i);
        }
        return NULL;
}

static bool name_has_suffix(const char *name, size_t len, const char *suffix)
{
        size_t n = strlen(suffix);
        const char *base = name;

        /* The suffix must follow a non-empty stem in the last path component. */
        for (size_t k = 0; k < len; k++)
                if (name[k] == '/')
                        base = name + k + 1;
        return (size_t)(name + len - base) > n && memcmp(name + len - n, suffix, n) == 0;
}

ca_index_kind ca_index_kind_from_name(const char *name)
{
        size_t len = strlen(name);

        /* For URLs the query (or fragment) is not part of the name, as casync treats it. */
        if (strstr(name, "://"))
                len = strcspn(name, "?#;");

        if (name_has_suffix(name, len, ".caidx"))
                return CA_INDEX_ARCHIVE;
        if (name_has_suffix(name, len, ".caibx"))
                return CA_INDEX_BLOB;
        return CA_INDEX_UNKNOWN;
}

int ca_index_serialize(const ca_index *i, void **ret, size_t *ret_size)
{
        _cleanup_(freep) uint8_t *buf = NULL;
        uint64_t end = 0;
        size_t size;
        uint8_t *p, *t;

        if (i->n_items > CA_INDEX_ITEMS_MAX)
                return -EINVAL;
        size = INDEX_FIXED_SIZE + i->n_items * CA_INDEX_ITEM_SIZE;

        buf = calloc(1, size);
        if (!buf)
                return -ENOMEM;
        p = buf;

        write_le64(p + OFF_SIZE, CA_INDEX_HEADER_SIZE);
        write_le64(p + OFF_TYPE, CA_FORMAT_INDEX);
        write_le64(p + OFF_FLAGS, i->feature_flags);
        write_le64(p + OFF_MIN, i->chunk_size_min);
        write_le64(p + OFF_AVG, i->chunk_size_avg);
        write_le64(p + OFF_MAX, i->chunk_size_max);
        write_le64(p + OFF_TABLE_SIZE, UINT64_MAX);
        write_le64(p + OFF_TABLE_TYPE, CA_FORMAT_TABLE);

        for (size_t k = 0; k < i->n_items; k++) {
                uint8_t *item = p + OFF_ITEMS + k * CA_INDEX_ITEM_SIZE;

                /* Items must tile the stream: the file only stores end offsets. */
                if (i->items[k].offset != end || i->items[k].size == 0 ||
                    ADD_OVERFLOW(end, i->items[k].size, &end))
                        return -EINVAL;
                write_le64(item, end);
                memcpy(item + 8, i->items[k].id.bytes, CA_CHUNK_ID_SIZE);
        }

        t = p + size - CA_INDEX_TAIL_SIZE;
        write_le64(t + TAIL_INDEX_OFFSET, CA_INDEX_HEADER_SIZE);
        write_le64(t + TAIL_SIZE, CA_INDEX_TABLE_HEADER_SIZE +
                                      (uint64_t)i->n_items * CA_INDEX_ITEM_SIZE +
                                      CA_INDEX_TAIL_SIZE);
        write_le64(t + TAIL_MARKER, CA_FORMAT_TABLE_TAIL_MARKER);

        *ret = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}
