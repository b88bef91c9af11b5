"""Shared helpers of the Python module's tests.

External inputs (the golden folder, the command-line binary) are optional: without them the
tests that need them are skipped, except with CI=true, where their absence is a failure.
"""
import os
import pathlib
import shutil
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


def need(what, found):
    """Skip (or, under CI, fail) when an external input is missing."""
    if found:
        return
    if os.environ.get("CI", "") not in ("", "0", "false"):
        pytest.fail(f"{what} is missing (CI=true)")
    pytest.skip(f"{what} not found")


@pytest.fixture(scope="session")
def golden():
    """The golden folder: $NB_GOLDEN_DIR, or ../shared/golden beside the repository."""
    path = pathlib.Path(os.environ.get("NB_GOLDEN_DIR") or REPO.parent / "shared" / "golden")
    need(f"golden folder {path}", (path / "index.json").is_file())
    return path


def _cli_path():
    if os.environ.get("NB_BIN"):
        return pathlib.Path(os.environ["NB_BIN"])
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
    return target / "release" / "nanobragg"


@pytest.fixture(scope="session")
def cli():
    """Run the command-line program ($NB_BIN, else the release build) with these arguments in
    `cwd`; returns the completed process."""
    path = _cli_path()
    need(f"nanobragg binary {path}", path.is_file())

    def run(args, cwd, check=True):
        return subprocess.run([str(path), *args], cwd=cwd, capture_output=True, text=True, check=check)

    return run


def copy_inputs(golden, case, dest):
    for name in case["inputs"]:
        shutil.copy(golden / "inputs" / name, dest / name)
