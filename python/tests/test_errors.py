"""Errors arrive as nanobragg.NanobraggError (a ValueError) with the command line's one-line
messages, and leave no output files."""
import os

import numpy as np
import pytest

import nanobragg

SMALL = {"cell": [70, 80, 90, 90, 90, 90], "default_F": 100, "N": 3, "lambda": 1.0, "distance": 60,
         "pixel": 0.3, "detpixels": 32}


def message(call, **kwargs):
    with pytest.raises(nanobragg.NanobraggError) as e:
        call(**kwargs)
    text = str(e.value)
    assert "\n" not in text and isinstance(e.value, ValueError)
    return text


def test_a_misspelt_setting_gets_a_suggestion():
    assert message(nanobragg.simulate, **SMALL, distanc=3) == "unknown setting 'distanc': did you mean distance?"
    assert message(nanobragg.Model, **SMALL, pixle=0.1) == "unknown setting 'pixle': did you mean pixel?"


def toml_text(settings):
    """Settings as a run file (numbers, strings and lists of numbers suffice here)."""
    def value(v):
        return "[" + ", ".join(map(str, v)) + "]" if isinstance(v, list) else f'"{v}"' if isinstance(v, str) else str(v)
    return "".join(f"{k} = {value(v)}\n" for k, v in settings.items())


def test_bad_values_get_the_command_lines_messages(cli, tmp_path):
    for key, value in [
        ("cell", [70, 80]),
        ("distance", "far"),
        ("twotheta_axis", [0, 0, 0]),
        ("hkl", "missing.hkl"),
        ("floatfile", "no/such/folder/f.bin"),
    ]:
        settings = dict(SMALL, **{key: value})
        if key == "twotheta_axis":
            settings["twotheta"] = 5
        got = message(nanobragg.simulate, **settings)
        # the same settings as a run file: the command line reads them in the same order
        (tmp_path / "run.toml").write_text(toml_text(settings))
        run = cli(["--config", "run.toml"], cwd=tmp_path, check=False)
        assert run.returncode != 0
        # errors of the settings themselves name the run file on the command line
        assert run.stderr.strip().splitlines()[-1] in (f"nanobragg: error: {got}", f"nanobragg: error: run.toml: {got}"), (key, got, run.stderr)
    assert not (tmp_path / "floatimage.bin").exists()


def test_a_value_of_the_wrong_kind():
    assert message(nanobragg.simulate, **SMALL, mosaic={"a": 1}) == "mosaic: expected numbers, a string or true, got {'a': 1}"


def test_a_failed_run_leaves_no_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = message(nanobragg.simulate, **SMALL, hkl="missing.hkl", floatfile="f.bin", intfile="i.img")
    assert "missing.hkl" in text
    assert os.listdir(tmp_path) == []


def test_gradient_and_refinement_options_are_checked():
    model = nanobragg.Model(**SMALL)
    target = model.render()
    assert message(model.value_and_grad, target=target, params=["distanse"]).startswith("--params: unknown parameter 'distanse'")
    assert message(model.value_and_grad, target=target, loss="l1") == "--loss: expected poisson, gaussian or mse, got 'l1'"
    assert message(model.value_and_grad, loss="mse").startswith("--loss: needs --target")
    assert message(model.value_and_grad, target=np.zeros((3, 3)), params="distance") == "target: array of shape [3, 3] but the detector is (slow, fast) = (32, 32)"
    assert message(model.value_and_grad, params="structure_factors").startswith("--params structure_factors: the simulation has no HKL grid")
    assert message(model.refine, target=target, params="distance", optimizer="sgd") == "--optimizer: expected lbfgs or adam, got 'sgd'"
    assert message(model.refine, target=target, params="distance", strategy="fast").startswith("--strategy:")
    assert message(model.refine, target=target, params="distance", restrain=["distance=1"]).startswith("restrain: expected name=value,sigma")
    assert message(model.refine, target="missing.bin", params="distance").startswith("missing.bin")
    assert message(model.trace_pixel, s=40, f=0) == "-trace_pixel: pixel (fast 0, slow 40) is outside the 32 x 32 detector"


def test_targets_that_are_not_finite_or_of_another_shape_are_refused():
    model = nanobragg.Model(**SMALL)
    image = model.render()
    assert image.shape == (32, 32)
    bad = image.copy()
    bad[3, 4] = np.nan
    for call in (lambda: model.value_and_grad(bad, ["distance"]), lambda: model.refine(bad, ["distance"], steps=1)):
        with pytest.raises(nanobragg.NanobraggError) as e:
            call()
        assert "target" in str(e.value) and "not finite" in str(e.value), str(e.value)
    bad[3, 4] = np.inf
    assert "not finite" in message(lambda **k: model.value_and_grad(bad, ["distance"]))
    # the transpose of a rectangular image, and the flat array, pair pixels wrongly
    rect = nanobragg.Model(**dict(SMALL, detpixels_x=32, detpixels_y=16))
    target = rect.render()
    assert target.shape == (16, 32)
    assert "shape" in message(lambda **k: rect.value_and_grad(target.T, ["distance"]))
    assert "shape" in message(lambda **k: rect.value_and_grad(target.ravel(), ["distance"]))
    value, _ = rect.value_and_grad(target, ["distance"])
    assert np.isfinite(value)


def test_each_kind_of_error_has_its_class():
    def raised(call, **kwargs):
        with pytest.raises(nanobragg.NanobraggError) as e:
            call(**kwargs)
        return type(e.value)

    # a file that is missing, or a folder that does not exist, is the file's fault
    assert raised(nanobragg.simulate, **SMALL, hkl="missing.hkl") is nanobragg.InputFileError
    assert raised(nanobragg.simulate, **SMALL, floatfile="no/such/folder/f.bin") is nanobragg.InputFileError
    # a value no experiment can have is a plain NanobraggError
    assert raised(nanobragg.simulate, **SMALL, twotheta_axis=[0, 0, 0]) is nanobragg.NanobraggError
    # more pixels than memory holds: the resource, before any allocation
    assert raised(nanobragg.simulate, **dict(SMALL, detpixels=60000)) is nanobragg.ResourceError
    for cls in (nanobragg.InputFileError, nanobragg.ResourceError, nanobragg.DeviceError):
        assert issubclass(cls, nanobragg.NanobraggError) and issubclass(cls, ValueError)
