#!/usr/bin/env bash
# Before/after timing of a restructuring: two nanobragg binaries (OLD, NEW) alternating in one
# run, forward render and `grad --params all`, best of REPEAT whole-process wall times, 2 threads.
#   OLD=/path/old NEW=/path/new REPEAT=5 reports/structure_bench.sh
# Run under the machine's shared benchmark lock so no other benchmark overlaps it.
set -euo pipefail
: "${OLD:?path of the binary before}" "${NEW:?path of the binary after}"
REPEAT="${REPEAT:-5}"
base="-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 6.2 -distance 100 -pixel 0.1 -detpixels 1024 -threads 2"
declare -A CASES=(
  [cubic_1024]="$base"
  [mosaic10_phi10_1024]="$base -mosaic 0.5 -mosaic_domains 10 -phi 1 -osc 1 -phisteps 10"
)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
best() { sort -g | head -1; }
secs() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1; t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l; }
exec 9>/tmp/nanobragg-bench.lock
flock 9
echo "| case | what | before s | after s | after/before |"
echo "|---|---|---|---|---|"
for c in cubic_1024 mosaic10_phi10_1024; do
  for what in forward grad; do
    : > "$work/old"; : > "$work/new"
    for _ in $(seq "$REPEAT"); do
      for side in old new; do
        bin=$OLD; [ "$side" = new ] && bin=$NEW
        if [ "$what" = forward ]; then
          (cd "$work" && secs "$bin" ${CASES[$c]} -floatfile f.bin -noprogress) >> "$work/$side"
        else
          (cd "$work" && secs "$bin" grad ${CASES[$c]} --params all) >> "$work/$side"
        fi
      done
    done
    o=$(best < "$work/old"); n=$(best < "$work/new")
    printf "| %s | %s | %.3f | %.3f | %.3f |\n" "$c" "$what" "$o" "$n" "$(echo "$n / $o" | bc -l)"
  done
done
