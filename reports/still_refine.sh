#!/usr/bin/env bash
# The still of issue 23: 512^2, N 30, a 14-line spectrum, 30 um of water, Poisson noise with the
# default -adc 40; refined from the truth, from a start 0.2-0.3 deg / 0.5% / 1 mm off with the
# default strategy and with --strategy plain, and with a wrong crystal size (N 15).
#   NB=target/release/nanobragg reports/still_refine.sh    (writes into a fresh folder, prints it)
# Run on an otherwise idle machine; it takes the machine's shared benchmark lock.
set -euo pipefail
NB="$(realpath "${NB:-target/release/nanobragg}")"
work="$(mktemp -d)"; cd "$work"; echo "$work"
exec 9>/tmp/nanobragg-bench.lock
flock 9
cat > sp14.txt <<'SP'
# energy (eV) weight: 14 lines of a SASE-like spectrum
9461.00 0.1783
9467.00 0.3663
9473.00 0.3232
9479.00 0.6096
9485.00 0.9735
9491.00 0.6715
9497.00 0.9998
9503.00 1.2410
9509.00 0.6693
9515.00 0.7866
9521.00 0.7588
9527.00 0.3201
9533.00 0.2968
9539.00 0.2225
SP
COMMON="-fluence 1.26e25 -default_F 100 -spectrum sp14.txt -pixel 0.172 -detpixels 512 -water 30 -oversample 2 -nopgm"
TRUTH="-cell 79.1 79.1 37.9 90 90 90 -N 30 -misset 10 20 30 -distance 150"
START="-cell 79.4955 79.1 37.7105 90 90 90 -N 30 -misset 10.2 19.85 30.15 -distance 151"
P=cell_a,cell_c,misset_x,misset_y,misset_z,distance
"$NB" $COMMON $TRUTH -noisefile target.img -seed 3 > render.out 2> render.err
/usr/bin/time -f "%e s" -o t_truth.txt "$NB" refine $COMMON $TRUTH --target target.img --refine $P --out at_truth.json > /dev/null 2> at_truth.err
/usr/bin/time -f "%e s" -o t_start.txt "$NB" refine $COMMON $START --target target.img --refine $P --out from_start.json > /dev/null 2> from_start.err
/usr/bin/time -f "%e s" -o t_plain.txt "$NB" refine $COMMON $START --target target.img --refine $P --strategy plain --out plain.json > /dev/null 2> plain.err
"$NB" refine $COMMON ${TRUTH/-N 30/-N 15} --target target.img --refine $P --strategy plain --out wrong_n.json > /dev/null 2> wrong_n.err || true
