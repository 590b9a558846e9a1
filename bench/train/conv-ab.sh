#!/usr/bin/env bash
# A/B of the CNN's convolution algorithms: direct (im2col + GEMM) against
# Winograd F(2x2,3x3), the two taking turns so that both run under the same
# load.
#
#   bench/train/conv-ab.sh [-r ROUNDS] [-n STEPS] [-p GOMAXPROCS]
#
# Each round runs BenchmarkConvAlgo's conv2 (forward and backward of the
# CNN's second layer, batch 128), conv128 (a deeper 128->128 layer, batch
# 32) and cnn-step (a whole training step) for
# direct, then for winograd, each in its own process, and prints their
# cpu-ms/op and s/epoch lines with the load average before each.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=3 steps=10 procs=$(nproc)
while getopts r:n:p: o; do
	case $o in
	r) rounds=$OPTARG ;;
	n) steps=$OPTARG ;;
	p) procs=$OPTARG ;;
	*) exit 2 ;;
	esac
done
bin=$(mktemp -d)/nn.test
trap 'rm -rf "$(dirname "$bin")"' EXIT
go test -c -o "$bin" ./trainer/nn
for r in $(seq "$rounds"); do
	for algo in direct winograd; do
		echo "# round $r $algo, load average $(cut -d' ' -f1-3 /proc/loadavg)"
		GOMAXPROCS=$procs "$bin" -test.run '^$' -test.bench "ConvAlgo/(conv2|conv128|cnn-step)/$algo\$" -test.benchtime "${steps}x" | grep '^Benchmark'
	done
done
