/*
 * idle_conns: the kernel side of the concurrent-idle-connections measure (bench/idle.ts).
 *
 *   idle_conns HOST PORTS COUNT INFLIGHT LIMIT_S [SRC_ADDR...]
 *
 * Opens COUNT TCP connections to HOST, spread round-robin over PORTS (comma-separated) and, when
 * given, over the SRC_ADDRs (bound with IP_BIND_ADDRESS_NO_PORT so that the 4-tuple, not the
 * source port alone, has to be unique), with non-blocking connect() and epoll, at most INFLIGHT
 * handshakes at a time, for at most LIMIT_S seconds. It sends nothing: the connections are idle.
 *
 * Then it prints one JSON line on stdout:
 *   {"phase":"held","established":N,"failed":F,"errors":{"ECONNREFUSED":..},"seconds":S}
 * and holds every established connection, watching for the peer closing or resetting any, until
 * its standard input reaches EOF (or a line arrives) or LIMIT_S more seconds pass. It then prints
 *   {"phase":"done","established":N,"still_open":O,"closed_by_peer":C,"closed_fin":F,"closed_reset":R,"closed_other":X,"readable":B}
 * (the first few connections the peer closes are named on stderr)
 * and exits, resetting its connections (SO_LINGER 0) so the peer is not left with 100k FINs.
 *
 * It raises its own RLIMIT_NOFILE to COUNT + 64; beyond the hard limit that needs
 * CAP_SYS_RESOURCE, which containers often lack: bench/idle.ts then runs several processes.
 *
 * Build: cc -O2 -Wall -o idle_conns idle_conns.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define MAX_PORTS 16
#define MAX_SRCS 64
#define NERR 8

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Connection states, indexed by fd. */
enum { FREE = 0, CONNECTING = 1, ESTABLISHED = 2, GONE = 3 };

static const int err_codes[NERR] = {ECONNREFUSED, ETIMEDOUT, EADDRNOTAVAIL, ECONNRESET, ENOBUFS, EMFILE, EHOSTUNREACH, 0};
static const char *err_names[NERR] = {"ECONNREFUSED", "ETIMEDOUT", "EADDRNOTAVAIL", "ECONNRESET", "ENOBUFS", "EMFILE", "EHOSTUNREACH", "other"};
static long err_count[NERR];

static void count_err(int e) {
  for (int i = 0; i < NERR - 1; i++)
    if (err_codes[i] == e) {
      err_count[i]++;
      return;
    }
  err_count[NERR - 1]++;
}

static void print_errors(void) {
  printf("{");
  int first = 1;
  for (int i = 0; i < NERR; i++) {
    if (!err_count[i]) continue;
    printf("%s\"%s\":%ld", first ? "" : ",", err_names[i], err_count[i]);
    first = 0;
  }
  printf("}");
}

static long closed_fin, closed_reset, closed_other, readable;

/*
 * An established, idle connection became readable: data (counted, the connection stays), or the
 * peer closed it (FIN or reset, counted; the first few are named on stderr). Returns 1 if closed.
 */
