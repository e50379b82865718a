/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A TCP proxy that adds latency, for benchmarks on loopback: every byte is held for half the
 * round-trip time in each direction, like a long link with plenty of bandwidth.
 *
 *   delay_proxy LISTEN_PORT UPSTREAM_PORT RTT_MS [LISTEN_ADDRESS]
 *
 * Listens on LISTEN_ADDRESS (IPv4, default 127.0.0.1) port LISTEN_PORT and forwards to
 * 127.0.0.1:UPSTREAM_PORT. A thread per connection: hundreds of concurrent connections are fine
 * (the listen backlog is 4096, capped by net.core.somaxconn, so a burst of connects is not
 * turned away, and the open file limit is raised to its hard limit). Each direction of a
 * connection has a reader thread that timestamps what it reads and a writer thread that sends
 * it when due, so throughput is not limited to one buffer per delay. Queues are bounded (the
 * reader waits), so memory stays small. Runs until killed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READ_MAX        (1u << 20)
#define QUEUE_BYTES_MAX (8u << 20)

typedef struct piece {
        struct piece *next;
        uint64_t due_ns;
        size_t size;
        char data[];
} piece;

typedef struct line {
        int from, to;
        uint64_t delay_ns;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        piece *head, *tail;
        size_t queued;
        bool eof;
        bool broken;
} line;

static uint64_t now_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t t)
{
        struct timespec ts = {.tv_sec = (time_t)(t / 1000000000u),
                              .tv_nsec = (long)(t % 1000000000u)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
                ;
}

static void *reader(void *userdata)
{
        line *l = userdata;
        /* Large reads: the cost per byte is what limits the throughput, more than the copy into
         * a piece of the size read. */
        char *buf = malloc(READ_MAX);
        for (;;) {
                ssize_t n = buf ? read(l->from, buf, READ_MAX) : -1;
                if (n <= 0)
                        break;
                piece *p = malloc(sizeof(*p) + (size_t)n);
                if (!p)
                        break;
                memcpy(p->data, buf, (size_t)n);
                p->size = (size_t)n;
                p->due_ns = now_ns() + l->delay_ns;
                p->next = NULL;
                pthread_mutex_lock(&l->lock);
                while (l->queued > QUEUE_BYTES_MAX && !l->broken)
                        pthread_cond_wait(&l->cond, &l->lock);
                bool broken = l->broken;
                if (!broken) {
                        if (l->tail)
                                l->tail->next = p;
                        else
                                l->head = p;
                        l->tail = p;
                        l->queued += p->size;
                        pthread_cond_broadcast(&l->cond);
                }
                pthread_mutex_unlock(&l->lock);
                if (broken) {
                        free(p);
                        break;
                }
        }
        free(buf);
        pthread_mutex_lock(&l->lock);
        l->eof = true;
        pthread_cond_broadcast(&l->cond);
        pthread_mutex_unlock(&l->lock);
        return NULL;
}

static void *writer(void *userdata)
{
        line *l = userdata;
        for (;;) {
                pthread_mutex_lock(&l->lock);
                while (!l->head && !l->eof)
                        pthread_cond_wait(&l->cond, &l->lock);
                piece *p = l->head;
                if (!p) {
                        pthread_mutex_unlock(&l->lock);
                        break; /* eof and drained */
                }
                l->head = p->next;
                if (!l->head)
                        l->tail = NULL;
                l->queued -= p->size;
                pthread_cond_broadcast(&l->cond);
                pthread_mutex_unlock(&l->lock);

                if (p->due_ns > now_ns())
                        sleep_until(p->due_ns);
                size_t off = 0;
                while (off < p->size) {
                        ssize_t n = write(l->to, p->data + off, p->size - off);
                        if (n <= 0)
                                break;
                        off += (size_t)n;
                }
                bool short_write = off < p->size;
                free(p);
                if (short_write) {
                        pthread_mutex_lock(&l->lock);
                        l->broken = true;
                        pthread_cond_broadcast(&l->cond);
                        pthread_mutex_unlock(&l->lock);
                        break;
                }
        }
        shutdown(l->to, SHUT_WR);
        return NULL;
}

typedef struct conn {
        int client, upstream;
        int upstream_port;
        uint64_t delay_ns;
} conn;

static void *serve(void *userdata)
{
        conn *c = userdata;
        int one = 1;
        /* Establishing the connection also costs a round trip, as on a real link. */
        sleep_until(now_ns() + 2 * c->delay_ns);
        c->upstream = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in u = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)c->upstream_port)};
        u.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (c->upstream < 0 || connect(c->upstream, (struct sockaddr *)&u, sizeof(u)) < 0) {
                close(c->client);
                if (c->upstream >= 0)
                        close(c->upstream);
                free(c);
                return NULL;
        }
        setsockopt(c->client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        setsockopt(c->upstream, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        line up = {.from = c->client, .to = c->upstream, .delay_ns = c->delay_ns};
        line down = {.from = c->upstream, .to = c->client, .delay_ns = c->delay_ns};
        line *lines[2] = {&up, &down};
        pthread_t t[4];
        for (int i = 0; i < 2; i++) {
                pthread_mutex_init(&lines[i]->lock, NULL);
                pthread_cond_init(&lines[i]->cond, NULL);
                pthread_create(&t[2 * i], NULL, reader, lines[i]);
                pthread_create(&t[2 * i + 1], NULL, writer, lines[i]);
        }
        for (int i = 0; i < 4; i++)
                pthread_join(t[i], NULL);
        for (int i = 0; i < 2; i++) {
                while (lines[i]->head) {
                        piece *p = lines[i]->head;
                        lines[i]->head = p->next;
                        free(p);
                }
        }
        close(c->client);
        close(c->upstream);
        free(c);
        return NULL;
}

int main(int argc, char **argv)
{
        if (argc != 4 && argc != 5) {
                fprintf(stderr, "usage: %s LISTEN_PORT UPSTREAM_PORT RTT_MS [LISTEN_ADDRESS]\n",
                        argv[0]);
                return 2;
        }
        int lport = atoi(argv[1]), uport = atoi(argv[2]), rtt = atoi(argv[3]);
        signal(SIGPIPE, SIG_IGN);
        /* Pieces of up to READ_MAX come and go all the time: from the heap, not each an mmap. */
        mallopt(M_MMAP_THRESHOLD, 4 * READ_MAX);
        mallopt(M_TRIM_THRESHOLD, 64 * READ_MAX);
        struct rlimit nofile;
        if (getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
                nofile.rlim_cur = nofile.rlim_max;
                setrlimit(RLIMIT_NOFILE, &nofile);
        }

        int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
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
        for (;;) {
                int cs = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
                if (cs < 0)
                        continue;
                conn *c = malloc(sizeof(*c));
                if (!c) {
                        close(cs);
                        continue;
                }
                *c = (conn){.client = cs,
                            .upstream = -1,
                            .upstream_port = uport,
                            .delay_ns = (uint64_t)rtt * 1000000u / 2};
                pthread_t t;
                if (pthread_create(&t, NULL, serve, c) == 0) {
                        pthread_detach(t);
                } else {
                        close(cs);
                        free(c);
                }
        }
}
