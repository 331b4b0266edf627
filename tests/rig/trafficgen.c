/* xdpl-trafficgen: sends crafted packets out of an interface at line rate
 * for tests and benchmarks, using BPF_PROG_TEST_RUN in live-frames mode
 * (BPF_F_TEST_XDP_LIVE_FRAMES): a tiny XDP program returning XDP_TX runs
 * with ingress_ifindex = the chosen interface, so every "test run" frame is
 * really transmitted. On a veth, the frames arrive at the peer, which must
 * have an XDP program attached for them to be delivered.
 *
 * Kernels that refuse live frames get the same packets from an AF_PACKET
 * socket (sendmmsg, PACKET_QDISC_BYPASS): slower, but on every kernel.
 * XDPL_TRAFFICGEN=live|afpacket|auto (default auto: live where allowed)
 * chooses; the sender used is said on stderr.
 *
 *   xdpl-trafficgen --dev IF (--pcap FILE | --hex HEX...) [--count N]
 *                   [--seconds S] [--burst N] [--batch B] [--prog OBJ.o]
 *   xdpl-trafficgen --dev IF --mode    prints "live" or "afpacket"
 *
 * Packets of the capture (or the --hex list) are sent as a mix: each round
 * sends `--burst` copies of each packet in turn. Prints one line:
 *   sent N packets in S s: R Mpps
 * and, per packet of the mix, how many were sent.
 *
 * --prog OBJ.o runs the first program of OBJ.o instead of the XDP_TX one
 * (it must return XDP_TX for the frame to leave). Live frames are set up
 * once per page and reused: what a receiver changes in a frame (route's
 * TTL decrement) comes back, so such a program can restore it. The
 * AF_PACKET sender copies every frame afresh and runs no program. */
#define _GNU_SOURCE /* sendmmsg */
#include <errno.h>
#include <getopt.h>
#include <linux/bpf.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

struct packet {
	unsigned char *data;
	size_t len;
	unsigned long long sent;
};

struct mix {
	struct packet *pkts;
	int n;
};

enum tgen_mode { TGEN_LIVE, TGEN_AFPACKET };

static const char *const mode_names[] = { [TGEN_LIVE] = "live", [TGEN_AFPACKET] = "afpacket" };

struct sender {
	enum tgen_mode mode;
	int fd; /* live: the XDP program; afpacket: the socket */
	int ifindex;
	unsigned batch;
	struct mmsghdr *msgs; /* afpacket: one sendmmsg batch */
};

static void die(const char *msg)
{
	fprintf(stderr, "xdpl-trafficgen: %s\n", msg);
	exit(1);
}

static void mix_add(struct mix *m, const void *data, size_t len)
{
	struct packet *p = realloc(m->pkts, sizeof(*p) * (size_t)(m->n + 1));
	if (!p)
		die("out of memory");
	m->pkts = p;
	p[m->n].data = malloc(len);
	if (!p[m->n].data)
		die("out of memory");
	memcpy(p[m->n].data, data, len);
	p[m->n].len = len;
	p[m->n].sent = 0;
	m->n++;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void mix_add_hex(struct mix *m, const char *hex)
{
	unsigned char buf[9216];
	size_t len = 0;
	for (const char *p = hex; *p;) {
		if (*p == ' ' || *p == ':') {
			p++;
			continue;
		}
		int hi = hexval(p[0]), lo = hi < 0 ? -1 : hexval(p[1]);
		if (hi < 0 || lo < 0 || len == sizeof(buf))
			die("bad --hex packet: expected pairs of hex digits");
		buf[len++] = (unsigned char)(hi << 4 | lo);
		p += 2;
	}
	mix_add(m, buf, len);
}

/* pcap/bpf.h and linux/bpf.h both define struct bpf_insn, so captures are
 * read in their own file. */
int pcap_for_each(const char *path, void (*fn)(void *arg, const void *data, size_t len),
		  void *arg);

static void mix_add_cb(void *arg, const void *data, size_t len)
{
	mix_add(arg, data, len);
}

static void mix_add_pcap(struct mix *m, const char *path)
{
	if (pcap_for_each(path, mix_add_cb, m))
		exit(1);
}

/* r0 = VERDICT; exit: XDP_TX sends the live frame, XDP_DROP probes. */
static int load_verdict_prog(int verdict)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = verdict },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, opts);
	int fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "xdpl_tgen", "GPL", insns, 2, &opts);
	if (fd < 0) {
		fprintf(stderr, "xdpl-trafficgen: loading the XDP program failed: %s\n",
			strerror(errno));
		exit(1);
	}
	return fd;
}

