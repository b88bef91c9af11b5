#!/usr/bin/env python3
"""Check that fabio (the crystallography image library) reads our SMV files correctly.

Usage: python3 tests/fabio_check.py [path/to/nanobragg]   (or set NANOBRAGG_BIN)

Renders a small non-square detector (160 fast x 96 slow pixels) with -floatfile, -intfile and
-noisefile, then checks, for both SMV files:
  * fabio's data.shape == (slow, fast) and its pixel values equal our own decoding of the file;
  * header keys (SIZE1, SIZE2, PIXEL_SIZE, DISTANCE, WAVELENGTH, BEAM_CENTER_X/Y, BYTE_ORDER,
    TYPE, HEADER_BYTES) as fabio reports them;
  * the integer image equals floor((float32)(value*scale + adc + 1/2)) of the float image,
    clipped to 0..65535 (specs/physics.md, "Outputs"), for the default scale (55000/max) and an
    explicit -scale;
  * the noise image is reproducible with -seed, never below adc, and its mean follows the float
    image's.
Exits non-zero with a message on the first failure; prints "fabio check: OK" on success.
"""

import os
import subprocess
import sys
import tempfile

import numpy as np

try:
    import fabio
except ImportError:  # the Rust test decides whether this is a failure or a skip
    print("fabio_check: python module 'fabio' is not installed (pip install fabio)", file=sys.stderr)
    sys.exit(3)

FAST, SLOW = 160, 96
ADC = 40.0
ARGS = [
    "-cell", "70", "80", "90", "75", "85", "95", "-misset", "10", "20", "30",
    "-default_F", "100", "-N", "5", "-lambda", "1", "-distance", "60", "-pixel", "0.1",
    "-detpixels_x", str(FAST), "-detpixels_y", str(SLOW), "-oversample", "1",
    "-Xbeam", "4.0", "-Ybeam", "9.0", "-noprogress",
]


