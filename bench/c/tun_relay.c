/*
 * tun_relay: a user-space stand-in for `tc netem` between two network namespaces, for kernels
 * without sch_netem (bench/loss.ts). It joins two TUN devices, one in each namespace, and
 * forwards IP packets between them, applying to each packet, independently and in each
 * direction, the model of `netstack host --impair` (src/cli/host.ts, ImpairedLink): lost with
 * probability LOSS, otherwise held DELAY_MS and delivered in order.
 *
 *   tun_relay NETNS_B DEV_A DEV_B DELAY_MS LOSS_PERCENT SEED LIMIT_S
 *
 * Start it inside namespace A (`ip netns exec A tun_relay B ...`): it creates DEV_A there, then
 * enters NETNS_B (/var/run/netns/NETNS_B) and creates DEV_B. The caller configures addresses and
 * brings the devices up after "ready" appears on stdout. Without a virtio-net header the kernel
 * segments TCP before the device: every packet is at most one MTU, as for netstack's TUN.
 * Runs until SIGTERM/SIGINT or LIMIT_S seconds, then prints one JSON line of counters.
 *
 * Build: cc -O2 -Wall -o tun_relay tun_relay.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define SLOTS 32768 /* packets held per direction */
#define SLOT_BYTES 2048
#define MTU_MAX 2000

struct queue {
  unsigned char *buf; /* SLOTS × SLOT_BYTES */
  uint16_t len[SLOTS];
  double due[SLOTS];
  unsigned head, tail; /* head: next to send; tail: next free */
};

struct dir {
  int in, out;
  struct queue q;
  unsigned long long rx, lost, sent, overflow, write_err;
};

static volatile sig_atomic_t stop;
static uint32_t rng;

static void on_signal(int s) {
  (void)s;
  stop = 1;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* xorshift32, uniform in [0, 1): the same generator as ImpairedLink. */
static double next_rand(void) {
  uint32_t x = rng;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  rng = x;
  return x / 4294967296.0;
}

static int open_tun(const char *name) {
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    perror("open /dev/net/tun");
    exit(1);
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    perror("TUNSETIFF");
    exit(1);
  }
  return fd;
}

/* Reads everything available on d->in into the delay queue (or drops it). */
static void pump_in(struct dir *d, double delay, double loss) {
  for (int i = 0; i < 256; i++) {
    struct queue *q = &d->q;
    unsigned char tmp[MTU_MAX];
    int full = q->tail - q->head >= SLOTS;
    unsigned char *slot = full ? tmp : q->buf + (size_t)(q->tail % SLOTS) * SLOT_BYTES;
    ssize_t n = read(d->in, slot, full ? sizeof tmp : SLOT_BYTES);
    if (n < 0) return; /* EAGAIN or error: nothing more now */
    d->rx++;
    if (loss > 0 && next_rand() < loss) {
      d->lost++;
      continue;
    }
    if (full) {
      d->overflow++;
      continue;
    }
    q->len[q->tail % SLOTS] = (uint16_t)n;
    q->due[q->tail % SLOTS] = now_ms() + delay;
    q->tail++;
  }
}

/* Writes every packet whose time has come; returns ms until the next one (or -1 if none). */
static double pump_out(struct dir *d) {
  struct queue *q = &d->q;
  double t = now_ms();
  while (q->head != q->tail) {
    unsigned s = q->head % SLOTS;
    if (q->due[s] > t) return q->due[s] - t;
    if (write(d->out, q->buf + (size_t)s * SLOT_BYTES, q->len[s]) < 0) d->write_err++;
    else d->sent++;
    q->head++;
  }
  return -1;
}

int main(int argc, char **argv) {
  if (argc != 8) {
    fprintf(stderr, "usage: tun_relay NETNS_B DEV_A DEV_B DELAY_MS LOSS_PERCENT SEED LIMIT_S\n");
    return 2;
  }
  double delay = atof(argv[4]);
  double loss = atof(argv[5]) / 100.0;
  rng = (uint32_t)strtoul(argv[6], NULL, 10);
  if (rng == 0) rng = 1;
  double limit = atof(argv[7]) * 1000;
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);

  int a = open_tun(argv[2]);
  char path[256];
  snprintf(path, sizeof path, "/var/run/netns/%s", argv[1]);
  int nsfd = open(path, O_RDONLY | O_CLOEXEC);
  if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) != 0) {
    perror(path);
    return 1;
  }
  close(nsfd);
  int b = open_tun(argv[3]);

  struct dir ab = {.in = a, .out = b}, ba = {.in = b, .out = a};
  ab.q.buf = malloc((size_t)SLOTS * SLOT_BYTES);
  ba.q.buf = malloc((size_t)SLOTS * SLOT_BYTES);
  if (!ab.q.buf || !ba.q.buf) {
    perror("malloc");
    return 1;
  }
  printf("ready\n");
  fflush(stdout);

  double end = now_ms() + limit;
  while (!stop && now_ms() < end) {
    double w1 = pump_out(&ab), w2 = pump_out(&ba);
    double wait = 100;
    if (w1 >= 0 && w1 < wait) wait = w1;
    if (w2 >= 0 && w2 < wait) wait = w2;
    struct pollfd p[2] = {{.fd = a, .events = POLLIN}, {.fd = b, .events = POLLIN}};
    struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)(wait * 1e6)};
    int n = ppoll(p, 2, &ts, NULL);
    if (n < 0 && errno != EINTR) {
      perror("ppoll");
      break;
    }
    if (n > 0) {
      if (p[0].revents & POLLIN) pump_in(&ab, delay, loss);
      if (p[1].revents & POLLIN) pump_in(&ba, delay, loss);
    }
  }
  printf("{\"a_to_b\":{\"rx\":%llu,\"lost\":%llu,\"sent\":%llu,\"overflow\":%llu,\"write_errors\":%llu},"
         "\"b_to_a\":{\"rx\":%llu,\"lost\":%llu,\"sent\":%llu,\"overflow\":%llu,\"write_errors\":%llu}}\n",
         ab.rx, ab.lost, ab.sent, ab.overflow, ab.write_err, ba.rx, ba.lost, ba.sent, ba.overflow, ba.write_err);
  fflush(stdout);
  return 0;
}
