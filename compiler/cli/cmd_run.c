/* xdplc run: every packet of a capture through a policy in the kernel. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcap/pcap.h>

#include "xdpl.h"
#include "cli.h"

const char run_help[] =
	"Sends every packet of a capture through the program in the kernel\n"
	"(BPF_PROG_TEST_RUN) and prints '#N LEN VERDICT RULE' per packet, then the\n"
	"packets and bytes counted by each rule. FILE is XDPL source or a compiled\n"
	"object. Sets, maps and rate limits keep their state from packet to packet.\n"
	"Needs root.\n"
	"\n"
	"options:\n"
	"      --pcap IN          the capture to read (Ethernet link type)\n"
	"  -w, --write OUT        write the packets that are not dropped, after\n"
	"                         rewrites, to the capture OUT\n"
	"      --json             print one JSON document instead of text\n"
	"  -h, --help             show this help\n";

struct run {
	const char *path, *pcap_in, *pcap_out;
	bool json;
	pcap_t *pc;
	pcap_dumper_t *dump;
	struct policy pol;
	struct xdpl_object *obj;
	int nslots; /* rules + the default */
	/* counters before and after; own tallies of the deciding rule per
	 * packet (the fallback without counters; slot nslots: unknown) */
	struct xdpl_counter *before, *after, *decided;
	bool have_counters;
	uint64_t per_action[6]; /* 0..4, 5 = other */
	uint64_t npackets, nerrors, nwritten;
	char last_err[256];
};

/* The options and the policy; -1 to go on, else an exit status. */
static int run_parse(const struct command *c, int argc, char **argv, struct run *r)
{
	const struct cli_opt opts[] = {
		{ "pcap", 0, CLI_STRING, &r->pcap_in, NULL },
		{ "write", 'w', CLI_STRING, &r->pcap_out, NULL },
		{ "json", 0, CLI_FLAG, &r->json, NULL },
		{ NULL, 0, 0, NULL, NULL },
	};
	int first, st = cli_parse(c, argc, argv, opts, 0, &first);
	if (st < 0)
		st = cli_inputs(c, argc, argv, first, 1, "one policy at a time");
	if (st < 0 && !r->pcap_in)
		st = usage_error(c, "--pcap IN is required");
	if (st < 0)
		r->path = argv[first];
	return st;
}

static int open_capture(struct run *r)
{
	char errbuf[PCAP_ERRBUF_SIZE] = "";
	r->pc = pcap_open_offline(r->pcap_in, errbuf);
	if (!r->pc) {
		error("cannot read the capture %s: %s", r->pcap_in, errbuf);
		return EXIT_USER;
	}
	if (pcap_datalink(r->pc) != DLT_EN10MB) {
		const char *ln = pcap_datalink_val_to_name(pcap_datalink(r->pc));
		error("%s has link type %s; XDP programs see Ethernet frames, so only Ethernet "
		      "(EN10MB) captures can be run",
		      r->pcap_in, ln ? ln : "unknown");
		return EXIT_USER;
	}
	return EXIT_OK;
}

/* The policy loaded, the output capture open, the counters read. */
static int run_setup(struct run *r)
{
	int status = policy_open(r->path, &r->pol);
	if (status != EXIT_OK)
		return status;
	r->obj = r->pol.obj;
	r->nslots = xdpl_object__rule_count(r->obj) + 1;
	if (r->pcap_out) {
		r->dump = pcap_dump_open(r->pc, r->pcap_out);
		if (!r->dump) {
			error("cannot write %s: %s", r->pcap_out, pcap_geterr(r->pc));
			return EXIT_USER;
		}
	}
	r->before = calloc((size_t)r->nslots, sizeof(*r->before));
	r->after = calloc((size_t)r->nslots, sizeof(*r->after));
	r->decided = calloc((size_t)r->nslots + 1, sizeof(*r->decided));
	if (!r->before || !r->after || !r->decided) {
		error("out of memory");
		return EXIT_INTERNAL;
	}
	r->have_counters = xdpl_object__read_counters(r->obj, r->before, r->nslots) == 0;
	return EXIT_OK;
}

