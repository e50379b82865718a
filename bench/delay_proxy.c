/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A TCP proxy that adds latency, for benchmarks on loopback: every byte is held for half the
 * round-trip time in each direction, like a long link with plenty of bandwidth.
 *
 *   delay_proxy LISTEN_PORT UPSTREAM_PORT RTT_MS [LISTEN_ADDRESS]
 *
 * Listens on LISTEN_ADDRESS (IPv4, default 127.0.0.1) port LISTEN_PORT and forwards to
 * 127.0.0.1:UPSTREAM_PORT. Runs until killed.
 *
 * It runs on the machine it measures, so it must cost little CPU: one thread, one epoll loop, and
 * the bytes never pass through user space. Each direction of a connection has a pipe. When the
 * socket it reads is readable, splice(2) moves what the socket holds into the pipe and the time
 * and size of that piece go into a small queue; once a piece is due (read time + RTT/2), splice
 * moves it from the pipe to the other socket. A pipe that fills is raised to the size
 * fs.pipe-max-size allows (F_SETPIPE_SZ; up to PIPE_BYTES), then the direction goes on into a
 * next pipe, up to PIPES_MAX: what a direction carries per half round trip is what its pipes
 * hold. A direction whose pipes (or queue) are full stops reading, so the sender is held back by
 * TCP, and memory stays bounded. An end of stream is delayed like data and passed on as a half close
 * (shutdown SHUT_WR) once the pipe has drained; an error on either socket closes both.
 * Connecting upstream also waits a round trip, as establishing a connection over a real link
 * would. Deadlines (connects, due pieces) are kept in a min-heap and waited for by epoll_pwait2
 * with a nanosecond timeout.
 *
 * Hundreds of concurrent connections are fine: the listen backlog is 4096 (capped by
 * net.core.somaxconn), so a burst of connects is not turned away, and the open file limit is
 * raised to its hard limit (two sockets a connection, and two descriptors a pipe).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PIPE_BYTES (8u << 20)
/* A direction may use several pipes when one is smaller than PIPE_BYTES (fs.pipe-max-size is
 * 1 MiB by default): a pipe per half round trip would cap one connection at 100 MiB/s at 20 ms. */
#define PIPES_MAX  8u
#define PIECES_MAX 256u
/* A piece read this soon after the previous one joins it (sent with the later read's due time,
 * so nothing goes early): fewer pieces, at most this much extra delay. */
#define MERGE_NS   200000u
#define EVENTS_MAX 256

typedef struct piece {
        uint64_t due_ns;
        size_t size;
        unsigned pipe; /* which of the line's pipes holds it */
} piece;

typedef struct pipe_buf {
        int r, w; /* -1 until first needed */
        size_t size, used;
        bool grown; /* its size was raised (or could not be) */
} pipe_buf;

typedef struct conn conn;

typedef struct line {
        conn *c;
        int from, to;              /* sockets, owned by the connection */
        pipe_buf pipes[PIPES_MAX]; /* a ring: pieces are read into `tail`, sent in order */
        unsigned tail;
        piece pieces[PIECES_MAX];
        unsigned head, count;
        bool readable;  /* `from` may have data (edge seen, no EAGAIN since) */
        bool writable;  /* `to` may take data */
        bool eof;       /* `from` has ended; eof_due_ns is when to pass it on */
        bool done;      /* SHUT_WR sent on `to` */
        bool room_wait; /* reading stopped for want of room in the pipe or the queue */
        uint64_t eof_due_ns;
} line;

enum { CONNECTING_WAIT, CONNECTING, OPEN };

struct conn {
        int client, upstream;
        int state;
        uint64_t connect_ns;
        line up, down;  /* client -> upstream, upstream -> client */
        size_t heap_at; /* index in the heap + 1, 0 when not there */
        uint64_t deadline_ns;
        bool dead;
        conn *next_dead;
};

/* What an epoll event is about: the listening socket, or one socket of a connection. */
typedef struct handle {
        conn *c;
        bool is_upstream;
} handle;