def fail(msg):
    print("fabio_check: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def run(binary, workdir, extra):
    cmd = [binary] + ARGS + extra
    p = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
    if p.returncode != 0:
        fail("nanobragg exited %d: %s\n%s" % (p.returncode, " ".join(cmd), p.stderr))
    return p.stdout


def decode_smv(path):
    """Our own reading of an SMV file: header dict and a (slow, fast) uint16 array."""
    raw = open(path, "rb").read()
    if not raw.startswith(b"{\nHEADER_BYTES="):
        fail("%s: does not start like an SMV header" % path)
    hb = int(raw[15:raw.index(b";")].decode())
    text = raw[:hb].split(b"}")[0].decode("ascii")
    header = {}
    for item in text.replace("{", "").split("\n"):
        item = item.strip().rstrip(";")
        if "=" in item:
            k, v = item.split("=", 1)
            header[k.strip()] = v.strip()
    w, h = int(header["SIZE1"]), int(header["SIZE2"])
    order = "<" if header.get("BYTE_ORDER", "little_endian") == "little_endian" else ">"
    data = np.frombuffer(raw[hb:], dtype=order + "u2")
    if data.size != w * h:
        fail("%s: %d pixels after the header, SIZE1*SIZE2 = %d" % (path, data.size, w * h))
    return header, data.reshape(h, w), hb


def check_with_fabio(path, expect_header):
    header, ours, hb = decode_smv(path)
    if hb != 512:
        fail("%s: HEADER_BYTES=%d, expected 512" % (path, hb))
    img = fabio.open(path)
    data = np.asarray(img.data)
    if data.shape != (SLOW, FAST):
        fail("%s: fabio shape %s, expected (slow, fast) = %s" % (path, data.shape, (SLOW, FAST)))
    if ours.shape != (SLOW, FAST):
        fail("%s: our decoding has shape %s" % (path, ours.shape))
    if not np.array_equal(data.astype(np.int64), ours.astype(np.int64)):
        bad = np.argwhere(data.astype(np.int64) != ours.astype(np.int64))
        fail("%s: fabio and our decoding differ at %d pixels, first (slow, fast) %s" % (path, len(bad), bad[0]))
    fh = img.header
    for key, want in expect_header.items():
        if key not in fh:
            fail("%s: fabio header lacks %s (has %s)" % (path, key, sorted(fh)))
        got = str(fh[key]).strip().rstrip(";")
        if isinstance(want, float):
            if abs(float(got) - want) > 1e-6 * max(1.0, abs(want)):
                fail("%s: header %s=%s, expected %g" % (path, key, got, want))
        elif got != want:
            fail("%s: header %s=%r, expected %r" % (path, key, got, want))
        if key in header and header[key] != got:
            fail("%s: header %s: fabio %r, ours %r" % (path, key, got, header[key]))
    return ours


def expected_int(fimg, scale, adc):
    t = np.clip(fimg.astype(np.float64) * scale + adc, 0.0, 65535.0)
    return np.floor((t + 0.5).astype(np.float32)).astype(np.int64)


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("NANOBRAGG_BIN", "target/release/nanobragg")
    binary = os.path.abspath(binary)
    if not os.path.exists(binary):
        fail("binary %s not found" % binary)
    with tempfile.TemporaryDirectory(prefix="nb_fabio_") as d:
        run(binary, d, ["-floatfile", "f.bin", "-intfile", "i.img", "-noisefile", "n.img", "-seed", "1234"])
        fimg = np.fromfile(os.path.join(d, "f.bin"), dtype="<f4")
        if fimg.size != FAST * SLOW:
            fail("float image has %d pixels, expected %d" % (fimg.size, FAST * SLOW))
        if not np.all(np.isfinite(fimg)):
            fail("float image has NaN or Inf")
        fimg = fimg.reshape(SLOW, FAST)
        if fimg.max() <= 0:
            fail("float image is blank")
        expect_header = {
            "SIZE1": str(FAST), "SIZE2": str(SLOW), "DIM": "2", "TYPE": "unsigned_short",
            "BYTE_ORDER": "little_endian", "PIXEL_SIZE": 0.1, "DISTANCE": 60.0, "WAVELENGTH": 1.0,
            "BEAM_CENTER_X": 4.0, "BEAM_CENTER_Y": 9.0,
        }
        ints = check_with_fabio(os.path.join(d, "i.img"), expect_header)
        scale = 55000.0 / float(fimg.astype(np.float64).max())
        want = expected_int(fimg, scale, ADC)
        diff = np.abs(ints.astype(np.int64) - want)
        # the scale is recomputed here from the float32 file, so allow one count at exact ties
        if diff.max() > 1 or np.count_nonzero(diff) > 0.001 * diff.size:
            fail("int image differs from value*scale+adc: max diff %d at %d pixels" % (diff.max(), np.count_nonzero(diff)))
        if ints.max() != 55000 + 40:
            fail("int image maximum %d, expected 55040 (55000/max scale plus adc)" % ints.max())

        # explicit scale and adc: exact equality, including clipping at 65535
        run(binary, d, ["-floatfile", "f2.bin", "-intfile", "i2.img", "-scale", "3e5", "-adc", "10"])
        ints2 = check_with_fabio(os.path.join(d, "i2.img"), expect_header)
        want2 = expected_int(fimg, 3e5, 10.0)
        if not np.array_equal(ints2.astype(np.int64), want2):
            n = np.count_nonzero(ints2.astype(np.int64) != want2)
            fail("int image with -scale 3e5 -adc 10 differs from the formula at %d pixels" % n)
        if ints2.max() != 65535:
            fail("expected clipping at 65535 with -scale 3e5")

        noise = check_with_fabio(os.path.join(d, "n.img"), expect_header)
        if noise.min() < ADC:
            fail("noise image has a pixel below adc: %d" % noise.min())
        photons = noise.astype(np.float64) - ADC
        mean_want = float(fimg.astype(np.float64).mean())
        if abs(photons.mean() - mean_want) > 5 * np.sqrt(max(mean_want, 1e-9) / photons.size) + 1e-3 * mean_want:
            fail("noise mean %g photons, float image mean %g" % (photons.mean(), mean_want))
        run(binary, d, ["-floatfile", "f3.bin", "-noisefile", "n2.img", "-seed", "1234"])
        if open(os.path.join(d, "n.img"), "rb").read() != open(os.path.join(d, "n2.img"), "rb").read():
            fail("-seed 1234 twice gave different noise images")
    print("fabio check: OK (fabio %s, %d x %d)" % (getattr(fabio, "version", "?"), FAST, SLOW))


if __name__ == "__main__":
    main()
