/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A small HTTP/1.1 file server that misbehaves on demand, so tests can drive acfetch's HTTP engine
 * through the failures it must survive. The first path component picks the fault and is stripped:
 *
 *   /ok/P             the file P
 *   /503once/P        503 the first time P is asked for (per fault and path), then the file
 *   /429once/P        likewise with 429 and "Retry-After: 0"
 *   /stall/P          headers (full Content-Length) and half the body, then silence until the
 *                     client goes away
 *   /truncate/P       headers (full Content-Length) and half the body, then the connection ends
 *   /chunked-huge/P   Transfer-Encoding: chunked, an endless body of zeros (P need not exist)
 *   /corrupt/P        the file with the byte at offset size/2 inverted
 *   /corrupt-once/P   likewise the first time P is asked for (per path), then the file
 *   /redirect-http/P  301 to http://127.0.0.1:<own port>/ok/P
 *   /redirect-host/P  302 to http://localhost:<own port>/P (P starts with its own fault)
 *   /slow/P           the file, one body byte every 100 ms
 *   /lag/P            for one path in four (by a hash of P), the body is held back 3 s, then
 *                     sent at full speed; the others at once (a mirror with slow moments)
 *   /500/P            500 every time (P need not exist)
 *   /etag/P           the file with an ETag (from its size and mtime) and "Cache-Control:
 *                     max-age=60"; 304 without a body when If-None-Match names that ETag or "*"
 *
 * Single process, one poll loop, non-blocking sockets, bounded buffers. Each request is logged as
 * "METHOD TARGET STATUS" before any of its response is sent, so once a client has seen a response
 * its log line is already on disk.
 */

#include "faultserver.h"

int root_fd = -1;
static int log_fd = -1;
uint16_t own_port;
static volatile sig_atomic_t terminate;

static uint64_t now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void log_request(const char *method, const char *target, int status)
{
        char line[IN_MAX + 64];
        int n;

        if (log_fd < 0)
                return;
        n = snprintf(line, sizeof(line), "%s %s %d\n", method, target, status);
        if (n < 0)
                return;
        if ((size_t)n >= sizeof(line))
                n = sizeof(line) - 1;
        /* One write per line on an O_APPEND descriptor keeps lines whole. */
        if (write(log_fd, line, (size_t)n) < 0)
                fprintf(stderr, "faultserver: log write failed: %m\n");
}

static const char *reason(int status)
{
        switch (status) {
        case 200:
                return "OK";
        case 301:
                return "Moved Permanently";
        case 304:
                return "Not Modified";
        case 400:
                return "Bad Request";
        case 404:
                return "Not Found";
        case 405:
                return "Method Not Allowed";
        case 429:
                return "Too Many Requests";
        case 431:
                return "Request Header Fields Too Large";
        case 503:
                return "Service Unavailable";
        default:
                return "Internal Server Error";
        }
}

/* Closes and disarms, so that a later close cannot hit a reused descriptor number. */
static int safe_close(int fd)
{
        if (fd >= 0)
                close(fd);
        return -1;
}

static void conn_free(struct conn *c)
{
        if (!c)
                return;
        safe_close(c->fd);
        safe_close(c->file_fd);
        free(c);
}

/* Appends formatted text to the pending output; the head always fits since it is bounded by
 * the request head, which is at most IN_MAX. */
_printf_(2, 3) void out_append(struct conn *c, const char *fmt, ...)
{
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(c->out + c->out_len, sizeof(c->out) - c->out_len, fmt, ap);
        va_end(ap);
        if (n > 0)
                c->out_len = MIN(c->out_len + (size_t)n, sizeof(c->out) - 1);
}

void begin_response(struct conn *c, const char *method, const char *target, int status,
                    bool want_close)
{
        log_request(method, target, status);
        c->out_len = c->out_off = 0;
        c->body = BODY_NONE;
        c->slow = false;
        c->hold = false;
        c->flip_at = UINT64_MAX;
        c->after = want_close ? AFTER_CLOSE : AFTER_KEEP;
        c->state = STATE_WRITE;
        out_append(c, "HTTP/1.1 %d %s\r\nServer: faultserver\r\n", status, reason(status));
        if (want_close)
                out_append(c, "Connection: close\r\n");
}

