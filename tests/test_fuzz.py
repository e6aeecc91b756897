"""Fuzzing the front end: mutants of valid specs must give diagnostics, never a crash.

Every mutant is written to a temporary file and checked in-process with `qappac check`; the
exit code must be 0 (still valid) or 1 (design errors), and stderr must carry no traceback or
"internal error". Mutations are token-level (delete, duplicate, swap, replace numbers with 0,
-1 or huge values, replace names with keywords or other names) and character-level (insert,
delete, flip, truncate).
"""

from __future__ import annotations

import io
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qappac.cli import main

SPECS = Path(__file__).resolve().parent.parent / "specs"

# /tmp/t.qa as it was written for the project: every construct in a few lines.
T_QA = """\
accelerator eyeriss {
    pe int16                            # fp32 | int16 | int8 | lightpe1 | lightpe2
    array 12 x 14                       # PE rows x PE columns
    spad ifmap 12                       # words per PE
    spad filter 224
    spad psum 24
    glb 108 KiB                         # B, KiB, MiB
    dram 4.0 GB/s
    clock 200 MHz                       # MHz, GHz
}
accelerator edge extends eyeriss { pe lightpe1; array 8 x 8 }

network resnet_tiny {
    input 3 x 32 x 32                   // C x H x W
    conv stem  out=16 kernel=3 pad=1
    block basic(c, stride) {            # a parameterized block, instantiated below
        conv a out=c kernel=3 stride=stride pad=1
        conv b out=c kernel=3 pad=1
        conv proj out=c kernel=1 stride=stride from=in
        add  sum from=b, proj
    }
    use basic res1 (c=16, stride=1)
    use basic res2 (c=32, stride=2)
    pool gap avg global
    fc   head out=10
}

design eyeriss_tiny { accelerator eyeriss; network resnet_tiny; batch 4; objective energy }

explore tiny_dse {
    base eyeriss
    networks resnet_tiny
    vary pe in fp32, int16, lightpe1, lightpe2
    vary array in 8 x 8, 12 x 14, 16 x 16
    vary glb in 64 KiB .. 512 KiB step *2
}
"""

SMALL = """\
accelerator a { pe int(act=8, weight=4, acc=24); array 4 x 4; spad ifmap 12; spad filter 64
  spad psum 16; glb 1.5 MiB; dram 500 MB/s; clock 1.5 GHz }
block pair(c) { conv x out=c kernel=3x1 pad=1 groups=depthwise; conv y out=c kernel=1 relu }
network n { input 8 x 16 x 16; use pair p (c=8); pool m max kernel=2 stride=2 pad=1
  add s from=m, m; fc f out=4 from=s }
design d { accelerator a; network n }
explore e { base a; networks n; vary spad filter in 16 .. 64 step +16
  vary clock in 100 MHz .. 1 GHz step *10; vary pe in light(act=6, terms=3), int8 }
"""

# Small seeds are weighted up: they keep the fuzzer fast and reach every construct.
SEEDS = [T_QA, SMALL, T_QA, SMALL] + [
    (SPECS / name).read_text(encoding="utf-8")
    for name in ("networks/alexnet.qa", "networks/resnet34.qa", "eyeriss.qa", "qappa_dse.qa")
]

KEYWORDS = (
    "include accelerator extends pe array spad glb dram clock network input block use conv fc "
    "pool add max avg global design batch objective explore base networks vary in step from "
    "relu groups depthwise int light ifmap filter psum KiB GB/s MHz"
).split()
NUMBERS = [
    "0",
    "-1",
    "1",
    "0.0",
    "2.5",
    "99999999999999999999",
    "1" + "0" * 400,
    "4294967296",
    "12 x 0",
    "1 x 2 x 3 x 4",
    "9" * 30 + ".5",
    "*2",
    "+0",
]
CHARS = list('{}();,=."#/\\*+-x×\t\n\r\x00é→') + ["..", "//", '"', "\ufeff", " "]

_TOKEN = re.compile(r'"[^"\n]*"|\d+(?:\.\d+)?|[A-Za-z_]\w*|\.\.|\S')


def tokens(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in _TOKEN.finditer(text)]


