/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The fault server (tests/http/faultserver.c) for C unit tests: started from $FAULTSERVER on a
 * port the kernel picks on 127.0.0.1, serving a directory, with its request log at hand. It is
 * stopped at exit (a failed CHECK too) and dies with the test process.
 */
#pragma once

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/test.h"

typedef struct fault_server {
        pid_t pid;
        unsigned port;
        char url[64];  /* http://127.0.0.1:PORT */
        char log[512]; /* one line per request: "METHOD TARGET STATUS" */
        char port_file[512];
} fault_server;

static fault_server *fault_running;

static inline void fault_stop(fault_server *f)
{
        if (!f || f->pid <= 0)
                return;
        kill(f->pid, SIGTERM);
        int status = 0;
        CHECK(waitpid(f->pid, &status, 0) == f->pid);
        f->pid = 0;
        if (fault_running == f)
                fault_running = NULL;
        /* The server exits 0 on SIGTERM; anything else (a sanitizer report) fails the test. */
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void fault_stop_at_exit(void)
{
        if (fault_running && fault_running->pid > 0) {
                kill(fault_running->pid, SIGTERM);
                waitpid(fault_running->pid, NULL, 0);
                fault_running->pid = 0;
        }
}

/* Serves root; work (an existing directory) receives the port file and the request log.
 * Exits 77 (skip) when $FAULTSERVER is not set, i.e. when not run by meson. */
static inline void fault_start(const char *root, const char *work, fault_server *f)
{
        const char *exe = getenv("FAULTSERVER");
        if (!exe || !*exe) {
                fprintf(stderr, "SKIP: FAULTSERVER is not set (run through meson test)\n");
                exit(77);
        }
        *f = (fault_server){0};
        snprintf(f->log, sizeof(f->log), "%s/faultserver.log", work);
        snprintf(f->port_file, sizeof(f->port_file), "%s/faultserver.port", work);
        unlink(f->port_file);
        fflush(NULL);
        pid_t parent = getpid();
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
                /* Never outlive the test, even when it is killed. */
                if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
                        _exit(1);
                execl(exe, exe, "--root", root, "--port-file", f->port_file, "--log", f->log,
                      (char *)NULL);
                fprintf(stderr, "cannot run %s: %m\n", exe);
                _exit(127);
        }
        f->pid = pid;
        if (!fault_running)
                atexit(fault_stop_at_exit);
        fault_running = f;
        /* The port file appears (renamed into place) once the server listens. */
        for (unsigned i = 0; i < 2000; i++) {
                FILE *p = fopen(f->port_file, "re");
                if (p) {
                        int k = fscanf(p, "%u", &f->port);
                        fclose(p);
                        CHECK(k == 1 && f->port > 0 && f->port < 65536);
                        snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%u", f->port);
                        return;
                }
                int status;
                CHECK(waitpid(pid, &status, WNOHANG) == 0); /* it died without a port */
                nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
        }
        CHECK(!"the fault server did not start within 20 s");
}

/* How many logged requests are exactly this line (e.g. "GET /ok/x 200"). A request is logged
 * before any of its response is sent, so every request answered so far is counted. */
static inline unsigned fault_count(const fault_server *f, const char *line)
{
        FILE *l = fopen(f->log, "re");
        if (!l)
                return 0;
        char buf[8192];
        unsigned n = 0;
        while (fgets(buf, sizeof(buf), l)) {
                buf[strcspn(buf, "\n")] = 0;
                if (strcmp(buf, line) == 0)
                        n++;
        }
        fclose(l);
        return n;
}

/* All requests logged so far. */
static inline unsigned fault_total(const fault_server *f)
{
        FILE *l = fopen(f->log, "re");
        if (!l)
                return 0;
        unsigned n = 0;
        int c;
        while ((c = getc(l)) != EOF)
                n += c == '\n';
        fclose(l);
        return n;
}
