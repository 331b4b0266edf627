/* xdpl-trafficgen: sends crafted packets out of an interface at line rate
 * for tests and benchmarks, using BPF_PROG_TEST_RUN in live-frames mode
 * (BPF_F_TEST_XDP_LIVE_FRAMES): a tiny XDP program returning XDP_TX runs
 * with ingress_ifindex = the chosen interface, so every "test run" frame is
 * really transmitted. On a veth, the frames arrive at the peer, which must
 * have an XDP program attached for them to be delivered.
 *
 *   xdpl-trafficgen --dev IF (--pcap FILE | --hex HEX...) [--count N]
 *                   [--seconds S] [--batch B] [--cpu C] [--prog OBJ.o]
 *
 * Packets of the capture (or the --hex list) are sent as a mix: each round
 * sends `--burst` copies of each packet in turn. Prints one line:
 *   sent N packets in S s: R Mpps
 * and, per packet of the mix, how many were sent.
 *
 * --prog OBJ.o runs the first program of OBJ.o instead of the XDP_TX one
 * (it must return XDP_TX for the frame to leave). Live frames are set up
 * once per page and reused: what a receiver changes in a frame (route's
 * TTL decrement) comes back, so such a program can restore it. */
#include <errno.h>
#include <getopt.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* r0 = XDP_TX; exit */
static int load_tx_prog(void)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_TX },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, opts);
	int fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "xdpl_tgen", "GPL", insns, 2, &opts);
	if (fd < 0) {
		fprintf(stderr, "xdpl-trafficgen: loading the XDP_TX program failed: %s\n",
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

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Send one packet `repeat` times as live frames; returns 0 or -errno. */
static int send_live(int prog_fd, int ifindex, struct packet *p, unsigned repeat, unsigned batch)
{
	struct xdp_md ctx = { .data_end = (unsigned)p->len, .ingress_ifindex = (unsigned)ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = p->data, .data_size_in = (unsigned)p->len,
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = repeat,
		    .flags = BPF_F_TEST_XDP_LIVE_FRAMES, .batch_size = batch);
	int err = bpf_prog_test_run_opts(prog_fd, &opts);
	if (err)
		return -errno;
	p->sent += repeat;
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: xdpl-trafficgen --dev IF (--pcap FILE | --hex HEX...) "
			"[--count N] [--seconds S] [--burst N] [--batch B] [--prog OBJ.o]\n");
	exit(1);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dev", required_argument, NULL, 'd' },   { "pcap", required_argument, NULL, 'p' },
		{ "hex", required_argument, NULL, 'x' },   { "count", required_argument, NULL, 'c' },
		{ "seconds", required_argument, NULL, 's' }, { "burst", required_argument, NULL, 'b' },
		{ "batch", required_argument, NULL, 'B' }, { "prog", required_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dev = NULL, *prog_path = NULL;
	struct mix mix = { 0 };
	unsigned long long count = 0;
	double seconds = 0;
	unsigned burst = 4096, batch = 64;
	int c;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': dev = optarg; break;
		case 'p': mix_add_pcap(&mix, optarg); break;
		case 'x': mix_add_hex(&mix, optarg); break;
		case 'c': count = strtoull(optarg, NULL, 0); break;
		case 's': seconds = atof(optarg); break;
		case 'b': burst = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'B': batch = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'P': prog_path = optarg; break;
		default: usage();
		}
	}
	if (!dev || !mix.n || (!count && seconds <= 0) || !burst)
		usage();
	int ifindex = (int)if_nametoindex(dev);
	if (!ifindex) {
		fprintf(stderr, "xdpl-trafficgen: no such device '%s'\n", dev);
		return 1;
	}
	int prog_fd = prog_path ? load_obj_prog(prog_path) : load_tx_prog();
	unsigned long long total = 0;
	double start = now(), deadline = start + seconds;
	for (;;) {
		for (int i = 0; i < mix.n; i++) {
			unsigned n = burst;
			if (count && count - total < n)
				n = (unsigned)(count - total);
			if (!n)
				break;
			int err = send_live(prog_fd, ifindex, &mix.pkts[i], n, batch);
			if (err) {
				fprintf(stderr, "xdpl-trafficgen: live test run failed: %s\n",
					strerror(-err));
				return 1;
			}
			total += n;
		}
		if (count ? total >= count : now() >= deadline)
			break;
	}
	double elapsed = now() - start;
	printf("sent %llu packets in %.3f s: %.3f Mpps\n", total, elapsed,
	       elapsed > 0 ? (double)total / elapsed / 1e6 : 0.0);
	for (int i = 0; i < mix.n; i++) {
		printf("packet %d: %zu bytes, sent %llu\n", i, mix.pkts[i].len, mix.pkts[i].sent);
		free(mix.pkts[i].data);
	}
	free(mix.pkts);
	if (!prog_path)
		close(prog_fd);
	return 0;
}
