/* xdpl-cbrun OBJ.o IN.pcap REPEAT: every packet of the capture through the
 * loaded program (BPF_PROG_TEST_RUN, REPEAT times each); prints the
 * deciding rule's name per packet ("-" for the default), then
 * "mean_ns N" -- the mean over packets of the kernel's average per run.
 * bench/classbench.sh compares the names with its linear-scan oracle. */
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>

#include "xdpl.h"

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s OBJ.o IN.pcap REPEAT\n", argv[0]);
		return 1;
	}
	int repeat = atoi(argv[3]);
	struct xdpl_object *obj = xdpl_object__open_file(argv[1]);
	if (!obj || xdpl_object__load(obj)) {
		fprintf(stderr, "%s: %s\n", argv[1], xdpl_last_error());
		return 1;
	}
	char err[PCAP_ERRBUF_SIZE];
	pcap_t *pc = pcap_open_offline(argv[2], err);
	if (!pc) {
		fprintf(stderr, "%s: %s\n", argv[2], err);
		return 1;
	}
	int nrules = xdpl_object__rule_count(obj);
	struct pcap_pkthdr *h;
	const u_char *data;
	double sum = 0;
	long n = 0;
	while (pcap_next_ex(pc, &h, &data) == 1) {
		struct xdpl_run_result res;
		if (xdpl_object__test_run(obj, data, h->caplen, repeat > 0 ? repeat : 1, &res)) {
			fprintf(stderr, "packet %ld: %s\n", n + 1, xdpl_last_error());
			return 1;
		}
		free(res.out);
		printf("%s\n", res.rule >= 0 && res.rule < nrules ? xdpl_object__rule_name(obj, res.rule) : "-");
		sum += res.duration_ns;
		n++;
	}
	printf("mean_ns %.1f\n", n ? sum / (double)n : 0.0);
	pcap_close(pc);
	xdpl_object__close(obj);
	return 0;
}
