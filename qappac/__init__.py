"""qappac: a quantization-aware PPA compiler for row-stationary DNN accelerators.

The public API, imported lazily so that `import qappac` (and `qappac check`) stays fast:

>>> import qappac
>>> program = qappac.compile_file(qappac.data_dir("specs") / "eyeriss.qa")
>>> [d.name for d in program.designs]
['eyeriss_alexnet', 'eyeriss_vgg16']
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "compile_file": "qappac.build",
    "build": "qappac.build",
    "explore": "qappac.build",
    "load_models": "qappac.build",
    "Options": "qappac.build",
    "Program": "qappac.ir",
    "Design": "qappac.ir",
    "Accelerator": "qappac.ir",
    "Network": "qappac.ir",
    "PEType": "qappac.ir",
    "Explore": "qappac.ir",
    "format_of": "qappac.numerics",
    "layer_shapes": "qappac.shapes",
    "schedule": "qappac.dataflow",
    "design_ppa": "qappac.ppa.design",
    "data_dir": "qappac.resources",
    "DesignError": "qappac.source",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'qappac' has no attribute {name!r}")
