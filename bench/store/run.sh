#!/usr/bin/env bash
# Trainer epoch time streaming MNIST from an S3 store (versitygw on loopback,
# serving a local directory) against reading the same version from local disk,
# in one run, interleaved: local, store, store, local, local, store, ...
#
#   bench/store/run.sh [REPS] [MODEL]        (defaults 3 mlp)
#
# Each store run starts with an empty shard cache (--shard-cache in a fresh
# directory), so every shard is downloaded during the run: the streaming case,
# not a warm cache. Prints seconds_per_epoch (the trainer's own figure) and the
# wall time of the whole command (opening, the epoch, val and test) for each run,
# then the medians and their ratios. Needs versitygw on PATH
# (go install github.com/versity/versitygw/cmd/versitygw@v1.8.0).
set -euo pipefail
cd "$(dirname "$0")/../.."
REPS=${1:-3}
MODEL=${2:-mlp}
work=$(mktemp -d)
vgw_pid=
trap '[ -n "$vgw_pid" ] && kill "$vgw_pid" 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/prep" ./cmd/prep
go build -o "$work/trainer" ./cmd/trainer
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/s3/bench"
versitygw --access bench --secret bench-secret --port "127.0.0.1:$port" posix "$work/s3" >"$work/vgw.log" 2>&1 &
vgw_pid=$!
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret AWS_REGION=us-east-1 AWS_ENDPOINT_URL=http://127.0.0.1:$port
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
"$work/prep" run configs/mnist.yaml --out "$work/out" --cache "$work/cache" --quiet >/dev/null
"$work/prep" run configs/mnist.yaml --out s3://bench/out --cache "$work/cache" --quiet >/dev/null
"$work/prep" verify s3://bench/out/mnist/latest
echo "machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); model $MODEL, 1 epoch, $REPS runs each"
printf '%-6s %4s %12s %8s\n' source run s/epoch wall_s
run() { # source rep shards extra...
  local src=$1 rep=$2 shards=$3; shift 3
  local t0 t1 js
  t0=$(date +%s.%N)
  js=$("$work/trainer" --shards "$shards" --model "$MODEL" --epochs 1 --out "$work/run-$src-$rep" --json --quiet "$@")
  t1=$(date +%s.%N)
  local spe
  spe=$(echo "$js" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["seconds_per_epoch"])')
  printf '%-6s %4d %12.3f %8.3f\n' "$src" "$rep" "$spe" "$(echo "$t1 - $t0" | bc)"
  echo "$src $spe $(echo "$t1 - $t0" | bc)" >>"$work/times"
}
for rep in $(seq "$REPS"); do # alternate which goes first, so neither always runs after the other
  if [ $((rep % 2)) = 1 ]; then
    run local "$rep" "$work/out"
    run store "$rep" s3://bench/out --shard-cache "$work/shard-cache-$rep"
  else
    run store "$rep" s3://bench/out --shard-cache "$work/shard-cache-$rep"
    run local "$rep" "$work/out"
  fi
done
/usr/bin/python3 - "$work/times" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
med = {s: (statistics.median(float(r[1]) for r in rows if r[0] == s), statistics.median(float(r[2]) for r in rows if r[0] == s)) for s in ("local", "store")}
for s, (e, w) in med.items():
    print(f"median {s}: {e:.3f} s/epoch, {w:.3f} s wall")
print(f"ratio store/local: {med['store'][0]/med['local'][0]:.3f} (epoch), {med['store'][1]/med['local'][1]:.3f} (wall)")
PY
