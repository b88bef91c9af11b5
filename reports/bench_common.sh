# Shared by the benchmark scripts of reports/ (sourced, not run): the two standard cases, a
# scratch folder removed on exit, best-of and wall-time helpers, and the machine's shared
# benchmark lock, taken here so that no two benchmarks overlap.
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
