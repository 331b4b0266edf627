#!/usr/bin/python3
"""Regenerates examples/traffic.pcap, the capture the quick start replays
through ddos_guard.xdpl: one packet for each thing the policy decides."""
from scapy.all import Ether, IP, IPv6, TCP, UDP, ARP, Raw, wrpcap

SRC_MAC, DST_MAC = "02:00:00:00:00:01", "02:00:00:00:00:02"


def e():
    return Ether(src=SRC_MAC, dst=DST_MAC)


PACKETS = [
    e()/IP(src="192.0.2.50", dst="192.0.2.1")/TCP(sport=40001, dport=443, flags="S"),
    e()/IP(src="198.51.100.20", dst="192.0.2.1")/TCP(sport=1234, dport=443, flags="S"),
    e()/IP(src="192.0.2.77", dst="192.0.2.1")/UDP(sport=11211, dport=40000)
    / Raw(b"VALUE x 0 1000\r\n" + b"A" * 200),
    e()/IP(src="192.0.2.50", dst="192.0.2.1")/UDP(sport=40002, dport=53)/Raw(b"\x12\x34\x01\x00"),
    e()/IP(src="192.0.2.99", dst="192.0.2.1")/TCP(sport=5555, dport=80, flags=0),
    e()/IP(src="192.0.2.99", dst="192.0.2.1")/TCP(sport=5555, dport=80, flags="SF"),
    e()/IPv6(src="2001:db8:bad::5", dst="2001:db8::1")/TCP(dport=443),
    e()/IPv6(src="2001:db8:1::5", dst="2001:db8::1")/TCP(dport=443, flags="A"),
    e()/IP(src="192.0.2.50", dst="192.0.2.1", frag=185)/Raw(b"B" * 100),
    Ether(src=SRC_MAC, dst="ff:ff:ff:ff:ff:ff")/ARP(psrc="192.0.2.50", pdst="192.0.2.1"),
    e()/IP(src="203.0.113.66", dst="192.0.2.1")/UDP(sport=53, dport=40000),
    e()/IP(src="192.0.2.50", dst="192.0.2.1")/TCP(sport=40001, dport=443, flags="A")
    / Raw(b"GET / HTTP/1.1\r\n\r\n"),
]

if __name__ == "__main__":
    wrpcap("traffic.pcap", PACKETS)
