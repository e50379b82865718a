/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The document root `acfetch publish` maintains (layout in publish.h). */
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "casync/fs_safe.h"
#include "discovery/discovery.h"
#include "fetcher/publish/publish.h"

int publish_mkdirs(const char *outdir, const char *rel)
{
        _cleanup_(freep) char *path = NULL;
        int r;

        if (asprintf(&path, "%s/%s", outdir, rel) < 0)
                return -ENOMEM;
        for (char *p = path + strlen(outdir);; p++) {
                if (*p != '/' && *p != 0)
                        continue;
                char c = *p;
                *p = 0;
                if (mkdir(path, 0755) < 0 && errno != EEXIST) {
                        r = negative_errno();
                        return ca_log_errno(CA_LOG_ERR, r, "%s: cannot create: %s", path,
                                            strerror(-r));
                }
                *p = c;
                if (c == 0)
                        return 0;
        }
}

/* "../" once per component of rel, then default.castr. */
static char *store_target(const char *rel)
{
        size_t depth = 1;
        char *t, *p;

        for (const char *s = rel; *s; s++)
                if (*s == '/')
                        depth++;
        t = malloc(depth * 3 + sizeof("default.castr"));
        if (!t)
                return NULL;
        p = t;
        for (size_t i = 0; i < depth; i++)
                p = stpcpy(p, "../");
        strcpy(p, "default.castr");
        return t;
}

int publish_store_link(const char *outdir, const char *rel)
{
        _cleanup_(freep) char *link = NULL, *target = NULL;
        char have[4096];
        ssize_t l;
        int r;

        /* rel is "<path>/<version>": the store is as many levels up as rel has components. */
        target = store_target(rel);
        if (!target || asprintf(&link, "%s/%s/default.castr", outdir, rel) < 0)
                return -ENOMEM;
        if (symlink(target, link) == 0)
                return 0;
        if (errno != EEXIST) {
                r = negative_errno();
                return ca_log_errno(CA_LOG_ERR, r, "%s: cannot create: %s", link, strerror(-r));
        }
        l = readlink(link, have, sizeof(have) - 1);
        if (l >= 0) {
                have[l] = 0;
                if (strcmp(have, target) == 0)
                        return 0;
        }
        return ca_log_errno(CA_LOG_ERR, -EEXIST,
                            "%s exists and is not a symlink to %s (the shared store)", link,
                            target);
}

int publish_write_file(const char *path, const void *data, size_t size)
{
        /* World-readable whatever the umask: a web server serves it. */
        _cleanup_(ca_atomic_file_freep) ca_atomic_file *f = NULL;
        int r = ca_atomic_file_new(path, 0644, 0, &f);
        if (r < 0)
                return r;
        r = ca_atomic_file_write(f, data, size);
        if (r < 0)
                return ca_log_errno(CA_LOG_ERR, r, "%s: cannot write: %s", path, strerror(-r));
        return ca_atomic_file_commit(f);
}

