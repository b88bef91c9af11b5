"""Reads nanobragg's files with DIALS' own library (dxtbx) and compares them with the truth.

Run with a Python that has dxtbx (Debian: /usr/bin/python3 with the `dials` package).

  dials_check.py geometry TRUTH.expt IMAGE EXPECTED.i32
      IMAGE (CBF, NeXus or SMV) as dxtbx reads it must have every panel's origin, fast and
      slow axis within 1e-6 mm of TRUTH (our -write_expt file, read as plain JSON), the same
      wavelength, beam direction, pixel size and image size, and pixel values equal to
      EXPECTED (little-endian int32, the panels one after another). TRUTH itself must load
      through ExperimentListFactory and name an image whose data are the same.

  dials_check.py frames IMAGE EXPECTED.i32
      Every image of IMAGE (a NeXus series, say), as dxtbx reads them one after another, must
      equal EXPECTED (little-endian int32, the images one after another).

  dials_check.py compare TRUTH.expt INDEXED.expt
      The crystal of INDEXED (from dials.index) against TRUTH's: prints the cell errors and the
      misorientation after matching the bases, as JSON on the last line.
"""

import json
import math
import sys

import numpy as np


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def max_abs(a, b):
    return max(abs(x - y) for x, y in zip(a, b))


def load_imageset(path):
    from dxtbx.model.experiment_list import ExperimentListFactory

    experiments = ExperimentListFactory.from_filenames([path])
    if len(experiments) != 1:
        fail(f"{path}: dxtbx made {len(experiments)} experiments, expected 1")
    return experiments[0].imageset


def raw_arrays(imageset):
    data = imageset.get_raw_data(0)
    return [np.array(d.as_numpy_array(), dtype=np.int64) for d in data]


def check_geometry(truth_path, image_path, expected_path):
    from dxtbx.model.experiment_list import ExperimentListFactory

    truth = json.load(open(truth_path))
    want_panels = truth["detector"][0]["panels"]
    want_beam = truth["beam"][0]
    imageset = load_imageset(image_path)
    fmt = imageset.get_format_class().__name__
    detector, beam = imageset.get_detector(), imageset.get_beam()
    if len(detector) != len(want_panels):
        fail(f"{fmt}: {len(detector)} panels, expected {len(want_panels)}")
    worst = 0.0
    for i, (p, w) in enumerate(zip(detector, want_panels)):
        for name, got, want in (
            ("origin", p.get_origin(), w["origin"]),
            ("fast axis", p.get_fast_axis(), w["fast_axis"]),
            ("slow axis", p.get_slow_axis(), w["slow_axis"]),
        ):
            err = max_abs(got, want)
            worst = max(worst, err)
            if err > 1e-6:
                fail(f"{fmt}: panel {i} {name} {tuple(got)} differs from {tuple(want)} by {err:.3g} mm")
        if max_abs(p.get_pixel_size(), w["pixel_size"]) > 1e-12:
            fail(f"{fmt}: panel {i} pixel size {p.get_pixel_size()} != {w['pixel_size']}")
        if list(p.get_image_size()) != list(w["image_size"]):
            fail(f"{fmt}: panel {i} image size {p.get_image_size()} != {w['image_size']}")
    if abs(beam.get_wavelength() - want_beam["wavelength"]) > 1e-12:
        fail(f"{fmt}: wavelength {beam.get_wavelength()} != {want_beam['wavelength']}")
    if max_abs(beam.get_sample_to_source_direction(), want_beam["direction"]) > 1e-12:
        fail(f"{fmt}: beam direction {beam.get_sample_to_source_direction()} != {want_beam['direction']}")
    expected = np.fromfile(expected_path, dtype="<i4").astype(np.int64)
    got = np.concatenate([a.ravel() for a in raw_arrays(imageset)])
    if got.shape != expected.shape or not np.array_equal(got, expected):
        bad = np.flatnonzero(got != expected) if got.shape == expected.shape else []
        fail(f"{fmt}: pixel values differ ({len(bad)} pixels, first at {bad[:3]})")
    # the experiment list loads and names an image with the same data
    experiments = ExperimentListFactory.from_json_file(truth_path, check_format=True)
    listed = np.concatenate([a.ravel() for a in raw_arrays(experiments[0].imageset)])
    if not np.array_equal(listed, expected):
        fail("the experiment list's imageset does not give the same pixel values")
    print(f"OK {fmt}: {len(detector)} panel(s), largest geometry difference {worst:.3g} mm, {expected.size} pixels equal")


