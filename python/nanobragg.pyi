"""Type hints of the nanobragg extension module (see docs/python.md)."""
from os import PathLike
from typing import Any, Mapping, Sequence, Union

import numpy as np
import numpy.typing as npt

__version__: str

Target = Union[npt.ArrayLike, str, PathLike[str]]
Params = Union[str, Sequence[str]]

class NanobraggError(ValueError):
    """A bad setting, option or input file: the command line's one-line message."""

class InputFileError(NanobraggError):
    """A file that cannot be read or written, or whose content is malformed."""

class ResourceError(NanobraggError):
    """A run that needs more memory than it can hold."""

class DeviceError(NanobraggError):
    """The device asked for cannot run: no GPU adapter, or one that fails."""

def simulate(**settings: Any) -> npt.NDArray[np.float32]:
    """Render the settings (run-file names); the float image shaped (slow, fast). Writes the
    files the settings name and no others."""

class Model:
    def __init__(self, **settings: Any) -> None: ...
    @property
    def shape(self) -> tuple[int, int]: ...
    def to_toml(self) -> str: ...
    def parameters(self) -> dict[str, float]: ...
    def render(self) -> npt.NDArray[np.float32]: ...
    def value_and_grad(
        self,
        target: Target | None = None,
        params: Params | None = None,
        loss: str | None = None,
        adc: float = 40.0,
        values: Mapping[str, float] | None = None,
    ) -> tuple[float, dict[str, Any]]: ...
    def refine(
        self,
        target: Target,
        params: Params,
        loss: str = "poisson",
        steps: int = 100,
        optimizer: str = "lbfgs",
        strategy: str = "continuation",
        restrain: Sequence[str] | Mapping[str, tuple[float, float]] | str | None = None,
        adc: float = 40.0,
        residual: str | None = None,
        out: str | None = None,
    ) -> dict[str, Any]: ...
    def trace_pixel(self, s: int, f: int) -> tuple[float, str]: ...