/* The version link points to now, when it names a version directory beside it; else NULL. */
static char *latest_target(const char *outdir, const char *rel, const char *link)
{
        char buf[PATH_MAX];
        ssize_t n = readlink(link, buf, sizeof(buf) - 1);
        if (n <= 0)
                return NULL;
        buf[n] = 0;
        if (strchr(buf, '/') || strcmp(buf, ".") == 0 || strcmp(buf, "..") == 0)
                return NULL;
        _cleanup_(freep) char *dir = NULL;
        struct stat st;
        if (asprintf(&dir, "%s/%s%s%s", outdir, rel, *rel ? "/" : "", buf) < 0 ||
            lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
                return NULL;
        return strdup(buf);
}

int publish_latest_link(const char *outdir, const char *rel, const char *version, bool force)
{
        _cleanup_(freep) char *link = NULL, *tmp = NULL, *now = NULL;
        struct stat st;
        char name[FS_TEMP_NAME_MAX];
        int r;

        if (asprintf(&link, "%s/%s%slatest", outdir, rel, *rel ? "/" : "") < 0)
                return -ENOMEM;
        if (lstat(link, &st) == 0 && !S_ISLNK(st.st_mode)) {
                ca_log_debug("%s is not a symlink: left as it is", link);
                return 0;
        }
        now = latest_target(outdir, rel, link);
        if (now && !force && dc_version_compare(now, version) > 0) {
                ca_log_info("%s stays at %s, a later version than %s (--latest moves it)", link,
                            now, version);
                return 0;
        }
        fs_temp_name(name);
        if (asprintf(&tmp, "%s/%s%s%s", outdir, rel, *rel ? "/" : "", name) < 0)
                return -ENOMEM;
        if (symlink(version, tmp) < 0 || rename(tmp, link) < 0) {
                r = negative_errno();
                (void)unlink(tmp);
                return ca_log_errno(CA_LOG_ERR, r, "%s: cannot point to %s: %s", link, version,
                                    strerror(-r));
        }
        return 0;
}

/* Writes s with &, <, >, " escaped. */
static int append_escaped(FILE *f, const char *s)
{
        for (; *s; s++) {
                const char *e = *s == '&'   ? "&amp;"
                                : *s == '<' ? "&lt;"
                                : *s == '>' ? "&gt;"
                                : *s == '"' ? "&quot;"
                                            : NULL;
                if (e ? fputs(e, f) < 0 : fputc(*s, f) < 0)
                        return -EIO;
        }
        return 0;
}

int publish_page(const char *name, const char *template, const char *pubkeys, char **ret)
{
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        int r = 0;

        if (!f)
                return -ENOMEM;
        fputs("<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n<title>", f);
        r = append_escaped(f, name);
        fputs("</title>\n<meta name=\"ac-discovery\" content=\"", f);
        if (r >= 0)
                r = append_escaped(f, name);
        fputc(' ', f);
        if (r >= 0)
                r = append_escaped(f, template);
        fputs("\">\n", f);
        if (pubkeys && r >= 0) {
                fputs("<meta name=\"ac-discovery-pubkeys\" content=\"", f);
                r = append_escaped(f, name);
                fputc(' ', f);
                if (r >= 0)
                        r = append_escaped(f, pubkeys);
                fputs("\">\n", f);
        }
        fputs("</head>\n<body>\n<p>appc image ", f);
        if (r >= 0)
                r = append_escaped(f, name);
        fputs(", published with acfetch as casync archives.</p>\n</body>\n</html>\n", f);
        if (ferror(f))
                r = -ENOMEM;
        if (fclose(f) != 0 && r >= 0)
                r = -ENOMEM;
        if (r < 0) {
                free(buf);
                return r;
        }
        *ret = buf;
        return 0;
}

/* Runs gpg with argv (no shell), stdin from /dev/null and, when quiet, its output discarded
 * (else its messages go to our stderr). Returns its exit status (127: it could not be run), or a
 * negative errno (logged). */
static int run_gpg(const char *const *argv, bool quiet)
{
        int status;
        pid_t pid = fork();
        if (pid < 0) {
                int r = negative_errno();
                return ca_log_errno(CA_LOG_ERR, r, "cannot start gpg: %s", strerror(-r));
        }
        if (pid == 0) {
                int null = open("/dev/null", O_RDWR | O_CLOEXEC);
                if (null >= 0) {
                        (void)dup2(null, STDIN_FILENO);
                        if (quiet) {
                                (void)dup2(null, STDOUT_FILENO);
                                (void)dup2(null, STDERR_FILENO);
                        }
                }
                execvp("gpg", (char *const *)argv);
                if (!quiet)
                        fprintf(stderr, "acfetch: error: cannot run gpg: %s\n", strerror(errno));
                _exit(127);
        }
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR) {
                        int r = negative_errno();
                        return ca_log_errno(CA_LOG_ERR, r, "waiting for gpg: %s", strerror(-r));
                }
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int publish_check_key(const char *keyid)
{
        const char *argv[] = {"gpg", "--batch", "--list-secret-keys", "--", keyid, NULL};
        int r = run_gpg(argv, true);
        if (r == 127)
                return ca_log_errno(CA_LOG_ERR, -ENOENT,
                                    "--sign needs gpg, which could not be run (is it installed?)");
        if (r > 0)
                return ca_log_errno(CA_LOG_ERR, -ENOKEY,
                                    "--sign=%s: gpg has no secret key of that name (see 'gpg "
                                    "--list-secret-keys'); nothing was published",
                                    keyid);
        return r;
}

int publish_sign(const char *keyid, const char *file, const char *sig)
{
        const char *argv[] = {"gpg",     "--batch",      "--yes", "--detach-sign",
                              "--armor", "--local-user", keyid,   "--output",
                              sig,       "--",           file,    NULL};
        int r = run_gpg(argv, false);
        if (r > 0)
                return ca_log_errno(CA_LOG_ERR, -EIO,
                                    "gpg could not sign %s with key %s (exit status %d)", file,
                                    keyid, r);
        return r;
}
