/*
 * Kernel-side client for the soak (scripts/soak.mjs); runs inside the soak's network namespace.
 *
 *   soak_client seq ADDR4 ADDR6 N PLAN LIMIT_S
 *       N connections, strictly one after another. Connection i follows PLAN[i % len(PLAN)]:
 *         e / E  echo (port 7) over IPv4 / IPv6: send 16 bytes naming i, read them back,
 *                shutdown(SHUT_WR), read the stack's FIN, close. The kernel closes first, so
 *                the kernel holds the TIME-WAIT.
 *         h / H  HTTP (port 80) over IPv4 / IPv6: GET /bytes/64 with Connection: close, check
 *                status, Content-Length and the 64 body bytes, read the stack's FIN, close. The
 *                stack closes first, so the stack holds the TIME-WAIT.
 *       Progress lines {"progress":...} every 2 s and one final JSON line go to stdout; the first
 *       errors are described on stderr. Stops after LIMIT_S seconds or 100 errors.
 *
 *   soak_client echo ADDR BYTES IDLE_S SEED   BYTES of a seeded pseudo-random stream to echo (7),
 *                                            reading the echo at the same time; every byte checked
 *   soak_client send ADDR BYTES IDLE_S       BYTES to discard (9), then wait for the stack's FIN
 *   soak_client http ADDR BYTES IDLE_S       GET /bytes/BYTES (port 80), every body byte checked
 *                                            against the chargen pattern, then EOF
 *       One JSON line on stdout: {"ok":true,"sent":..,"received":..,"elapsed_s":..} or
 *       {"ok":false,"error":"...",...}; exit status 0 / 1. IDLE_S bounds any wait for progress.
 *
 * Build: cc -O2 -Wall -o soak_client soak_client.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- addresses ------------------------------------------------------------------------------ */

struct target {
  struct sockaddr_storage sa;
  socklen_t len;
  int family;
};

