"""Lowering: the IR that small texts produce, checked against values worked out by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qappac import ir
from qappac.build import design_json
from qappac.lower import load_program, load_text
from qappac.shapes import layer_shapes
from qappac.source import DiagnosticSink

SPECS = Path(__file__).resolve().parent.parent / "specs"

ACC = """
accelerator eyeriss {
    pe int16
    array 12 x 14
    spad ifmap 12
    spad filter 224
    spad psum 24
    glb 108 KiB
    dram 4.0 GB/s
    clock 200 MHz
}
"""


def lower(text: str, path: str = "t.qa") -> ir.Program:
    sink = DiagnosticSink()
    program = load_text(text, sink, path)
    assert not sink.diagnostics, "\n".join(d.render() for d in sink.diagnostics)
    assert program is not None
    return program


def errors(text: str) -> list[str]:
    sink = DiagnosticSink()
    load_text(text, sink, "t.qa")
    return [d.message for d in sink.diagnostics if d.severity == "error"]


def network(text: str) -> ir.Network:
    (net,) = lower(text).networks
    return net


def accelerator(body: str) -> ir.Accelerator:
    program = lower(ACC + f"accelerator x extends eyeriss {{ {body} }}")
    return {a.name: a for a in program.accelerators}["x"]


# ----------------------------------------------------------------------------- blocks and DAG

BLOCKY = """
network n {
    input 3 x 32 x 32
    conv stem out=16 kernel=3 pad=1
    block basic(c, stride) {
        conv a out=c kernel=3 stride=stride pad=1
        conv b out=c kernel=3 pad=1
        conv proj out=c kernel=1 stride=stride from=in
        add sum from=b, proj
    }
    use basic res1 (c=16, stride=1)
    use basic res2 (c=32, stride=2)
    conv after out=8 kernel=1 from=res1
    pool gap avg global from=res2
    fc head out=10
}
"""


def test_block_expansion_names_layers_instance_dot_layer() -> None:
    net = network(BLOCKY)
    assert [layer.name for layer in net.layers] == [
        "stem",
        "res1.a", "res1.b", "res1.proj", "res1.sum",
        "res2.a", "res2.b", "res2.proj", "res2.sum",
        "after", "gap", "head",
    ]  # fmt: skip


def test_block_inputs_and_arguments() -> None:
    layers = {layer.name: layer for layer in network(BLOCKY).layers}
    # `in` is what precedes the `use`; the first layer of a block chains from it implicitly
    assert layers["res1.a"].inputs == ("stem",)
    assert layers["res1.proj"].inputs == ("stem",)
    assert layers["res1.sum"].inputs == ("res1.b", "res1.proj")
    assert layers["res2.a"].inputs == ("res1.sum",)
    assert layers["res2.proj"].inputs == ("res1.sum",)
    # arguments are substituted
    assert (layers["res2.a"].out_channels, layers["res2.a"].stride) == (32, 2)
    assert (layers["res1.a"].out_channels, layers["res1.a"].stride) == (16, 1)


def test_instance_name_resolves_to_its_last_layer() -> None:
    layers = {layer.name: layer for layer in network(BLOCKY).layers}
    assert layers["after"].inputs == ("res1.sum",)
    assert layers["gap"].inputs == ("res2.sum",)
    assert layers["head"].inputs == ("gap",)  # no from=: the previous layer


def test_top_level_block_and_shapes() -> None:
    net = network(
        """
        block pair(c) { conv a out=c kernel=3 pad=1 relu; conv b out=c kernel=3 pad=1 }
        network n { input 4 x 8 x 8; use pair p (c=4); use pair q (c=4); add s from=q, p relu }
        """
    )
    assert [layer.name for layer in net.layers] == ["p.a", "p.b", "q.a", "q.b", "s"]
    assert net.layers[2].inputs == ("p.b",)
    assert net.layers[-1].inputs == ("q.b", "p.b") and net.layers[-1].relu
    shapes = {s.name: s for s in layer_shapes(net)}
    # p.a: 4 filters of 3x3x4 over 8x8 outputs (pad 1): 4*8*8*4*9 = 9216 MACs
    assert shapes["p.a"].macs == 9216
    assert str(shapes["s"].out_shape) == "4x8x8"


def test_instance_used_before_it_is_defined() -> None:
    assert errors(
        "block pair(c) { conv a out=c kernel=1 }\n"
        "network n { input 4 x 8 x 8; add s from=q, input; use pair q (c=4) }"
    ) == ["layer 'q' is used before it is defined (layers are listed in order, inputs first)"]


def test_layer_attributes() -> None:
    net = network(
        """
        network n {
            input 32 x 16 x 16
            conv dw out=32 kernel=3 pad=1 groups=depthwise
            conv g out=64 kernel=3x1 stride=2 groups=4 relu
            pool mp max kernel=3 stride=2 pad=1
            pool gp avg global
            fc f out=10 relu
        }
        """
    )
    dw, g, mp, gp, f = net.layers
    assert isinstance(dw, ir.Conv) and dw.groups == "depthwise" and dw.kernel_h == 3
    assert (g.kernel_h, g.kernel_w, g.stride, g.groups, g.relu) == (3, 1, 2, 4, True)
    assert isinstance(mp, ir.Pool) and (mp.op, mp.kernel, mp.stride, mp.pad) == ("max", 3, 2, 1)
    # a pool's stride defaults to its kernel; a global pool covers the whole map
    assert isinstance(gp, ir.Pool) and gp.global_ and gp.op == "avg"
    assert isinstance(f, ir.FC) and (f.out_features, f.relu) == (10, True)
    shapes = {s.name: s for s in layer_shapes(net)}
    assert shapes["dw"].G == 32
    # g: 16 + 0 - 3)//2 + 1 = 7 rows, (16 - 1)//2 + 1 = 8 columns
    assert (shapes["g"].E, shapes["g"].F) == (7, 8)
    assert str(shapes["gp"].out_shape) == "64x1x1"
    assert network("network n { input 1 x 8 x 8; pool p max kernel=2 }").layers[0].stride == 2


# ----------------------------------------------------------------------------- accelerators


def test_extends_inherits_and_overrides() -> None:
    program = lower(
        ACC
        + """
        accelerator edge extends eyeriss { pe lightpe1; array 8 x 8 }
        accelerator tiny extends edge { glb 32 KiB }
        """
    )
    accs = {a.name: a for a in program.accelerators}
    base, edge, tiny = accs["eyeriss"], accs["edge"], accs["tiny"]
    assert edge.pe == ir.PEType(family="light", act_bits=8, weight_bits=4, terms=1)
    assert (edge.rows, edge.cols) == (8, 8)
    for field in (
        "spad_ifmap",
        "spad_filter",
        "spad_psum",
        "glb_bytes",
        "dram_gb_per_s",
        "clock_mhz",
    ):
        assert getattr(edge, field) == getattr(base, field)
    assert tiny.glb_bytes == 32 * 1024 and tiny.pe == edge.pe and tiny.rows == 8
    assert base.pe.label == "int16" and base.pes == 168


def test_override_span_points_at_the_overriding_statement() -> None:
    program = lower(ACC + "accelerator edge extends eyeriss {\n  array 8 x 8\n}\n")
    edge = {a.name: a for a in program.accelerators}["edge"]
    span = edge.span_of("rows")
    assert span is not None and span.file.text[span.start : span.end] == "array 8 x 8"
    inherited = edge.span_of("glb_bytes")
    assert inherited is not None and inherited.file.text[inherited.start : inherited.end] == (
        "glb 108 KiB"
    )


@pytest.mark.parametrize(
    ("statement", "field", "value"),
    [
        ("glb 108 KiB", "glb_bytes", 108 * 1024),  # 110592
        ("glb 110592 B", "glb_bytes", 110592),
        ("glb 100 kB", "glb_bytes", 100_000),
        ("glb 2 MB", "glb_bytes", 2_000_000),
        ("glb 1.5 MiB", "glb_bytes", 1_572_864),  # 1.5 * 1024 * 1024
        ("glb 1 GiB", "glb_bytes", 1 << 30),
        ("clock 1.5 GHz", "clock_mhz", 1500.0),
        ("clock 200 MHz", "clock_mhz", 200.0),
        ("dram 500 MB/s", "dram_gb_per_s", 0.5),
        ("dram 0.48 GB/s", "dram_gb_per_s", 0.48),
        ("spad filter 64", "spad_filter", 64),
    ],
)
def test_units(statement: str, field: str, value: float) -> None:
    assert getattr(accelerator(statement), field) == pytest.approx(value)
    assert accelerator("glb 108 KiB").glb_bytes == 110592


@pytest.mark.parametrize(
    ("pe", "expected"),
    [
        ("fp32", dict(family="fp", act_bits=32, weight_bits=32)),
        ("int8", dict(family="int", act_bits=8, weight_bits=8)),
        ("int(act=12, weight=12)", dict(family="int", act_bits=12, weight_bits=12)),
        (
            "int(act=8, weight=4, acc=20)",
            dict(family="int", act_bits=8, weight_bits=4, acc_bits=20),
        ),
        ("lightpe2", dict(family="light", act_bits=8, weight_bits=8, terms=2)),
        ("light(act=6, terms=3)", dict(family="light", act_bits=6, weight_bits=12, terms=3)),
        ("int16(acc=40)", dict(family="int", act_bits=16, weight_bits=16, acc_bits=40)),
    ],
)
def test_pe_types(pe: str, expected: dict[str, object]) -> None:
    assert accelerator(f"pe {pe}").pe == ir.PEType(**expected)


# ----------------------------------------------------------------------------- designs, explore


def test_design_options_and_separators() -> None:
    program = lower(
        ACC
        + """
        network n { input 3 x 8 x 8; fc f out=2 }  // one layer
        design d { accelerator eyeriss; network n; batch 4; objective edp }  # same line
        design e { accelerator eyeriss; network n }
        """
    )
    d, e = program.designs
    assert (d.batch, d.objective, d.accelerator.name, d.network.name) == (4, "edp", "eyeriss", "n")
    assert (e.batch, e.objective) == (1, "energy")  # the defaults


EXPLORE = (
    ACC
    + """
