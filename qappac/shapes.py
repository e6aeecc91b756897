"""Shape inference through a network's DAG: the one home of every layer's tensor shapes.

`infer_shapes` walks the layers in order, reports shape errors to a sink (when given) and
returns one `LayerShape` per layer. Passes call `layer_shapes` on checked networks, where no
error can occur. Notation follows Eyeriss (Chen et al., ISCA 2016): a layer reads C input
channels of H x W, applies M filters of R x S (C/G channels each) with stride U and padding,
and writes M channels of E x F.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from qappac.ir import FC, NETWORK_INPUT, Add, Conv, Network, Pool, Shape
from qappac.source import DiagnosticSink, Span, did_you_mean, note


@dataclass(frozen=True)
class LayerShape:
    """The shapes of one layer. For FC, the flattened input is C = c*h*w channels of 1 x 1,
    with R = S = 1 (an FC layer is a 1 x 1 convolution over a 1 x 1 map)."""

    name: str
    kind: str
    inputs: tuple[str, ...]
    in_shape: Shape
    out_shape: Shape
    C: int  # input channels (all groups)
    H: int  # input height (unpadded)
    W: int
    M: int  # output channels (filters)
    E: int  # output height
    F: int
    R: int  # kernel height
    S: int
    U: int  # stride
    pad: int
    G: int  # groups
    relu: bool

    @property
    def is_mac(self) -> bool:
        return self.kind in ("conv", "fc")

    @property
    def macs(self) -> int:
        """Multiply-accumulates per image (0 for pool and add)."""
        if not self.is_mac:
            return 0
        return self.M * self.E * self.F * (self.C // self.G) * self.R * self.S

    @property
    def weights(self) -> int:
        return self.M * (self.C // self.G) * self.R * self.S if self.is_mac else 0


def _out(size: int, kernel: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - kernel) // stride + 1


def infer_shapes(network: Network, sink: DiagnosticSink | None = None) -> tuple[LayerShape, ...]:
    """Infer every layer's shapes; errors go to `sink` and the layer is skipped.

    >>> from qappac.ir import Network, Shape, Conv
    >>> net = Network(name="n", input=Shape(c=3, h=8, w=8),
    ...               layers=(Conv(name="c", inputs=("input",), out_channels=4,
    ...                            kernel_h=3, kernel_w=3, pad=1),))
    >>> s = infer_shapes(net)[0]; (str(s.out_shape), s.macs)
    ('4x8x8', 6912)
    """
    known: dict[str, Shape] = {NETWORK_INPUT: network.input}
    spans: dict[str, Span | None] = {NETWORK_INPUT: network.input.span}
    result: list[LayerShape] = []

    def err(message: str, span: Span | None, *notes: object) -> None:
        if sink is not None:
            sink.error(message, span, *notes)  # type: ignore[arg-type]

    for layer in network.layers:
        inputs: list[Shape] = []
        ok = True
        for ref in layer.inputs:
            if ref not in known:
                ok = False
                err(
                    f"unknown layer '{ref}' in network '{network.name}'"
                    + did_you_mean(ref, known),
                    layer.span,
                )
            else:
                inputs.append(known[ref])
        if not ok:
            continue
        shape = _infer_one(layer, inputs, network, err, spans)
        if shape is None:
            continue
        known[layer.name] = shape.out_shape
        spans[layer.name] = layer.span
        result.append(shape)
    return tuple(result)


def _infer_one(layer, inputs, network, err, spans) -> LayerShape | None:  # type: ignore[no-untyped-def]
    x = inputs[0]
    if isinstance(layer, Conv):
        groups = x.c if layer.groups == "depthwise" else layer.groups
        R, S = layer.kernel_h, layer.kernel_w
        if R > x.h + 2 * layer.pad or S > x.w + 2 * layer.pad:
            err(
                f"kernel {R}x{S} of '{layer.name}' is larger than its padded input "
                f"{x.h + 2 * layer.pad}x{x.w + 2 * layer.pad}",
                layer.span_of("kernel_h"),
            )
            return None
        if x.c % groups or layer.out_channels % groups:
            err(
                f"groups={groups} of '{layer.name}' must divide its input channels ({x.c}) "
                f"and output channels ({layer.out_channels})",
                layer.span_of("groups"),
            )
            return None
        E, F = _out(x.h, R, layer.stride, layer.pad), _out(x.w, S, layer.stride, layer.pad)
        return LayerShape(
            layer.name,
            "conv",
            layer.inputs,
            x,
            Shape(c=layer.out_channels, h=E, w=F),
            x.c,
            x.h,
            x.w,
            layer.out_channels,
            E,
            F,
            R,
            S,
            layer.stride,
            layer.pad,
            groups,
            layer.relu,
        )
    if isinstance(layer, FC):
        C = x.c * x.h * x.w
        return LayerShape(
            layer.name,
            "fc",
            layer.inputs,
            x,
            Shape(c=layer.out_features, h=1, w=1),
            C,
            1,
            1,
            layer.out_features,
            1,
            1,
            1,
            1,
            1,
            0,
            1,
            layer.relu,
        )
    if isinstance(layer, Pool):
        if layer.global_:
            k_h, k_w, stride, pad = x.h, x.w, 1, 0
        else:
            k_h = k_w = layer.kernel
            stride, pad = layer.stride, layer.pad
        if k_h > x.h + 2 * pad or k_w > x.w + 2 * pad:
            err(
                f"pool window {k_h}x{k_w} of '{layer.name}' is larger than its padded input "
                f"{x.h + 2 * pad}x{x.w + 2 * pad}",
                layer.span_of("kernel"),
            )
            return None
        if pad * 2 > k_h:
            err(
                f"padding {pad} of '{layer.name}' is more than half its window",
                layer.span_of("pad"),
            )
            return None
        E, F = _out(x.h, k_h, stride, pad), _out(x.w, k_w, stride, pad)
        return LayerShape(
            layer.name,
            "pool",
            layer.inputs,
            x,
            Shape(c=x.c, h=E, w=F),
            x.c,
            x.h,
            x.w,
            x.c,
            E,
            F,
            k_h,
            k_w,
            stride,
            pad,
            x.c,
            False,
        )
    assert isinstance(layer, Add)
    for ref, other in zip(layer.inputs[1:], inputs[1:], strict=True):
        if other != x:
            err(
                f"'{layer.name}' adds maps of different shapes: '{layer.inputs[0]}' is {x}, "
                f"'{ref}' is {other}",
                layer.span_of("inputs"),
                note(f"'{layer.inputs[0]}' declared here", spans.get(layer.inputs[0])),
                note(f"'{ref}' declared here", spans.get(ref)),
            )
            return None
    return LayerShape(
        layer.name,
        "add",
        layer.inputs,
        x,
        x,
        x.c,
        x.h,
        x.w,
        x.c,
        x.h,
        x.w,
        1,
        1,
        1,
        0,
        1,
        layer.relu,
    )


@lru_cache(maxsize=256)
def layer_shapes(network: Network) -> tuple[LayerShape, ...]:
    """Shapes of a checked network (memoized: networks are frozen and hashable)."""
    return infer_shapes(network)
