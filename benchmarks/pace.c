/*
 * pace: an open-loop HTTP/1.1 load generator at a constant rate, for honest tail latencies.
 *
 * Request k is due at start + k / rate. Each of the connection threads takes the next due
 * request, waits for its time, sends it and reads the whole answer; the latency recorded is
 * from the moment the request was DUE, not from when it was sent, so a slow answer that
 * delays the requests behind it is charged to them too (no coordinated omission, as in
 * wrk2/HdrHistogram's corrected mode). Requests come pre-built from a file (raw HTTP, each
 * ended by a NUL byte), so every request can carry its own user and token.
 *
 *   cc -O2 -pthread -o pace benchmarks/pace.c
 *   ./pace HOST PORT RATE SECONDS THREADS REQUESTS_FILE
 *
 * Prints one JSON object: sent, statuses, and latency percentiles in milliseconds. With
 * PACE_TIMELINE=FILE in the environment it also writes each request's due time and latency
 * (seconds, milliseconds; one line each, in due order), to see when the slow ones happened.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *host;
static int port;
static double rate;
static long total;
static char **requests;
static size_t *request_len;
static long n_requests;
static atomic_long next_request;
static double start_ns;
static double *latency_ms;
static int *status_of;

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void sleep_until(double target_ns) {
    double left = target_ns - now_ns();
    if (left <= 0) return;
    struct timespec ts = {(time_t)(left / 1e9), (long)((long long)left % 1000000000LL)};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

static int connect_to_server(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, host, &addr.sin_addr);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* Reads one whole response (headers and a Content-Length body); returns its status, or -1. */
static int read_response(int fd, char *buf, size_t cap) {
    size_t have = 0;
    char *end = NULL;
    while (!end) {
        ssize_t got = recv(fd, buf + have, cap - 1 - have, 0);
        if (got <= 0) return -1;
        have += (size_t)got;
        buf[have] = 0;
        end = strstr(buf, "\r\n\r\n");
        if (!end && have >= cap - 1) return -1;
    }
    int status = atoi(buf + 9);
    long body = 0;
    char *cl = strcasestr(buf, "\r\ncontent-length:");
    if (cl) body = atol(cl + 17);
    size_t need = (size_t)(end + 4 - buf) + (size_t)body;
    while (have < need) {
        size_t room = cap - 1;
        ssize_t got = recv(fd, buf, room < need - have ? room : need - have, 0);
        if (got <= 0) return -1;
        have += (size_t)got;
    }
    return status;
}

static void *connection_thread(void *unused) {
    (void)unused;
    static __thread char buf[65536];
    int fd = connect_to_server();
    for (;;) {
        long k = atomic_fetch_add(&next_request, 1);
        if (k >= total) break;
        double due = start_ns + (double)k * 1e9 / rate;
        sleep_until(due);
        const char *req = requests[k % n_requests];
        size_t len = request_len[k % n_requests];
        int status = -1;
        for (int attempt = 0; attempt < 2 && status < 0; attempt++) {
            if (fd < 0) fd = connect_to_server();
            if (fd < 0) break;
            if (send(fd, req, len, MSG_NOSIGNAL) == (ssize_t)len) status = read_response(fd, buf, sizeof buf);
            if (status < 0) {
                close(fd);
                fd = -1;
            }
        }
        latency_ms[k] = (now_ns() - due) / 1e6;
        status_of[k] = status;
    }
    if (fd >= 0) close(fd);
    return NULL;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void load_requests(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = malloc((size_t)size + 1);
    if (fread(data, 1, (size_t)size, f) != (size_t)size) exit(2);
    fclose(f);
    data[size] = 0;
    for (long i = 0; i < size; i++) n_requests += data[i] == 0;
    requests = malloc(sizeof(char *) * (size_t)n_requests);
    request_len = malloc(sizeof(size_t) * (size_t)n_requests);
    char *p = data;
    for (long i = 0; i < n_requests; i++) {
        requests[i] = p;
        request_len[i] = strlen(p);
        p += request_len[i] + 1;
    }
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: %s HOST PORT RATE SECONDS THREADS REQUESTS_FILE\n", argv[0]);
        return 2;
    }
    host = argv[1];
    port = atoi(argv[2]);
    rate = atof(argv[3]);
    total = (long)(rate * atof(argv[4]));
    int threads = atoi(argv[5]);
    load_requests(argv[6]);
    latency_ms = calloc((size_t)total, sizeof(double));
    status_of = calloc((size_t)total, sizeof(int));
    pthread_t *ids = malloc(sizeof(pthread_t) * (size_t)threads);
    start_ns = now_ns() + 50e6;
    for (int i = 0; i < threads; i++) pthread_create(&ids[i], NULL, connection_thread, NULL);
    for (int i = 0; i < threads; i++) pthread_join(ids[i], NULL);
    double elapsed = (now_ns() - start_ns) / 1e9;

    long counts[600] = {0}, failed = 0;
    for (long k = 0; k < total; k++) {
        if (status_of[k] > 0 && status_of[k] < 600)
            counts[status_of[k]]++;
        else
            failed++;
    }
    const char *timeline = getenv("PACE_TIMELINE");
    if (timeline) {
        FILE *out = fopen(timeline, "w");
        if (!out) {
            perror(timeline);
            return 1;
        }
        for (long k = 0; k < total; k++) fprintf(out, "%.4f %.3f\n", (double)k / rate, latency_ms[k]);
        fclose(out);
    }
    qsort(latency_ms, (size_t)total, sizeof(double), compare);
    printf("{\"sent\": %ld, \"seconds\": %.2f, \"rate\": %.1f, \"failed\": %ld, \"statuses\": {", total, elapsed,
           rate, failed);
    int first = 1;
    for (int s = 0; s < 600; s++)
        if (counts[s]) {
            printf("%s\"%d\": %ld", first ? "" : ", ", s, counts[s]);
            first = 0;
        }
    double ps[] = {50, 90, 99, 99.9, 100};
    const char *names[] = {"p50", "p90", "p99", "p99.9", "max"};
    printf("}, \"latency_ms\": {");
    for (int i = 0; i < 5; i++) {
        long at = (long)(ps[i] / 100.0 * (double)(total - 1));
        printf("%s\"%s\": %.3f", i ? ", " : "", names[i], latency_ms[at]);
    }
    printf("}}\n");
    return 0;
}
