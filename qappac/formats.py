"""Number formatting for every output file: one float format, so outputs diff cleanly."""

from __future__ import annotations

import math


def fmt_float(value: float) -> str:
    """Floats in outputs: 6 significant digits, no exponent for ordinary magnitudes.

    >>> fmt_float(0.1 + 0.2), fmt_float(1234567.0), fmt_float(3.0), fmt_float(1.5e-9)
    ('0.3', '1.23457e+06', '3', '1.5e-09')
    """
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    text = f"{value:.6g}"
    return "0" if text == "-0" else text


def fmt_int(value: int) -> str:
    """Integers in human-facing tables: thousands separated by commas."""
    return f"{value:,}"


def fmt_bytes(value: int) -> str:
    """A byte count as written in `.qa` files: the largest binary unit that divides it."""
    for unit, size in (("MiB", 1024**2), ("KiB", 1024)):
        if value % size == 0:
            return f"{value // size} {unit}"
    return f"{value} B"
