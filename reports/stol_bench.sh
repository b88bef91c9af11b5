#!/usr/bin/env bash
# Cost of -stol's amorphous term: the same render with and without one -stol table,
# alternating in one run, best of REPEAT whole-process wall times, 2 threads.
#   NB=target/release/nanobragg STOL=../shared/golden-nonbragg/inputs/water.stol REPEAT=5 reports/stol_bench.sh
# Run on an otherwise idle machine; it takes the machine's shared benchmark lock.
set -euo pipefail
NB="$(realpath "${NB:-target/release/nanobragg}")"
STOL="$(realpath "${STOL:-../shared/golden-nonbragg/inputs/water.stol}")"
REPEAT="${REPEAT:-5}"
source "$(dirname "$0")/bench_common.sh"
CASES[cubic_1024_os2]="$base -oversample 2"
echo "| case | Bragg only s | Bragg + -stol s | ratio |"
echo "|---|---|---|---|"
for c in cubic_1024 cubic_1024_os2 mosaic10_phi10_1024; do
  : > "$work/plain"; : > "$work/stol"
  for _ in $(seq "$REPEAT"); do
    (cd "$work" && secs "$NB" ${CASES[$c]} -floatfile f.bin -nopgm -noprogress) >> "$work/plain"
    (cd "$work" && secs "$NB" ${CASES[$c]} -stol "$STOL" -floatfile f.bin -nopgm -noprogress) >> "$work/stol"
  done
  p=$(best < "$work/plain"); s=$(best < "$work/stol")
  printf "| %s | %.3f | %.3f | %.2f |\n" "$c" "$p" "$s" "$(echo "$s / $p" | bc -l)"
done
