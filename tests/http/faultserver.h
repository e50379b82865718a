/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What faultserver's HTTP core (faultserver.c) and its fault modes (faultserver_faults.c) share. */
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "casync/util.h"

#define MAX_CONNS        1024
#define IN_MAX           8192  /* a request head must fit; larger heads get 431 */
#define OUT_MAX          65536 /* per-connection send buffer, also the file read size */
#define SLOW_INTERVAL_MS 100

enum conn_state {
        STATE_READ,  /* waiting for a complete request head */
        STATE_WRITE, /* sending a response */
        STATE_STALL, /* response deliberately unfinished; wait for the client to leave */
        STATE_DRAIN, /* our side is shut down; discard input until the client closes */
};

enum body_kind {
        BODY_NONE,
        BODY_FILE,
        BODY_ZERO_CHUNKS,
};

enum after_response {
        AFTER_KEEP,
        AFTER_CLOSE,
        AFTER_STALL,
};

struct conn {
        int fd;
        enum conn_state state;
        bool peer_eof;

        char in[IN_MAX];
        size_t in_len;

        char out[OUT_MAX];
        size_t out_len, out_off;

        enum body_kind body;
        int file_fd;
        uint64_t body_off, body_end;
        uint64_t flip_at; /* UINT64_MAX: no corruption */
        bool slow;
        bool hold; /* slow only until next_ms, then full speed (lag) */
        uint64_t next_ms;
        enum after_response after;
};

/* ---------------------------------------------------------------- the core (faultserver.c) */

/* The directory files are served from, and the port the server listens on. */
extern int root_fd;
extern uint16_t own_port;

_printf_(2, 3) void out_append(struct conn *c, const char *fmt, ...);
void begin_response(struct conn *c, const char *method, const char *target, int status,
                    bool want_close);
void simple_response(struct conn *c, const char *method, const char *target, int status,
                     bool want_close, const char *extra_header);
bool path_is_safe(const char *p);

/* ---------------------------------------------------------- the faults (faultserver_faults.c) */

/* A parsed request: "/<fault_name>/<path>[?query]"; if_none_match is set when has_inm. */
struct request {
        const char *method, *target, *fault_name, *path;
        bool is_head, want_close, has_inm;
        const char *if_none_match;
};

/* Prepares the response to rq on c: the fault's, or a 404 for an unknown fault or unsafe path. */
void fault_respond(struct conn *c, const struct request *rq);
/* Frees what the "once" faults remember. */
void faults_free(void);
