/*
 * tun_echo: the smallest possible "host" on a TUN device, as the benchmark's baseline.
 * Opens (creating if needed) TUN device argv[1] (IFF_TUN | IFF_NO_PI) and answers, by
 * swapping addresses in place and writing the packet back:
 *   - ICMPv4 echo request (type 8)    -> echo reply (type 0)
 *   - ICMPv6 echo request (type 128)  -> echo reply (type 129)
 *   - UDP to port argv[2]             -> the same datagram back (ports swapped)
 * Everything else (MLD, router solicitations, fragments, ...) is ignored.
 * Prints "ready" on stdout once the device is open; runs until killed (SIGTERM/SIGINT).
 * The device's addresses and state are configured by the caller with `ip`.
 *
 * Build: cc -O2 -o tun_echo tun_echo.c
 */
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <errno.h>

static volatile sig_atomic_t stop = 0;
static void on_signal(int sig) { (void)sig; stop = 1; }

/* RFC 1624 incremental update of a ones-complement checksum for a 16-bit word m -> m2. */
static uint16_t csum_update(uint16_t hc, uint16_t m, uint16_t m2) {
  uint32_t sum = (uint16_t)~hc + (uint16_t)~m + m2;
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static void wr16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xff; }

static void swap_bytes(uint8_t *a, uint8_t *b, size_t n) {
  uint8_t t[16];
  memcpy(t, a, n); memcpy(a, b, n); memcpy(b, t, n);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s DEV UDP_PORT\n", argv[0]);
    return 2;
  }
  int port = atoi(argv[2]);
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) { perror("open /dev/net/tun"); return 1; }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  strncpy(ifr.ifr_name, argv[1], IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) { perror("TUNSETIFF"); return 1; }

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal; /* no SA_RESTART: a blocked read() returns EINTR */
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  printf("ready %s\n", ifr.ifr_name);
  fflush(stdout);

  static uint8_t buf[65536];
  unsigned long echoed = 0;
  while (!stop) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("read");
      return 1;
    }
    if (n < 20) continue;
    int version = buf[0] >> 4;
    if (version == 4) {
      size_t ihl = (size_t)(buf[0] & 0x0f) * 4;
      if (ihl < 20 || (size_t)n < ihl + 8) continue;
      if ((rd16(buf + 6) & 0x3fff) != 0) continue; /* a fragment */
      uint8_t proto = buf[9];
      uint8_t *l4 = buf + ihl;
      if (proto == 1 && l4[0] == 8 && l4[1] == 0) {
        l4[0] = 0;
        wr16(l4 + 2, csum_update(rd16(l4 + 2), 0x0800, 0x0000));
      } else if (proto == 17 && rd16(l4 + 2) == port) {
        swap_bytes(l4, l4 + 2, 2); /* checksum unchanged: the sum is symmetric */
      } else {
        continue;
      }
      swap_bytes(buf + 12, buf + 16, 4); /* header checksum unchanged */
    } else if (version == 6) {
      if (n < 48) continue;
      uint8_t nh = buf[6];
      uint8_t *l4 = buf + 40;
      if (nh == 58 && l4[0] == 128 && l4[1] == 0) {
        l4[0] = 129;
        wr16(l4 + 2, csum_update(rd16(l4 + 2), 0x8000, 0x8100));
      } else if (nh == 17 && rd16(l4 + 2) == port) {
        swap_bytes(l4, l4 + 2, 2);
      } else {
        continue;
      }
      swap_bytes(buf + 8, buf + 24, 16);
    } else {
      continue;
    }
    if (write(fd, buf, (size_t)n) < 0 && errno != EINTR) {
      /* A full queue drops the packet, like a real host would. */
    }
    echoed++;
  }
  fprintf(stderr, "tun_echo: echoed %lu packets\n", echoed);
  close(fd);
  return 0;
}