static int epfd;
static uint64_t delay_ns;
static int upstream_port;
static size_t pipe_bytes;
static conn **heap;
static size_t heap_len, heap_cap;
static conn *dead_list;

static uint64_t now_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* --- the heap of deadlines, one entry a connection ------------------------------------------ */

static void heap_set(size_t i, conn *c)
{
        heap[i] = c;
        c->heap_at = i + 1;
}

static void heap_up(size_t i)
{
        conn *c = heap[i];
        while (i > 0) {
                size_t p = (i - 1) / 2;
                if (heap[p]->deadline_ns <= c->deadline_ns)
                        break;
                heap_set(i, heap[p]);
                i = p;
        }
        heap_set(i, c);
}

static void heap_down(size_t i)
{
        conn *c = heap[i];
        for (;;) {
                size_t l = 2 * i + 1, m = i;
                uint64_t best = c->deadline_ns;
                if (l < heap_len && heap[l]->deadline_ns < best)
                        m = l, best = heap[l]->deadline_ns;
                if (l + 1 < heap_len && heap[l + 1]->deadline_ns < best)
                        m = l + 1;
                if (m == i)
                        break;
                heap_set(i, heap[m]);
                i = m;
        }
        heap_set(i, c);
}

static void heap_remove(conn *c)
{
        if (!c->heap_at)
                return;
        size_t i = c->heap_at - 1;
        c->heap_at = 0;
        conn *last = heap[--heap_len];
        if (i == heap_len)
                return;
        heap_set(i, last);
        heap_up(i);
        heap_down(last->heap_at - 1);
}

static int heap_put(conn *c, uint64_t deadline)
{
        if (c->heap_at) {
                uint64_t old = c->deadline_ns;
                c->deadline_ns = deadline;
                if (deadline < old)
                        heap_up(c->heap_at - 1);
                else if (deadline > old)
                        heap_down(c->heap_at - 1);
                return 0;
        }
        if (heap_len == heap_cap) {
                size_t cap = heap_cap ? 2 * heap_cap : 256;
                conn **h = realloc(heap, cap * sizeof(*h));
                if (!h)
                        return -ENOMEM;
                heap = h;
                heap_cap = cap;
        }
        c->deadline_ns = deadline;
        heap_set(heap_len++, c);
        heap_up(heap_len - 1);
        return 0;
}

/* --- connections ------------------------------------------------------------------------------ */

static void line_close(line *l)
{
        for (unsigned i = 0; i < PIPES_MAX; i++) {
                if (l->pipes[i].r >= 0)
                        close(l->pipes[i].r);
                if (l->pipes[i].w >= 0)
                        close(l->pipes[i].w);
                l->pipes[i].r = l->pipes[i].w = -1;
        }
}

/* Closed now, freed after the current batch of events (which may still name it). */
static void conn_kill(conn *c)
{
        if (c->dead)
                return;
        c->dead = true;
        heap_remove(c);
        close(c->client);
        if (c->upstream >= 0)
                close(c->upstream);
        line_close(&c->up);
        line_close(&c->down);
        c->next_dead = dead_list;
        dead_list = c;
}

static void line_init(line *l, conn *c, int from, int to)
{
        *l = (line){.c = c, .from = from, .to = to};
        for (unsigned i = 0; i < PIPES_MAX; i++)
                l->pipes[i] = (pipe_buf){.r = -1, .w = -1};
}

static int pipe_open(pipe_buf *b)
{
        int p[2];
        if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0)
                return -errno;
        b->r = p[0];
        b->w = p[1];
        int size = fcntl(b->w, F_GETPIPE_SZ);
        b->size = size > 0 ? (size_t)size : 4096;
        b->used = 0;
        b->grown = false;
        return 0;
}

/* Raises a full pipe's size, once, as far as allowed: only a direction that fills its pipe is
 * charged a large one (a user's pipes count against fs.pipe-user-pages-soft). */
