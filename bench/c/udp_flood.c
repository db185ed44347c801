/*
 * udp_flood: sends COUNT UDP datagrams of SIZE bytes to ADDR:PORT keeping at most WINDOW
 * unanswered, counts the echoes, and measures each round trip (the send time travels in the
 * payload). Losses: when nothing arrives for LOSS_MS milliseconds the outstanding datagrams
 * are counted lost and the window reopens. Bounded: stops after COUNT datagrams or
 * TIME_LIMIT seconds, whichever is first.
 *
 * Usage: udp_flood ADDR PORT COUNT WINDOW SIZE TIME_LIMIT_S [LOSS_MS]
 * Output: one JSON object on stdout.
 *
 * Build: cc -O2 -o udp_flood udp_flood.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

#define MAGIC 0x6e657473u /* "nets" */

int main(int argc, char **argv) {
  if (argc < 7) {
    fprintf(stderr, "usage: %s ADDR PORT COUNT WINDOW SIZE TIME_LIMIT_S [LOSS_MS]\n", argv[0]);
    return 2;
  }
  const char *addr = argv[1];
  const char *port = argv[2];
  long count = atol(argv[3]);
  long window = atol(argv[4]);
  long size = atol(argv[5]);
  double limit_s = atof(argv[6]);
  int loss_ms = argc > 7 ? atoi(argv[7]) : 50;
  if (count < 1 || window < 1 || size < 16 || size > 65000 || limit_s <= 0 || loss_ms < 1) {
    fprintf(stderr, "bad arguments\n");
    return 2;
  }

  struct addrinfo hints, *ai;
  memset(&hints, 0, sizeof hints);
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  int rc = getaddrinfo(addr, port, &hints, &ai);
  if (rc != 0) { fprintf(stderr, "getaddrinfo: %s\n", gai_strerror(rc)); return 2; }
  int fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  if (fd < 0) { perror("socket"); return 1; }
  int rcvbuf = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) { perror("connect"); return 1; }

  uint8_t *out = malloc((size_t)size), *in = malloc(65536);
  uint32_t *rtts = malloc(sizeof(uint32_t) * (size_t)count);
  for (long i = 16; i < size; i++) out[i] = (uint8_t)(i * 7 + 3);

  long sent = 0, received = 0, lost = 0, corrupt = 0, refused = 0, outstanding = 0;
  uint64_t start = now_ns(), last_rx = start;
  uint64_t deadline = start + (uint64_t)(limit_s * 1e9);
  int timed_out = 0;

  while (sent < count || outstanding > 0) {
    uint64_t t = now_ns();
    if (t >= deadline) { timed_out = 1; break; }
    while (sent < count && outstanding < window) {
      uint32_t seq = (uint32_t)sent, magic = MAGIC;
      uint64_t ts = now_ns();
      memcpy(out, &magic, 4);
      memcpy(out + 4, &seq, 4);
      memcpy(out + 8, &ts, 8);
      ssize_t w = send(fd, out, (size_t)size, 0);
      if (w < 0) {
        if (errno == ECONNREFUSED) { refused++; continue; }
        if (errno == EAGAIN || errno == ENOBUFS) break;
        perror("send");
        return 1;
      }
      sent++;
      outstanding++;
    }
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int pr = poll(&pfd, 1, loss_ms);
    if (pr < 0 && errno != EINTR) { perror("poll"); return 1; }
    if (pr == 0) {
      lost += outstanding;
      outstanding = 0;
      if (sent >= count) break;
      continue;
    }
    for (;;) {
      ssize_t r = recv(fd, in, 65536, 0);
      if (r < 0) {
        if (errno == ECONNREFUSED) { refused++; continue; }
        break;
      }
      uint64_t rx = now_ns();
      uint32_t magic;
      memcpy(&magic, in, 4);
      if (r != size || magic != MAGIC || memcmp(in + 16, out + 16, (size_t)size - 16) != 0) {
        corrupt++;
        continue;
      }
      uint64_t ts;
      memcpy(&ts, in + 8, 8);
      if (received < count) rtts[received] = (uint32_t)((rx - ts) / 1000);
      received++;
      last_rx = rx;
      if (outstanding > 0) outstanding--;
    }
  }
  double elapsed = (double)(last_rx - start) / 1e9;
  long n = received < count ? received : count;
  qsort(rtts, (size_t)n, sizeof(uint32_t), cmp_u32);
  double sum = 0;
  for (long i = 0; i < n; i++) sum += rtts[i];
  printf("{\"sent\":%ld,\"received\":%ld,\"lost\":%ld,\"corrupt\":%ld,\"refused\":%ld,\"timed_out\":%s,"
         "\"elapsed_s\":%.6f,\"pps\":%.1f,\"size\":%ld,\"window\":%ld,"
         "\"rtt_us\":{\"min\":%u,\"avg\":%.1f,\"p50\":%u,\"p99\":%u,\"max\":%u}}\n",
         sent, received, lost, corrupt, refused, timed_out ? "true" : "false", elapsed,
         elapsed > 0 ? (double)received / elapsed : 0.0, size, window,
         n ? rtts[0] : 0, n ? sum / (double)n : 0.0, n ? rtts[n / 2] : 0,
         n ? rtts[(long)((double)n * 0.99) < n ? (long)((double)n * 0.99) : n - 1] : 0,
         n ? rtts[n - 1] : 0);
  freeaddrinfo(ai);
  return 0;
}
