"""Gradients through the module against central finite differences of the loss, each side
rendered from settings changed by ±h (float64 losses)."""
import numpy as np
import pytest

import nanobragg

BASE = dict(cell=[40, 50, 60, 80, 95, 105], misset=[10, 20, 30], default_F=100, N=4, distance=80,
            pixel=0.2, detpixels=64, oversample=2, lambda_=1.0)


def changed(name, delta):
    """BASE with one parameter moved by delta (in the parameter's units)."""
    s = dict(BASE, cell=list(BASE["cell"]), misset=list(BASE["misset"]))
    if name.startswith("cell_"):
        s["cell"][["a", "b", "c", "alpha", "beta", "gamma"].index(name[5:])] += delta
    elif name.startswith("misset_"):
        s["misset"]["xyz".index(name[-1])] += delta
    elif name == "lambda":
        s["lambda_"] += delta
    else:
        s[name] += delta
    return s


@pytest.fixture(scope="module")
def target():
    # a measured image: the model with other parameter values
    return nanobragg.simulate(**dict(changed("distance", 0.3), cell=[40.1, 50, 60, 80, 95, 105]))


STEPS = {"distance": 1e-3, "cell_a": 1e-4, "cell_gamma": 1e-4, "misset_z": 1e-4, "lambda": 1e-7}


@pytest.mark.parametrize("loss", ["poisson", "gaussian", "mse"])
def test_gradients_match_central_differences(target, loss):
    names = list(STEPS)
    value, grad = nanobragg.Model(**BASE).value_and_grad(target, names, loss=loss)
    assert sorted(grad) == sorted(names)
    for name, h in STEPS.items():
        up, _ = nanobragg.Model(**changed(name, h)).value_and_grad(target, [name], loss=loss)
        down, _ = nanobragg.Model(**changed(name, -h)).value_and_grad(target, [name], loss=loss)
        fd = (up - down) / (2 * h)
        assert grad[name] == pytest.approx(fd, rel=2e-6), (loss, name, grad[name], fd)
        # the evaluation point is the model's own: the centre value lies between the sides
        assert min(up, down) - abs(fd) * h <= value <= max(up, down) + abs(fd) * h


def test_without_a_target_the_loss_is_the_weighted_image_sum():
    value, grad = nanobragg.Model(**BASE).value_and_grad(params="distance,fluence")
    h = 1e-3
    up, _ = nanobragg.Model(**changed("distance", h)).value_and_grad(params="distance")
    down, _ = nanobragg.Model(**changed("distance", -h)).value_and_grad(params="distance")
    assert grad["distance"] == pytest.approx((up - down) / (2 * h), rel=2e-6)
    # the image is proportional to the fluence
    fluence = nanobragg.Model(**BASE).parameters()["fluence"]
    assert grad["fluence"] * fluence == pytest.approx(value, rel=1e-9)


def test_every_parameter_by_default_and_structure_factor_gradients(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    span = range(-6, 7)
    lines = [f"{h} {k} {l} {50 + (7 * h + 3 * k + l) % 20}" for h in span for k in span for l in span]
    (tmp_path / "F.hkl").write_text("\n".join(lines) + "\n")
    model = nanobragg.Model(**dict(BASE, hkl="F.hkl", detpixels=32))
    _, grad = model.value_and_grad()
    # every model parameter of the command line's list (26), the vector gradient besides
    assert len(grad) == 27 and set(grad) - {"structure_factors"} <= set(model.parameters())
    rows = np.array(grad["structure_factors"])
    assert rows.ndim == 2 and rows.shape[1] == 4 and len(rows) > 0 and np.all(rows[:, 3] != 0)
    assert np.all(np.abs(rows[:, :3]) <= 6)
    # no file named, none written (the HKL file's dump only when `dump` is set)
    assert [p.name for p in tmp_path.iterdir()] == ["F.hkl"]


VALUE_STEPS = {"Na": 1e-4, "beam_x": 1e-5, "rotx": 1e-4, "twotheta": 1e-4, "polar": 1e-2, "pixel": 1e-7}


def test_gradients_at_moved_parameter_values(target):
    model = nanobragg.Model(**BASE)
    start = model.parameters()
    at = {"distance": 80.2, "Na": 4.3, "beam_x": start["beam_x"] + 0.05}
    value, grad = model.value_and_grad(target, list(VALUE_STEPS), values=at)
    for name, h in VALUE_STEPS.items():
        up, _ = model.value_and_grad(target, [name], values=dict(at, **{name: at.get(name, start[name]) + h}))
        down, _ = model.value_and_grad(target, [name], values=dict(at, **{name: at.get(name, start[name]) - h}))
        assert grad[name] == pytest.approx((up - down) / (2 * h), rel=2e-6), name
    # moving a parameter by `values` is moving it in the settings
    moved, _ = model.value_and_grad(target, ["distance"], values={"distance": 80.2})
    rebuilt, _ = nanobragg.Model(**changed("distance", 0.2)).value_and_grad(target, ["distance"])
    assert moved == pytest.approx(rebuilt, rel=1e-12)
    with pytest.raises(nanobragg.NanobraggError, match="values: unknown parameter 'Nd'"):
        model.value_and_grad(target, ["Na"], values={"Nd": 3})
    with pytest.raises(nanobragg.NanobraggError, match="values: distance = -1 is not a physical value"):
        model.value_and_grad(target, ["Na"], values={"distance": -1.0})