/* A complete short response with a text body (errors, redirects). */
void simple_response(struct conn *c, const char *method, const char *target, int status,
                     bool want_close, const char *extra_header)
{
        const char *text = reason(status);
        bool head = strcmp(method, "HEAD") == 0;

        begin_response(c, method, target, status, want_close);
        if (extra_header)
                out_append(c, "%s\r\n", extra_header);
        out_append(c, "Content-Type: text/plain\r\nContent-Length: %zu\r\n\r\n", strlen(text) + 1);
        if (!head)
                out_append(c, "%s\n", text);
}

static bool header_has(const char *head, const char *name, const char *token)
{
        size_t nl = strlen(name);

        for (const char *l = strstr(head, "\r\n"); l; l = strstr(l, "\r\n")) {
                l += 2;
                if (strncasecmp(l, name, nl) != 0 || l[nl] != ':')
                        continue;
                const char *end = strstr(l, "\r\n");
                size_t len = end ? (size_t)(end - l) : strlen(l);
                if (!token)
                        return true;
                for (size_t i = nl + 1; i + strlen(token) <= len; i++)
                        if (strncasecmp(l + i, token, strlen(token)) == 0)
                                return true;
        }
        return false;
}

/* Copies the value of the first header line called name (surrounding blanks dropped) into buf;
 * false if there is none. */
static bool header_value(const char *head, const char *name, char *buf, size_t size)
{
        size_t nl = strlen(name);

        for (const char *l = strstr(head, "\r\n"); l; l = strstr(l, "\r\n")) {
                l += 2;
                if (strncasecmp(l, name, nl) != 0 || l[nl] != ':')
                        continue;
                const char *v = l + nl + 1, *end = strstr(v, "\r\n");
                if (!end)
                        end = v + strlen(v);
                while (v < end && (*v == ' ' || *v == '\t'))
                        v++;
                while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
                        end--;
                size_t n = MIN((size_t)(end - v), size - 1);
                memcpy(buf, v, n);
                buf[n] = '\0';
                return true;
        }
        return false;
}

/* No absolute paths, no "." or ".." components: the file must lie under --root. */
bool path_is_safe(const char *p)
{
        if (!*p || *p == '/')
                return false;
        for (const char *s = p; *s;) {
                size_t n = strcspn(s, "/");
                if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
                        return false;
                s += n;
                if (*s == '/')
                        s++;
        }
        return true;
}

/* Parses the request head in c->in[0..head_len) (NUL-terminated in place) and prepares the
 * response. */
static void handle_request(struct conn *c, size_t head_len)
{
        char *head = c->in;
        char *method, *target, *version, *sp;
        char path[IN_MAX], fault_name[64], if_none_match[IN_MAX];
        bool want_close, is_head;

        /* Keep the "\r\n" ending the last header line so header_has() sees that line whole. */
        head[head_len - 2] = '\0';
        want_close = header_has(head, "Connection", "close") ||
                     header_has(head, "Content-Length", NULL) ||
                     header_has(head, "Transfer-Encoding", NULL);
        bool has_inm = header_value(head, "If-None-Match", if_none_match, sizeof(if_none_match));
        *strstr(head, "\r\n") = '\0'; /* the request line ends there; it always exists */

        method = head;
        sp = strchr(method, ' ');
        if (!sp) {
                simple_response(c, "-", "-", 400, true, NULL);
                return;
        }
        *sp = '\0';
        target = sp + 1;
        sp = strchr(target, ' ');
        if (!sp) {
                simple_response(c, method, "-", 400, true, NULL);
                return;
        }
        *sp = '\0';
        version = sp + 1;
        /* HTTP/1.0 clients get one response per connection; that is all they expect. */
        if (strcmp(version, "HTTP/1.1") != 0)
                want_close = true;
        is_head = strcmp(method, "HEAD") == 0;
        if (!is_head && strcmp(method, "GET") != 0) {
                simple_response(c, method, target, 405, true, "Allow: GET, HEAD");
                return;
        }

        /* "/<fault>/<path>[?query]" */
        if (target[0] != '/') {
                simple_response(c, method, target, 400, want_close, NULL);
                return;
        }
        size_t fl = strcspn(target + 1, "/?");
        if (target[1 + fl] != '/' || fl >= sizeof(fault_name)) {
                simple_response(c, method, target, 404, want_close, NULL);
                return;
        }
        memcpy(fault_name, target + 1, fl);
        fault_name[fl] = '\0';
        size_t pl = strcspn(target + 2 + fl, "?");
        memcpy(path, target + 2 + fl, pl);
        path[pl] = '\0';
        fault_respond(c, &(struct request){.method = method,
                                           .target = target,
                                           .fault_name = fault_name,
                                           .path = path,
                                           .is_head = is_head,
                                           .want_close = want_close,
                                           .has_inm = has_inm,
                                           .if_none_match = if_none_match});
}

