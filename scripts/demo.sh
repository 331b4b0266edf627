#!/usr/bin/env bash
# Quick start: installs what is missing, builds xdplc, compiles the bundled
# DDoS-guard policy, runs its own tests in the kernel and replays a capture
# through it, showing which rule caught which packet. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target xdplc
set -x
build/xdplc build examples/ddos_guard.xdpl -o build/ddos_guard.o
build/xdplc test examples/ddos_guard.xdpl
build/xdplc run examples/ddos_guard.xdpl --pcap examples/traffic.pcap
