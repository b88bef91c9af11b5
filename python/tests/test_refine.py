"""Refinement through the module recovers parameters a target was simulated with."""
import json

import pytest

import nanobragg

BASE = dict(cell=[40, 50, 60, 80, 95, 105], misset=[10, 20, 30], default_F=100, N=4, distance=80,
            pixel=0.2, detpixels=64, oversample=2, lambda_=1.0)


def test_refinement_recovers_perturbed_parameters(tmp_path):
    truth = dict(BASE, distance=80.4, cell=[40.15, 50, 60, 80, 95, 105])
    target = nanobragg.simulate(**truth)
    model = nanobragg.Model(**BASE)
    out = tmp_path / "refine.json"
    result = model.refine(target, ["distance", "cell_a"], out=str(out))
    assert result["params"]["distance"] == pytest.approx(80.4, abs=2e-3)
    assert result["params"]["cell_a"] == pytest.approx(40.15, abs=2e-4)
    assert result["loss"] <= result["history"][0]
    assert set(result["sigma"]) == {"distance", "cell_a"} and all(s > 0 for s in result["sigma"].values())
    assert result["correlation"]["names"] == ["distance", "cell_a"]
    assert json.loads(out.read_text()) == result


def test_progress_is_a_callback_and_nothing_is_printed(capfd):
    target = nanobragg.simulate(**dict(BASE, distance=80.3))
    model = nanobragg.Model(**BASE)
    seen = []
    result = model.refine(target, "distance", strategy="plain", steps=20, progress=seen.append)
    assert capfd.readouterr().err == ""
    # one call per iteration, numbered from 1, with the loss the history holds
    assert [p["iteration"] for p in seen] == list(range(1, len(seen) + 1)) and len(seen) == result["iterations"]
    assert all(p["stage"] == "plain" for p in seen)
    assert seen[-1]["loss"] == pytest.approx(result["history"][-1], rel=1e-9)

    def stop(p):
        raise KeyError("enough")
    with pytest.raises(KeyError, match="enough"):
        model.refine(target, "distance", strategy="plain", steps=20, progress=stop)
    with pytest.raises(nanobragg.NanobraggError, match="progress: expected a callable"):
        model.refine(target, "distance", progress=3)


def test_a_target_file_and_restraints(tmp_path):
    target_file = tmp_path / "target.bin"
    nanobragg.simulate(**dict(BASE, distance=80.3), floatfile=str(target_file))
    model = nanobragg.Model(**BASE)
    free = model.refine(target_file, "distance", strategy="plain", steps=50)
    assert free["params"]["distance"] == pytest.approx(80.3, abs=2e-3)
    assert free["stage_history"] == []
    # a tight prior at the start holds the parameter back
    held = model.refine(target_file, "distance", strategy="plain", steps=50, restrain={"distance": (80.0, 1e-4)})
    assert abs(held["params"]["distance"] - 80.0) < 1e-3
    same = model.refine(target_file, "distance", strategy="plain", steps=50, restrain=["distance=80,0.0001"])
    assert same["params"] == held["params"]