network n { input 3 x 8 x 8; conv c out=4 kernel=3 }
explore dse {
    base eyeriss
    networks n
    batch 2
    objective latency
    vary pe in fp32, int(act=8, weight=4), lightpe1
    vary array in 8 x 8, 16 x 16
    vary glb in 64 KiB .. 512 KiB step *2
    vary spad filter in 64 .. 256 step +64
    vary clock in 100 MHz .. 200 MHz step 50
    vary dram in 1 GB/s, 2 GB/s
}
"""
)


def test_explore_axes() -> None:
    (dse,) = lower(EXPLORE).explores
    assert dse.base.name == "eyeriss" and [n.name for n in dse.networks] == ["n"]
    assert (dse.batch, dse.objective) == (2, "latency")
    axes = {getattr(a, "param", a.kind): a.values for a in dse.axes}
    assert [p.label for p in axes["pe"]] == ["fp32", "int(8,4)", "lightpe1"]
    assert [(s.rows, s.cols) for s in axes["array"]] == [(8, 8), (16, 16)]
    # 64 KiB * 2^k up to 512 KiB: 64, 128, 256, 512 KiB
    assert axes["glb_bytes"] == (65536, 131072, 262144, 524288)
    assert axes["spad_filter"] == (64, 128, 192, 256)
    assert axes["clock_mhz"] == (100.0, 150.0, 200.0)
    assert axes["dram_gb_per_s"] == (1.0, 2.0)
    assert dse.size == 3 * 2 * 4 * 4 * 3 * 2


def test_range_bounds_need_not_be_reached() -> None:
    (dse,) = lower(EXPLORE.replace("512 KiB step *2", "500 KiB step *2")).explores
    axes = {getattr(a, "param", a.kind): a.values for a in dse.axes}
    assert axes["glb_bytes"] == (65536, 131072, 262144)  # 512 KiB > 500 KiB is left out


def test_bundled_dse_size() -> None:
    sink = DiagnosticSink()
    program = load_program(SPECS / "qappa_dse.qa", sink)
    assert program is not None and not sink.diagnostics
    (dse,) = program.explores
    # 7 PE types x 4 arrays x 3 filter x 2 psum scratchpads x 3 buffers x 2 bandwidths
    assert dse.size == 7 * 4 * 3 * 2 * 3 * 2 == 1008
    assert [n.name for n in dse.networks] == ["vgg16", "resnet34", "resnet50"]


# ----------------------------------------------------------------------------- spans and dumps

COMPACT = (
    ACC
    + """
