"""qappac: a quantization-aware PPA compiler for row-stationary DNN accelerators."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
