"""Where the scaler-rs executable is."""

from __future__ import annotations  # no `typing` import at interpreter start (the .pth loads this)

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List

BINARY_ENV = "SCALER_RS_BINARY"
NAME = "scaler-rs.exe" if os.name == "nt" else "scaler-rs"


class SchedulerBinaryNotFoundError(FileNotFoundError):
    """SCALER_SCHEDULER=scaler-rs is set but no usable scaler-rs executable was found."""


def _candidates() -> List[str]:
    import shutil
    import sysconfig  # here, not at the top: the .pth imports this module at every interpreter start

    found = []
    # The wheel puts the binary in the scripts directory of the environment it is installed into ("bin" of a venv,
    # or the user scheme's for `pip install --user`); next to sys.executable covers an interpreter started by its
    # full path from a venv that is not active.
    schemes = [None]
    user_scheme = f"{os.name}_user"
    if user_scheme in sysconfig.get_scheme_names():
        schemes.append(user_scheme)
    for scheme in schemes:
        try:
            scripts = sysconfig.get_path("scripts") if scheme is None else sysconfig.get_path("scripts", scheme)
        except KeyError:
            continue
        if scripts:
            found.append(os.path.join(scripts, NAME))
    found.append(os.path.join(os.path.dirname(os.path.abspath(sys.executable)), NAME))
    on_path = shutil.which(NAME)
    if on_path:
        found.append(on_path)
    unique = []
    for path in found:
        if path not in unique:
            unique.append(path)
    return unique


def _usable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def binary_path() -> str:
    """The scaler-rs executable: $SCALER_RS_BINARY if set, else the one this package was installed with."""
    explicit = os.environ.get(BINARY_ENV)
    if explicit:
        if _usable(explicit):
            return os.path.abspath(explicit)
        raise SchedulerBinaryNotFoundError(
            f"{BINARY_ENV}={explicit!r} is not an executable file; point it at a scaler-rs binary "
            f"(e.g. target/release/scaler-rs) or unset it to use the one installed with the scaler-rs package"
        )
    candidates = _candidates()
    for path in candidates:
        if _usable(path):
            return path
    raise SchedulerBinaryNotFoundError(
        "SCALER_SCHEDULER=scaler-rs but the scaler-rs executable was not found (looked in: "
        + ", ".join(candidates)
        + f"). Install it into this environment with `pip install <scaler-rs checkout or wheel>`, or set "
        f"{BINARY_ENV} to its path."
    )