/* --prog: the first program of an object file. */
static int load_obj_prog(const char *path)
{
	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	struct bpf_program *prog = obj ? bpf_object__next_program(obj, NULL) : NULL;
	if (!prog || bpf_object__load(obj)) {
		fprintf(stderr, "xdpl-trafficgen: cannot load a program from %s\n", path);
		exit(1);
	}
	return bpf_program__fd(prog); /* the object stays open until exit */
}

/* One live-frames test run of PROG_FD: `repeat` frames of DATA with
 * ingress_ifindex = IFINDEX; returns 0 or -errno. */
static int live_run(int prog_fd, int ifindex, void *data, size_t len, unsigned repeat,
		    unsigned batch)
{
	struct xdp_md ctx = { .data_end = (unsigned)len, .ingress_ifindex = (unsigned)ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = data, .data_size_in = (unsigned)len,
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = repeat,
		    .flags = BPF_F_TEST_XDP_LIVE_FRAMES, .batch_size = batch);
	return bpf_prog_test_run_opts(prog_fd, &opts) ? -errno : 0;
}

/* Whether the kernel runs live frames: one frame through an XDP_DROP
 * program, which sends nothing. Some kernels refuse the flag (EPERM,
 * EOPNOTSUPP, or EINVAL before 5.18); any other error is fatal. */
static bool live_frames_allowed(int ifindex)
{
	unsigned char frame[64] = { 0 };
	int fd = load_verdict_prog(XDP_DROP);
	int err = live_run(fd, ifindex, frame, sizeof(frame), 1, 1);
	close(fd);
	if (err == -EPERM || err == -EOPNOTSUPP || err == -EINVAL) {
		fprintf(stderr, "xdpl-trafficgen: the kernel refuses live frames (%s)\n",
			strerror(-err));
		return false;
	}
	if (err) {
		fprintf(stderr, "xdpl-trafficgen: live frames probe failed: %s\n", strerror(-err));
		exit(1);
	}
	return true;
}

/* XDPL_TRAFFICGEN=live|afpacket forces a sender; auto (or unset) uses live
 * frames where the kernel allows them. */
static enum tgen_mode mode_choose(int ifindex)
{
	const char *env = getenv("XDPL_TRAFFICGEN");
	if (!env || !*env || !strcmp(env, "auto"))
		return live_frames_allowed(ifindex) ? TGEN_LIVE : TGEN_AFPACKET;
	if (!strcmp(env, "live"))
		return TGEN_LIVE;
	if (!strcmp(env, "afpacket"))
		return TGEN_AFPACKET;
	die("XDPL_TRAFFICGEN must be auto, live or afpacket");
	return TGEN_LIVE;
}

/* The fallback: a raw AF_PACKET socket bound to the interface, bypassing
 * the qdisc so that a frame the device cannot take (a veth peer's full
 * ring) fails the send (ENOBUFS) and is sent again: every frame counted as
 * sent was handed to the peer. */
static int afpacket_open(int ifindex)
{
	int fd = socket(AF_PACKET, SOCK_RAW, 0), one = 1;
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_ifindex = ifindex };
	if (fd < 0 || setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&sll, sizeof(sll))) {
		fprintf(stderr, "xdpl-trafficgen: AF_PACKET socket: %s\n", strerror(errno));
		exit(1);
	}
	return fd;
}

/* Send one packet `repeat` times with sendmmsg batches of up to `batch`;
 * returns 0 or -errno. A full device (ENOBUFS, EAGAIN) is waited for. */
static int afpacket_send(struct sender *s, struct packet *p, unsigned repeat)
{
	struct iovec iov = { .iov_base = p->data, .iov_len = p->len };
	for (unsigned i = 0; i < s->batch; i++)
		s->msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov, .msg_iovlen = 1 } };
	while (repeat) {
		int n = sendmmsg(s->fd, s->msgs, repeat < s->batch ? repeat : s->batch, 0);
		if (n < 0 && errno != ENOBUFS && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (n <= 0) {
			sched_yield();
			continue;
		}
		repeat -= (unsigned)n;
		p->sent += (unsigned)n;
	}
	return 0;
}

static void sender_open(struct sender *s, int ifindex, const char *prog_path, unsigned batch)
{
	s->mode = mode_choose(ifindex);
	s->ifindex = ifindex;
	s->batch = batch;
	if (s->mode == TGEN_LIVE) {
		s->fd = prog_path ? load_obj_prog(prog_path) : load_verdict_prog(XDP_TX);
		fprintf(stderr, "xdpl-trafficgen: sending live frames (BPF_PROG_TEST_RUN)\n");
		return;
	}
	if (s->batch > 1024)
		s->batch = 1024; /* UIO_MAXIOV */
	s->msgs = calloc(s->batch, sizeof(*s->msgs));
	if (!s->msgs)
		die("out of memory");
	s->fd = afpacket_open(ifindex);
	fprintf(stderr, "xdpl-trafficgen: sending with an AF_PACKET socket "
			"(sendmmsg, PACKET_QDISC_BYPASS)%s\n",
		prog_path ? ": --prog is not run, frames are sent as they are" : "");
}