network n { input 3 x 8 x 8; conv c out=4 kernel=3 pad=1 relu; fc f out=2 }
design d { accelerator eyeriss; network n; batch 2 }
"""
)
SPREAD = (
    "# the same design, laid out differently\n\n"
    + ACC.replace("\n", "\n\n")
    + """
network n {
    input 3 x 8 x 8      // C x H x W
    conv c out=4   kernel=3 pad=1 relu
    fc   f out=2
}

design d {
    accelerator eyeriss
    network     n
    batch       2
}
"""
)


def test_spans_are_excluded_from_equality_and_dumps() -> None:
    a, b = lower(COMPACT), lower(SPREAD)
    assert a.designs[0].span is not None and b.designs[0].span is not None
    assert a.designs[0].span.line != b.designs[0].span.line
    assert a == b
    assert hash(a.designs[0]) == hash(b.designs[0])
    assert design_json(a.designs[0]) == design_json(b.designs[0])
    assert a.model_dump_json() == b.model_dump_json()
    assert "span" not in design_json(a.designs[0])


def test_spans_locate_nodes() -> None:
    program = lower(SPREAD)
    conv = program.networks[0].layers[0]
    assert conv.span is not None
    text = conv.span.file.text[conv.span.start : conv.span.end]
    assert text == "conv c out=4   kernel=3 pad=1 relu"
    kernel = conv.span_of("kernel_h")
    assert kernel is not None and kernel.file.text[kernel.start : kernel.end] == "kernel=3"


def test_design_json_round_trip() -> None:
    for program in (lower(COMPACT), lower(EXPLORE)):
        for design in program.designs:
            dumped = json.loads(design_json(design))
            again = ir.Design.model_validate(dumped)
            assert again == design and design_json(again) == design_json(design)
        for explore in program.explores:
            again_e = ir.Explore.model_validate(json.loads(explore.model_dump_json()))
            assert again_e == explore
        assert ir.Program.model_validate(json.loads(program.model_dump_json())) == program


def test_bundled_design_json_round_trip() -> None:
    sink = DiagnosticSink()
    program = load_program(SPECS / "eyeriss.qa", sink)
    assert program is not None and not sink.diagnostics
    for design in program.designs:
        assert ir.Design.model_validate(json.loads(design_json(design))) == design


# ----------------------------------------------------------------------------- includes


def test_includes_resolve_relative_then_bundled(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "net.qa").write_text("network mine { input 1 x 4 x 4; fc f out=2 }\n")
    main = tmp_path / "main.qa"
    main.write_text('include "lib/net.qa"\ninclude "networks/alexnet.qa"\n' + ACC)
    sink = DiagnosticSink()
    program = load_program(main, sink)
    assert program is not None and not sink.diagnostics
    assert {n.name for n in program.networks} == {"mine", "alexnet"}


def test_an_included_file_is_read_once(tmp_path: Path) -> None:
    (tmp_path / "net.qa").write_text("network mine { input 1 x 4 x 4; fc f out=2 }\n")
    (tmp_path / "a.qa").write_text('include "net.qa"\n')
    main = tmp_path / "main.qa"
    main.write_text('include "net.qa"\ninclude "a.qa"\n')
    sink = DiagnosticSink()
    program = load_program(main, sink)
    assert program is not None and not sink.diagnostics  # no "duplicate network 'mine'"
    assert [n.name for n in program.networks] == ["mine"]


# ----------------------------------------------------------------------------- errors


def test_errors_do_not_cascade() -> None:
    assert errors(
        ACC + "accelerator b extends eyeriss { pe int(act=8) }\n"
        "network n { input 3 x 8 x 8; fc f out=2 }\n"
        "design d { accelerator b; network n }"
    ) == ["PE type 'int' needs weight=N"]
    # a broken layer does not make later references to it unknown
    assert errors("network n { input 3 x 8 x 8; conv c out=0 kernel=1; fc f out=2 from=c }") == [
        "out must be at least 1 (got 0)"
    ]


# ----------------------------------------------------------------------------- published MACs

# Conv + FC multiply-accumulates per image, as the papers and torchvision report them.
PUBLISHED_MACS = {
    "vgg16": 15_470_264_320,
    "resnet34": 3_663_761_408,
    "resnet50": 4_089_184_256,
    "alexnet": 665_784_864,  # conv1-5 only
}


@pytest.mark.parametrize("name", sorted(PUBLISHED_MACS))
def test_bundled_network_macs(name: str) -> None:
    sink = DiagnosticSink()
    program = load_program(SPECS / "networks" / f"{name}.qa", sink)
    assert program is not None and not sink.diagnostics
    (net,) = program.networks
    assert sum(s.macs for s in layer_shapes(net)) == PUBLISHED_MACS[name]


def test_alexnet_per_layer_macs_by_hand() -> None:
    sink = DiagnosticSink()
    program = load_program(SPECS / "networks" / "alexnet.qa", sink)
    assert program is not None
    macs = {s.name: s.macs for s in layer_shapes(program.networks[0]) if s.is_mac}
    assert macs == {
        "conv1": 96 * 55 * 55 * 3 * 11 * 11,  # (227 - 11) / 4 + 1 = 55
        "conv2": 256 * 27 * 27 * 48 * 5 * 5,  # pool1: (55 - 3) / 2 + 1 = 27; 96 / 2 groups
        "conv3": 384 * 13 * 13 * 256 * 3 * 3,  # pool2: (27 - 3) / 2 + 1 = 13
        "conv4": 384 * 13 * 13 * 192 * 3 * 3,  # 384 / 2 groups
        "conv5": 256 * 13 * 13 * 192 * 3 * 3,
    }
    assert sum(macs.values()) == 665_784_864
