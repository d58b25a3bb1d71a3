#!/bin/bash
# Balancer figures (issue 4, item 5): idle CPU with 8 ports, time to isolate a hot queue,
# interrupts per second at low and full load. Usage: bench/balance-bench.sh [BUILDDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
export VHOST_LB_BIN=$B/vhost-user-lb/vhost-user-lb VHOST_LB_CTL=$B/vhost-user-lb/vhost-user-lbctl
exec "$B/bench/balance-bench"
