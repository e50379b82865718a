/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Local chunk store: round trips, casync's file names and modes, corrupt files (removed unless
 * read-only), known-missing markers, special files, permission and I/O errors that must not
 * look like "missing", and concurrent writers in several processes and threads.
 */
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "casync/casync.h"
#include "tests/test.h"

#define T CA_DIGEST_SHA512_256

static char root[] = "/tmp/test_store.XXXXXX";

typedef struct chunk {
        uint8_t *data;
        size_t size;
        ca_chunk_id id;
        char hex[CA_CHUNK_ID_HEX_SIZE];
} chunk;

static void fill(uint8_t *p, size_t n, uint64_t seed)
{
        uint64_t x = seed * UINT64_C(0x9e3779b97f4a7c15) + 1;
        for (size_t i = 0; i < n; i++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                /* Half random, half repetitive: compressible but not trivially. */
                p[i] = (i / 512) % 2 ? (uint8_t)(x >> 32) : (uint8_t)(i % 23);
        }
}

static chunk make_chunk(size_t size, uint64_t seed)
{
        chunk c = {.size = size};
        c.data = malloc(size);
        CHECK(c.data);
        fill(c.data, size, seed);
        CHECK_EQ_INT(ca_digest_once(T, c.data, size, &c.id), 0);
        ca_chunk_id_to_hex(&c.id, c.hex);
        return c;
}

static char *store_dir(const char *name)
{
        static char buf[8][PATH_MAX];
        static unsigned next;
        char *p = buf[next++ % 8];
        snprintf(p, PATH_MAX, "%s/%s", root, name);
        return p;
}

static void file_path(const char *dir, const chunk *c, const char *suffix, char out[PATH_MAX])
{
        snprintf(out, PATH_MAX, "%s/%.4s/%s%s", dir, c->hex, c->hex, suffix);
}

static bool exists(const char *path)
{
        struct stat st;
        return lstat(path, &st) == 0;
}

static void write_file(const char *path, const void *data, size_t size)
{
        (void)unlink(path);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        CHECK(fd >= 0);
        CHECK(write(fd, data, size) == (ssize_t)size);
        CHECK(close(fd) == 0);
}

static int get(ca_store *s, const chunk *c)
{
        uint8_t *buf = malloc(c->size);
        int r;

        CHECK(buf);
        r = ca_store_get(s, &c->id, c->size, T, buf);
        if (r == 0)
                CHECK(memcmp(buf, c->data, c->size) == 0);
        free(buf);
        return r;
}

/* Names in a store subdirectory other than "." and "..". */
static unsigned count_entries(const char *dir, const chunk *c, bool *saw_tmp)
{
        char path[PATH_MAX];
        unsigned n = 0;
        struct dirent *de;
        DIR *d;

        snprintf(path, sizeof(path), "%s/%.4s", dir, c->hex);
        d = opendir(path);
        CHECK(d);
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
                        n++;
                        if (saw_tmp && strstr(de->d_name, ".tmp"))
                                *saw_tmp = true;
                }
        closedir(d);
        return n;
}

static void test_open(void)
{
        ca_store *s;

        CHECK_EQ_INT(ca_store_open(store_dir("nope.castr"), 0, &s), -ENOENT);
        CHECK_EQ_INT(
            ca_store_open(store_dir("nope.castr"), CA_STORE_CREATE | CA_STORE_READ_ONLY, &s),
            -ENOENT);
        CHECK_EQ_INT(ca_store_open(store_dir("new.castr"), CA_STORE_CREATE, &s), 0);
        CHECK_STREQ(ca_store_path(s), store_dir("new.castr"));
        ca_store_free(s);
        CHECK_EQ_INT(ca_store_open(store_dir("new.castr"), CA_STORE_CREATE, &s), 0);
        ca_store_free(s);
        CHECK_EQ_INT(ca_store_open(store_dir("new.castr"), 0, &s), 0);
        ca_store_free(s);
}