def mutate(text: str, op: str, a: int, b: int, pick: int) -> str:
    """One mutation; `a`, `b` choose positions and `pick` a replacement, all modulo sizes."""
    toks = tokens(text)
    if op.startswith("tok") and not toks:
        return text
    if op == "tok_delete":
        s, e = toks[a % len(toks)]
        return text[:s] + text[e:]
    if op == "tok_duplicate":
        s, e = toks[a % len(toks)]
        return text[:e] + " " + text[s:e] + text[e:]
    if op == "tok_swap":
        (s1, e1), (s2, e2) = sorted([toks[a % len(toks)], toks[b % len(toks)]])
        if s1 == s2:
            return text
        return text[:s1] + text[s2:e2] + text[e1:s2] + text[s1:e1] + text[e2:]
    if op == "tok_number":
        numbers = [t for t in toks if text[t[0]].isdigit()] or toks
        s, e = numbers[a % len(numbers)]
        return text[:s] + NUMBERS[pick % len(NUMBERS)] + text[e:]
    if op == "tok_keyword":
        names = [t for t in toks if text[t[0]].isalpha() or text[t[0]] == "_"] or toks
        s, e = names[a % len(names)]
        return text[:s] + KEYWORDS[pick % len(KEYWORDS)] + text[e:]
    if op == "tok_copy":  # a token from elsewhere in the file
        s, e = toks[a % len(toks)]
        s2, e2 = toks[pick % len(toks)]
        return text[:s] + text[s2:e2] + text[e:]
    pos = a % (len(text) + 1)
    if op == "chr_insert":
        return text[:pos] + CHARS[pick % len(CHARS)] + text[pos:]
    if op == "chr_delete":
        return text[:pos] + text[pos + 1 :]
    if op == "chr_flip":
        if pos >= len(text):
            return text
        return text[:pos] + chr(ord(text[pos]) ^ (1 << (pick % 7))) + text[pos + 1 :]
    assert op == "truncate"
    return text[:pos]


OPS = [
    "tok_delete",
    "tok_duplicate",
    "tok_swap",
    "tok_number",
    "tok_keyword",
    "tok_copy",
    "chr_insert",
    "chr_delete",
    "chr_flip",
    "truncate",
]
mutation = st.tuples(
    st.sampled_from(OPS), st.integers(0, 1 << 16), st.integers(0, 1 << 16), st.integers(0, 999)
)

_DIR = Path(tempfile.mkdtemp(prefix="qappac-fuzz-"))


def check(text: str) -> tuple[int, str]:
    path = _DIR / "mutant.qa"
    path.write_bytes(text.encode("utf-8", errors="surrogatepass"))
    out, err = io.StringIO(), io.StringIO()
    code = main(["check", str(path)], out, err)
    return code, err.getvalue()


# Crashes the fuzzer found once, kept as regressions.
REGRESSIONS = [
    # an infinite bound made the geometric step count overflow
    T_QA.replace("512 KiB step *2", "1" + "0" * 400 + " KiB step *2"),
    # an integer bound too large for a float broke the arithmetic step count
    SMALL.replace("16 .. 64 step +16", "16 .. " + "9" * 400 + " step +16"),
    # include paths the operating system rejects
    'include "net\x00work.qa"\n',
    'include "' + "a" * 5000 + '.qa"\n',
    # `groups=depthwise` inside a block was taken for a block parameter
    "block b(c) { conv x out=c kernel=3 groups=depthwise }\n"
    "network n { input 4 x 8 x 8; use b u (c=4) }\n",
]


@pytest.mark.parametrize("text", REGRESSIONS)
def test_regressions(text: str) -> None:
    code, stderr = check(text)
    assert code in (0, 1) and "Traceback" not in stderr, stderr


def test_seeds_are_valid() -> None:
    for seed in SEEDS:
        code, stderr = check(seed)
        assert code == 0, stderr


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, len(SEEDS) - 1), mutations=st.lists(mutation, min_size=1, max_size=4))
def test_mutants_never_crash(seed: int, mutations: list[tuple[str, int, int, int]]) -> None:
    text = SEEDS[seed]
    for op, a, b, pick in mutations:
        text = mutate(text, op, a, b, pick)
    code, stderr = check(text)
    assert code in (0, 1), f"exit code {code}\n{stderr}\n--- mutant ---\n{text}"
    assert "Traceback" not in stderr and "internal error" not in stderr, (
        f"{stderr}\n--- mutant ---\n{text}"
    )
    if code == 1:
        assert ": error: " in stderr, stderr


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.sampled_from([T_QA, SMALL]),
    mutations=st.lists(
        st.tuples(
            st.sampled_from(["tok_number", "tok_copy", "tok_keyword"]),
            st.integers(0, 1 << 16),
            st.integers(0, 1 << 16),
            st.integers(0, 999),
        ),
        min_size=1,
        max_size=2,
    ),
)
def test_valid_mutants_build(seed: str, mutations: list[tuple[str, int, int, int]]) -> None:
    """Mutants that still check must also build, or fail with design errors only."""
    text = seed
    for op, a, b, pick in mutations:
        text = mutate(text, op, a, b, pick)
    code, stderr = check(text)
    if code != 0:
        return
    out, err = io.StringIO(), io.StringIO()
    code = main(["build", str(_DIR / "mutant.qa"), "-o", str(_DIR / "out")], out, err)
    assert code in (0, 1), f"exit code {code}\n{err.getvalue()}\n--- mutant ---\n{text}"
    assert "Traceback" not in err.getvalue(), err.getvalue()