static int make_target(struct target *t, const char *addr, int port) {
  memset(t, 0, sizeof *t);
  struct sockaddr_in *a4 = (struct sockaddr_in *)&t->sa;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&t->sa;
  if (inet_pton(AF_INET, addr, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons(port);
    t->len = sizeof *a4;
    t->family = AF_INET;
    return 0;
  }
  if (inet_pton(AF_INET6, addr, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(port);
    t->len = sizeof *a6;
    t->family = AF_INET6;
    return 0;
  }
  return -1;
}

static char errbuf[512];
/* The local port of the last connection opened (reported for slow connections). */
static int last_port;

static void seterr(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(errbuf, sizeof errbuf, fmt, ap);
  va_end(ap);
}

/* A blocking socket whose connect, reads and writes each give up after timeout_s. */
static int open_conn(const struct target *t, int timeout_s) {
  int fd = socket(t->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    seterr("socket: %s", strerror(errno));
    return -1;
  }
  struct timeval tv = {.tv_sec = timeout_s, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (connect(fd, (const struct sockaddr *)&t->sa, t->len) < 0) {
    seterr("connect: %s", errno == EINPROGRESS ? "timed out" : strerror(errno));
    close(fd);
    return -1;
  }
  struct sockaddr_storage me;
  socklen_t melen = sizeof me;
  if (getsockname(fd, (struct sockaddr *)&me, &melen) == 0)
    last_port = ntohs(me.ss_family == AF_INET ? ((struct sockaddr_in *)&me)->sin_port : ((struct sockaddr_in6 *)&me)->sin6_port);
  return fd;
}

static int write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      seterr("write: %s", errno == EAGAIN ? "timed out" : strerror(errno));
      return -1;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Reads until `len` bytes or EOF; returns the count, or -1 (with errbuf) on error/timeout. */
static ssize_t read_upto(int fd, void *buf, size_t len) {
  char *p = buf;
  size_t got = 0;
  while (got < len) {
    ssize_t n = read(fd, p + got, len - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      seterr("read: %s", errno == EAGAIN ? "timed out" : strerror(errno));
      return -1;
    }
    if (n == 0) break;
    got += (size_t)n;
  }
  return (ssize_t)got;
}

/* ---- expected byte streams ------------------------------------------------------------------ */

/* The chargen stream of `netstack host` (RFC 864 lines of 72 characters plus CR LF). */
#define CHARGEN_PERIOD (95 * 74)
#define CHUNK (64 * 1024)
static unsigned char chargen[CHARGEN_PERIOD + CHUNK];

static void init_chargen(void) {
  for (size_t o = 0; o < sizeof chargen; o++) {
    size_t k = o % CHARGEN_PERIOD, line = k / 74, col = k % 74;
    chargen[o] = col < 72 ? (unsigned char)(32 + (line + col) % 95) : col == 72 ? 13 : 10;
  }
}

/* Index of the first byte of buf that differs from chargen at stream offset off, or -1. */
static long chargen_diff(const unsigned char *buf, size_t len, uint64_t off) {
  size_t done = 0;
  while (done < len) {
    size_t n = len - done < CHUNK ? len - done : CHUNK;
    const unsigned char *want = chargen + (off + done) % CHARGEN_PERIOD;
    if (memcmp(buf + done, want, n) != 0) {
      for (size_t i = 0; i < n; i++)
        if (buf[done + i] != want[i]) return (long)(done + i);
    }
    done += n;
  }
  return -1;
}

/* A seeded pseudo-random stream without period: byte o is byte (o % 8) of splitmix64(seed + o / 8). */
static uint64_t splitmix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

static void fill_random(unsigned char *buf, size_t len, uint64_t seed, uint64_t off) {
  size_t i = 0;
  while (i < len) {
    uint64_t o = off + i;
    uint64_t w = splitmix(seed + o / 8);
    unsigned char b[8];
    memcpy(b, &w, 8);
    size_t k = o % 8;
    while (k < 8 && i < len) buf[i++] = b[k++];
  }
}

/* ---- seq: many short connections, one at a time --------------------------------------------- */

/* Latency histogram: 16 sub-buckets per power of two of microseconds. */
#define HBUCKETS (40 * 16)
static uint64_t hist[HBUCKETS];

static int hindex(uint64_t us) {
  if (us < 16) return (int)us;
  int e = 63 - __builtin_clzll(us);
  int idx = (e - 3) * 16 + (int)((us >> (e - 4)) & 15);
  return idx < HBUCKETS ? idx : HBUCKETS - 1;
}

static uint64_t hvalue(int idx) {
  if (idx < 16) return (uint64_t)idx;
  int e = idx / 16 + 3;
  return ((uint64_t)(16 + idx % 16)) << (e - 4);
}

static uint64_t percentile(uint64_t total, double p) {
  uint64_t want = (uint64_t)(p * (double)total), seen = 0;
  for (int i = 0; i < HBUCKETS; i++) {
    seen += hist[i];
    if (seen > want) return hvalue(i);
  }
  return 0;
}

static int one_echo(const struct target *t, uint64_t i) {
  int fd = open_conn(t, 10);
  if (fd < 0) return -1;
  char msg[17], back[17];
  snprintf(msg, sizeof msg, "%015llu\n", (unsigned long long)i);
  int rc = -1;
  if (write_all(fd, msg, 16) < 0) goto out;
  ssize_t n = read_upto(fd, back, 16);
  if (n < 0) goto out;
  if (n != 16 || memcmp(msg, back, 16) != 0) {
    seterr("echo mismatch: %zd bytes back", n);
    goto out;
  }
  if (shutdown(fd, SHUT_WR) < 0) {
    seterr("shutdown: %s", strerror(errno));
    goto out;
  }
  n = read_upto(fd, back, 1);
  if (n < 0) goto out;
  if (n != 0) {
    seterr("data after the echo");
    goto out;
  }
  rc = 0;
out:
  close(fd);
  return rc;
}

#define HTTP_SMALL 64

static int one_http(const struct target *t) {
  int fd = open_conn(t, 10);
  if (fd < 0) return -1;
  static const char req[] = "GET /bytes/64 HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n";
  char buf[4096];
  int rc = -1;
  if (write_all(fd, req, sizeof req - 1) < 0) goto out;
  /* The stack closes after the response: read everything up to its FIN. */
  ssize_t n = read_upto(fd, buf, sizeof buf - 1);
  if (n < 0) goto out;
  if ((size_t)n == sizeof buf - 1) {
    seterr("response too long");
    goto out;
  }
  buf[n] = 0;
  char *body = strstr(buf, "\r\n\r\n");
  if (strncmp(buf, "HTTP/1.1 200 ", 13) != 0 || body == NULL) {
    seterr("bad response: %.40s", buf);
    goto out;
  }
  body += 4;
  char *cl = strcasestr(buf, "\r\nContent-Length:");
  if (cl == NULL || cl > body || strtol(cl + 17, NULL, 10) != HTTP_SMALL) {
    seterr("bad Content-Length");
    goto out;
  }
  if (buf + n - body != HTTP_SMALL || chargen_diff((unsigned char *)body, HTTP_SMALL, 0) >= 0) {
    seterr("bad body (%ld bytes)", (long)(buf + n - body));
    goto out;
  }
  rc = 0;
out:
  close(fd);
  return rc;
}

static int cmd_seq(const char *a4, const char *a6, uint64_t count, const char *plan, double limit_s) {
  struct target t[4];
  if (make_target(&t[0], a4, 7) || make_target(&t[1], a6, 7) || make_target(&t[2], a4, 80) || make_target(&t[3], a6, 80)) {
    fprintf(stderr, "bad address\n");
    return 2;
  }
  size_t plen = strlen(plan);
  for (size_t k = 0; k < plen; k++)
    if (!strchr("eEhH", plan[k])) {
      fprintf(stderr, "bad plan '%s'\n", plan);
      return 2;
    }
  uint64_t done = 0, errors = 0, slow = 0, max_us = 0;
  uint64_t per_kind[4] = {0, 0, 0, 0};
  double start = now_s(), last = start;
  int timed_out = 0;
  for (uint64_t i = 0; i < count; i++) {
    double t0 = now_s();
    if (t0 - start > limit_s) {
      timed_out = 1;
      break;
    }
    if (t0 - last >= 2.0) {
      last = t0;
      printf("{\"progress\":%llu,\"errors\":%llu,\"elapsed_s\":%.3f}\n", (unsigned long long)done, (unsigned long long)errors, t0 - start);
      fflush(stdout);
    }
    char kind = plan[i % plen];
    int k = kind == 'e' ? 0 : kind == 'E' ? 1 : kind == 'h' ? 2 : 3;
    int rc = k < 2 ? one_echo(&t[k], i) : one_http(&t[k]);
    double t1 = now_s();
    uint64_t us = (uint64_t)((t1 - t0) * 1e6);
    if (rc < 0) {
      errors++;
      if (errors <= 20) fprintf(stderr, "connection %llu (%c): %s (after %.3f s)\n", (unsigned long long)i, kind, errbuf, t1 - t0);
      if (errors >= 100) {
        fprintf(stderr, "stopping after %llu errors\n", (unsigned long long)errors);
        break;
      }
      continue;
    }
    if (us >= 1000000 && slow < 20)
      fprintf(stderr, "slow: connection %llu (%c) from port %d took %.3f s\n", (unsigned long long)i, kind, last_port, t1 - t0);
    done++;
    per_kind[k]++;
    hist[hindex(us)]++;
    if (us > max_us) max_us = us;
    if (us >= 1000000) slow++;
  }
  double el = now_s() - start;
  printf("{\"done\":%llu,\"errors\":%llu,\"timed_out\":%s,\"elapsed_s\":%.3f,\"rate\":%.1f,"
         "\"echo4\":%llu,\"echo6\":%llu,\"http4\":%llu,\"http6\":%llu,"
         "\"lat_us\":{\"p50\":%llu,\"p99\":%llu,\"p999\":%llu,\"max\":%llu},\"slow_1s\":%llu}\n",
         (unsigned long long)done, (unsigned long long)errors, timed_out ? "true" : "false", el, el > 0 ? done / el : 0.0,
         (unsigned long long)per_kind[0], (unsigned long long)per_kind[1], (unsigned long long)per_kind[2], (unsigned long long)per_kind[3],
         (unsigned long long)percentile(done, 0.5), (unsigned long long)percentile(done, 0.99), (unsigned long long)percentile(done, 0.999),
         (unsigned long long)max_us, (unsigned long long)slow);
  fflush(stdout);
  return errors > 0 || timed_out || done != count ? 1 : 0;
}

/* ---- bulk transfers ------------------------------------------------------------------------- */

static unsigned char wbuf[CHUNK], rbuf[CHUNK], ebuf[CHUNK];

static int report(int ok, uint64_t sent, uint64_t received, double t0) {
  for (char *c = errbuf; *c; c++)
    if (*c == '"' || *c == '\\' || (unsigned char)*c < 32 || (unsigned char)*c > 126) *c = '?';
  if (ok)
    printf("{\"ok\":true,\"sent\":%llu,\"received\":%llu,\"elapsed_s\":%.6f}\n", (unsigned long long)sent, (unsigned long long)received, now_s() - t0);
  else
    printf("{\"ok\":false,\"error\":\"%s\",\"sent\":%llu,\"received\":%llu,\"elapsed_s\":%.6f}\n", errbuf, (unsigned long long)sent, (unsigned long long)received, now_s() - t0);
  fflush(stdout);
  return ok ? 0 : 1;
}

/* Writes and reads at once (poll), comparing the echo with what was sent. */
static int cmd_echo(const char *addr, uint64_t bytes, int idle_s, uint64_t seed) {
  struct target t;
  if (make_target(&t, addr, 7)) return 2;
  double t0 = now_s();
  int fd = open_conn(&t, idle_s);
  if (fd < 0) return report(0, 0, 0, t0);
  uint64_t sent = 0, received = 0;
  int wdone = 0, ok = 0;
  size_t wlen = 0, woff = 0; /* pending bytes in wbuf */
  for (;;) {
    if (!wdone && sent == bytes) {
      if (shutdown(fd, SHUT_WR) < 0) {
        seterr("shutdown: %s", strerror(errno));
        break;
      }
      wdone = 1;
    }
    struct pollfd p = {.fd = fd, .events = POLLIN | (wdone ? 0 : POLLOUT)};
    int r = poll(&p, 1, idle_s * 1000);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      seterr(r == 0 ? "stalled for %d s" : "poll failed", idle_s);
      break;
    }
    if (p.revents & POLLOUT && !wdone) {
      if (wlen == woff) {
        uint64_t left = bytes - sent;
        wlen = left < CHUNK ? (size_t)left : CHUNK;
        woff = 0;
        fill_random(wbuf, wlen, seed, sent);
      }
      ssize_t n = send(fd, wbuf + woff, wlen - woff, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n < 0 && errno != EAGAIN && errno != EINTR) {
        seterr("send: %s", strerror(errno));
        break;
      }
      if (n > 0) {
        woff += (size_t)n;
        sent += (uint64_t)n;
      }
    }
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = recv(fd, rbuf, sizeof rbuf, MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        seterr("recv: %s", strerror(errno));
        break;
      }
      if (n == 0) {
        if (received == bytes && wdone) ok = 1;
        else seterr("EOF after %llu of %llu bytes", (unsigned long long)received, (unsigned long long)bytes);
        break;
      }
      if (received + (uint64_t)n > bytes) {
        seterr("more bytes back than sent");
        break;
      }
      fill_random(ebuf, (size_t)n, seed, received);
      if (memcmp(rbuf, ebuf, (size_t)n) != 0) {
        size_t i = 0;
        while (rbuf[i] == ebuf[i]) i++;
        seterr("echo differs at offset %llu", (unsigned long long)(received + i));
        break;
      }
      received += (uint64_t)n;
    }
  }
  close(fd);
  return report(ok, sent, received, t0);
}

static int cmd_send(const char *addr, uint64_t bytes, int idle_s) {
  struct target t;
  if (make_target(&t, addr, 9)) return 2;
  double t0 = now_s();
  int fd = open_conn(&t, idle_s);
  if (fd < 0) return report(0, 0, 0, t0);
  uint64_t sent = 0;
  int ok = 0;
  while (sent < bytes) {
    uint64_t left = bytes - sent;
    size_t n = left < CHUNK ? (size_t)left : CHUNK;
    fill_random(wbuf, n, 1, sent);
    if (write_all(fd, wbuf, n) < 0) goto out;
    sent += n;
  }
  if (shutdown(fd, SHUT_WR) < 0) {
    seterr("shutdown: %s", strerror(errno));
    goto out;
  }
  /* The discard service closes once it has read our FIN, i.e. after all the data. */
  ssize_t n = read_upto(fd, rbuf, 1);
  if (n < 0) goto out;
  if (n != 0) {
    seterr("discard sent data");
    goto out;
  }
  ok = 1;
out:
  close(fd);
  return report(ok, sent, 0, t0);
}

static int cmd_http(const char *addr, uint64_t bytes, int idle_s) {
  struct target t;
  if (make_target(&t, addr, 80)) return 2;
  double t0 = now_s();
  int fd = open_conn(&t, idle_s);
  if (fd < 0) return report(0, 0, 0, t0);
  char req[160];
  int reqlen = snprintf(req, sizeof req, "GET /bytes/%llu HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n", (unsigned long long)bytes);
  uint64_t received = 0;
  int ok = 0;
  if (write_all(fd, req, (size_t)reqlen) < 0) goto out;
  /* Header: up to 8 KiB, read until the blank line. */
  static char head[8193];
  size_t hlen = 0;
  char *body = NULL;
  while (body == NULL) {
    if (hlen == sizeof head - 1) {
      seterr("header too long");
      goto out;
    }
    ssize_t n = read(fd, head + hlen, sizeof head - 1 - hlen);
    if (n < 0) {
      if (errno == EINTR) continue;
      seterr("read: %s", errno == EAGAIN ? "timed out" : strerror(errno));
      goto out;
    }
    if (n == 0) {
      seterr("EOF in the header");
      goto out;
    }
    hlen += (size_t)n;
    head[hlen] = 0;
    body = strstr(head, "\r\n\r\n");
  }
  body += 4;
  if (strncmp(head, "HTTP/1.1 200 ", 13) != 0) {
    seterr("status %.12s", head + 9);
    goto out;
  }
  char *cl = strcasestr(head, "\r\nContent-Length:");
  if (cl == NULL || cl > body || strtoull(cl + 17, NULL, 10) != bytes) {
    seterr("bad Content-Length");
    goto out;
  }
  size_t first = (size_t)(head + hlen - body);
  if (first > bytes) {
    seterr("more body than Content-Length");
    goto out;
  }
  long d = chargen_diff((unsigned char *)body, first, 0);
  if (d >= 0) {
    seterr("body differs at offset %ld", d);
    goto out;
  }
  received = first;
  for (;;) {
    ssize_t n = read(fd, rbuf, sizeof rbuf);
    if (n < 0) {
      if (errno == EINTR) continue;
      seterr("read: %s", errno == EAGAIN ? "timed out" : strerror(errno));
      goto out;
    }
    if (n == 0) break;
    if (received + (uint64_t)n > bytes) {
      seterr("more body than Content-Length");
      goto out;
    }
    d = chargen_diff(rbuf, (size_t)n, received);
    if (d >= 0) {
      seterr("body differs at offset %llu", (unsigned long long)(received + (uint64_t)d));
      goto out;
    }
    received += (uint64_t)n;
  }
  if (received != bytes) {
    seterr("EOF after %llu of %llu body bytes", (unsigned long long)received, (unsigned long long)bytes);
    goto out;
  }
  ok = 1;
out:
  close(fd);
  return report(ok, (uint64_t)reqlen, received, t0);
}

int main(int argc, char **argv) {
  init_chargen();
  if (argc == 7 && strcmp(argv[1], "seq") == 0)
    return cmd_seq(argv[2], argv[3], strtoull(argv[4], NULL, 10), argv[5], atof(argv[6]));
  if (argc == 6 && strcmp(argv[1], "echo") == 0) return cmd_echo(argv[2], strtoull(argv[3], NULL, 10), atoi(argv[4]), strtoull(argv[5], NULL, 10));
  if (argc == 5 && strcmp(argv[1], "send") == 0) return cmd_send(argv[2], strtoull(argv[3], NULL, 10), atoi(argv[4]));
  if (argc == 5 && strcmp(argv[1], "http") == 0) return cmd_http(argv[2], strtoull(argv[3], NULL, 10), atoi(argv[4]));
  fprintf(stderr,
          "usage: soak_client seq ADDR4 ADDR6 N PLAN LIMIT_S | echo ADDR BYTES IDLE_S SEED | send ADDR BYTES IDLE_S | http ADDR BYTES IDLE_S\n");
  return 2;
}
