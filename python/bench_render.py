"""Cost of a render through the Python module against the command line's forward render.

    python python/bench_render.py --bin $CARGO_TARGET_DIR/release/nanobragg [--repeat 20] [--threads 2]

Case cubic_1024 of examples/bench.rs. Alternates, in one run and with the same thread count:
the command line as a whole process (writing its float file, as examples/bench.rs runs it, and
on an 8 x 8 detector, which shows what starting the process costs),
`nanobragg.simulate` in this process (returning the array; and also writing the float file),
`Model.render` of a model built once, and a whole Python process (start, import, simulate).
Prints the best time of each and its ratio to the command line's, as a Markdown table.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import nanobragg

FLAGS = "-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 6.2 -distance 100 -pixel 0.1 -detpixels 1024"
SETTINGS = {"cell": [100, 100, 100, 90, 90, 90], "default_F": 100, "N": 5, "lambda": 6.2, "distance": 100,
            "pixel": 0.1, "detpixels": 1024}


def timed(call):
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, help="the nanobragg binary")
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    settings = dict(SETTINGS, threads=a.threads)
    work = tempfile.mkdtemp(prefix="nb_bench_py_")
    floatfile = os.path.join(work, "float.bin")
    cli = [a.bin, *FLAGS.split(), "-threads", str(a.threads), "-floatfile", floatfile, "-nonoise", "-nopgm", "-noprogress"]
    tiny = [a.bin, *FLAGS.replace("-detpixels 1024", "-detpixels 8").split(), "-threads", str(a.threads),
            "-floatfile", os.path.join(work, "tiny.bin"), "-nonoise", "-nopgm", "-noprogress"]
    script = f"import nanobragg; nanobragg.simulate(**{settings!r})"
    model = nanobragg.Model(**settings)
    runs = {
        "command line (whole process, writes the float file)": lambda: subprocess.run(cli, stdout=subprocess.DEVNULL, check=True),
        "command line, 8 x 8 pixels (start-up and fixed costs)": lambda: subprocess.run(tiny, stdout=subprocess.DEVNULL, check=True),
        "nanobragg.simulate (returns the array)": lambda: nanobragg.simulate(**settings),
        "nanobragg.simulate (also writes the float file)": lambda: nanobragg.simulate(**settings, floatfile=floatfile),
        "Model.render (model built once)": model.render,
        "python process (start, import, simulate)": lambda: subprocess.run([sys.executable, "-c", script], check=True),
    }
    # the images agree before anything is timed
    subprocess.run(cli, stdout=subprocess.DEVNULL, check=True)
    with open(floatfile, "rb") as f:
        assert nanobragg.simulate(**settings).tobytes() == f.read(), "module and command line images differ"
    best = {name: float("inf") for name in runs}
    for _ in range(a.repeat):
        for name, call in runs.items():
            best[name] = min(best[name], timed(call))
    base = best["command line (whole process, writes the float file)"]
    print(f"cubic_1024, {a.threads} threads, best of {a.repeat} alternating runs, {os.cpu_count()} cores\n")
    print("| run | best s | / command line |")
    print("|---|---|---|")
    for name, t in best.items():
        print(f"| {name} | {t:.3f} | {t / base:.2f} |")


if __name__ == "__main__":
    main()