static void test_roundtrip(void)
{
        _cleanup_(ca_store_freep) ca_store *s = NULL;
        chunk c = make_chunk(100000, 1), d = make_chunk(5000, 2);
        char path[PATH_MAX];
        struct stat st, st2;
        bool saw_tmp = false;
        uint8_t magic[4];
        int fd;

        umask(022);
        CHECK_EQ_INT(ca_store_open(store_dir("rt.castr"), CA_STORE_CREATE, &s), 0);
        CHECK_EQ_INT(ca_store_has(s, &c.id), 0);
        CHECK_EQ_INT(get(s, &c), -ENOENT);
        CHECK_EQ_INT(ca_store_put(s, &c.id, c.data, c.size), 0);
        CHECK_EQ_INT(ca_store_has(s, &c.id), 1);
        CHECK_EQ_INT(get(s, &c), 0);

        /* casync's name and modes; zstd content. */
        file_path(store_dir("rt.castr"), &c, ".cacnk", path);
        CHECK(stat(path, &st) == 0);
        CHECK_EQ_INT(st.st_mode & 07777, 0444);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        CHECK(fd >= 0 && read(fd, magic, 4) == 4);
        close(fd);
        CHECK(memcmp(magic, "\x28\xb5\x2f\xfd", 4) == 0);
        snprintf(path, sizeof(path), "%s/%.4s", store_dir("rt.castr"), c.hex);
        CHECK(stat(path, &st) == 0);
        CHECK_EQ_INT(st.st_mode & 07777, 0755);

        /* A second put leaves the file alone. */
        file_path(store_dir("rt.castr"), &c, ".cacnk", path);
        CHECK(stat(path, &st) == 0);
        CHECK_EQ_INT(ca_store_put(s, &c.id, c.data, c.size), 0);
        CHECK_EQ_INT(ca_store_put_compressed(s, &c.id, "junk", 4), 0);
        CHECK(stat(path, &st2) == 0);
        CHECK(st.st_ino == st2.st_ino);
        CHECK_EQ_INT(count_entries(store_dir("rt.castr"), &c, &saw_tmp), 1);
        CHECK(!saw_tmp);

        /* New files and directories have casync's modes whatever the umask: never writable by
         * others (umask 000), always readable by a web server (umask 077). */
        umask(000);
        CHECK_EQ_INT(ca_store_put(s, &d.id, d.data, d.size), 0);
        file_path(store_dir("rt.castr"), &d, ".cacnk", path);
        CHECK(stat(path, &st) == 0);
        CHECK_EQ_INT(st.st_mode & 07777, 0444);
        snprintf(path, sizeof(path), "%s/%.4s", store_dir("rt.castr"), d.hex);
        CHECK(stat(path, &st) == 0);
        CHECK_EQ_INT(st.st_mode & 07777, 0755);
        umask(077);
        ca_store *s077;
        CHECK_EQ_INT(ca_store_open(store_dir("umask077.castr"), CA_STORE_CREATE, &s077), 0);
        CHECK_EQ_INT(ca_store_put(s077, &d.id, d.data, d.size), 0);
        ca_store_free(s077);
        CHECK(stat(store_dir("umask077.castr"), &st) == 0);
        CHECK_EQ_INT(st.st_mode & 07777, 0755);
        snprintf(path, sizeof(path), "%s/%.4s", store_dir("umask077.castr"), d.hex);
        CHECK(stat(path, &st) == 0);
        CHECK_EQ_INT(st.st_mode & 07777, 0755);
        file_path(store_dir("umask077.castr"), &d, ".cacnk", path);
        CHECK(stat(path, &st) == 0);
        CHECK_EQ_INT(st.st_mode & 07777, 0444);
        umask(022);

        /* Remove takes it away; removing again is fine. */
        CHECK_EQ_INT(ca_store_remove(s, &c.id), 0);
        CHECK_EQ_INT(ca_store_has(s, &c.id), 0);
        CHECK_EQ_INT(get(s, &c), -ENOENT);
        CHECK_EQ_INT(ca_store_remove(s, &c.id), 0);

        /* Compressed bytes in another format (what casync --compression=xz writes). */
        size_t zn;
        void *z;
        CHECK_EQ_INT(ca_chunk_compress(c.data, c.size, &z, &zn), 0);
        CHECK_EQ_INT(ca_store_put_compressed(s, &c.id, z, zn), 0);
        CHECK_EQ_INT(get(s, &c), 0);
        free(z);

        /* Wrong size asked: the file cannot be this chunk. */
        uint8_t *buf = malloc(c.size);
        CHECK(buf);
        CHECK_EQ_INT(ca_store_get(s, &c.id, 0, T, buf), -EINVAL);
        CHECK_EQ_INT(ca_store_get(s, &c.id, CA_CHUNK_SIZE_LIMIT_MAX + 1, T, buf), -EINVAL);
        free(buf);
        free(c.data);
        free(d.data);
}