/* Takes complete requests off the input while the connection is idle. */
static int conn_process_input(struct conn *c)
{
        while (c->state == STATE_READ) {
                char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
                if (!end) {
                        if (c->in_len >= sizeof(c->in)) {
                                /* Nothing of the request is usable; answer and give up. */
                                c->in_len = 0;
                                simple_response(c, "-", "-", 431, true, NULL);
                                return 0;
                        }
                        return c->peer_eof ? -1 : 0;
                }
                size_t head_len = (size_t)(end - c->in) + 4;
                handle_request(c, head_len);
                memmove(c->in, c->in + head_len, c->in_len - head_len);
                c->in_len -= head_len;
        }
        return 0;
}

static int conn_finish_response(struct conn *c)
{
        c->file_fd = safe_close(c->file_fd);
        c->body = BODY_NONE;
        switch (c->after) {
        case AFTER_KEEP:
                c->state = STATE_READ;
                return conn_process_input(c);
        case AFTER_CLOSE:
                /* Half-close, then drain: closing with unread input would send a reset that can
                 * destroy data the client has not read yet. */
                if (shutdown(c->fd, SHUT_WR) < 0)
                        return -1;
                c->state = STATE_DRAIN;
                return 0;
        case AFTER_STALL:
                c->state = STATE_STALL;
                return 0;
        }
        return -1;
}

/* Fills the empty output buffer from the body source. Returns 1 if there is data, 0 if the body
 * is complete or must wait (slow), -1 on error. */
static int conn_refill(struct conn *c, bool *done)
{
        *done = false;
        c->out_off = c->out_len = 0;
        if (c->body == BODY_FILE && c->body_off < c->body_end) {
                size_t want = (size_t)MIN((uint64_t)sizeof(c->out), c->body_end - c->body_off);
                ssize_t n;

                if (c->slow) {
                        uint64_t now = now_ms();
                        if (now < c->next_ms)
                                return 0;
                        c->next_ms = now + SLOW_INTERVAL_MS;
                        want = 1;
                        if (c->hold) { /* held back once, then at full speed */
                                c->slow = c->hold = false;
                                want = (size_t)MIN((uint64_t)sizeof(c->out),
                                                   c->body_end - c->body_off);
                        }
                }
                n = pread(c->file_fd, c->out, want, (off_t)c->body_off);
                if (n <= 0)
                        return -1; /* file shrank under us */
                if (c->flip_at >= c->body_off && c->flip_at - c->body_off < (uint64_t)n)
                        c->out[c->flip_at - c->body_off] ^= (char)0xff;
                c->body_off += (uint64_t)n;
                c->out_len = (size_t)n;
                return 1;
        }
        if (c->body == BODY_ZERO_CHUNKS) {
                size_t payload = sizeof(c->out) - 32;
                int n = snprintf(c->out, 32, "%zx\r\n", payload);
                memset(c->out + n, 0, payload);
                memcpy(c->out + n + payload, "\r\n", 2);
                c->out_len = (size_t)n + payload + 2;
                return 1;
        }
        *done = true;
        return 0;
}

