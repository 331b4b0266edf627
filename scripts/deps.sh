#!/usr/bin/env bash
# Installs what xdpl needs on Debian 12 (as root) when it is missing, and
# mounts bpffs. Safe to run again: it only installs what is absent.
set -euo pipefail

PKGS=(build-essential cmake pkg-config flex bison llvm-19-dev clang-19 libclang-rt-19-dev libbpf-dev
      libelf-dev zlib1g-dev libzstd-dev libpcap-dev bpftool xdp-tools iproute2
      python3-scapy tcpdump ethtool)

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "deps: need root to install: ${missing[*]}" >&2
        exit 1
    fi
    echo "deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# BPF programs are loaded and pinned by the tests: bpffs must be there.
if [[ $(id -u) -eq 0 ]] && ! mount | grep -q ' /sys/fs/bpf type bpf'; then
    mount -t bpf bpf /sys/fs/bpf
fi