typedef enum corruption {
        GARBAGE,
        WRONG_DATA,
        EMPTY,
        TRUNCATED,
        OVERSIZED,
        RAW_WRONG_SIZE,
        RAW_WRONG_DATA,
        NOT_REGULAR_FIFO,
        _CORRUPTION_MAX,
} corruption;

/* Writes a bad file for c; returns its path. */
static void corrupt(const char *dir, const chunk *c, corruption k, char path[PATH_MAX])
{
        chunk other = make_chunk(c->size, 999);
        size_t zn;
        void *z;

        CHECK_EQ_INT(ca_chunk_compress(c->data, c->size, &z, &zn), 0);
        file_path(dir, c, k == RAW_WRONG_SIZE || k == RAW_WRONG_DATA ? "" : ".cacnk", path);
        switch (k) {
        case GARBAGE:
                write_file(path, "this is not a compressed chunk", 30);
                break;
        case WRONG_DATA:
                free(z);
                CHECK_EQ_INT(ca_chunk_compress(other.data, other.size, &z, &zn), 0);
                write_file(path, z, zn);
                break;
        case EMPTY:
                write_file(path, "", 0);
                break;
        case TRUNCATED:
                write_file(path, z, zn / 2);
                break;
        case OVERSIZED: {
                size_t n = ca_chunk_compressed_size_max(c->size) + 1;
                uint8_t *big = calloc(1, n);
                CHECK(big);
                memcpy(big, z, zn);
                write_file(path, big, n);
                free(big);
                break;
        }
        case RAW_WRONG_SIZE:
                write_file(path, c->data, c->size - 1);
                break;
        case RAW_WRONG_DATA:
                write_file(path, other.data, other.size);
                break;
        case NOT_REGULAR_FIFO:
                (void)unlink(path);
                CHECK(mkfifo(path, 0644) == 0);
                break;
        default:
                CHECK(false);
        }
        free(z);
        free(other.data);
}

static void test_corrupt(void)
{
        _cleanup_(ca_store_freep) ca_store *s = NULL, *ro = NULL;
        char path[PATH_MAX];

        CHECK_EQ_INT(ca_store_open(store_dir("bad.castr"), CA_STORE_CREATE, &s), 0);
        CHECK_EQ_INT(ca_store_open(store_dir("bad.castr"), CA_STORE_READ_ONLY, &ro), 0);
        for (corruption k = 0; k < _CORRUPTION_MAX; k++) {
                chunk c = make_chunk(20000 + k, 100 + k);

                /* A read-only store reports the file as missing and keeps it. */
                snprintf(path, sizeof(path), "%s/%.4s", store_dir("bad.castr"), c.hex);
                CHECK(mkdir(path, 0755) == 0 || errno == EEXIST);
                corrupt(store_dir("bad.castr"), &c, k, path);
                if (get(ro, &c) != -ENOENT) {
                        fprintf(stderr, "corruption %d not detected\n", k);
                        exit(EXIT_FAILURE);
                }
                CHECK(exists(path));

                /* A writable one also removes it, after which the chunk can be stored. */
                CHECK_EQ_INT(get(s, &c), -ENOENT);
                CHECK(!exists(path));
                CHECK_EQ_INT(ca_store_put(s, &c.id, c.data, c.size), 0);
                CHECK_EQ_INT(get(s, &c), 0);
                free(c.data);
        }

        /* A directory in the chunk's place cannot be removed, but is still just "missing". */
        chunk c = make_chunk(3000, 7);
        CHECK_EQ_INT(ca_store_put(s, &c.id, c.data, c.size), 0);
        CHECK_EQ_INT(ca_store_remove(s, &c.id), 0);
        file_path(store_dir("bad.castr"), &c, ".cacnk", path);
        CHECK(mkdir(path, 0755) == 0);
        CHECK_EQ_INT(get(s, &c), -ENOENT);
        CHECK(rmdir(path) == 0);
        free(c.data);
}

