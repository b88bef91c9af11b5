"""simulate and Model: arrays, settings, files, tracing and the GIL."""
import os
import threading
import time
import tomllib

import numpy as np
import pytest

import nanobragg

SMALL = {"cell": [70, 80, 90, 90, 90, 90], "default_F": 100, "N": 3, "lambda": 1.0, "distance": 60,
         "pixel": 0.3, "detpixels_f": 48, "detpixels_s": 40}


def test_an_image_shaped_slow_by_fast_in_float32():
    image = nanobragg.simulate(**SMALL)
    assert image.shape == (40, 48) and image.dtype == np.float32 and image.flags.writeable
    assert image.max() > 0 and np.isfinite(image).all()
    model = nanobragg.Model(**SMALL)
    assert model.shape == (40, 48)
    assert model.render().tobytes() == image.tobytes()
    # `lambda` is a Python keyword: lambda_ spells it
    spelled = dict(SMALL)
    spelled["lambda_"] = spelled.pop("lambda")
    assert nanobragg.simulate(**spelled).tobytes() == image.tobytes()


def test_the_run_file_of_a_model_replays_it(tmp_path):
    model = nanobragg.Model(**SMALL, misset=[1, 2, 3], mosaic=0.2, mosaic_domains=3, mosaic_seed=5)
    text = model.to_toml()
    assert "misset = [1.0, 2.0, 3.0]" in text
    (tmp_path / "run.toml").write_text(text)
    with open(tmp_path / "run.toml", "rb") as f:
        replay = nanobragg.simulate(**tomllib.load(f))
    assert replay.tobytes() == model.render().tobytes()


def test_settings_accept_numpy_values_paths_and_none(tmp_path):
    image = nanobragg.simulate(**SMALL)
    s = dict(SMALL, cell=np.array(SMALL["cell"], dtype=np.float64), N=np.int64(3), distance=np.float32(60.0),
             mosaic=None, floatfile=tmp_path / "f.bin")
    assert nanobragg.simulate(**s).tobytes() == image.tobytes()
    # a switch set to False is left off
    assert nanobragg.simulate(**SMALL, nopolar=False).tobytes() == image.tobytes()
    assert nanobragg.simulate(**SMALL, nopolar=True).tobytes() != image.tobytes()


def test_only_the_files_the_settings_name_are_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    image = nanobragg.simulate(**SMALL)
    assert os.listdir(tmp_path) == []  # nothing named, nothing written
    image = nanobragg.simulate(**SMALL, floatfile="a.bin", intfile="a.img", pgmfile="a.pgm", noisefile="n.img", seed=7)
    assert sorted(os.listdir(tmp_path)) == ["a.bin", "a.img", "a.pgm", "n.img"]
    assert (tmp_path / "a.bin").read_bytes() == image.astype("<f4").tobytes()
    assert (tmp_path / "a.img").read_bytes().startswith(b"{\nHEADER_BYTES=")
    nanobragg.simulate(**SMALL, floatfile="b.bin", pgmfile="b.pgm", nopgm=True, noisefile="m.img", nonoise=True)
    assert sorted(os.listdir(tmp_path)) == ["a.bin", "a.img", "a.pgm", "b.bin", "n.img"]


def test_trace_pixel_agrees_with_the_image():
    model = nanobragg.Model(**SMALL)
    image = model.render()
    s, f = np.unravel_index(np.argmax(image), image.shape)
    value, text = model.trace_pixel(int(s), int(f))
    assert value == pytest.approx(float(image[s, f]), rel=1e-6)
    assert text.startswith(f"TRACE pixel fast {f} slow {s}")
    assert all(line.startswith("TRACE") for line in text.splitlines())
    assert model.parameters()["distance"] == 60


def test_the_gil_is_released_while_rendering():
    model = nanobragg.Model(**dict(SMALL, detpixels_f=512, detpixels_s=512, oversample=3, threads=1))
    done = threading.Event()
    ticks = 0

    def render():
        model.render()
        done.set()

    worker = threading.Thread(target=render)
    start = time.perf_counter()
    worker.start()
    while not done.is_set():
        ticks += 1
        time.sleep(0.001)
    worker.join()
    elapsed = time.perf_counter() - start
    # the main thread kept running during the render (with the GIL held it could not tick at all)
    assert elapsed > 0.05 and ticks >= 20, (ticks, elapsed)


