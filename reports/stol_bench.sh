#!/usr/bin/env bash
# Cost of -stol's amorphous term: the same render with and without one -stol table,
# alternating in one run, best of REPEAT whole-process wall times, 2 threads.
#   NB=target/release/nanobragg STOL=../shared/golden-nonbragg/inputs/water.stol REPEAT=5 reports/stol_bench.sh
# Run on an otherwise idle machine; it takes the machine's shared benchmark lock.
set -euo pipefail
NB="$(realpath "${NB:-target/release/nanobragg}")"
STOL="$(realpath "${STOL:-../shared/golden-nonbragg/inputs/water.stol}")"
REPEAT="${REPEAT:-5}"
base="-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 6.2 -distance 100 -pixel 0.1 -detpixels 1024 -threads 2"
declare -A CASES=(
  [cubic_1024]="$base"
  [cubic_1024_os2]="$base -oversample 2"
  [mosaic10_phi10_1024]="$base -mosaic 0.5 -mosaic_domains 10 -phi 1 -osc 1 -phisteps 10"
)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
best() { sort -g | head -1; }
secs() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1; t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l; }
exec 9>/tmp/nanobragg-bench.lock
flock 9
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
