"""The intermediate representation: what a `.qa` file means, independent of its syntax.

Every node is a frozen pydantic model with `extra="forbid"` and a `span` pointing back at the
source. Spans are excluded from equality, hashing and dumps, so two designs that differ only
in layout compare equal and dump to the same JSON.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from qappac.source import Span

Objective = Literal["energy", "latency", "edp"]
_LOCATIONS = frozenset({"span", "field_spans"})


class Node(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    span: SkipJsonSchema[Span | None] = Field(default=None, exclude=True, repr=False)
    field_spans: SkipJsonSchema[tuple[tuple[str, Span], ...]] = Field(
        default=(), exclude=True, repr=False
    )

    def _key(self) -> tuple[Any, ...]:
        return tuple(
            getattr(self, name) for name in type(self).model_fields if name not in _LOCATIONS
        )

    def span_of(self, name: str) -> Span | None:
        """Where field `name` was set (the statement), else where the node was declared."""
        for key, span in self.field_spans:
            if key == name:
                return span
        return self.span

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Node)
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._key()))


# --------------------------------------------------------------------------- accelerator


class PEType(Node):
    """A processing element's number format family and its parameters.

    `int`: signed activations and weights of `act_bits` and `weight_bits`.
    `light`: `act_bits` activations times weights that are sums of `terms` signed powers of two,
    4 bits per term (LightNN, Ding et al. 2018). `fp`: IEEE-754 binary32 (`act_bits` =
    `weight_bits` = 32). `acc_bits` overrides the format's default accumulator width; all
    derived widths live in `qappac.numerics`.
    """

    family: Literal["fp", "int", "light"]
    act_bits: int = Field(ge=2, le=32)
    weight_bits: int = Field(ge=1, le=32)
    terms: int | None = Field(default=None, ge=1, le=4)
    acc_bits: int | None = Field(default=None, ge=2, le=64)

    @model_validator(mode="after")
    def _consistent(self) -> PEType:
        if self.family == "light":
            if self.terms is None or self.weight_bits != 4 * self.terms:
                raise ValueError("a light PE has 4 weight bits per power-of-two term")
        elif self.terms is not None:
            raise ValueError("only light PEs have power-of-two terms")
        if self.family == "fp" and (self.act_bits, self.weight_bits) != (32, 32):
            raise ValueError("the fp PE is IEEE-754 binary32")
        return self

    @property
    def label(self) -> str:
        """The canonical spelling: fp32, int16, int8, int(8,6), lightpe1, lightpe2, light(6,2)."""
        if self.family == "fp":
            base = "fp32"
        elif self.family == "int":
            same = self.act_bits == self.weight_bits and self.act_bits in (8, 16)
            base = f"int{self.act_bits}" if same else f"int({self.act_bits},{self.weight_bits})"
        elif self.act_bits == 8 and self.terms in (1, 2):
            base = f"lightpe{self.terms}"
        else:
            base = f"light({self.act_bits},{self.terms})"
        return base if self.acc_bits is None else f"{base}+acc{self.acc_bits}"


class Accelerator(Node):
    """A row-stationary accelerator: an array of PEs, their scratchpads, a global buffer.

    Scratchpad sizes are in words of the tensor's own width (from `qappac.numerics`).
    """

    name: str
    pe: PEType
    rows: int = Field(ge=1)
    cols: int = Field(ge=1)
    spad_ifmap: int = Field(ge=1)
    spad_filter: int = Field(ge=1)
    spad_psum: int = Field(ge=1)
    glb_bytes: int = Field(ge=1)
    dram_gb_per_s: float = Field(gt=0)
    clock_mhz: float = Field(gt=0)

    @property
    def pes(self) -> int:
        return self.rows * self.cols


# --------------------------------------------------------------------------- network


class Shape(Node):
    """A feature map: channels x height x width."""

    c: int = Field(ge=1)
    h: int = Field(ge=1)
    w: int = Field(ge=1)

    def __str__(self) -> str:
        return f"{self.c}x{self.h}x{self.w}"


class Conv(Node):
    """A 2-D convolution; `groups="depthwise"` means one group per input channel."""

    kind: Literal["conv"] = "conv"
    name: str
    inputs: tuple[str, ...] = Field(min_length=1, max_length=1)
    out_channels: int = Field(ge=1)
    kernel_h: int = Field(ge=1)
    kernel_w: int = Field(ge=1)
    stride: int = Field(default=1, ge=1)
    pad: int = Field(default=0, ge=0)
    groups: int | Literal["depthwise"] = 1
    relu: bool = False


class FC(Node):
    """A fully connected layer over the flattened input."""

    kind: Literal["fc"] = "fc"
    name: str
    inputs: tuple[str, ...] = Field(min_length=1, max_length=1)
    out_features: int = Field(ge=1)
    relu: bool = False


class Pool(Node):
    """Max or average pooling; `global_` pools the whole map to 1 x 1 (kernel is then unused)."""

    kind: Literal["pool"] = "pool"
    name: str
    inputs: tuple[str, ...] = Field(min_length=1, max_length=1)
    op: Literal["max", "avg"]
    kernel: int = Field(default=1, ge=1)
    stride: int = Field(default=1, ge=1)
    pad: int = Field(default=0, ge=0)
    global_: bool = False


class Add(Node):
    """An element-wise (residual) sum of two or more maps of the same shape."""

    kind: Literal["add"] = "add"
    name: str
    inputs: tuple[str, ...] = Field(min_length=2)
    relu: bool = False


Layer = Annotated[Conv | FC | Pool | Add, Field(discriminator="kind")]

NETWORK_INPUT = "input"
"""The name by which layers refer to the network's input map."""


