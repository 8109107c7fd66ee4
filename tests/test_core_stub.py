"""python/blt/_core.pyi against the built blt._core: parameter names, order and defaults.

mypy.stubtest (``make typecheck``) checks that the names match, but it cannot read the parameters
of pybind11 functions (they have no ``__text_signature__``). pybind11 writes each signature as
the first line of the docstring, ``name(self: T, a: T, b: T = default) -> R``; this test parses
that line and compares it with the stub's ``def``.
"""

from __future__ import annotations

import ast
from typing import Dict, List, Optional, Tuple

import pytest

from blt import _core
from support import REPO

STUB = REPO / "python" / "blt" / "_core.pyi"

# (name, default) per parameter; default is the literal value, or _REQUIRED.
_REQUIRED = object()
Params = List[Tuple[str, object]]


def _split_top_level(text: str) -> List[str]:
    """Splits at commas outside brackets and quotes."""
    parts, depth, quote, cur = [], 0, "", []
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    if "".join(cur).strip():
        parts.append("".join(cur).strip())
    return parts


def runtime_params(name: str, doc: Optional[str]) -> Params:
    """Parameters of a pybind11 function from its docstring's signature line (self dropped)."""
    assert doc, f"{name}: no docstring (pybind11 writes the signature there)"
    line = doc.strip().splitlines()[0]
    assert line.startswith(name + "("), f"{name}: unexpected signature line {line!r} (overloaded?)"
    inner, depth = line[len(name) + 1:], 1
    for i, ch in enumerate(inner):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0:
            inner = inner[:i]
            break
    out: Params = []
    for p in _split_top_level(inner):
        head, _, default = p.partition(" = ")
        pname = head.split(":")[0].strip()
        if pname == "self":
            continue
        out.append((pname, ast.literal_eval(default) if default else _REQUIRED))
    return out


def stub_params(fn: ast.FunctionDef) -> Params:
    a = fn.args
    assert not (a.posonlyargs or a.kwonlyargs or a.vararg or a.kwarg), \
        f"{fn.name}: pybind11 parameters are plain positional-or-keyword ones"
    static = any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in fn.decorator_list)
    args = a.args if static or not a.args or a.args[0].arg != "self" else a.args[1:]
    defaults: List[object] = [_REQUIRED] * (len(args) - len(a.defaults)) + [
        ast.literal_eval(d) for d in a.defaults]
    return [(arg.arg, d) for arg, d in zip(args, defaults)]


def _stub_index() -> Dict[str, ast.FunctionDef]:
    """'name' or 'Class.name' -> def, for every function of the stub."""
    tree = ast.parse(STUB.read_text(encoding="utf-8"))
    out: Dict[str, ast.FunctionDef] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            out[node.name] = node
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    out[f"{node.name}.{item.name}"] = item
    return out


def _runtime_functions() -> Dict[str, Tuple[str, Optional[str]]]:
    """'name' or 'Class.name' -> (short name, docstring) for every pybind11 function of _core."""
    out: Dict[str, Tuple[str, Optional[str]]] = {}
    for name in dir(_core):
        obj = getattr(_core, name)
        if name.startswith("_"):
            continue
        if type(obj).__name__ == "builtin_function_or_method":
            out[name] = (name, obj.__doc__)
        elif isinstance(obj, type) and type(obj).__name__ == "pybind11_type":
            for key, member in vars(obj).items():
                if isinstance(member, staticmethod):
                    out[f"{name}.{key}"] = (key, member.__func__.__doc__)
                elif type(member).__name__ == "instancemethod" and key != "_pybind11_conduit_v1_":
                    out[f"{name}.{key}"] = (key, member.__doc__)
    return out


RUNTIME = _runtime_functions()
STUB_DEFS = _stub_index()


def _same(a: Params, b: Params) -> bool:
    # type and value: True is not 1 here
    return [(n, type(d), d) for n, d in a] == [(n, type(d), d) for n, d in b]


def _show(params: Params) -> str:
    return ", ".join(n if d is _REQUIRED else f"{n}={d!r}" for n, d in params)


def test_the_parser_reads_pybind11_signatures() -> None:
    assert len(RUNTIME) > 40  # found the module's functions and methods
    assert runtime_params("tokenize_stream", _core.tokenize_stream.__doc__)[:3] == [
        ("tokenizer", _REQUIRED), ("input", None), ("input_fd", -1)]
    assert runtime_params("encode", _core.ByteCodec.encode.__doc__) == [("data", _REQUIRED), ("dtype", "uint16")]


@pytest.mark.parametrize("qualname", sorted(RUNTIME))
def test_stub_signature_matches_the_module(qualname: str) -> None:
    short, doc = RUNTIME[qualname]
    assert qualname in STUB_DEFS, f"_core.pyi has no def for {qualname}"
    want = runtime_params(short, doc)
    got = stub_params(STUB_DEFS[qualname])
    assert _same(got, want), f"{qualname}: stub ({_show(got)}) but module ({_show(want)})"


def test_stub_defines_nothing_the_module_lacks() -> None:
    missing = []
    for qualname in STUB_DEFS:
        cls, _, member = qualname.rpartition(".")
        if cls.startswith("_") or qualname in RUNTIME:
            continue
        owner = getattr(_core, cls, None) if cls else _core
        if owner is None or not hasattr(owner, member):
            missing.append(qualname)
    assert not missing, f"_core.pyi defines names the module does not have: {missing}"
