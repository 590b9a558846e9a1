#!/usr/bin/env bash
# Partitioned builds on one machine: the 10× synthetic MNIST set that
# bench/prep writes (MNIST's train images repeated ten times, 600,000 + 10,000
# images, 61 shards) built by a one-process `prep run` and by N = 1, 2 and 4
# partitions — all N started at once, each its own process — followed by
# `prep commit`, with a warm download cache (sources and statistics), the
# four variants interleaved in each of ROUNDS rounds so that all see the same
# machine. Every committed version is checked to be the one-process version.
#
#   bench/prep/partitions.sh [ROUNDS]       (ROUNDS defaults to 3)
#
# PIN=1 adds content_sha256 pins to the set's config, so that no run needs
# the extra pass over the sources that a version of files pinned by sha256
# alone takes to find their content digest (see README, "Versions follow
# the content"): each partition then reads the sources once, and the
# commit not at all.
#
# STORE=1 builds into an object store instead of a local directory: a
# versitygw (go install github.com/versity/versitygw/cmd/versitygw@v1.8.0)
# started on loopback serving a directory of the work area, --out
# s3://bench/out; each partition uploads its shards and the commit
# downloads and hashes them all before it uploads the manifest.
# VARIANTS picks the variants (default "0 1 2 4"; 0 is one process).
#
# Prints one line per round and variant: the wall time until every partition
# had finished, the commit's, their sum, and the CPU seconds (user + system)
# of all the processes; then the median of each per variant.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/prep" ./cmd/prep
go build -o "$work/prep-bench" ./bench/prep
mkdir -p "$work/data"
cfg=$("$work/prep-bench" -write-big "$work/data") # MNIST from the download cache, else a mirror
if [ "${PIN:-0}" = 1 ]; then
  for k in train_images train_labels test_images test_labels; do
    sum=$(gunzip -c "$work/data/$k.idx.gz" | sha256sum | cut -d' ' -f1)
    sed -i "s|^  $k: {\(.*\)}|  $k: {\1, content_sha256: $sum}|" "$cfg"
  done
fi
cache=$work/cache
"$work/prep" run "$cfg" --out "$work/warm" --cache "$cache" --quiet >/dev/null
want=$(ls "$work/warm/mnist-10x" | grep -v latest)
variants=${VARIANTS:-0 1 2 4}

if [ "${STORE:-0}" = 1 ]; then
  gw=$(command -v versitygw || echo "$(go env GOPATH)/bin/versitygw")
  [ -x "$gw" ] || { echo "versitygw not found: go install github.com/versity/versitygw/cmd/versitygw@v1.8.0" >&2; exit 1; }
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  mkdir -p "$work/s3/bench"
  "$gw" --access bench --secret bench-secret --port "127.0.0.1:$port" posix "$work/s3" >"$work/versitygw.log" 2>&1 &
  gwpid=$!
  trap 'kill "$gwpid"; wait "$gwpid" 2>/dev/null; rm -rf "$work"' EXIT
  export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret AWS_REGION=us-east-1
  export AWS_ENDPOINT_URL=http://127.0.0.1:$port
  for _ in $(seq 300); do curl -s -o /dev/null "$AWS_ENDPOINT_URL/" && break; sleep 0.1; done
fi

now() { date +%s.%N; }
cpu() { awk '{s += $2 + $3} END {printf "%.2f", s}' "$@"; }
results=$work/results.tsv
printf 'variant\tround\tpartitions_s\tcommit_s\ttotal_s\tcpu_s\n'
for r in $(seq "$rounds"); do
  for n in $variants; do # 0: one process
    out=$work/out
    dir=$out # where the version's files are
    if [ "${STORE:-0}" = 1 ]; then
      out=s3://bench/out
      dir=$work/s3/bench/out # versitygw's posix backend: an object is a file
    fi
    rm -rf "$dir" "$work"/t-*
    t0=$(now)
    if [ "$n" = 0 ]; then
      /usr/bin/time -f '%e %U %S' -o "$work/t-run" "$work/prep" run "$cfg" --out "$out" --cache "$cache" --quiet >/dev/null
      t1=$(now)
      t2=$t1
      name="one process"
    else
      pids=()
      for i in $(seq 0 $((n - 1))); do
        /usr/bin/time -f '%e %U %S' -o "$work/t-$i" "$work/prep" run "$cfg" --out "$out" --cache "$cache" --quiet --partition "$i/$n" >/dev/null &
        pids+=($!)
      done
      for p in "${pids[@]}"; do wait "$p"; done
      t1=$(now)
      /usr/bin/time -f '%e %U %S' -o "$work/t-commit" "$work/prep" commit "$cfg" --out "$out" --cache "$cache" --quiet >/dev/null
      t2=$(now)
      name="N=$n"
    fi
    if [ -L "$dir/mnist-10x/latest" ]; then got=$(readlink "$dir/mnist-10x/latest"); else got=$(tr -d '\n' <"$dir/mnist-10x/latest"); fi
    if [ "$got" != "$want" ] || ! cmp -s <(cd "$dir/mnist-10x/$got" && sha256sum *.arrow) <(cd "$work/warm/mnist-10x/$want" && sha256sum *.arrow); then
      echo "$name built $got, not the one-process version $want" >&2
      exit 1
    fi
    printf '%s\t%d\t%.2f\t%.2f\t%.2f\t%s\n' "$name" "$r" "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t1" | bc)" "$(echo "$t2 - $t0" | bc)" "$(cpu "$work"/t-*)" | tee -a "$results"
  done
done
echo
echo "medians (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
for n in $variants; do
  v="N=$n"
  [ "$n" = 0 ] && v="one process"
  grep -F "$v	" "$results" | awk -F'\t' -v v="$v" '
    {p[NR] = $3; c[NR] = $4; t[NR] = $5; u[NR] = $6}
    function med(a, n,   i, j, x) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { x = a[i]; a[i] = a[j]; a[j] = x }; return a[int((n + 1) / 2)] }
    END { printf "%-12s partitions %.2f s  commit %.2f s  total %.2f s  cpu %.2f s\n", v, med(p, NR), med(c, NR), med(t, NR), med(u, NR) }'
done
