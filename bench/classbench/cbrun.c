/* xdpl-cbrun OBJ.o IN.pcap REPEAT [EXPECTED]: every packet of the capture
 * through the loaded program (BPF_PROG_TEST_RUN, REPEAT times each).
 *
 * Without EXPECTED: prints "mean_ns N", the mean over packets of the
 * kernel's average time per run.
 * With EXPECTED (one line per packet: the rule that must decide it, "rK"
 * or "-" for the default, as bench/classbench/cb.py oracle writes): each
 * packet is run once and must move that rule's counter (slot K of
 * xdpl_stats; the default's slot for "-"). Rules that decide count once
 * per packet and none continues, so the slot that moved is the decider's.
 * Prints "agree A/N" (and the first disagreements on stderr). Reading one
 * slot before and after keeps this fast on 100k-rule programs, where
 * xdplc run reads every counter per packet. */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xdpl.h"
#include "xdpl_meta.h"

/* A pcap file (classic format, host byte order, as cb.py writes it). */
struct capture {
	uint8_t *buf;
	size_t len, off;
};

static bool next_packet(struct capture *c, const uint8_t **data, uint32_t *len)
{
	if (c->off + 16 > c->len)
		return false;
	memcpy(len, c->buf + c->off + 8, 4); /* incl_len */
	if (c->off + 16 + *len > c->len)
		return false;
	*data = c->buf + c->off + 16;
	c->off += 16 + *len;
	return true;
}

static int read_capture(const char *path, struct capture *c)
{
	FILE *f = fopen(path, "rb");
	long n = f && !fseek(f, 0, SEEK_END) ? ftell(f) : -1;
	c->buf = n >= 24 ? malloc((size_t)n) : NULL;
	bool ok = c->buf && !fseek(f, 0, SEEK_SET) && fread(c->buf, 1, (size_t)n, f) == (size_t)n;
	if (f)
		fclose(f);
	if (!ok || *(uint32_t *)c->buf != 0xA1B2C3D4u) {
		fprintf(stderr, "%s: not a pcap file\n", path);
		return -1;
	}
	c->len = (size_t)n;
	c->off = 24;
	return 0;
}

/* packets counted in slot, summed over CPUs */
static long long slot_packets(int fd, int slot, struct xdpl_counter *buf)
{
	uint32_t key = (uint32_t)slot;
	if (bpf_map_lookup_elem(fd, &key, buf))
		return -1;
	long long n = 0;
	for (int c = 0; c < libbpf_num_possible_cpus(); c++)
		n += (long long)buf[c].packets;
	return n;
}

static int expected_slot(const char *line, int nrules)
{
	if (line[0] == '-')
		return nrules; /* the default */
	return line[0] == 'r' ? atoi(line + 1) : -1;
}

/* One BPF_PROG_TEST_RUN of the packet, repeat times; the kernel's mean ns. */
static int run(struct xdpl_object *obj, const void *pkt, uint32_t len, int repeat, double *ns)
{
	static uint8_t out[65536];
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = len, .data_out = out,
		    .data_size_out = sizeof(out), .repeat = repeat);
	if (bpf_prog_test_run_opts(xdpl_object__prog_fd(obj), &o)) {
		perror("BPF_PROG_TEST_RUN");
		return -1;
	}
	*ns = o.duration;
	return 0;
}

static int check(struct xdpl_object *obj, struct capture *pc, FILE *want)
{
	struct bpf_map *m = bpf_object__find_map_by_name(xdpl_object__bpf_object(obj), XDPL_STATS_MAP);
	int fd = m ? bpf_map__fd(m) : -1, nrules = xdpl_object__rule_count(obj);
	struct xdpl_counter *buf = calloc((size_t)libbpf_num_possible_cpus(), sizeof(*buf));
	if (fd < 0 || !buf) {
		fprintf(stderr, "no %s map\n", XDPL_STATS_MAP);
		return 1;
	}
	const uint8_t *data;
	uint32_t len;
	char line[64];
	long n = 0, agree = 0;
	double ns;
	while (next_packet(pc, &data, &len) && fgets(line, sizeof(line), want)) {
		int slot = expected_slot(line, nrules);
		n++;
		long long before = slot >= 0 && slot <= nrules ? slot_packets(fd, slot, buf) : -1;
		if (run(obj, data, len, 1, &ns))
			return 1;
		if (before >= 0 && slot_packets(fd, slot, buf) == before + 1)
			agree++;
		else if (n - agree <= 5)
			fprintf(stderr, "packet %ld: %s did not decide it\n", n, strtok(line, "\n"));
	}
	printf("agree %ld/%ld\n", agree, n);
	free(buf);
	return 0;
}

static int timing(struct xdpl_object *obj, struct capture *pc, int repeat)
{
	const uint8_t *data;
	uint32_t len;
	double sum = 0, ns;
	long n = 0;
	while (next_packet(pc, &data, &len)) {
		if (run(obj, data, len, repeat, &ns))
			return 1;
		sum += ns;
		n++;
	}
	printf("mean_ns %.1f\n", n ? sum / (double)n : 0.0);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 4 && argc != 5) {
		fprintf(stderr, "usage: %s OBJ.o IN.pcap REPEAT [EXPECTED]\n", argv[0]);
		return 1;
	}
	struct xdpl_object *obj = xdpl_object__open_file(argv[1]);
	if (!obj || xdpl_object__load(obj)) {
		fprintf(stderr, "%s: %s\n", argv[1], xdpl_last_error());
		return 1;
	}
	struct capture pc;
	if (read_capture(argv[2], &pc))
		return 1;
	FILE *want = argc == 5 ? fopen(argv[4], "r") : NULL;
	if (argc == 5 && !want) {
		perror(argv[4]);
		return 1;
	}
	int st = want ? check(obj, &pc, want) : timing(obj, &pc, atoi(argv[3]) > 0 ? atoi(argv[3]) : 1);
	if (want)
		fclose(want);
	free(pc.buf);
	xdpl_object__close(obj);
	return st;
}
