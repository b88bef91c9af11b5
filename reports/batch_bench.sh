#!/usr/bin/env bash
# Scaling of `nanobragg batch` over MPI ranks (reports/benchmarks.md): the same plan of 100
# stills of 512 x 512 pixels (one thread per rank) on 1 rank and on 2 ranks, alternating,
# best of REPEAT; shots/s from rank 0's summary, peak resident memory per rank from
# /usr/bin/time -v. Needs the `mpi` feature's binary:
#   cargo build --release --features mpi --bin nanobragg-mpi
set -euo pipefail
BIN=${NB_MPI_BIN:-${CARGO_TARGET_DIR:-$(dirname "$0")/../target}/release/nanobragg-mpi}
REPEAT=${REPEAT:-2}
W=$(mktemp -d)
cd "$W"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
plan() {
    cat <<PLAN
flags = "-cell 79 79 38 90 90 90 -default_F 100 -N 10 -lambda 1.3 -distance 120 -pixel 0.172 -detpixels 512 -oversample 4 -threads 1"
seed = 11
out = "$1"
formats = ["float"]
[stills]
count = 100
crystal_size_um = [0.3, 0.8]
fluence_jitter = 0.2
PLAN
}
echo "load before: $(uptime)"
for r in $(seq "$REPEAT"); do
    for n in 1 2; do
        rm -rf "out$n"
        plan "out$n" > "p$n.toml"
        # one /usr/bin/time report per rank (peak memory and CPU seconds of each)
        mpirun --oversubscribe -n "$n" sh -c '/usr/bin/time -o "time.$OMPI_COMM_WORLD_RANK" -f "rank $OMPI_COMM_WORLD_RANK: peak_kb=%M user_s=%U sys_s=%S wall_s=%e" "$0" batch --plan "$1"' "$BIN" "p$n.toml" 2>/dev/null | grep shots
        cat time.*
        rm -f time.*
    done
done
cmp <(cd out1 && cat shot_*) <(cd out2 && cat shot_*) && echo "1 rank and 2 ranks wrote identical files"
echo "load after: $(uptime)"
rm -rf "$W"