def test_a_spectrum_as_pairs_an_array_or_a_file(tmp_path):
    base = dict(SMALL)
    del base["lambda"]
    pairs = [(9000.0, 3.0), (9150.0, 1.0)]
    from_list = nanobragg.simulate(**base, spectrum=pairs)
    from_array = nanobragg.simulate(**base, spectrum=np.array(pairs))
    (tmp_path / "s.txt").write_text("# eV weight\n9000 3\n9150 1\n")
    from_file = nanobragg.simulate(**base, spectrum=tmp_path / "s.txt")
    assert from_list.max() > 0
    assert from_list.tobytes() == from_array.tobytes() == from_file.tobytes()
    # a one-line spectrum is the single energy
    assert nanobragg.simulate(**base, spectrum=[[9000, 1]]).tobytes() == nanobragg.simulate(**base, energy=9000).tobytes()
    # the run file holds the spectrum itself and replays without the array
    text = nanobragg.Model(**base, spectrum=pairs).to_toml()
    assert "spectrum_lines = [9000.0, 3.0, 9150.0, 1.0]" in text
    assert nanobragg.simulate(**tomllib.loads(text)).tobytes() == from_list.tobytes()
    with pytest.raises(nanobragg.InputFileError, match="missing.txt"):
        nanobragg.simulate(**base, spectrum=tmp_path / "missing.txt")
    for bad in ([(9000, 1, 2)], [9000, 1], 5, [(0, 1)], [(9000, 0)]):
        with pytest.raises(nanobragg.NanobraggError, match="spectrum"):
            nanobragg.simulate(**base, spectrum=bad)
    with pytest.raises(nanobragg.NanobraggError, match="-lambda/-energy"):
        nanobragg.simulate(**base, spectrum=pairs, energy=9000)


def test_a_batch_shot_renders_again_from_its_record(tmp_path, cli):
    # a still with a spectrum, fluence and size jitter and a random orientation
    (tmp_path / "sp.txt").write_text("# keV\n9.00 0.5\n9.02 1\n9.04 0.7\n")
    (tmp_path / "p.toml").write_text(
        'flags = "-cell 70 80 90 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 -pixel 0.1 -detpixels 64 -oversample 1"\n'
        'seed = 21\nout = "s"\nformats = ["float", "noise", "settings"]\n'
        '[stills]\ncount = 2\nspectra = ["sp.txt"]\nfluence_jitter = 0.3\ncrystal_size_um = [0.3, 1]\n')
    cli(["batch", "--plan", "p.toml"], cwd=tmp_path)
    for n in (1, 2):
        stem = tmp_path / "s" / f"shot_{n:05}"
        record = tomllib.loads(stem.with_suffix(".toml").read_text())
        assert "spectrum_lines" in record and "misset" in record and "fluence" in record
        image = nanobragg.simulate(**record, noisefile=str(tmp_path / "x.img"))
        assert image.astype("<f4").tobytes() == stem.with_suffix(".bin").read_bytes()
        assert (tmp_path / "x.img").read_bytes() == (tmp_path / "s" / f"shot_{n:05}.noise.img").read_bytes()


def test_the_detector_response_flags_make_the_command_lines_noise_image(tmp_path, cli):
    response = dict(psf="gauss", psf_fwhm=120, gain=2, readout_noise=1.5, seed=4)
    nanobragg.simulate(**SMALL, **response, noisefile=str(tmp_path / "py.img"))
    flags = [a for k, v in {**SMALL, **response}.items() for a in (f"-{k}", *map(str, v if isinstance(v, list) else [v]))]
    cli([*flags, "-noisefile", "cli.img", "-nopgm"], cwd=tmp_path)
    assert (tmp_path / "py.img").read_bytes() == (tmp_path / "cli.img").read_bytes()


def test_stol_materials_add_the_command_lines_background(tmp_path, cli):
    (tmp_path / "water.stol").write_text("0 2.57\n0.2 2.8\n0.5 3.1\n1.0 2.0\n")
    (tmp_path / "air.stol").write_text("0 7.5\n0.1 4.2\n0.4 1.2\n1.0 0.5\n")
    water = str(tmp_path / "water.stol")
    air = str(tmp_path / "air.stol")
    materials = dict(stol=[water, air], stol_thick=[0.1, 5], stol_density=[1, 0.0012], stol_MW=[18, 28.8])
    plain = nanobragg.simulate(**SMALL, flux=1e12)
    image = nanobragg.simulate(**SMALL, flux=1e12, **materials)
    assert (image >= plain).all() and (image > plain).sum() > image.size // 2
    flags = [a for k, v in {**SMALL, "flux": 1e12, **materials}.items() for a in (f"-{k}", *map(str, v if isinstance(v, list) else [v]))]
    cli([*flags, "-floatfile", "cli.bin", "-nopgm"], cwd=tmp_path)
    assert np.fromfile(tmp_path / "cli.bin", dtype="<f4").tobytes() == image.tobytes()
    # the model has no gradients for it: refused, not left out
    with pytest.raises(Exception, match="-stol"):
        nanobragg.Model(**SMALL, **materials).value_and_grad(params=["distance"])