static void test_uncompressed_and_markers(void)
{
        _cleanup_(ca_store_freep) ca_store *s = NULL;
        chunk c = make_chunk(7000, 11), e = make_chunk(9000, 12);
        char path[PATH_MAX], other[PATH_MAX];

        CHECK_EQ_INT(ca_store_open(store_dir("raw.castr"), CA_STORE_CREATE, &s), 0);

        /* casync's uncompressed "<id>" file is accepted. */
        CHECK_EQ_INT(ca_store_put(s, &c.id, c.data, c.size), 0);
        CHECK_EQ_INT(ca_store_remove(s, &c.id), 0);
        file_path(store_dir("raw.castr"), &c, "", path);
        write_file(path, c.data, c.size);
        CHECK_EQ_INT(ca_store_has(s, &c.id), 1);
        CHECK_EQ_INT(get(s, &c), 0);
        /* ...and counts as present for put. */
        CHECK_EQ_INT(ca_store_put(s, &c.id, c.data, c.size), 0);
        file_path(store_dir("raw.castr"), &c, ".cacnk", other);
        CHECK(!exists(other));
        CHECK_EQ_INT(ca_store_remove(s, &c.id), 0);
        CHECK(!exists(path));

        /* A symlink "<id>" -> /dev/null marks the chunk known-missing; it is left alone. */
        CHECK(symlink("/dev/null", path) == 0);
        CHECK_EQ_INT(ca_store_has(s, &c.id), 0);
        CHECK_EQ_INT(get(s, &c), -ENOENT);
        CHECK(exists(path));
        /* Storing the chunk makes it available again. */
        CHECK_EQ_INT(ca_store_put(s, &c.id, c.data, c.size), 0);
        CHECK_EQ_INT(get(s, &c), 0);

        /* A symlinked .cacnk is never followed, even to a valid chunk file. */
        CHECK_EQ_INT(ca_store_put(s, &e.id, e.data, e.size), 0);
        file_path(store_dir("raw.castr"), &e, ".cacnk", path);
        snprintf(other, sizeof(other), "%s/elsewhere.cacnk", root);
        CHECK(rename(path, other) == 0);
        CHECK(symlink(other, path) == 0);
        CHECK_EQ_INT(ca_store_has(s, &e.id), 0);
        CHECK_EQ_INT(get(s, &e), -ENOENT);
        free(c.data);
        free(e.data);
}

static void test_readonly(void)
{
        _cleanup_(ca_store_freep) ca_store *s = NULL;
        chunk c = make_chunk(100, 3);

        CHECK_EQ_INT(ca_store_open(store_dir("rt.castr"), CA_STORE_READ_ONLY, &s), 0);
        CHECK_EQ_INT(ca_store_put(s, &c.id, c.data, c.size), -EROFS);
        CHECK_EQ_INT(ca_store_put_compressed(s, &c.id, "x", 1), -EROFS);
        CHECK_EQ_INT(ca_store_remove(s, &c.id), -EROFS);
        free(c.data);
}

static void test_list_get(void)
{
        _cleanup_(ca_store_freep) ca_store *a = NULL, *b = NULL;
        chunk c = make_chunk(4000, 21), d = make_chunk(4000, 22);
        ca_index_item item = {.size = c.size, .id = c.id};
        uint8_t buf[4000];

        CHECK_EQ_INT(ca_store_open(store_dir("la.castr"), CA_STORE_CREATE, &a), 0);
        CHECK_EQ_INT(ca_store_open(store_dir("lb.castr"), CA_STORE_CREATE, &b), 0);
        ca_store *both[] = {a, b};
        ca_store_list l = {.stores = both, .n_stores = 2};

        CHECK_EQ_INT(ca_store_list_get(&l, &item, T, buf), -ENOENT);
        CHECK_EQ_INT(ca_store_put(b, &c.id, c.data, c.size), 0);
        CHECK_EQ_INT(ca_store_list_get(&l, &item, T, buf), 0);
        CHECK(memcmp(buf, c.data, c.size) == 0);
        CHECK_EQ_INT(ca_store_put(a, &d.id, d.data, d.size), 0);
        item.id = d.id;
        CHECK_EQ_INT(ca_store_list_get(&l, &item, T, buf), 0);
        CHECK(memcmp(buf, d.data, d.size) == 0);
        l.n_stores = 0;
        CHECK_EQ_INT(ca_store_list_get(&l, &item, T, buf), -ENOENT);
        free(c.data);
        free(d.data);
}

