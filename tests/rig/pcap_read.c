/* Reads every packet of a capture for trafficgen.c (kept apart: pcap/bpf.h
 * and linux/bpf.h cannot be included together). */
#include <pcap/pcap.h>
#include <stdio.h>

int pcap_for_each(const char *path, void (*fn)(void *arg, const void *data, size_t len),
		  void *arg);

int pcap_for_each(const char *path, void (*fn)(void *arg, const void *data, size_t len),
		  void *arg)
{
	char err[PCAP_ERRBUF_SIZE];
	pcap_t *p = pcap_open_offline(path, err);
	if (!p) {
		fprintf(stderr, "xdpl-trafficgen: %s: %s\n", path, err);
		return -1;
	}
	struct pcap_pkthdr *h;
	const unsigned char *data;
	while (pcap_next_ex(p, &h, &data) == 1)
		fn(arg, data, h->caplen);
	pcap_close(p);
	return 0;
}