/* Send one packet `repeat` times; returns 0 or -errno. */
static int sender_send(struct sender *s, struct packet *p, unsigned repeat)
{
	if (s->mode == TGEN_AFPACKET)
		return afpacket_send(s, p, repeat);
	int err = live_run(s->fd, s->ifindex, p->data, p->len, repeat, s->batch);
	if (!err)
		p->sent += repeat;
	return err;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(void)
{
	fprintf(stderr, "usage: xdpl-trafficgen --dev IF (--pcap FILE | --hex HEX...) "
			"[--count N] [--seconds S] [--burst N] [--batch B] [--prog OBJ.o]\n"
			"       xdpl-trafficgen --dev IF --mode\n");
	exit(1);
}

struct tgen_opts {
	const char *dev, *prog_path;
	struct mix mix;
	unsigned long long count;
	double seconds;
	unsigned burst, batch;
	bool print_mode;
};

static void opts_parse(struct tgen_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dev", required_argument, NULL, 'd' },   { "pcap", required_argument, NULL, 'p' },
		{ "hex", required_argument, NULL, 'x' },   { "count", required_argument, NULL, 'c' },
		{ "seconds", required_argument, NULL, 's' }, { "burst", required_argument, NULL, 'b' },
		{ "batch", required_argument, NULL, 'B' }, { "prog", required_argument, NULL, 'P' },
		{ "mode", no_argument, NULL, 'm' },	   { NULL, 0, NULL, 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': o->dev = optarg; break;
		case 'p': mix_add_pcap(&o->mix, optarg); break;
		case 'x': mix_add_hex(&o->mix, optarg); break;
		case 'c': o->count = strtoull(optarg, NULL, 0); break;
		case 's': o->seconds = atof(optarg); break;
		case 'b': o->burst = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'B': o->batch = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'P': o->prog_path = optarg; break;
		case 'm': o->print_mode = true; break;
		default: usage();
		}
	}
	if (!o->dev || (!o->print_mode && (!o->mix.n || (!o->count && o->seconds <= 0) ||
					   !o->burst || !o->batch)))
		usage();
}

/* The mix in rounds of `burst` copies of each packet until `count` packets
 * or `seconds` have passed; returns the packets sent. */
static unsigned long long send_mix(struct sender *s, struct tgen_opts *o)
{
	unsigned long long total = 0, count = o->count;
	double deadline = now() + o->seconds;
	/* The deadline is checked after each round: AF_PACKET rounds of a
	 * large burst would overrun it by seconds, so they are one batch. */
	unsigned burst = o->burst;
	if (!count && s->mode == TGEN_AFPACKET && burst > s->batch)
		burst = s->batch;
	for (;;) {
		for (int i = 0; i < o->mix.n; i++) {
			unsigned n = burst;
			if (count && count - total < n)
				n = (unsigned)(count - total);
			if (!n)
				break;
			int err = sender_send(s, &o->mix.pkts[i], n);
			if (err) {
				fprintf(stderr, "xdpl-trafficgen: %s send failed: %s\n",
					mode_names[s->mode], strerror(-err));
				exit(1);
			}
			total += n;
		}
		if (count ? total >= count : now() >= deadline)
			return total;
	}
}

int main(int argc, char **argv)
{
	struct tgen_opts o = { .burst = 4096, .batch = 64 };
	opts_parse(&o, argc, argv);
	int ifindex = (int)if_nametoindex(o.dev);
	if (!ifindex) {
		fprintf(stderr, "xdpl-trafficgen: no such device '%s'\n", o.dev);
		return 1;
	}
	if (o.print_mode) {
		puts(mode_names[mode_choose(ifindex)]);
		return 0;
	}
	struct sender s = { 0 };
	sender_open(&s, ifindex, o.prog_path, o.batch);
	double start = now();
	unsigned long long total = send_mix(&s, &o);
	double elapsed = now() - start;
	printf("sent %llu packets in %.3f s: %.3f Mpps\n", total, elapsed,
	       elapsed > 0 ? (double)total / elapsed / 1e6 : 0.0);
	for (int i = 0; i < o.mix.n; i++) {
		printf("packet %d: %zu bytes, sent %llu\n", i, o.mix.pkts[i].len, o.mix.pkts[i].sent);
		free(o.mix.pkts[i].data);
	}
	free(o.mix.pkts);
	free(s.msgs);
	if (!o.prog_path || s.mode == TGEN_AFPACKET)
		close(s.fd);
	return 0;
}