/* Runs f in a child, as "nobody" when root (else as ourselves); returns its exit status. */
static int run_as_nobody(int (*f)(void *), void *arg)
{
        int status;
        pid_t pid = fork();

        CHECK(pid >= 0);
        if (pid == 0) {
                if (geteuid() == 0 &&
                    (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
                     setresuid(65534, 65534, 65534) < 0))
                        _exit(99);
                _exit(f(arg));
        }
        CHECK(waitpid(pid, &status, 0) == pid);
        CHECK(WIFEXITED(status));
        return WEXITSTATUS(status);
}

typedef struct access_case {
        chunk *c;
        int expected;
} access_case;

static int child_get(void *arg)
{
        access_case *a = arg;
        ca_store *s, *ok;
        int r;

        if (ca_store_open(store_dir("perm.castr"), 0, &s) < 0)
                return 10;
        r = get(s, a->c);
        if (r != a->expected)
                return 11;
        /* The list getter stops at the broken store instead of reporting "missing". */
        if (ca_store_open(store_dir("perm-ok.castr"), CA_STORE_READ_ONLY, &ok) < 0)
                return 12;
        ca_store *both[] = {s, ok};
        ca_store_list l = {.stores = both, .n_stores = 2};
        ca_index_item item = {.size = a->c->size, .id = a->c->id};
        uint8_t *buf = malloc(a->c->size);
        r = ca_store_list_get(&l, &item, T, buf);
        free(buf);
        ca_store_free(ok);
        ca_store_free(s);
        return r == a->expected ? 0 : 13;
}

static void test_permissions(void)
{
        _cleanup_(ca_store_freep) ca_store *s = NULL, *ok = NULL;
        chunk c = make_chunk(6000, 31);
        access_case a = {.c = &c, .expected = -EACCES};
        char path[PATH_MAX];

        CHECK(chmod(root, 0755) == 0);
        CHECK_EQ_INT(ca_store_open(store_dir("perm.castr"), CA_STORE_CREATE, &s), 0);
        CHECK_EQ_INT(ca_store_open(store_dir("perm-ok.castr"), CA_STORE_CREATE, &ok), 0);
        CHECK_EQ_INT(ca_store_put(s, &c.id, c.data, c.size), 0);
        CHECK_EQ_INT(ca_store_put(ok, &c.id, c.data, c.size), 0);

        /* Baseline: readable by the child. */
        a.expected = 0;
        if (run_as_nobody(child_get, &a) == 99) {
                printf("cannot switch to uid 65534: skipping the permission checks\n");
                free(c.data);
                return;
        }

        /* An unreadable chunk file is EACCES, not missing, and stays. */
        file_path(store_dir("perm.castr"), &c, ".cacnk", path);
        CHECK(chmod(path, 0) == 0);
        a.expected = -EACCES;
        CHECK_EQ_INT(run_as_nobody(child_get, &a), 0);
        CHECK(exists(path));
        CHECK(chmod(path, 0444) == 0);

        /* An unsearchable subdirectory too. */
        snprintf(path, sizeof(path), "%s/%.4s", store_dir("perm.castr"), c.hex);
        CHECK(chmod(path, 0) == 0);
        CHECK_EQ_INT(run_as_nobody(child_get, &a), 0);
        CHECK(chmod(path, 0755) == 0);
        file_path(store_dir("perm.castr"), &c, ".cacnk", path);
        CHECK(exists(path));
        free(c.data);
}

#if defined(__x86_64__)
#define H1_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define H1_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

