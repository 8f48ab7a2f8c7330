/* Open-loop HTTP/1.1 load at a fixed rate (what wrk2 does; wrk2 is not packaged in Debian).
 *
 * Request i is due at start + i/rate whatever happened to earlier ones. Its latency is measured from that
 * intended send time, not from when a connection was free to send it, so a server that stalls is charged
 * for the whole queue behind the stall (no coordinated omission).
 *
 * usage: openloop HOST PORT REQUEST_FILE RATE SECONDS CONNECTIONS
 * REQUEST_FILE holds one complete request (headers and body, keep-alive). Prints one line of key=value. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int fd;
    int busy;
    double intended;
    char buf[65536];
    size_t len;
} Conn;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int dial(const char *host, int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, host, &addr.sin_addr);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) { perror("connect"); exit(2); }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

/* The server closes idle keep-alive connections (uvicorn after 5 s): dial again in place. */
static void redial(int ep, Conn *c, int index, const char *host, int port) {
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = dial(host, port);
    c->len = 0;
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = index};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

/* Length of a complete response at the start of buf (Content-Length framing), or 0 while incomplete. */
static size_t complete(const char *buf, size_t len) {
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end) return 0;
    size_t head = (size_t)(end - buf) + 4, body = 0;
    for (const char *p = buf; p < end; p++) {
        if ((*p == '\n') && strncasecmp(p + 1, "content-length:", 15) == 0) { body = strtoul(p + 16, NULL, 10); break; }
    }
    return len >= head + body ? head + body : 0;
}

int main(int argc, char **argv) {
    if (argc != 7) { fprintf(stderr, "usage: openloop HOST PORT REQUEST_FILE RATE SECONDS CONNECTIONS\n"); return 2; }
    const char *host = argv[1];
    int port = atoi(argv[2]), nconn = atoi(argv[6]);
    double rate = atof(argv[4]), seconds = atof(argv[5]);
    FILE *f = fopen(argv[3], "rb");
    if (!f) { perror("request file"); return 2; }
    static char request[16384];
    size_t request_len = fread(request, 1, sizeof request, f);
    fclose(f);
    signal(SIGPIPE, SIG_IGN);

    size_t total = (size_t)(rate * seconds);
    double *latency = calloc(total + 1, sizeof(double));
    Conn *conns = calloc(nconn, sizeof(Conn));
    int ep = epoll_create1(0);
    for (int i = 0; i < nconn; i++) {
        conns[i].fd = dial(host, port);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
        epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
    }
    size_t sent = 0, done = 0, bad = 0, errors = 0;
    double start = now() + 0.05, drain_until = start + seconds + 10.0;
    struct epoll_event events[256];
    while (done + errors < total && now() < drain_until) {
        double t = now();
        /* send every request that is due, on any idle connection (the rest wait, their clock running) */
        while (sent < total && start + sent / rate <= t) {
            int k = -1;
            for (int i = 0; i < nconn; i++) if (!conns[i].busy) { k = i; break; }
            if (k < 0) break;
            Conn *c = &conns[k];
            c->busy = 1; c->len = 0; c->intended = start + sent / rate;
            if (write(c->fd, request, request_len) != (ssize_t)request_len) {
                redial(ep, c, k, host, port); /* closed while idle: once more on a fresh connection */
                if (write(c->fd, request, request_len) != (ssize_t)request_len) { errors++; c->busy = 0; }
            }
            sent++;
        }
        double next = sent < total ? start + sent / rate : t + 0.1;
        int wait_ms = next > t ? (int)((next - t) * 1000) : 0;
        int n = epoll_wait(ep, events, 256, wait_ms);
        for (int e = 0; e < n; e++) {
            Conn *c = &conns[events[e].data.u32];
            ssize_t got = read(c->fd, c->buf + c->len, sizeof c->buf - c->len - 1);
            if (got <= 0) {
                if (got < 0 && errno == EAGAIN) continue;
                if (c->busy) { errors++; c->busy = 0; } /* closed with our request unanswered */
                redial(ep, c, (int)events[e].data.u32, host, port);
                continue;
            }
            c->len += (size_t)got;
            size_t whole = complete(c->buf, c->len);
            if (whole && c->busy) {
                latency[done++] = now() - c->intended;
                if (strncmp(c->buf + 9, "2", 1) != 0) bad++;
                c->busy = 0; c->len = 0;
            }
        }
    }
    double elapsed = now() - start;
    qsort(latency, done, sizeof(double), cmp);
#define PCT(p) (done ? latency[(size_t)((p) * (done - 1))] * 1000 : 0)
    printf("target_rate=%.1f sent=%zu completed=%zu non2xx=%zu errors=%zu elapsed_s=%.2f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f\n",
           rate, sent, done, bad, errors, elapsed, PCT(0.50), PCT(0.90), PCT(0.99), PCT(1.0));
    return 0;
}
