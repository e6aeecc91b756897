"""Where the package's data folders are, in a source checkout and in an installed wheel.

The wheel carries `grammar/`, `backends/` and `specs/` inside the `qappac` package; a source
checkout (or an editable install) has them beside it, at the repository root.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """The folder `name` (grammar, backends or specs) of this installation.

    >>> data_dir("grammar").joinpath("qappa.lark").is_file()
    True
    """
    inside = _PACKAGE / name
    if inside.is_dir():
        return inside
    return _PACKAGE.parent / name