static int conn_write(struct conn *c)
{
        while (c->state == STATE_WRITE) {
                if (c->out_off == c->out_len) {
                        bool done;
                        int r = conn_refill(c, &done);
                        if (r < 0)
                                return -1;
                        if (done) {
                                if (conn_finish_response(c) < 0)
                                        return -1;
                                continue;
                        }
                        if (r == 0)
                                return 0;
                }
                ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
                if (n < 0)
                        return errno == EAGAIN || errno == EINTR ? 0 : -1;
                c->out_off += (size_t)n;
        }
        return 0;
}

static int conn_read(struct conn *c)
{
        if (c->state == STATE_STALL || c->state == STATE_DRAIN) {
                char scratch[4096];
                ssize_t n = read(c->fd, scratch, sizeof(scratch));
                if (n == 0)
                        return -1;
                if (n < 0)
                        return errno == EAGAIN || errno == EINTR ? 0 : -1;
                return 0;
        }
        if (c->in_len < sizeof(c->in)) {
                ssize_t n = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
                if (n == 0)
                        c->peer_eof = true;
                else if (n < 0)
                        return errno == EAGAIN || errno == EINTR ? 0 : -1;
                else
                        c->in_len += (size_t)n;
        }
        if (c->state == STATE_READ) {
                if (conn_process_input(c) < 0)
                        return -1;
                return conn_write(c);
        }
        return 0;
}

/* What to wait for on this connection, and the deadline of a slow body (0: none). */
static short conn_events(const struct conn *c, uint64_t *deadline)
{
        short ev = 0;

        *deadline = 0;
        switch (c->state) {
        case STATE_READ:
                return c->peer_eof ? 0 : POLLIN;
        case STATE_STALL:
        case STATE_DRAIN:
                return POLLIN;
        case STATE_WRITE:
                if (c->in_len < sizeof(c->in) && !c->peer_eof)
                        ev |= POLLIN;
                if (c->slow && c->out_off == c->out_len && c->body_off < c->body_end &&
                    now_ms() < c->next_ms)
                        *deadline = c->next_ms;
                else
                        ev |= POLLOUT;
                return ev;
        }
        return 0;
}

static void on_signal(int sig)
{
        terminate = 1;
}

static int make_listener(void)
{
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(sa);
        int one = 1;
        _cleanup_(closep) int fd = -1;

        fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return negative_errno();
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 512) < 0 ||
            getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
                return negative_errno();
        own_port = ntohs(sa.sin_port);
        return TAKE_FD(fd);
}

/* Written to a temporary name and renamed, so a reader never sees a partial port number. */
static int write_port_file(const char *path)
{
        _cleanup_(freep) char *tmp = NULL;
        _cleanup_(fclosep) FILE *f = NULL;

        if (asprintf(&tmp, "%s.tmp", path) < 0)
                return -ENOMEM;
        f = fopen(tmp, "we");
        if (!f)
                return negative_errno();
        fprintf(f, "%u\n", (unsigned)own_port);
        if (fflush(f) != 0 || ferror(f))
                return negative_errno();
        if (rename(tmp, path) < 0)
                return negative_errno();
        return 0;
}

static void accept_all(int lfd, struct conn **conns, size_t *n_conns)
{
        while (*n_conns < MAX_CONNS) {
                int one = 1;
                int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0)
                        return; /* EAGAIN, or a connection that died before we took it */
                struct conn *c = calloc(1, sizeof(*c));
                if (!c) {
                        close(fd);
                        return;
                }
                (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                c->fd = fd;
                c->file_fd = -1;
                c->state = STATE_READ;
                conns[(*n_conns)++] = c;
        }
}