def check_frames(image_path, expected_path):
    imageset = load_imageset(image_path)
    fmt = imageset.get_format_class().__name__
    expected = np.fromfile(expected_path, dtype="<i4").astype(np.int64)
    got = []
    for i in range(len(imageset)):
        got.extend(np.array(d.as_numpy_array(), dtype=np.int64).ravel() for d in imageset.get_raw_data(i))
    got = np.concatenate(got)
    if got.shape != expected.shape or not np.array_equal(got, expected):
        bad = np.flatnonzero(got != expected) if got.shape == expected.shape else []
        fail(f"{fmt}: {len(imageset)} images, pixel values differ ({got.size} read, {expected.size} expected, {len(bad)} differ)")
    print(f"OK {fmt}: {len(imageset)} images, {expected.size} pixels equal")


def crystal_matrix(crystal):
    """Real-space vectors a, b, c as the rows of a 3x3 array (Angstrom, DIALS frame)."""
    return np.array([crystal.get_real_space_vectors()[i] for i in range(3)], dtype=float)


def cell_of(rows):
    a, b, c = rows
    la, lb, lc = (np.linalg.norm(v) for v in (a, b, c))
    ang = lambda u, v: math.degrees(math.acos(np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v))))
    return [la, lb, lc, ang(b, c), ang(a, c), ang(a, b)]


def compare(truth_path, indexed_path):
    from dxtbx.model.experiment_list import ExperimentListFactory

    truth = ExperimentListFactory.from_json_file(truth_path, check_format=False)[0].crystal
    found = ExperimentListFactory.from_json_file(indexed_path, check_format=False)[0].crystal
    t, f = crystal_matrix(truth), crystal_matrix(found)
    # the indexed basis is an integer recombination of the true one: f = M t
    m = np.rint(f @ np.linalg.inv(t))
    if abs(abs(np.linalg.det(m)) - 1) > 1e-6:
        fail(f"indexed basis is not a unimodular recombination of the true one: {m.tolist()}")
    f_in_t = np.linalg.inv(m) @ f
    # rotation taking the true vectors onto the indexed ones (least squares, proper)
    u, _, vt = np.linalg.svd(f_in_t.T @ t)
    r = u @ np.diag([1, 1, np.linalg.det(u @ vt)]) @ vt
    angle = math.degrees(math.acos(max(-1.0, min(1.0, (np.trace(r) - 1) / 2))))
    ct, cf = cell_of(t), cell_of(f_in_t)
    length_err = max(abs(cf[i] / ct[i] - 1) for i in range(3))
    angle_err = max(abs(cf[i] - ct[i]) for i in range(3, 6))
    result = {
        "true_cell": ct,
        "found_cell": cf,
        "max_length_error": length_err,
        "max_angle_error_deg": angle_err,
        "misorientation_deg": angle,
        "basis_change": m.tolist(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "geometry":
        check_geometry(*sys.argv[2:])
    elif len(sys.argv) == 4 and sys.argv[1] == "frames":
        check_frames(*sys.argv[2:])
    elif len(sys.argv) == 4 and sys.argv[1] == "compare":
        compare(*sys.argv[2:])
    else:
        fail("usage: dials_check.py geometry TRUTH IMAGE EXPECTED | frames IMAGE EXPECTED | compare TRUTH INDEXED")
