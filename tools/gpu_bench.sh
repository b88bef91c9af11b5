#!/usr/bin/env bash
# GPU benchmark of nanobragg: forward render and gradients of all parameters on the GPU against
# the CPU's float64, for cubic_1024, mosaic10_phi10_1024 and cubic_4096 (examples/bench.rs
# defines the cases). Writes a Markdown report to $OUT/gpu_bench.md (else .gpu-bench/out/) and
# prints it last.
#
#   tools/gpu_bench.sh                      # on a machine with a GPU (Vulkan)
#   tools/gpu_bench.sh --software           # on a software Vulkan driver (lavapipe), e.g. CI
#   tools/gpu_bench.sh --cases cubic_1024   # a subset (comma-separated)
#   tools/gpu_bench.sh --forward-only       # no gradients (a software driver takes minutes)
#   tools/gpu_bench.sh --prepare            # here, before lending: build and stage for carrying
#
# A lent device machine reaches no network: --prepare builds the release binary and fetches the
# Vulkan loader packages on this machine into .gpu-bench/ (git-ignored); carry that
# folder with the run (`carry: [".gpu-bench"]`) and the script uses them. Without a staged
# binary it builds with cargo; without a Vulkan loader it installs one (apt-get) or unpacks the
# staged packages; it points the loader at the NVIDIA driver's ICD where the driver keeps it
# outside the loader's search path.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
STAGE="$ROOT/.gpu-bench"
DEVICE=gpu
CASES="cubic_1024,mosaic10_phi10_1024,cubic_4096"
PREPARE=0
FORWARD_ONLY=0
while [ $# -gt 0 ]; do
    case "$1" in
        --software) DEVICE=gpu:software ;;
        --cases) CASES="$2"; shift ;;
        --prepare) PREPARE=1 ;;
        --forward-only) FORWARD_ONLY=1 ;;
        *) echo "gpu_bench.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
    shift
done

case_args() {
    local base="-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 6.2 -distance 100"
    case "$1" in
        cubic_1024) echo "$base -pixel 0.1 -detpixels 1024" ;;
        mosaic10_phi10_1024) echo "$base -pixel 0.1 -detpixels 1024 -mosaic 0.5 -mosaic_domains 10 -phi 1 -osc 1 -phisteps 10" ;;
        cubic_4096) echo "$base -pixel 0.025 -detpixels 4096" ;;
        *) echo "gpu_bench.sh: unknown case '$1'" >&2; return 1 ;;
    esac
}

if [ "$PREPARE" = 1 ]; then
    set -e
    mkdir -p "$STAGE/debs"
    (cd "$ROOT" && cargo build --release)
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/nanobragg"
    cp "$BIN" "$STAGE/nanobragg"
    strip "$STAGE/nanobragg" 2>/dev/null || true
    # the Vulkan loader as a package to unpack there (the NVIDIA driver brings its own ICD)
    (cd "$STAGE/debs" && apt-get download libvulkan1 >/dev/null 2>&1) || {
        o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/gpu-bench-apt'
        mkdir -p /tmp/gpu-bench-apt/partial
        apt-get $o update >/dev/null 2>&1 && (cd "$STAGE/debs" && apt-get $o download libvulkan1 >/dev/null 2>&1)
    } || echo "gpu_bench.sh: could not download libvulkan1; the device machine must have a Vulkan loader" >&2
    du -sh "$STAGE"
    echo "staged in $STAGE: carry '.gpu-bench' and run: tools/gpu_bench.sh"
    exit 0
fi

OUTDIR="${OUT:-$STAGE/out}"
mkdir -p "$OUTDIR"
: >"$OUTDIR/gpu_bench.log"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
log() { echo "[gpu_bench] $*" >&2; }