static int classify(int fd, const char *phase) {
  char b[256];
  ssize_t r = recv(fd, b, sizeof b, MSG_DONTWAIT);
  if (r > 0) {
    readable++;
    return 0;
  }
  if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
  int e = r < 0 ? errno : 0;
  if (r == 0) closed_fin++;
  else if (e == ECONNRESET) closed_reset++;
  else closed_other++;
  if (closed_fin + closed_reset + closed_other <= 5) {
    struct sockaddr_in l, p;
    socklen_t ll = sizeof l, pl = sizeof p;
    memset(&l, 0, sizeof l);
    memset(&p, 0, sizeof p);
    getsockname(fd, (struct sockaddr *)&l, &ll);
    getpeername(fd, (struct sockaddr *)&p, &pl);
    char la[INET_ADDRSTRLEN] = "?";
    inet_ntop(AF_INET, &l.sin_addr, la, sizeof la);
    fprintf(stderr, "closed by the peer during %s (%s): %s:%d -> port %d\n", phase, r == 0 ? "FIN" : strerror(e), la, ntohs(l.sin_port), ntohs(p.sin_port));
  }
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: idle_conns HOST PORTS COUNT INFLIGHT LIMIT_S [SRC_ADDR...]\n");
    return 2;
  }
  struct in_addr host;
  if (inet_pton(AF_INET, argv[1], &host) != 1) {
    fprintf(stderr, "bad host %s\n", argv[1]);
    return 2;
  }
  int ports[MAX_PORTS], nports = 0;
  for (char *p = strtok(argv[2], ","); p && nports < MAX_PORTS; p = strtok(NULL, ",")) ports[nports++] = atoi(p);
  long count = atol(argv[3]);
  int inflight_max = atoi(argv[4]);
  double limit = atof(argv[5]);
  struct in_addr srcs[MAX_SRCS];
  int nsrcs = 0;
  for (int i = 6; i < argc && nsrcs < MAX_SRCS; i++) {
    if (inet_pton(AF_INET, argv[i], &srcs[nsrcs]) != 1) {
      fprintf(stderr, "bad source address %s\n", argv[i]);
      return 2;
    }
    nsrcs++;
  }
  if (nports == 0 || count <= 0 || inflight_max <= 0 || limit <= 0) {
    fprintf(stderr, "bad arguments\n");
    return 2;
  }

  /* Raise the soft limit to COUNT + 64; the hard limit only if allowed (CAP_SYS_RESOURCE). */
  struct rlimit cur;
  getrlimit(RLIMIT_NOFILE, &cur);
  rlim_t want = (rlim_t)count + 64;
  if (cur.rlim_max == RLIM_INFINITY || cur.rlim_max >= want) {
    struct rlimit rl = {.rlim_cur = want, .rlim_max = cur.rlim_max};
    setrlimit(RLIMIT_NOFILE, &rl);
  } else {
    struct rlimit rl = {.rlim_cur = want, .rlim_max = want};
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
      fprintf(stderr, "setrlimit(RLIMIT_NOFILE, %ld): %s (hard limit %ld; use more processes)\n", (long)want, strerror(errno), (long)cur.rlim_max);
      return 1;
    }
  }
  size_t maxfd = (size_t)count + 64;
  unsigned char *state = calloc(maxfd, 1);
  int ep = epoll_create1(0);
  struct epoll_event *evs = calloc(1024, sizeof *evs);
  if (!state || ep < 0 || !evs) {
    perror("setup");
    return 1;
  }

  long started = 0, established = 0, failed = 0, inflight = 0;
  int one = 1;
  double t0 = now(), deadline = t0 + limit;
  while ((established + inflight < count || inflight > 0) && now() < deadline) {
    /* Start new handshakes up to the in-flight bound. */
    while (inflight < inflight_max && started < count && established + inflight < count) {
      int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      if (fd < 0) {
        count_err(errno);
        failed++;
        started++;
        break;
      }
      if ((size_t)fd >= maxfd) {
        close(fd);
        count_err(EMFILE);
        failed++;
        started++;
        break;
      }
      long i = started++;
      if (nsrcs > 0) {
        struct sockaddr_in src = {.sin_family = AF_INET, .sin_addr = srcs[(i / nports) % nsrcs], .sin_port = 0};
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(fd, (struct sockaddr *)&src, sizeof src) != 0) {
          count_err(errno);
          failed++;
          close(fd);
          continue;
        }
      }
      struct sockaddr_in dst = {.sin_family = AF_INET, .sin_addr = host, .sin_port = htons(ports[i % nports])};
      int r = connect(fd, (struct sockaddr *)&dst, sizeof dst);
      if (r == 0) {
        state[fd] = ESTABLISHED;
        established++;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.fd = fd};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
      } else if (errno == EINPROGRESS) {
        state[fd] = CONNECTING;
        inflight++;
        struct epoll_event ev = {.events = EPOLLOUT, .data.fd = fd};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
      } else {
        count_err(errno);
        failed++;
        close(fd);
      }
    }
    if (started >= count && inflight == 0) break;
    int n = epoll_wait(ep, evs, 1024, 100);
    for (int k = 0; k < n; k++) {
      int fd = evs[k].data.fd;
      if (state[fd] == CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        inflight--;
        if (err == 0) {
          state[fd] = ESTABLISHED;
          established++;
          struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.fd = fd};
          epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
        } else {
          count_err(err);
          failed++;
          state[fd] = FREE;
          epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
          close(fd);
        }
      } else if (state[fd] == ESTABLISHED) {
        /* An idle connection became readable during the connect phase. */
        if (classify(fd, "the connect phase")) {
          state[fd] = GONE;
          epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
        }
      }
    }
  }
  /* Handshakes still pending at the limit count as failed (timed out). */
  for (size_t fd = 0; fd < maxfd; fd++)
    if (state[fd] == CONNECTING) {
      err_count[1]++;
      failed++;
      state[fd] = FREE;
      close((int)fd);
    }
  long gone_early = 0;
  for (size_t fd = 0; fd < maxfd; fd++)
    if (state[fd] == GONE) gone_early++;
  printf("{\"phase\":\"held\",\"established\":%ld,\"failed\":%ld,\"closed_during_connect\":%ld,\"seconds\":%.3f,\"errors\":", established, failed, gone_early, now() - t0);
  print_errors();
  printf("}\n");
  fflush(stdout);

  /* Hold: watch the connections and stdin until EOF/a line or the limit. */
  struct epoll_event sev = {.events = EPOLLIN | EPOLLHUP, .data.fd = 0};
  epoll_ctl(ep, EPOLL_CTL_ADD, 0, &sev);
  long closed_by_peer = gone_early;
  double hold_deadline = now() + limit;
  int stop = 0;
  while (!stop && now() < hold_deadline) {
    int n = epoll_wait(ep, evs, 1024, 200);
    for (int k = 0; k < n; k++) {
      int fd = evs[k].data.fd;
      if (fd == 0) {
        stop = 1;
        continue;
      }
      if (state[fd] != ESTABLISHED) continue;
      if (classify(fd, "the hold")) {
        closed_by_peer++;
        state[fd] = GONE;
        epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
      }
    }
  }
  long still = 0;
  struct linger lg = {.l_onoff = 1, .l_linger = 0};
  for (size_t fd = 0; fd < maxfd; fd++) {
    if (state[fd] == ESTABLISHED) still++;
    if (state[fd] == ESTABLISHED || state[fd] == GONE) {
      setsockopt((int)fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
      close((int)fd);
    }
  }
  printf("{\"phase\":\"done\",\"established\":%ld,\"still_open\":%ld,\"closed_by_peer\":%ld,\"closed_fin\":%ld,\"closed_reset\":%ld,\"closed_other\":%ld,\"readable\":%ld}\n", established, still, closed_by_peer, closed_fin, closed_reset, closed_other, readable);
  fflush(stdout);
  return 0;
}