static bool pipe_grow(pipe_buf *b)
{
        if (b->grown)
                return false;
        b->grown = true;
        for (size_t want = pipe_bytes; want > b->size; want /= 2)
                if (fcntl(b->w, F_SETPIPE_SZ, (int)want) >= 0) {
                        int size = fcntl(b->w, F_GETPIPE_SZ);
                        if (size > 0)
                                b->size = (size_t)size;
                        return true;
                }
        return false;
}

/* Moves reading on to the next pipe when the current one is full. Returns false when all are in
 * use (or the next cannot be opened): reading waits for a send. */
static bool line_next_pipe(line *l)
{
        unsigned next = (l->tail + 1) % PIPES_MAX;
        if (l->count > 0 && l->pieces[l->head].pipe == next)
                return false;
        if (l->pipes[next].r < 0 && pipe_open(&l->pipes[next]) < 0)
                return false;
        l->tail = next;
        return true;
}

/* Moves what is due from the pipe to `to`; passes the end of stream on once drained. Returns the
 * number of bytes sent, or a negative errno when the connection is broken. */
static ssize_t line_send(line *l, uint64_t now)
{
        ssize_t sent = 0;
        while (l->writable && l->count > 0) {
                piece *p = &l->pieces[l->head];
                if (p->due_ns > now)
                        break;
                pipe_buf *b = &l->pipes[p->pipe];
                ssize_t n =
                    splice(b->r, NULL, l->to, NULL, p->size, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
                if (n < 0) {
                        if (errno == EAGAIN) {
                                l->writable = false;
                                break;
                        }
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return -EPIPE;
                sent += n;
                p->size -= (size_t)n;
                b->used -= (size_t)n;
                if (p->size == 0) {
                        l->head = (l->head + 1) % PIECES_MAX;
                        l->count--;
                }
        }
        if (l->eof && !l->done && l->count == 0 && l->eof_due_ns <= now) {
                shutdown(l->to, SHUT_WR);
                l->done = true;
        }
        return sent;
}

/* Moves what `from` holds into the pipe, while there is room. Returns the number of bytes read,
 * or a negative errno when the connection is broken. */
static ssize_t line_read(line *l)
{
        ssize_t got = 0;
        l->room_wait = false;
        while (l->readable && !l->eof) {
                pipe_buf *b = &l->pipes[l->tail];
                if (b->r < 0 && pipe_open(b) < 0)
                        return -EMFILE;
                if (b->used >= b->size) {
                        if (pipe_grow(b) || line_next_pipe(l))
                                continue;
                        l->room_wait = true; /* `readable` stays: reading resumes after a send */
                        break;
                }
                uint64_t now = now_ns();
                piece *last =
                    l->count > 0 ? &l->pieces[(l->head + l->count - 1) % PIECES_MAX] : NULL;
                bool merge =
                    last && last->pipe == l->tail && last->due_ns + MERGE_NS >= now + delay_ns;
                if (!merge && l->count == PIECES_MAX) {
                        l->room_wait = true;
                        break;
                }
                ssize_t n = splice(l->from, NULL, b->w, NULL, b->size - b->used,
                                   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN)
                                return -errno;
                        /* The socket is empty, or the pipe has no free slot (a slot holds what
                         * one packet brought, so a pipe can fill before `size` bytes): with
                         * bytes in the pipe, ask the socket. */
                        int queued = 0;
                        if (b->used == 0 || ioctl(l->from, FIONREAD, &queued) < 0 || queued == 0) {
                                l->readable = false;
                                break;
                        }
                        if (pipe_grow(b) || line_next_pipe(l))
                                continue;
                        l->room_wait = true;
                        break;
                }
                if (n == 0) {
                        l->eof = true;
                        l->eof_due_ns = now_ns() + delay_ns;
                        break;
                }
                /* Stamped after the read: a piece is never sent before its time. */
                uint64_t due = now_ns() + delay_ns;
                got += n;
                b->used += (size_t)n;
                if (merge) {
                        last->size += (size_t)n;
                        last->due_ns = due;
                } else {
                        l->pieces[(l->head + l->count) % PIECES_MAX] =
                            (piece){.due_ns = due, .size = (size_t)n, .pipe = l->tail};
                        l->count++;
                }
        }
        return got;
}

/* When this line next needs the clock: its head piece (due or not: a piece that became due since
 * the last send is sent on the next run) or its end of stream. UINT64_MAX when it waits for
 * nothing or for its socket to take more. */
static uint64_t line_deadline(const line *l)
{
        if (l->count > 0)
                return l->writable ? l->pieces[l->head].due_ns : UINT64_MAX;
        if (l->eof && !l->done)
                return l->eof_due_ns;
        return UINT64_MAX;
}

/* Does what can be done on an open connection, then files its next deadline. */
static void conn_run(conn *c)
{
        line *ls[2] = {&c->up, &c->down};
        for (int pass = 0; pass < 4; pass++) {
                /* Another pass only when it can do something: a send made room in a pipe whose
                 * socket has more, or (at 0 ms) a read brought what is due at once. */
                bool again = false;
                uint64_t now = now_ns();
                for (int i = 0; i < 2; i++) {
                        line *l = ls[i];
                        ssize_t sent = line_send(l, now);
                        ssize_t got = sent < 0 ? sent : line_read(l);
                        if (got < 0) {
                                conn_kill(c);
                                return;
                        }
                        if ((sent > 0 && l->room_wait) || (got > 0 && delay_ns == 0))
                                again = true;
                }
                if (!again)
                        break;
        }
        if (c->up.done && c->down.done) {
                conn_kill(c);
                return;
        }
        uint64_t a = line_deadline(&c->up), b = line_deadline(&c->down);
        uint64_t d = a < b ? a : b;
        if (d == UINT64_MAX)
                heap_remove(c);
        else if (heap_put(c, d) < 0)
                conn_kill(c);
}

static int epoll_add(int fd, handle *h)
{
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                                 .data.ptr = h};
        return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

/* The handles an event points at live in a table beside the connection. */
typedef struct conn_alloc {
        conn c;
        handle h[2];
} conn_alloc;

static void conn_connect(conn *c)
{
        conn_alloc *a = (conn_alloc *)c;
        int one = 1;
        c->upstream = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (c->upstream < 0) {
                conn_kill(c);
                return;
        }
        setsockopt(c->upstream, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c->up.to = c->down.from = c->upstream;
        struct sockaddr_in u = {.sin_family = AF_INET, .sin_port = htons((uint16_t)upstream_port)};
        u.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(c->upstream, (struct sockaddr *)&u, sizeof(u)) < 0 && errno != EINPROGRESS) {
                conn_kill(c);
                return;
        }
        c->state = CONNECTING;
        if (epoll_add(c->upstream, &a->h[1]) < 0)
                conn_kill(c);
}

static void conn_connected(conn *c)
{
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(c->upstream, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
                conn_kill(c);
                return;
        }
        c->state = OPEN;
        /* Edges may have come before the lines existed: try every way once. */
        c->up.readable = c->up.writable = c->down.readable = c->down.writable = true;
        conn_run(c);
}

static void conn_accept(int ls)
{
        for (;;) {
                int cs = accept4(ls, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (cs < 0) {
                        if (errno == EINTR || errno == ECONNABORTED)
                                continue;
                        return; /* EAGAIN, or out of descriptors: the rest waits in the backlog */
                }
                int one = 1;
                setsockopt(cs, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                conn_alloc *a = calloc(1, sizeof(*a));
                if (!a) {
                        close(cs);
                        continue;
                }
                conn *c = &a->c;
                c->client = cs;
                c->upstream = -1;
                line_init(&c->up, c, cs, -1);
                line_init(&c->down, c, -1, cs);
                a->h[0] = (handle){.c = c, .is_upstream = false};
                a->h[1] = (handle){.c = c, .is_upstream = true};
                c->state = CONNECTING_WAIT;
                /* Establishing the connection costs a round trip, as on a real link. */
                c->connect_ns = now_ns() + 2 * delay_ns;
                if (epoll_add(cs, &a->h[0]) < 0 || heap_put(c, c->connect_ns) < 0) {
                        conn_kill(c);
                        continue;
                }
        }
}

static void conn_event(handle *h, uint32_t events)
{
        conn *c = h->c;
        if (c->dead)
                return;
        if (c->state == CONNECTING_WAIT)
                return; /* the client's bytes wait in its socket; the lines start readable */
        if (c->state == CONNECTING) {
                if (h->is_upstream && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
                        conn_connected(c);
                return;
        }
        line *in = h->is_upstream ? &c->down : &c->up;  /* the line this socket feeds */
        line *out = h->is_upstream ? &c->up : &c->down; /* the line that writes to it */
        if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                in->readable = true;
        if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
                out->writable = true;
        conn_run(c);
}

static void run_deadlines(void)
{
        uint64_t now = now_ns();
        while (heap_len > 0 && heap[0]->deadline_ns <= now) {
                conn *c = heap[0];
                heap_remove(c);
                if (c->state == CONNECTING_WAIT)
                        conn_connect(c);
                else if (c->state == OPEN)
                        conn_run(c);
        }
}

int main(int argc, char **argv)
{
        if (argc != 4 && argc != 5) {
                fprintf(stderr, "usage: %s LISTEN_PORT UPSTREAM_PORT RTT_MS [LISTEN_ADDRESS]\n",
                        argv[0]);
                return 2;
        }
        int lport = atoi(argv[1]), rtt = atoi(argv[3]);
        upstream_port = atoi(argv[2]);
        delay_ns = (uint64_t)rtt * 1000000u / 2;
        signal(SIGPIPE, SIG_IGN);
        struct rlimit nofile;
        if (getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
                nofile.rlim_cur = nofile.rlim_max;
                setrlimit(RLIMIT_NOFILE, &nofile);
        }
        pipe_bytes = PIPE_BYTES;
        FILE *f = fopen("/proc/sys/fs/pipe-max-size", "re");
        unsigned long max;
        if (f && fscanf(f, "%lu", &max) == 1 && max < pipe_bytes)
                pipe_bytes = max;
        if (f)
                fclose(f);

        int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        int one = 1;
        setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)lport)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (argc == 5 && inet_pton(AF_INET, argv[4], &a.sin_addr) != 1) {
                fprintf(stderr, "delay_proxy: not an IPv4 address: %s\n", argv[4]);
                return 2;
        }
        if (bind(ls, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(ls, 4096) < 0) {
                perror("delay_proxy: listen");
                return 1;
        }
        epfd = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
        if (epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, ls, &lev) < 0) {
                perror("delay_proxy: epoll");
                return 1;
        }
        struct epoll_event events[EVENTS_MAX];
        for (;;) {
                struct timespec timeout, *t = NULL;
                if (heap_len > 0) {
                        uint64_t now = now_ns(), d = heap[0]->deadline_ns;
                        uint64_t wait = d > now ? d - now : 0;
                        timeout = (struct timespec){.tv_sec = (time_t)(wait / 1000000000u),
                                                    .tv_nsec = (long)(wait % 1000000000u)};
                        t = &timeout;
                }
                int n = epoll_pwait2(epfd, events, EVENTS_MAX, t, NULL);
                if (n < 0 && errno != EINTR) {
                        perror("delay_proxy: epoll_pwait2");
                        return 1;
                }
                for (int i = 0; i < n; i++) {
                        if (!events[i].data.ptr)
                                conn_accept(ls);
                        else
                                conn_event(events[i].data.ptr, events[i].events);
                }
                run_deadlines();
                while (dead_list) {
                        conn *c = dead_list;
                        dead_list = c->next_dead;
                        free((conn_alloc *)c);
                }
        }
}
