#!/usr/bin/env bash
# Before/after timing of a restructuring: two nanobragg binaries (OLD, NEW) alternating in one
# run, forward render and `grad --params all`, best of REPEAT whole-process wall times, 2 threads.
#   OLD=/path/old NEW=/path/new REPEAT=5 reports/structure_bench.sh
# Run under the machine's shared benchmark lock so no other benchmark overlaps it.
set -euo pipefail
: "${OLD:?path of the binary before}" "${NEW:?path of the binary after}"
REPEAT="${REPEAT:-5}"
source "$(dirname "$0")/bench_common.sh"
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