# 1. a Vulkan loader, and the NVIDIA ICD where the driver keeps it
if ! ldconfig -p 2>/dev/null | grep 'libvulkan.so.1' >/dev/null; then
    if ls "$STAGE"/debs/*.deb >/dev/null 2>&1; then
        log "unpacking the staged Vulkan loader"
        for f in "$STAGE"/debs/*.deb; do dpkg -x "$f" /; done
        ldconfig
    elif command -v apt-get >/dev/null; then
        log "installing the Vulkan loader (apt-get)"
        timeout 300 apt-get install -y -q libvulkan1 mesa-vulkan-drivers >/dev/null 2>&1 || log "apt-get failed"
    fi
fi
if [ "$DEVICE" = gpu:software ] && ! ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 && command -v apt-get >/dev/null; then
    timeout 300 apt-get install -y -q mesa-vulkan-drivers >/dev/null 2>&1 || log "no lavapipe"
fi
NV_ICD=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$NV_ICD" ] && ! ls /usr/share/vulkan/icd.d/nvidia_icd*.json /etc/vulkan/icd.d/nvidia_icd*.json >/dev/null 2>&1; then
    export VK_DRIVER_FILES="$NV_ICD"
    log "using the NVIDIA ICD at $NV_ICD"
fi

# 2. the binary
BIN="${NB_BIN:-}"
if [ -z "$BIN" ] && [ -x "$STAGE/nanobragg" ]; then
    # a binary staged on another machine may not run on this one's system libraries
    if "$STAGE/nanobragg" --version >/dev/null 2>&1; then BIN="$STAGE/nanobragg"; else log "the staged binary does not run here"; fi
fi
if [ -z "$BIN" ]; then
    log "building (cargo build --release)"
    (cd "$ROOT" && cargo build --release -q) || { echo "gpu_bench.sh: build failed" >&2; exit 1; }
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/nanobragg"
fi

PY=python3
[ -x /opt/torch/.venv/bin/python3 ] && PY=/opt/torch/.venv/bin/python3

# wall seconds of a command (stdout and stderr to files)
timed() {
    local out="$1"; shift
    local t0 t1
    t0=$(date +%s.%N)
    "$@" >"$out.out" 2>"$out.err"
    local rc=$?
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc -l 2>/dev/null || $PY -c "print($t1 - $t0)"
    return $rc
}

# r and sum ratio of two float images, and the worst relative gradient difference
compare() {
    $PY - "$@" <<'EOF'
import json, sys
from array import array
def load(p):
    a = array('f'); 
    with open(p, 'rb') as f: a.frombytes(f.read())
    return a
ref, got, gref, ggot = sys.argv[1:5]
try:
    import numpy as np
    x = np.asarray(load(ref), dtype=np.float64); y = np.asarray(load(got), dtype=np.float64)
    r = float(np.corrcoef(x, y)[0, 1]); ratio = float(y.sum() / x.sum())
except ImportError:
    x, y = load(ref), load(got); n = len(x)
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y)); sxx = sum((a - mx) ** 2 for a in x); syy = sum((b - my) ** 2 for b in y)
    r = sxy / (sxx * syy) ** 0.5; ratio = my / mx
worst, name = 0.0, "-"
try:
    a = json.load(open(gref))["grad"]; b = json.load(open(ggot))["grad"]
    for k, v in a.items():
        if isinstance(v, float) and k in b:
            d = abs(b[k] - v) / max(abs(v), abs(b[k]), 1e-300)
            if d > worst: worst, name = d, k
    print(f"{r:.7f} {ratio:.7f} {worst:.2e} {name}")
except Exception:
    print(f"{r:.7f} {ratio:.7f} n/a -")
EOF
}

ADAPTER=$("$BIN" $(case_args cubic_1024 | sed 's/-detpixels 1024/-detpixels 8/') -device "$DEVICE" -floatfile "$WORK/probe.bin" 2>&1 >/dev/null | grep -m1 'GPU adapter:' || true)
if [ -z "$ADAPTER" ]; then
    "$BIN" -detpixels 8 -cell 100 100 100 90 90 90 -default_F 1 -device "$DEVICE" -floatfile "$WORK/probe.bin" >/dev/null
    echo "gpu_bench.sh: no usable adapter for -device $DEVICE" >&2
    exit 1
fi
log "$ADAPTER"

REPORT="$OUTDIR/gpu_bench.md"
{
    echo "## GPU benchmark ($(date -u +%Y-%m-%d), $(hostname))"
    echo
    echo "- ${ADAPTER}"
    echo "- binary: $BIN; device flag: -device $DEVICE; CPU: $(nproc) cores"
    command -v nvidia-smi >/dev/null && echo "- $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)"
    echo
    echo "| case | CPU f64 render, 2 threads (s) | GPU render (s) | GPU kernel time (ms) | dispatches | r | sum ratio | CPU f64 grad all, all cores (s) | GPU grad all (s) | GPU grad / render | worst grad rel. diff |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
} >"$REPORT"

for c in ${CASES//,/ }; do
    args=$(case_args "$c") || exit 2
    d="$WORK/$c"; mkdir -p "$d"
    log "$c: CPU f64 render (2 threads)"
    t_cpu=$(timed "$d/cpu" "$BIN" $args -threads 2 -floatfile "$d/cpu.bin")
    log "$c: GPU render (warm-up, then timed)"
    "$BIN" $args -device "$DEVICE" -floatfile "$d/gpu.bin" >/dev/null 2>&1
    t_gpu=$(timed "$d/gpu" "$BIN" $args -device "$DEVICE" -floatfile "$d/gpu.bin")
    NANOBRAGG_COUNT_DISPATCHES=time "$BIN" $args -device "$DEVICE" -floatfile "$d/gpu_t.bin" >/dev/null 2>"$d/count.err"
    kms=$(grep -m1 'kernel time' "$d/count.err" | sed 's/.*: \([0-9.]*\) ms.*/\1/')
    nd=$(grep -m1 'GPU dispatches' "$d/count.err" | sed 's/.*: //')
    t_gcpu=nan; t_ggpu=nan
    if [ "$FORWARD_ONLY" = 0 ]; then
        log "$c: gradients of all parameters (CPU f64 on every core, GPU)"
        t_gcpu=$(timed "$d/gcpu" "$BIN" grad $args --params all --threads "$(nproc)" --out "$d/gcpu.json")
        t_ggpu=$(timed "$d/ggpu" "$BIN" grad $args --params all --device "$DEVICE" --out "$d/ggpu.json")
    fi
    read -r r ratio worst wname <<<"$(compare "$d/cpu.bin" "$d/gpu.bin" "$d/gcpu.json" "$d/ggpu.json")"
    per=$($PY -c "print(f'{$t_ggpu / $t_gpu:.1f}x')" 2>/dev/null || echo n/a)
    fmt() { $PY -c "print(f'{float(\"$1\"):.2f}')"; }
    echo "| $c | $(fmt "$t_cpu") | $(fmt "$t_gpu") | ${kms:-n/a} | ${nd:-n/a} | $r | $ratio | $(fmt "$t_gcpu") | $(fmt "$t_ggpu") | $per | $worst ($wname) |" >>"$REPORT"
    for f in "$d"/*.err; do echo "== $c $(basename "$f" .err)"; cat "$f"; done >>"$OUTDIR/gpu_bench.log"
done
{
    echo
    echo "Wall times are whole-process (start-up, adapter and shader set-up included; the GPU render is"
    echo "the second of two runs). Kernel time sums every kernel of one render, timed one by one."
    echo "r and sum ratio: GPU float32 image against the CPU float64 image. Gradients: 'grad --params"
    echo "all' with the default weighted-sum loss; the GPU's are float32 on the batched path."
} >>"$REPORT"
cat "$REPORT"