/* In the calling (child) process, makes every call of syscall nr fail with err. */
static bool fail_syscall(int nr, int err)
{
#ifdef H1_AUDIT_ARCH
        struct sock_filter f[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, H1_AUDIT_ARCH, 1, 0),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (uint32_t)err),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = {.len = ELEMENTSOF(f), .filter = f};

        return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
               prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
#else
        return false;
#endif
}

typedef enum fault {
        FAULT_READ_EIO,       /* a disk error while reading a chunk */
        FAULT_WRITE_ENOSPC,   /* a full disk while storing one */
        FAULT_RENAME2_EINVAL, /* a file system without RENAME_NOREPLACE */
} fault;

/* Runs one store operation on c in a child with the fault; 0 if it behaved, 77 to skip. */
static int child_fault(fault k, const chunk *c)
{
        ca_store *s;
        int r;

        if (ca_store_open(store_dir("fault.castr"), CA_STORE_CREATE, &s) < 0)
                return 10;
        switch (k) {
        case FAULT_READ_EIO:
                if (!fail_syscall(__NR_read, EIO))
                        return 77;
                return get(s, c) == -EIO ? 0 : 11;
        case FAULT_WRITE_ENOSPC:
                if (!fail_syscall(__NR_write, ENOSPC))
                        return 77;
                r = ca_store_put(s, &c->id, c->data, c->size);
                return r == -ENOSPC ? 0 : 12;
        case FAULT_RENAME2_EINVAL:
                if (!fail_syscall(__NR_renameat2, EINVAL))
                        return 77;
                r = ca_store_put(s, &c->id, c->data, c->size);
                return r == 0 && get(s, c) == 0 ? 0 : 13;
        }
        return 14;
}

static void run_fault(fault k, const chunk *c, const char *label)
{
        int status;
        pid_t pid = fork();

        CHECK(pid >= 0);
        if (pid == 0)
                _exit(child_fault(k, c));
        CHECK(waitpid(pid, &status, 0) == pid);
        CHECK(WIFEXITED(status));
        if (WEXITSTATUS(status) == 77)
                printf("seccomp unavailable: skipping the %s check\n", label);
        else if (WEXITSTATUS(status) != 0) {
                fprintf(stderr, "%s: child failed with %d\n", label, WEXITSTATUS(status));
                exit(EXIT_FAILURE);
        }
}

static void test_faults(void)
{
        _cleanup_(ca_store_freep) ca_store *s = NULL;
        chunk c = make_chunk(6000, 41), d = make_chunk(7000, 42), e = make_chunk(8000, 43);
        char path[PATH_MAX];
        bool saw_tmp = false;

        CHECK_EQ_INT(ca_store_open(store_dir("fault.castr"), CA_STORE_CREATE, &s), 0);

        /* A read error is reported as such and never removes the chunk. */
        CHECK_EQ_INT(ca_store_put(s, &c.id, c.data, c.size), 0);
        run_fault(FAULT_READ_EIO, &c, "EIO");
        file_path(store_dir("fault.castr"), &c, ".cacnk", path);
        CHECK(exists(path));

        /* A failed write leaves neither the chunk nor a temp file. */
        run_fault(FAULT_WRITE_ENOSPC, &d, "ENOSPC");
        CHECK_EQ_INT(ca_store_has(s, &d.id), 0);
        snprintf(path, sizeof(path), "%s/%.4s", store_dir("fault.castr"), d.hex);
        if (exists(path)) {
                count_entries(store_dir("fault.castr"), &d, &saw_tmp);
                CHECK(!saw_tmp);
        }

        /* Without RENAME_NOREPLACE, link(2) publishes the chunk just as well. */
        run_fault(FAULT_RENAME2_EINVAL, &e, "rename fallback");
        CHECK_EQ_INT(get(s, &e), 0);
        count_entries(store_dir("fault.castr"), &e, &saw_tmp);
        CHECK(!saw_tmp);

        free(c.data);
        free(d.data);
        free(e.data);
}

#define N_PROCS  8
#define N_CHUNKS 48