/* A packet the kernel would not run: -1 to go on, else an exit status. */
static int packet_error(struct run *r, const struct pcap_pkthdr *h, int err)
{
	r->nerrors++;
	snprintf(r->last_err, sizeof(r->last_err), "%s", xdpl_last_error());
	if (r->json) {
		printf(", \"error\": ");
		json_string(stdout, xdpl_last_error());
		printf("}");
	} else {
		printf("#%llu %u error -\n", (unsigned long long)r->npackets, h->caplen);
	}
	if (err == -EPERM) {
		error("%s", xdpl_last_error());
		return EXIT_USER;
	}
	return -1;
}

static void print_packet(const struct run *r, const struct pcap_pkthdr *h,
			 const struct xdpl_run_result *res)
{
	const char *rname = res->rule >= 0 ? xdpl_object__rule_name(r->obj, res->rule) : NULL;
	if (!r->json) {
		printf("#%llu %u %s %s\n", (unsigned long long)r->npackets, h->caplen,
		       xdpl_action_name(res->action), rname ? rname : "-");
		return;
	}
	printf(", \"verdict\": ");
	json_string(stdout, xdpl_action_name(res->action));
	printf(", \"rule\": ");
	if (rname)
		json_string(stdout, rname);
	else
		printf("null");
	if (res->out_len != h->caplen)
		printf(", \"out_len\": %zu", res->out_len);
	printf("}");
}

/* Tally the result; the packet into the output capture unless dropped. */
static void count_packet(struct run *r, const struct pcap_pkthdr *h,
			 const struct xdpl_run_result *res)
{
	r->per_action[res->action >= 0 && res->action <= 4 ? res->action : 5]++;
	int slot = res->rule >= 0 && res->rule < r->nslots ? res->rule : r->nslots;
	r->decided[slot].packets++;
	r->decided[slot].bytes += h->caplen;
	if (r->dump && res->action != ACT_DROP && res->action != ACT_ABORTED) {
		struct pcap_pkthdr oh = *h;
		oh.caplen = (bpf_u_int32)res->out_len;
		oh.len = (bpf_u_int32)(res->out_len + (h->len > h->caplen ? h->len - h->caplen : 0));
		pcap_dump((u_char *)r->dump, &oh, res->out);
		r->nwritten++;
	}
}

/* One packet: -1 to go on, else an exit status. */
static int run_packet(struct run *r, const struct pcap_pkthdr *h, const u_char *data)
{
	r->npackets++;
	struct xdpl_run_result res;
	int err = xdpl_object__test_run(r->obj, data, h->caplen, 1, &res);
	if (r->json)
		printf("%s\n  {\"n\": %llu, \"len\": %u", r->npackets > 1 ? "," : "",
		       (unsigned long long)r->npackets, h->caplen);
	if (err)
		return packet_error(r, h, err);
	print_packet(r, h, &res);
	count_packet(r, h, &res);
	free(res.out);
	return -1;
}

static void print_header_json(const struct run *r)
{
	printf("{\"program\": ");
	json_string(stdout, xdpl_object__program_name(r->obj));
	printf(", \"file\": ");
	json_string(stdout, r->path);
	printf(", \"pcap\": ");
	json_string(stdout, r->pcap_in);
	printf(",\n \"packets\": [");
}

/* Every packet of the capture; an exit status. */
static int run_packets(struct run *r)
{
	if (r->json)
		print_header_json(r);
	struct pcap_pkthdr *h;
	const u_char *data;
	int rc = 0, st = -1;
	while (st < 0 && (rc = pcap_next_ex(r->pc, &h, &data)) == 1)
		st = run_packet(r, h, data);
	if (st >= 0)
		return st;
	if (rc == -1) {
		if (r->json)
			printf("]}\n");
		error("reading %s failed after %llu packets: %s", r->pcap_in,
		      (unsigned long long)r->npackets, pcap_geterr(r->pc));
		return EXIT_USER;
	}
	return EXIT_OK;
}

/* Per rule: the program's counters over the run, else own tallies. */
static const struct xdpl_counter *rule_totals(struct run *r)
{
	if (!r->have_counters || xdpl_object__read_counters(r->obj, r->after, r->nslots) != 0)
		return r->decided;
	for (int i = 0; i < r->nslots; i++) {
		r->after[i].packets -= r->before[i].packets;
		r->after[i].bytes -= r->before[i].bytes;
	}
	return r->after;
}

