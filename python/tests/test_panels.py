"""A multi-panel detector (a DIALS experiment list): a list of arrays, one per panel, equal to
the command line's per-panel float files; targets as lists or per-panel files."""
import json

import numpy as np
import pytest

import nanobragg


def two_panel_list(path):
    """Two 32 x 24 panels side by side, 80 mm from the crystal, normal to the beam."""
    panel = lambda name, x: {"name": name, "origin": [x, 5.0, -80.0], "fast_axis": [1.0, 0.0, 0.0],
                             "slow_axis": [0.0, -1.0, 0.0], "pixel_size": [0.4, 0.4], "image_size": [32, 24],
                             "thickness": 0.0, "mu": 0.0}
    expt = {
        "__id__": "ExperimentList",
        "experiment": [{"__id__": "Experiment", "beam": 0, "detector": 0, "crystal": 0, "scan": 0, "goniometer": 0}],
        "beam": [{"direction": [0.0, 0.0, 1.0], "wavelength": 1.0, "polarization_normal": [0.0, 1.0, 0.0],
                  "polarization_fraction": 0.999}],
        "detector": [{"panels": [panel("left", -13.0), panel("right", 0.2)]}],
        "crystal": [{"real_space_a": [29.6, 3.1, -2.0], "real_space_b": [-2.9, 29.7, 3.3], "real_space_c": [2.4, -3.0, 29.7]}],
        "scan": [{"image_range": [1, 1], "oscillation": [0.0, 0.0]}],
        "goniometer": [{"rotation_axis": [1.0, 0.0, 0.0]}],
    }
    path.write_text(json.dumps(expt))


def test_one_array_per_panel_as_the_command_line_writes_them(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    two_panel_list(tmp_path / "two.expt")
    settings = {"expt": "two.expt", "default_F": 100, "N": 3, "floatfile": "py.bin"}
    images = nanobragg.simulate(**settings)
    assert isinstance(images, list) and [im.shape for im in images] == [(24, 32), (24, 32)]
    assert all(im.dtype == np.float32 for im in images) and sum(im.max() for im in images) > 0
    cli(["-expt", "two.expt", "-default_F", "100", "-N", "3", "-floatfile", "cli.bin", "-noprogress"], cwd=tmp_path)
    for i, im in enumerate(images):
        assert im.tobytes() == (tmp_path / f"cli_{i}.bin").read_bytes()
        assert (tmp_path / f"py_{i}.bin").read_bytes() == im.tobytes()
    model = nanobragg.Model(expt="two.expt", default_F=100, N=3)
    assert model.shape == [(24, 32), (24, 32)]
    assert "panel1_x" in model.parameters()
    # a target as a list of arrays, or as the per-panel files the command line names
    target = [im * 1.1 for im in images]
    from_list = model.value_and_grad(target, ["cell_a", "panel1_x"], loss="mse")
    for i, t in enumerate(target):
        t.astype("<f4").tofile(tmp_path / f"t_{i}.bin")
    from_files = model.value_and_grad("t.bin", ["cell_a", "panel1_x"], loss="mse")
    assert from_list[0] == pytest.approx(from_files[0], rel=1e-6) and from_list[0] > 0
    with pytest.raises(nanobragg.NanobraggError, match=r"target: 1 array for 2 panels"):
        model.value_and_grad(target[:1], ["cell_a"], loss="mse")
    with pytest.raises(nanobragg.NanobraggError, match="panel5_x: the detector has 2 panel"):
        model.value_and_grad(target, ["panel5_x"], loss="mse")