static int serve(int lfd)
{
        static struct conn *conns[MAX_CONNS];
        static struct pollfd pfds[MAX_CONNS + 1];
        size_t n_conns = 0;
        sigset_t unblocked;

        while (!terminate) {
                uint64_t next = 0, now;
                int timeout = -1;

                pfds[0] = (struct pollfd){.fd = lfd, .events = n_conns < MAX_CONNS ? POLLIN : 0};
                for (size_t i = 0; i < n_conns; i++) {
                        uint64_t d;
                        pfds[i + 1] = (struct pollfd){.fd = conns[i]->fd,
                                                      .events = conn_events(conns[i], &d)};
                        if (d && (!next || d < next))
                                next = d;
                }
                now = now_ms();
                if (next)
                        timeout = next > now ? (int)MIN(next - now, (uint64_t)1000) : 0;

                struct timespec ts = {timeout / 1000, (long)(timeout % 1000) * 1000000};
                sigemptyset(&unblocked);
                int r = ppoll(pfds, n_conns + 1, timeout < 0 ? NULL : &ts, &unblocked);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        fprintf(stderr, "faultserver: poll: %m\n");
                        break;
                }

                /* Service the existing connections first: accepting reorders nothing but
                 * appends after the ones that pfds describes. */
                size_t polled = n_conns;
                for (size_t i = 0; i < polled; i++) {
                        struct conn *c = conns[i];
                        short re = pfds[i + 1].revents;
                        int k = 0;

                        if (re & (POLLERR | POLLNVAL))
                                k = -1;
                        if (k == 0 && (re & (POLLIN | POLLHUP)))
                                k = conn_read(c);
                        if (k == 0 && c->state == STATE_WRITE && ((re & POLLOUT) || c->slow))
                                k = conn_write(c);
                        if (k == 0 && c->state == STATE_READ && c->peer_eof)
                                k = -1;
                        if (k < 0) {
                                conn_free(c);
                                conns[i] = NULL;
                        }
                }
                size_t j = 0;
                for (size_t i = 0; i < n_conns; i++)
                        if (conns[i])
                                conns[j++] = conns[i];
                n_conns = j;

                if (pfds[0].revents & POLLIN)
                        accept_all(lfd, conns, &n_conns);
        }

        for (size_t i = 0; i < n_conns; i++)
                conn_free(conns[i]);
        return 0;
}

static void usage(FILE *f)
{
        fprintf(f, "Usage: faultserver --root DIR --port-file FILE [--log FILE]\n");
}

int main(int argc, char *argv[])
{
        static const struct option options[] = {
            {"root", required_argument, NULL, 'r'},
            {"port-file", required_argument, NULL, 'p'},
            {"log", required_argument, NULL, 'l'},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        const char *root = NULL, *port_file = NULL, *log_path = NULL;
        struct sigaction sa = {.sa_handler = on_signal};
        sigset_t mask;
        int opt, r;
        _cleanup_(closep) int lfd = -1;

        while ((opt = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (opt) {
                case 'r':
                        root = optarg;
                        break;
                case 'p':
                        port_file = optarg;
                        break;
                case 'l':
                        log_path = optarg;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        if (!root || !port_file || optind != argc) {
                usage(stderr);
                return 2;
        }

        /* A client that vanishes mid-body must cost us a connection, never the process. */
        signal(SIGPIPE, SIG_IGN);
        /* SIGTERM/SIGINT are only delivered inside ppoll(), so the flag check cannot race. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);

        root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0) {
                fprintf(stderr, "faultserver: %s: %m\n", root);
                return 1;
        }
        if (log_path) {
                log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
                if (log_fd < 0) {
                        fprintf(stderr, "faultserver: %s: %m\n", log_path);
                        return 1;
                }
        }
        lfd = make_listener();
        if (lfd < 0) {
                fprintf(stderr, "faultserver: listen: %s\n", strerror(-lfd));
                return 1;
        }
        r = write_port_file(port_file);
        if (r < 0) {
                fprintf(stderr, "faultserver: %s: %s\n", port_file, strerror(-r));
                return 1;
        }

        serve(lfd);

        faults_free();
        closep(&log_fd);
        closep(&root_fd);
        return 0;
}
