"""The one jinja2 environment of qappac: strict, whitespace-controlled, deterministic."""

from __future__ import annotations

from functools import cache
from typing import Any

import jinja2

from qappac.resources import data_dir


@cache
def environment(folder: str) -> jinja2.Environment:
    """The environment for `backends/<folder>` (verilog or report)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(data_dir("backends") / folder)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render(folder: str, name: str, **context: Any) -> str:
    """Render template `name` of `backends/<folder>` with `context`."""
    return environment(folder).get_template(name).render(**context)