static void print_summary_json(const struct run *r, const struct xdpl_counter *tot)
{
	printf("\n ],\n \"rules\": [");
	for (int i = 0; i < r->nslots; i++) {
		printf("%s\n  {\"index\": %d, \"name\": ", i ? "," : "", i);
		json_string(stdout, xdpl_object__rule_name(r->obj, i));
		printf(", \"verdict\": ");
		json_string(stdout, xdpl_object__rule_verdict(r->obj, i));
		printf(", \"line\": %d, \"packets\": %llu, \"bytes\": %llu, \"decided\": %llu}",
		       xdpl_object__rule_line(r->obj, i), (unsigned long long)tot[i].packets,
		       (unsigned long long)tot[i].bytes, (unsigned long long)r->decided[i].packets);
	}
	printf("\n ],\n \"verdicts\": {");
	for (int a = 0; a <= 4; a++)
		printf("%s\"%s\": %llu", a ? ", " : "", xdpl_action_name(a),
		       (unsigned long long)r->per_action[a]);
	printf("},\n \"total\": %llu, \"errors\": %llu", (unsigned long long)r->npackets,
	       (unsigned long long)r->nerrors);
	if (r->dump)
		printf(", \"written\": %llu", (unsigned long long)r->nwritten);
	printf("\n}\n");
}

static void print_summary_text(const struct run *r, const struct xdpl_counter *tot)
{
	int w = 4;
	for (int i = 0; i < r->nslots; i++) {
		int l = (int)strlen(xdpl_object__rule_name(r->obj, i));
		if (l > w)
			w = l;
	}
	printf("\n%-*s  %-9s %12s %14s\n", w, "rule", "verdict", "packets", "bytes");
	for (int i = 0; i < r->nslots; i++)
		printf("%-*s  %-9s %12llu %14llu\n", w, xdpl_object__rule_name(r->obj, i),
		       xdpl_object__rule_verdict(r->obj, i), (unsigned long long)tot[i].packets,
		       (unsigned long long)tot[i].bytes);
	printf("\n%llu packets:", (unsigned long long)r->npackets);
	for (int a = 0; a <= 4; a++)
		printf(" %llu %s%s", (unsigned long long)r->per_action[a], xdpl_action_name(a),
		       a < 4 ? "," : "");
	if (r->nerrors)
		printf(", %llu not run", (unsigned long long)r->nerrors);
	printf("\n");
	if (r->dump)
		printf("%llu packets written to %s\n", (unsigned long long)r->nwritten, r->pcap_out);
}

static void print_summary(struct run *r)
{
	const struct xdpl_counter *tot = rule_totals(r);
	if (r->json)
		print_summary_json(r, tot);
	else
		print_summary_text(r, tot);
	if (r->nerrors)
		warning("%llu packet%s could not be run; the last one because: %s",
			(unsigned long long)r->nerrors, r->nerrors == 1 ? "" : "s", r->last_err);
}

/* Free everything; the output capture is flushed first (status kept
 * unless the flush fails). */
static int run_close(struct run *r, int status)
{
	free(r->before);
	free(r->after);
	free(r->decided);
	if (r->dump) {
		if (pcap_dump_flush(r->dump) != 0 && status == EXIT_OK) {
			error("writing %s failed", r->pcap_out);
			status = EXIT_USER;
		}
		pcap_dump_close(r->dump);
	}
	policy_free(&r->pol);
	if (r->pc)
		pcap_close(r->pc);
	return status;
}

int cmd_run(int argc, char **argv)
{
	const struct command *c = find_command("run");
	struct run r = { 0 };
	int status = run_parse(c, argc, argv, &r);
	if (status >= 0)
		return status;
	status = open_capture(&r);
	if (status == EXIT_OK)
		status = run_setup(&r);
	if (status == EXIT_OK)
		status = run_packets(&r);
	if (status == EXIT_OK)
		print_summary(&r);
	return run_close(&r, status);
}
