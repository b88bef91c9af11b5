"""Golden parity through the module: images equal to the C reference's float files (bit for
bit where the command line is), and to the command line's own float files, byte for byte."""
import json
import math
import tomllib

import numpy as np
import pytest

import nanobragg
from conftest import copy_inputs

# settings written out by hand (independent of the command line), with the cases' flags
TRICLINIC = dict(cell=[70, 80, 90, 75, 85, 95], legacy_cell=True, misset=[10, 20, 30], default_F=100,
                 distance=100, pixel=0.1, detpixels=128, oversample=1)
HAND_WRITTEN = {
    "Na_Nb_Nc": dict(TRICLINIC, Na=3, Nb=7, Nc=11, lambda_=1.0),
    "mat_hkl": {"mat": "A_triclinic.mat", "hkl": "P1_random.hkl", "N": 5, "lambda": 1.0, "distance": 100,
                "pixel": 0.1, "detpixels": 128, "oversample": 1},
    "mosaic_phi": dict(TRICLINIC, N=5, lambda_=1.0, mosaic=0.5, mosaic_domains=8, phi=5, osc=2, phisteps=4),
}
# cases whose float image the command line reproduces bit for bit (reports/parity.md)
EXACT = {"Na_Nb_Nc", "mat_hkl", "mosaic_phi", "sourcefile_weights", "mask"}
# every case run through the command line's --print-config
VIA_RUN_FILE = ["Na_Nb_Nc", "mat_hkl", "mosaic_phi", "sourcefile_weights", "mask", "triclinic_P1_512", "smv_noise_pgm"]


def case(golden, name):
    return json.loads((golden / name / "case.json").read_text())


def reference(golden, name):
    c = case(golden, name)
    data = np.fromfile(golden / name / c["outputs"]["float"], dtype="<f4")
    return data.reshape(-1, int(math.isqrt(data.size)) if "rect" not in name else data.size)


def assert_matches_reference(name, image, ref):
    if name in EXACT:
        assert image.tobytes() == ref.astype(np.float32).tobytes(), f"{name}: not bit-identical to the reference"
        return
    a, b = ref.ravel().astype(np.float64), image.ravel().astype(np.float64)
    r = np.corrcoef(a, b)[0, 1]
    assert r >= 0.99999, f"{name}: r = {r}"
    assert np.abs(a - b).max() <= 1e-4 * np.abs(a).max(), name
    assert abs(b.sum() / a.sum() - 1) <= 1e-5, name


@pytest.mark.parametrize("name", sorted(HAND_WRITTEN))
def test_hand_written_settings_reproduce_the_reference(golden, name, tmp_path, monkeypatch):
    copy_inputs(golden, case(golden, name), tmp_path)
    monkeypatch.chdir(tmp_path)
    image = nanobragg.simulate(**HAND_WRITTEN[name])
    assert image.dtype == np.float32 and image.shape == (128, 128)
    assert_matches_reference(name, image, reference(golden, name))
    # no file was named, none was written (the inputs are all that is there)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(case(golden, name)["inputs"])


@pytest.mark.parametrize("name", VIA_RUN_FILE)
def test_a_saved_run_file_renders_the_command_lines_image(golden, cli, name, tmp_path, monkeypatch):
    c = case(golden, name)
    args = c["run_args"] + ["-legacy_cell"]
    ours, mine = tmp_path / "cli", tmp_path / "py"
    for d in (ours, mine):
        d.mkdir()
        copy_inputs(golden, c, d)
    cli(args, cwd=ours)
    (mine / "run.toml").write_text(cli(args + ["--print-config"], cwd=mine).stdout)
    monkeypatch.chdir(mine)
    with open("run.toml", "rb") as f:
        image = nanobragg.simulate(**tomllib.load(f))
    floatfile = c["outputs"]["float"]
    expected = (ours / floatfile).read_bytes()
    assert image.tobytes() == expected, f"{name}: module image differs from the command line's"
    # the files the settings name are written, identical to the command line's
    for product in c["outputs"].values():
        assert (mine / product).read_bytes() == (ours / product).read_bytes(), product
    assert_matches_reference(name, image, reference(golden, name))