static void test_concurrent_processes(void)
{
        chunk cs[N_CHUNKS];
        pid_t pids[N_PROCS];
        int barrier[2];

        for (size_t i = 0; i < N_CHUNKS; i++)
                cs[i] = make_chunk(3000 + i * 100, 500 + i);
        CHECK(pipe(barrier) == 0);

        for (size_t p = 0; p < N_PROCS; p++) {
                pids[p] = fork();
                CHECK(pids[p] >= 0);
                if (pids[p] == 0) {
                        ca_store *s;
                        char x;
                        close(barrier[1]);
                        /* Wait until every child exists, then race. */
                        if (read(barrier[0], &x, 1) != 0)
                                _exit(20);
                        if (ca_store_open(store_dir("conc.castr"), CA_STORE_CREATE, &s) < 0)
                                _exit(21);
                        for (size_t i = 0; i < N_CHUNKS; i++) {
                                size_t k = (i + p * 7) % N_CHUNKS;
                                if (ca_store_put(s, &cs[k].id, cs[k].data, cs[k].size) != 0)
                                        _exit(22);
                                if (get(s, &cs[k]) != 0)
                                        _exit(23);
                        }
                        ca_store_free(s);
                        _exit(0);
                }
        }
        close(barrier[0]);
        close(barrier[1]);
        for (size_t p = 0; p < N_PROCS; p++) {
                int status;
                CHECK(waitpid(pids[p], &status, 0) == pids[p]);
                CHECK(WIFEXITED(status));
                CHECK_EQ_INT(WEXITSTATUS(status), 0);
        }

        /* One valid file per chunk, no temp files left. */
        _cleanup_(ca_store_freep) ca_store *s = NULL;
        CHECK_EQ_INT(ca_store_open(store_dir("conc.castr"), 0, &s), 0);
        for (size_t i = 0; i < N_CHUNKS; i++) {
                char path[PATH_MAX];
                bool saw_tmp = false;
                CHECK_EQ_INT(get(s, &cs[i]), 0);
                file_path(store_dir("conc.castr"), &cs[i], ".cacnk", path);
                CHECK(exists(path));
                count_entries(store_dir("conc.castr"), &cs[i], &saw_tmp);
                CHECK(!saw_tmp);
                free(cs[i].data);
        }
}

typedef struct thread_arg {
        ca_store *s;
        chunk *cs;
        size_t offset;
} thread_arg;

static void *thread_main(void *p)
{
        thread_arg *a = p;

        for (size_t i = 0; i < N_CHUNKS; i++) {
                chunk *c = &a->cs[(i + a->offset) % N_CHUNKS];
                CHECK_EQ_INT(ca_store_put(a->s, &c->id, c->data, c->size), 0);
                CHECK_EQ_INT(get(a->s, c), 0);
        }
        return NULL;
}

static void test_threads(void)
{
        _cleanup_(ca_store_freep) ca_store *s = NULL;
        chunk cs[N_CHUNKS];
        pthread_t t[4];
        thread_arg args[4];

        CHECK_EQ_INT(ca_store_open(store_dir("threads.castr"), CA_STORE_CREATE, &s), 0);
        for (size_t i = 0; i < N_CHUNKS; i++)
                cs[i] = make_chunk(2000 + i * 10, 900 + i);
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                args[i] = (thread_arg){.s = s, .cs = cs, .offset = i * 5};
                CHECK_EQ_INT(pthread_create(&t[i], NULL, thread_main, &args[i]), 0);
        }
        for (size_t i = 0; i < ELEMENTSOF(t); i++)
                CHECK_EQ_INT(pthread_join(t[i], NULL), 0);
        for (size_t i = 0; i < N_CHUNKS; i++)
                free(cs[i].data);
}

static void cleanup_root(void)
{
        char cmd[PATH_MAX + 32];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
        (void)!system(cmd);
}

int main(void)
{
        pid_t self = getpid();

        CHECK(mkdtemp(root));
        atexit(cleanup_root);

        test_open();
        test_roundtrip();
        test_corrupt();
        test_uncompressed_and_markers();
        test_readonly();
        test_list_get();
        test_permissions();
        test_faults();
        test_concurrent_processes();
        test_threads();
        CHECK(getpid() == self);
        printf("test_store: all checks passed\n");
        return 0;
}