class Network(Node):
    """A DAG of layers in topological order; a layer's `inputs` name earlier layers or `input`.

    Blocks are expanded: a layer `a` of block instance `res1` is named `res1.a`.
    """

    name: str
    input: Shape
    layers: tuple[Layer, ...] = Field(min_length=1)


# --------------------------------------------------------------------------- designs


class Design(Node):
    """One accelerator running one network."""

    name: str
    accelerator: Accelerator
    network: Network
    batch: int = Field(default=1, ge=1)
    objective: Objective = "energy"


class ArrayShape(Node):
    rows: int = Field(ge=1)
    cols: int = Field(ge=1)


class PEAxis(Node):
    kind: Literal["pe"] = "pe"
    values: tuple[PEType, ...] = Field(min_length=1)


class ArrayAxis(Node):
    kind: Literal["array"] = "array"
    values: tuple[ArrayShape, ...] = Field(min_length=1)


SizeParam = Literal["spad_ifmap", "spad_filter", "spad_psum", "glb_bytes"]
RateParam = Literal["dram_gb_per_s", "clock_mhz"]


class SizeAxis(Node):
    kind: Literal["size"] = "size"
    param: SizeParam
    values: tuple[int, ...] = Field(min_length=1)


class RateAxis(Node):
    kind: Literal["rate"] = "rate"
    param: RateParam
    values: tuple[float, ...] = Field(min_length=1)


Axis = Annotated[PEAxis | ArrayAxis | SizeAxis | RateAxis, Field(discriminator="kind")]


class Explore(Node):
    """A design space: the base accelerator with each axis's parameter varied (full product)."""

    name: str
    base: Accelerator
    networks: tuple[Network, ...] = Field(min_length=1)
    axes: tuple[Axis, ...] = ()
    batch: int = Field(default=1, ge=1)
    objective: Objective = "energy"

    @property
    def size(self) -> int:
        count = 1
        for axis in self.axes:
            count *= len(axis.values)
        return count


class Program(Node):
    """Everything one `.qa` file defines, its includes merged in, in declaration order."""

    accelerators: tuple[Accelerator, ...] = ()
    networks: tuple[Network, ...] = ()
    designs: tuple[Design, ...] = ()
    explores: tuple[Explore, ...] = ()
