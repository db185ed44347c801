/*
 * tcp_bulk: the kernel side of the TCP throughput benchmark (bench/tcp.ts).
 *
 *   tcp_bulk server PORT sink|source
 *       Listens on [::]:PORT (IPv4 and IPv6), one thread per connection. sink: reads and
 *       discards until EOF. source: writes 256 KiB buffers until the peer goes away.
 *       Prints "ready" on stdout once it listens; runs until killed.
 *
 *   tcp_bulk client HOST PORT send|recv FLOWS SECONDS
 *       Opens FLOWS connections to HOST:PORT at once, sends (or receives) on all of them for
 *       SECONDS, and prints one JSON line: {"bytes":N,"seconds":S,"gbps":G,"flows":F}
 *       (bytes summed over the flows; for send, bytes handed to the kernel minus those still in
 *       the socket's send queue at the end (SIOCOUTQ), i.e. bytes the peer acknowledged: on a
 *       slow path the send buffer holds megabytes, which would otherwise count as sent).
 *
 * With TCP_BULK_CC=NAME in the environment (e.g. cubic), every connection it opens or accepts
 * uses that congestion control (TCP_CONGESTION; needs CAP_NET_ADMIN unless NAME is in
 * net.ipv4.tcp_allowed_congestion_control), instead of the namespace's default.
 *
 * Build: cc -O2 -Wall -pthread -o tcp_bulk tcp_bulk.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <linux/sockios.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF (256 * 1024)
#define MAX_FLOWS 64

static int sink_mode;
static const char *cc_name;

/* Applies TCP_BULK_CC; a failure is fatal (the figure would silently use another algorithm). */
static void set_cc(int fd) {
  if (cc_name == NULL || *cc_name == 0) return;
  if (setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, cc_name, strlen(cc_name)) != 0) {
    fprintf(stderr, "TCP_CONGESTION %s: %s\n", cc_name, strerror(errno));
    exit(1);
  }
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *serve(void *arg) {
  int fd = (int)(long)arg;
  char *buf = malloc(BUF);
  memset(buf, 'x', BUF);
  if (sink_mode) {
    while (read(fd, buf, BUF) > 0) {
    }
  } else {
    while (write(fd, buf, BUF) > 0) {
    }
  }
  free(buf);
  close(fd);
  return NULL;
}

static int server(int port) {
  int ls = socket(AF_INET6, SOCK_STREAM, 0);
  int one = 1, zero = 0;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(ls, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  set_cc(ls);
  struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_addr = in6addr_any};
  if (bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 128) < 0) {
    perror("bind/listen");
    return 1;
  }
  printf("ready\n");
  fflush(stdout);
  for (;;) {
    int fd = accept(ls, NULL, NULL);
    if (fd < 0) {
      if (errno == EINTR) continue;
      perror("accept");
      return 1;
    }
    set_cc(fd);
    pthread_t t;
    pthread_create(&t, NULL, serve, (void *)(long)fd);
    pthread_detach(t);
  }
}

struct flow {
  int fd;
  int send;
  double until;
  unsigned long long bytes;
};

static void *run_flow(void *arg) {
  struct flow *f = arg;
  char *buf = malloc(BUF);
  memset(buf, 'y', BUF);
  while (now() < f->until) {
    ssize_t n = f->send ? write(f->fd, buf, BUF) : read(f->fd, buf, BUF);
    if (n <= 0) break;
    f->bytes += (unsigned long long)n;
  }
  if (f->send) {
    int queued = 0;
    if (ioctl(f->fd, SIOCOUTQ, &queued) == 0 && queued > 0 && (unsigned long long)queued <= f->bytes) f->bytes -= (unsigned long long)queued;
  }
  free(buf);
  return NULL;
}

static int client(const char *host, const char *port, int send, int flows, double seconds) {
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST}, *res;
  if (getaddrinfo(host, port, &hints, &res) != 0) {
    fprintf(stderr, "bad address %s\n", host);
    return 1;
  }
  struct flow fl[MAX_FLOWS];
  pthread_t th[MAX_FLOWS];
  if (flows > MAX_FLOWS) flows = MAX_FLOWS;
  for (int i = 0; i < flows; i++) {
    int fd = socket(res->ai_family, SOCK_STREAM, 0);
    set_cc(fd);
    if (connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
      perror("connect");
      return 1;
    }
    fl[i] = (struct flow){.fd = fd, .send = send};
  }
  double start = now();
  for (int i = 0; i < flows; i++) {
    fl[i].until = start + seconds;
    pthread_create(&th[i], NULL, run_flow, &fl[i]);
  }
  unsigned long long total = 0;
  for (int i = 0; i < flows; i++) {
    pthread_join(th[i], NULL);
    total += fl[i].bytes;
  }
  double el = now() - start;
  for (int i = 0; i < flows; i++) close(fl[i].fd);
  printf("{\"bytes\":%llu,\"seconds\":%.6f,\"gbps\":%.4f,\"flows\":%d}\n", total, el, total * 8 / el / 1e9, flows);
  freeaddrinfo(res);
  return 0;
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  cc_name = getenv("TCP_BULK_CC");
  if (argc == 4 && strcmp(argv[1], "server") == 0) {
    sink_mode = strcmp(argv[3], "sink") == 0;
    return server(atoi(argv[2]));
  }
  if (argc == 7 && strcmp(argv[1], "client") == 0) {
    return client(argv[2], argv[3], strcmp(argv[4], "send") == 0, atoi(argv[5]), atof(argv[6]));
  }
  fprintf(stderr, "usage: tcp_bulk server PORT sink|source | tcp_bulk client HOST PORT send|recv FLOWS SECONDS\n");
  return 2;
}
