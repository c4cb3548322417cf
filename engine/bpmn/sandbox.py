"""Sandbox for every piece of Python in a diagram: RestrictedPython plus step, time and size limits.

Scripts, gateway conditions, timer expressions, loop and multi-instance expressions and DMN
cells all run here. The policy, enforced when the source is compiled (and so also by the
diagram checker at deploy time, through `check_source`):

- no imports, no names or attributes starting with `_`, no `str.format` / `format_map`,
  no `print`, no class definitions, and none of the introspection and code-running
  builtins (`eval`, `exec`, `compile`, `open`, `getattr`, `globals`, `vars`, `dir`, ...);
- attribute access goes through RestrictedPython's `safer_getattr` (no frames, no code
  objects, no `format`), item writes through `full_write_guard`.

At run time (deterministically, per call, thread-safe: no signals, no `sys.settrace`):

- every loop iteration, comprehension item and function call costs one step: more than
  `max_steps`, or running longer than `time_limit_s`, raises `ScriptTimeout`;
- `**`, `*`, `+`, `<<`, `%`, `pow()`, `round()`, `range()`, f-string format specs and the
  methods that grow text or lists check the size of their result first and raise
  `ScriptLimitExceeded` (a `ScriptTimeout`) instead of allocating gigabytes.

Once a limit has been hit the evaluation fails even if the script catches the exception.

Task data: every call works on a deep copy, so expressions cannot change it and a failing
script leaves it untouched; `execute` then writes back only the plain data (numbers,
strings, dates, lists, dicts, ...) the script left in its variables.
These guards stop accidental runaways and the well-known one-line bombs; they do not make
a hostile diagram author harmless (C-level copies of large shared structures still cost
memory). Diagram authors are trusted to that extent; an OS-level memory limit on the worker
is the next layer if they are not.
"""

from __future__ import annotations

import ast
import copy
import datetime
import decimal
import functools
import math
import operator
import re
import textwrap
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from types import CodeType
from typing import Any, NamedTuple, NoReturn

from RestrictedPython import compile_restricted_eval, compile_restricted_exec, safe_builtins
from RestrictedPython.Eval import default_guarded_getitem, default_guarded_getiter
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safer_getattr_raise,
)
from RestrictedPython.transformer import RestrictingNodeTransformer
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

__all__ = [
    "MAX_FORMAT_WIDTH",
    "MAX_INT_BITS",
    "MAX_SIZE",
    "SandboxEnvironment",
    "SandboxScriptEngine",
    "ScriptLimitExceeded",
    "ScriptRefused",
    "ScriptTimeout",
    "check_source",
    "find_sandbox_error",
    "make_script_engine",
]

# --------------------------------------------------------------------------- limits

MAX_SIZE = 1_000_000
"""Most characters or items in one string, bytes, list or tuple a guarded operation may build; most items in a range."""
MAX_INT_BITS = 10_000
"""Largest integer (in bits, about 3,000 decimal digits) `*`, `**`, `<<` and `pow()` may produce.

Python itself refuses to print integers of more than 4,300 digits; C-level loops such as
sum() over many huge numbers are what this keeps cheap.
"""
MAX_FORMAT_WIDTH = 1_000
"""Largest width or precision in a `%` format or an f-string format spec, and largest round() ndigits."""
MAX_DATA_UNITS = 10_000_000
"""Most items plus characters a script may leave in task data (shared references counted each time)."""
MAX_SOURCE_CHARS = 100_000
"""Longest script or expression accepted."""
_MAX_DATA_DEPTH = 100  # deeper nesting than this is treated as not plain data (and catches cycles cheaply)


# --------------------------------------------------------------------------- errors


class ScriptRefused(Exception):
    """The source breaks the sandbox policy or is not valid Python; nothing of it ran.

    `errors` lists every problem as 'Line N: ...'; `lineno` is the line of the first one.
    """

    errors: list[str]
    lineno: int | None

    def __init__(self, message: str, errors: Iterable[str] | None = None) -> None:
        # Only the message goes into args: SpiffWorkflow concatenates args[0] into its own
        # message, and pickling rebuilds the exception from args (then restores __dict__).
        super().__init__(message)
        self.errors = list(errors) if errors is not None else [message]
        self.lineno = _first_lineno(self.errors)

    @classmethod
    def from_errors(cls, errors: Iterable[str]) -> ScriptRefused:
        """Build the exception for the policy errors of one source."""
        errors = list(errors)
        return cls("; ".join(errors), errors)


class ScriptTimeout(Exception):
    """A runaway script or expression was stopped: step budget or wall-time limit exceeded."""


class ScriptLimitExceeded(ScriptTimeout):
    """A script tried to build a number, string, list or range beyond the sandbox's size limits."""


_LINE_RE = re.compile(r"^Line (\d+):")


def _first_lineno(errors: list[str]) -> int | None:
    """Return the line number named by the first error, if any."""
    for error in errors:
        match = _LINE_RE.match(error)
        if match:
            return int(match.group(1))
    return None


def find_sandbox_error(exc: BaseException | None) -> ScriptRefused | ScriptTimeout | None:
    """Return the ScriptRefused/ScriptTimeout behind exc (following .exception, __cause__, __context__)."""
    seen: set[int] = set()
    pending = [exc]
    while pending:
        current = pending.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ScriptRefused | ScriptTimeout):
            return current
        pending += [getattr(current, "exception", None), current.__cause__, current.__context__]
    return None


# --------------------------------------------------------------------------- compile-time policy

# Builtins that run code, open files or expose namespaces. They are not in the sandbox's
# builtins anyway; naming them is refused outright so the diagram checker reports it at deploy time.
_FORBIDDEN_NAMES = frozenset(
    {
        "breakpoint",
        "classmethod",
        "compile",
        "delattr",
        "dir",
        "eval",
        "exec",
        "getattr",
        "globals",
        "hasattr",
        "locals",
        "memoryview",
        "open",
        "setattr",
        "staticmethod",
        "super",
        "vars",
    }
)
# str.format / format_map can walk attributes ('{0.__class__}') and are refused by safer_getattr
# at run time anyway; refusing the attribute name lets the checker report it.
_FORBIDDEN_ATTRIBUTES = frozenset({"format", "format_map"})
# Operators whose result can be huge: routed through _binop_, which checks sizes first.
_GUARDED_BINOPS: dict[type[ast.operator], str] = {
    ast.Add: "+",
    ast.Mult: "*",
    ast.Pow: "**",
    ast.LShift: "<<",
    ast.Mod: "%",
}


def _located(new: Any, like: ast.AST) -> Any:
    """Give a generated node the source position of `like` (keeps Spiff's error line numbers right)."""
    ast.copy_location(new, like)
    ast.fix_missing_locations(new)
    return new


def _call(name: str, args: list[ast.expr], like: ast.AST) -> ast.Call:
    """Build `name(*args)` located at `like`."""
    return _located(ast.Call(func=ast.Name(id=name, ctx=ast.Load()), args=args, keywords=[]), like)


class _SandboxPolicy(RestrictingNodeTransformer):
    """RestrictedPython's policy plus our refusals, step counting and size guards.

    Generated nodes are added after the parent class has visited a node, so its name checks
    (which refuse every `_name`) never see our own `_step_` / `_binop_` / `_format_` calls.
    """

    # -- refusals

    def visit_Name(self, node: ast.Name) -> Any:
        if node.id in ("print", "printed"):
            self.error(node, '"print" is not available: scripts have no output; store values in variables')
            return node
        if node.id in _FORBIDDEN_NAMES:
            self.error(node, f'"{node.id}" is not available in the script sandbox')
        return super().visit_Name(node)

    def visit_Attribute(self, node: ast.Attribute) -> Any:
        if node.attr in _FORBIDDEN_ATTRIBUTES:
            self.error(
                node,
                f'"{node.attr}" is not allowed (str.format can reach attributes); '
                "use an f-string or % formatting",
            )
        return super().visit_Attribute(node)

    def visit_Import(self, node: ast.Import) -> Any:
        self.error(node, "import statements are not allowed; use the helper functions")
        return node

    def visit_ImportFrom(self, node: ast.ImportFrom) -> Any:
        self.error(node, "import statements are not allowed; use the helper functions")
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> Any:
        self.error(node, "class definitions are not allowed")
        return node

    # -- step counting: every loop iteration, comprehension item and function call

    def visit_For(self, node: ast.For) -> Any:
        node = super().visit_For(node)
        node.body.insert(0, _located(ast.Expr(_call("_step_", [], node)), node))
        return node

    def visit_While(self, node: ast.While) -> Any:
        node = super().visit_While(node)
        node.body.insert(0, _located(ast.Expr(_call("_step_", [], node)), node))
        return node

    def visit_comprehension(self, node: ast.comprehension) -> Any:
        node = super().visit_comprehension(node)
        # `for x in xs if _step_() if cond`: _step_() returns True, so every item is counted.
        node.ifs.insert(0, _call("_step_", [], node.iter))
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> Any:
        node = super().visit_FunctionDef(node)
        node.body.insert(0, _located(ast.Expr(_call("_step_", [], node)), node))
        return node

    def visit_Lambda(self, node: ast.Lambda) -> Any:
        node = super().visit_Lambda(node)
        node.body = _located(ast.BoolOp(op=ast.And(), values=[_call("_step_", [], node), node.body]), node)
        return node

    # -- size guards

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        node = super().visit_BinOp(node)
        symbol = _GUARDED_BINOPS.get(type(node.op))
        if symbol is None:
            return node
        return _call("_binop_", [ast.Constant(symbol), node.left, node.right], node)

    def visit_FormattedValue(self, node: ast.FormattedValue) -> Any:
        node = super().visit_FormattedValue(node)
        if node.format_spec is None:
            return node
        # f'{x!r:>{w}}' -> f'{_format_(x, "r", f">{w}")}': the spec's widths are checked first.
        value = _call("_format_", [node.value, ast.Constant(node.conversion), node.format_spec], node)
        return _located(ast.FormattedValue(value=value, conversion=-1, format_spec=None), node)

    def visit_AugAssign(self, node: ast.AugAssign) -> Any:
        # RestrictedPython refuses `d[k] += v`. With a plain name and a name/constant key,
        # evaluating them twice has no side effect, so rewrite it to `d[k] = d[k] + v`.
        target = node.target
        if (
            isinstance(target, ast.Subscript)
            and isinstance(target.value, ast.Name)
            and isinstance(target.slice, ast.Name | ast.Constant)
        ):
            current = ast.Subscript(
                value=ast.Name(id=target.value.id, ctx=ast.Load()),
                slice=copy.deepcopy(target.slice),
                ctx=ast.Load(),
            )
            assign = ast.Assign(targets=[target], value=ast.BinOp(left=current, op=node.op, right=node.value))
            return self.visit(_located(assign, node))
        return super().visit_AugAssign(node)


class _Compiled(NamedTuple):
    code: CodeType | None
    errors: tuple[str, ...]
    used_names: frozenset[str]


_MODES = ("eval", "exec")


def _normalised(source: str, mode: str) -> str:
    """Strip the indentation XML adds around diagram text, keeping line numbers."""
    if mode == "exec":
        return textwrap.dedent(source)
    stripped = source.lstrip()
    leading_lines = source[: len(source) - len(stripped)].count("\n")
    return "\n" * leading_lines + stripped.rstrip()


@functools.lru_cache(maxsize=2048)
def _compile(source: str, mode: str) -> _Compiled:
    """Compile one source under the policy; cached by source (code objects are immutable, so shareable)."""
    what = "expression" if mode == "eval" else "script"
    if len(source) > MAX_SOURCE_CHARS:
        return _Compiled(
            None, (f"Line 1: the {what} is longer than {MAX_SOURCE_CHARS} characters",), frozenset()
        )
    text = _normalised(source, mode)
    if not text.strip():
        if mode == "eval":
            return _Compiled(None, ("Line 1: the expression is empty",), frozenset())
        text = "pass"
    compile_restricted = compile_restricted_eval if mode == "eval" else compile_restricted_exec
    try:
        result = compile_restricted(text, filename="<string>", policy=_SandboxPolicy)
    except SyntaxError as err:
        # RestrictedPython reports parse errors itself but not the compiler's own
        # ('return' outside function, 'break' outside loop, ...).
        return _Compiled(None, (f"Line {err.lineno or 1}: SyntaxError: {err.msg}",), frozenset())
    except (RecursionError, MemoryError):  # the parser and the AST visitors recurse per nesting level
        return _Compiled(None, (f"Line 1: the {what} is nested too deeply",), frozenset())
    except ValueError as err:  # e.g. null bytes in the source
        return _Compiled(None, (f"Line 1: {err}",), frozenset())
    errors = tuple(dict.fromkeys(result.errors))  # a name refused twice on a line is one problem
    return _Compiled(None if errors else result.code, errors, frozenset(result.used_names))


def _check_mode(source: object, mode: str) -> None:
    """Refuse a mode other than eval/exec and a source that is not text."""
    if mode not in _MODES:
        raise ValueError(f"mode must be 'eval' or 'exec', not {mode!r}")
    if not isinstance(source, str):
        raise TypeError(f"source must be a string, not {type(source).__name__}")


def check_source(source: str, mode: str) -> list[str]:
    """Return the sandbox policy and syntax errors of source ('Line N: ...'), [] when it may run."""
    _check_mode(source, mode)
    return list(_compile(source, mode).errors)


def _compiled(source: str, mode: str) -> _Compiled:
    """Return the compiled source, or raise ScriptRefused."""
    _check_mode(source, mode)
    compiled = _compile(source, mode)
    if compiled.errors:
        raise ScriptRefused.from_errors(compiled.errors)
    return compiled


# --------------------------------------------------------------------------- run-time size checks
# Each returns a message when the operation would exceed a limit, None when it may go ahead.

_SEQUENCES = (str, bytes, list, tuple)
_PERCENT_SPEC_RE = re.compile(r"%(?:%|(?:\([^)]*\))?[#0\- +]*(\*|\d*)(?:\.(\*|\d*))?)")
_DIGITS_RE = re.compile(r"\d+")


def _size_problem(size: int) -> str | None:
    if size > MAX_SIZE:
        return f"the result would have {size:,} items or characters; the sandbox allows {MAX_SIZE:,}"
    return None


def _int_problem(bits: int) -> str | None:
    if bits > MAX_INT_BITS:
        return f"the result would be a number of about {bits:,} bits; the sandbox allows {MAX_INT_BITS:,}"
    return None


def _width_too_big(digits: str) -> bool:
    # Compare as text first: int() of a 5000-digit string is itself refused by Python.
    digits = digits.lstrip("0")
    return len(digits) > len(str(MAX_FORMAT_WIDTH)) or (bool(digits) and int(digits) > MAX_FORMAT_WIDTH)


def _percent_problem(template: str | bytes) -> str | None:
    text = template.decode("latin-1") if isinstance(template, bytes) else template
    if "%" not in text:
        return None
    for match in _PERCENT_SPEC_RE.finditer(text):
        for field in match.groups():
            if field == "*":
                return "'*' widths are not allowed in % formatting; write the width into the format"
            if field and _width_too_big(field):
                return f"% format width or precision {field} is larger than {MAX_FORMAT_WIDTH}"
    return None


def _format_spec_problem(spec: str) -> str | None:
    for digits in _DIGITS_RE.findall(spec):
        if _width_too_big(digits):
            return f"format width or precision {digits} is larger than {MAX_FORMAT_WIDTH}"
    return None


def _binop_problem(symbol: str, left: object, right: object) -> str | None:
    """Check `left <symbol> right` before it runs."""
    if symbol == "+":
        if isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
            return _size_problem(len(left) + len(right))
    elif symbol == "*":
        if isinstance(left, int) and isinstance(right, int):
            return _int_problem(left.bit_length() + right.bit_length())
        sequence, count = (left, right) if isinstance(left, _SEQUENCES) else (right, left)
        if isinstance(sequence, _SEQUENCES) and isinstance(count, int):
            return _size_problem(len(sequence) * count)
    elif symbol == "**":
        if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
            if right > MAX_INT_BITS:  # |left| >= 2, so at least `right` bits (and no float overflow below)
                return _int_problem(right)
            return _int_problem(math.ceil(right * math.log2(abs(left))))
    elif symbol == "<<":
        if isinstance(left, int) and isinstance(right, int) and left and right > 0:
            return _int_problem(left.bit_length() + right)
    elif symbol == "%" and isinstance(left, str | bytes):
        return _percent_problem(left)
    return None


# Methods whose result can be far larger than their inputs (list.extend: doubling in a loop).
_GROWING_METHODS: tuple[tuple[type | tuple[type, ...], frozenset[str]], ...] = (
    (
        (str, bytes),
        frozenset({"center", "expandtabs", "join", "ljust", "replace", "rjust", "translate", "zfill"}),
    ),
    (list, frozenset({"extend"})),
    (int, frozenset({"to_bytes"})),
)


def _grows(owner: type, name: str) -> bool:
    """Return whether owner.name is a method that needs a size check."""
    return any(name in names and issubclass(owner, types) for types, names in _GROWING_METHODS)


def _method_problem(name: str, target: object, args: tuple, kwargs: dict) -> str | None:
    """Check a call of a growing str/bytes/list method on target before it runs."""
    if name in ("center", "ljust", "rjust", "zfill") and isinstance(target, str | bytes):
        width = args[0] if args else kwargs.get("width", 0)
        return _size_problem(width) if isinstance(width, int) else None
    if name == "expandtabs" and isinstance(target, str | bytes):
        tabsize = args[0] if args else kwargs.get("tabsize", 8)
        tab = "\t" if isinstance(target, str) else b"\t"
        return _size_problem(len(target) + target.count(tab) * tabsize) if isinstance(tabsize, int) else None
    if name == "replace" and isinstance(target, str | bytes) and len(args) >= 2:
        old, new = args[0], args[1]
        count = args[2] if len(args) > 2 else kwargs.get("count", -1)
        if not (isinstance(old, type(target)) and isinstance(new, type(target)) and isinstance(count, int)):
            return None
        hits = target.count(old) if old else len(target) + 1
        if count >= 0:
            hits = min(hits, count)
        return _size_problem(len(target) + hits * max(len(new) - len(old), 0))
    if name == "join" and isinstance(target, str | bytes) and args and isinstance(args[0], list):
        parts = args[0]
        text = sum(len(part) for part in parts if isinstance(part, str | bytes))
        return _size_problem(text + len(target) * max(len(parts) - 1, 0))
    if name == "translate" and isinstance(target, str) and args:
        table = args[0]
        values = (
            table.values() if isinstance(table, dict) else table if isinstance(table, list | tuple) else ()
        )
        longest = max((len(value) for value in values if isinstance(value, str)), default=1)
        return _size_problem(len(target) * max(longest, 1))
    if name == "extend" and isinstance(target, list) and args and hasattr(args[0], "__len__"):
        return _size_problem(len(target) + len(args[0]))
    if name == "to_bytes" and isinstance(target, int):
        length = args[0] if args else kwargs.get("length", 1)
        return _size_problem(length) if isinstance(length, int) else None
    return None


_BINARY_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "*": operator.mul,
    "**": operator.pow,
    "<<": operator.lshift,
    "%": operator.mod,
}
_INPLACE_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "+=": operator.iadd,
    "-=": operator.isub,
    "*=": operator.imul,
    "/=": operator.itruediv,
    "//=": operator.ifloordiv,
    "%=": operator.imod,
    "**=": operator.ipow,
    "<<=": operator.ilshift,
    ">>=": operator.irshift,
    "&=": operator.iand,
    "|=": operator.ior,
    "^=": operator.ixor,
    "@=": operator.imatmul,
}
_CONVERSIONS: dict[int, Callable[[Any], str]] = {ord("r"): repr, ord("s"): str, ord("a"): ascii}


# --------------------------------------------------------------------------- builtins

_DROPPED_BUILTINS = frozenset(
    {
        "__build_class__",  # classes are refused anyway
        "_getattr_",  # supplied per call with the size guards
        "setattr",
        "delattr",  # no attribute writes
        "id",  # memory addresses are nobody's business
        "range",
        "pow",
        "round",  # replaced by size-checked versions per call
        # Not Exception subclasses: raising them would slip past every `except Exception`
        # up to the web worker (SystemExit ends the thread).
        "BaseException",
        "SystemExit",
        "KeyboardInterrupt",
        "GeneratorExit",
    }
)


def _sum(iterable: Iterable[Any], /, start: Any = 0) -> Any:
    """Add up numbers; sum(lists, []) would concatenate in C, past the size guards."""
    if not isinstance(start, int | float | complex | decimal.Decimal):
        raise TypeError("sum() adds numbers only in the sandbox; build lists with a comprehension")
    return sum(iterable, start)


def _apply(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call function; RestrictedPython routes calls with *args / **kwargs through this."""
    return function(*args, **kwargs)


_BASE_BUILTINS: dict[str, Any] = {
    **{name: value for name, value in safe_builtins.items() if name not in _DROPPED_BUILTINS},
    "all": all,
    "any": any,
    "bool": bool,
    "dict": dict,
    "enumerate": enumerate,
    "filter": filter,
    "float": float,
    "frozenset": frozenset,
    "int": int,
    "len": len,
    "list": list,
    "map": map,
    "max": max,
    "min": min,
    "reversed": reversed,
    "set": set,
    "sorted": sorted,
    "str": str,
    "sum": _sum,
    "tuple": tuple,
    "zip": zip,
    "abs": abs,
}


# --------------------------------------------------------------------------- per-call state


class _Run:
    """Budget and guards of ONE evaluation. A fresh one per call, so threads never share state."""

    __slots__ = ("_deadline", "_max_steps", "_steps_left", "_time_limit_s", "tripped")

    def __init__(self, max_steps: int, time_limit_s: float) -> None:
        self._max_steps = max_steps
        self._steps_left = max_steps
        self._time_limit_s = time_limit_s
        self._deadline = time.monotonic() + time_limit_s
        self.tripped: ScriptTimeout | None = None

    def _trip(self, error: ScriptTimeout) -> NoReturn:
        # Remember the first limit hit: the call fails with it even if the script catches it.
        if self.tripped is None:
            self.tripped = error
        raise error

    def _refuse_if(self, problem: str | None) -> None:
        if problem is not None:
            self._trip(ScriptLimitExceeded(problem))

    def step(self) -> bool:
        """Count one step and check the clock (returns True for use inside `if` clauses)."""
        self._steps_left -= 1
        if self._steps_left < 0:
            self._trip(
                ScriptTimeout(f"more than {self._max_steps:,} steps (loop iterations and function calls)")
            )
        if time.monotonic() > self._deadline:
            self._trip(ScriptTimeout(f"took longer than {self._time_limit_s:g} s"))
        return True

    def binop(self, symbol: str, left: Any, right: Any) -> Any:
        """Apply a guarded binary operator after checking the size of its result."""
        self._refuse_if(_binop_problem(symbol, left, right))
        return _BINARY_OPS[symbol](left, right)

    def inplacevar(self, op: str, target: Any, value: Any) -> Any:
        """Apply `target op= value` (RestrictedPython's _inplacevar_) with the same checks."""
        if op not in _INPLACE_OPS:
            raise TypeError(f"unsupported augmented assignment {op!r}")
        self._refuse_if(_binop_problem(op[:-1], target, value))
        return _INPLACE_OPS[op](target, value)

    def format(self, value: Any, conversion: int, spec: str) -> str:
        """Format one f-string field after checking the widths in its spec."""
        self._refuse_if(_format_spec_problem(spec))
        converter = _CONVERSIONS.get(conversion)
        return format(converter(value) if converter else value, spec)

    def range(self, *args: int) -> range:
        """Return range(*args) if it has at most MAX_SIZE items."""
        numbers = range(*args)
        try:
            size = len(numbers)
        except OverflowError:  # more items than fit in a C ssize_t
            size = MAX_SIZE + 1
        if size > MAX_SIZE:
            self._trip(ScriptLimitExceeded(f"range() of {size:,} items; the sandbox allows {MAX_SIZE:,}"))
        return numbers

    def pow(self, base: Any, exp: Any, mod: Any = None) -> Any:
        """Return pow(base, exp[, mod]) with the size checks of `**`."""
        if mod is None:
            return self.binop("**", base, exp)
        if isinstance(exp, int) and isinstance(mod, int):
            self._refuse_if(_int_problem(max(exp.bit_length(), mod.bit_length())))
        return pow(base, exp, mod)

    def round(self, number: Any, ndigits: int | None = None) -> Any:
        """Return round(number, ndigits); a huge negative ndigits would compute 10**-ndigits."""
        if ndigits is None:
            return round(number)
        if isinstance(ndigits, int) and abs(ndigits) > MAX_FORMAT_WIDTH:
            self._trip(
                ScriptLimitExceeded(
                    f"round() to {ndigits:,} digits; the sandbox allows up to {MAX_FORMAT_WIDTH:,} either way"
                )
            )
        return round(number, ndigits)

    def getattr(self, obj: Any, name: str) -> Any:
        """Read an attribute through safer_getattr; wrap the methods that can grow text or lists."""
        value = safer_getattr_raise(obj, name)
        owner = obj if isinstance(obj, type) else type(obj)
        if _grows(owner, name):
            return self._checked_method(value, name, None if isinstance(obj, type) else obj)
        return value

    def _checked_method(self, method: Callable[..., Any], name: str, receiver: Any) -> Callable[..., Any]:
        """Wrap a bound (receiver given) or unbound (str.ljust) method with its size check."""

        def checked(*args: Any, **kwargs: Any) -> Any:
            target, rest = (receiver, args) if receiver is not None else (args[0] if args else None, args[1:])
            if name == "join" and rest:
                # Materialise the parts once: they are measured, then joined.
                rest = (list(rest[0]), *rest[1:])
                args = rest if receiver is not None else (target, *rest)
            self._refuse_if(_method_problem(name, target, rest, kwargs))
            return method(*args, **kwargs)

        return checked

    def builtins(self) -> dict[str, Any]:
        """Return the builtins of this run (range and pow are bound to it)."""
        return {**_BASE_BUILTINS, "range": self.range, "pow": self.pow, "round": self.round}

    def guards(self) -> dict[str, Any]:
        """Return the names RestrictedPython's rewritten code and our policy call."""
        return {
            "_getattr_": self.getattr,
            "_getitem_": default_guarded_getitem,
            "_getiter_": default_guarded_getiter,
            "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
            "_unpack_sequence_": guarded_unpack_sequence,
            "_write_": full_write_guard,
            "_inplacevar_": self.inplacevar,
            "_apply_": _apply,
            "_step_": self.step,
            "_binop_": self.binop,
            "_format_": self.format,
        }

    def call(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run compiled code; a limit hit anywhere (even if caught by the script) fails the call."""
        try:
            result = function(*args)
        except RecursionError as err:
            if self.tripped is None:
                self.tripped = ScriptTimeout("recursion too deep (a function keeps calling itself)")
            raise self.tripped from err
        except Exception as err:
            if self.tripped is not None and err is not self.tripped:
                raise self.tripped from err
            raise
        if self.tripped is not None:
            raise self.tripped
        return result


# --------------------------------------------------------------------------- task data

_PLAIN_LEAVES = (
    type(None),
    bool,
    int,
    float,
    str,
    bytes,
    decimal.Decimal,
    datetime.date,
    datetime.time,
    datetime.timedelta,
    uuid.UUID,
)


class _DataWalk:
    """Decide whether a value is plain data and keep its total size bounded."""

    def __init__(self) -> None:
        self.units = 0

    def is_plain(self, value: object, depth: int = 0) -> bool:
        """Return whether value is built only of plain leaves, lists, tuples, sets and dicts."""
        self.units += 1 + (len(value) if isinstance(value, str | bytes) else 0)
        if self.units > MAX_DATA_UNITS:
            raise ScriptLimitExceeded(
                f"the script leaves more than {MAX_DATA_UNITS:,} items and characters in task data"
            )
        if isinstance(value, _PLAIN_LEAVES):
            return True
        if depth >= _MAX_DATA_DEPTH:
            return False
        if isinstance(value, dict):
            return all(self.is_plain(k, depth + 1) and self.is_plain(v, depth + 1) for k, v in value.items())
        if isinstance(value, list | tuple | set | frozenset):
            return all(self.is_plain(item, depth + 1) for item in value)
        return False


def _visible_data(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """Return a deep copy of the names a script may see.

    Copying keeps evaluations free of side effects and makes a failing script leave task
    data untouched. `_` names are dropped: they could replace the guards (`_getattr_`,
    `__builtins__`) and scripts cannot name them anyway.
    """
    return copy.deepcopy({k: v for k, v in mapping.items() if isinstance(k, str) and not k.startswith("_")})


# --------------------------------------------------------------------------- the environment


class SandboxEnvironment(BasePythonScriptEngineEnvironment):
    """SpiffWorkflow script environment that compiles everything with RestrictedPython and limits it.

    `helpers` (calendar functions etc.) are visible to every script and expression; the
    step and time limits apply to each evaluate/execute call separately.
    """

    def __init__(
        self,
        helpers: dict[str, Callable[..., Any]] | None = None,
        *,
        max_steps: int = 100_000,
        time_limit_s: float = 2.0,
    ) -> None:
        helpers = dict(helpers or {})
        _check_helpers(helpers)
        if max_steps < 1 or time_limit_s <= 0:
            raise ValueError("max_steps and time_limit_s must be positive")
        super().__init__(helpers)  # SpiffWorkflow code reads environment.globals
        self.helpers = helpers
        self.max_steps = max_steps
        self.time_limit_s = time_limit_s

    def evaluate(
        self, expression: str, context: dict[str, Any], external_context: dict[str, Any] | None = None
    ) -> Any:
        """Return the value of expression over the task data (context is not modified)."""
        compiled = _compiled(expression, "eval")
        external = external_context or {}
        self._refuse_hidden_helpers(compiled.used_names, context, external)
        run = _Run(self.max_steps, self.time_limit_s)
        # eval/exec of code compiled by RestrictedPython under _SandboxPolicy, never of raw source
        result = run.call(eval, compiled.code, self._scope(run, context, external))
        _DataWalk().is_plain(result)  # only to bound the size of what may end up in task data
        return result

    def execute(
        self, script: str, context: dict[str, Any], external_context: dict[str, Any] | None = None
    ) -> bool:
        """Run script; copy the plain data it created or changed back into context."""
        compiled = _compiled(script, "exec")
        external = external_context or {}
        self._refuse_hidden_helpers(compiled.used_names, context, external)
        run = _Run(self.max_steps, self.time_limit_s)
        scope = self._scope(run, context, external)
        visible_before = [name for name in context if isinstance(name, str) and not name.startswith("_")]
        run.call(exec, compiled.code, scope)
        self._refuse_rebound_helpers(scope)
        self._copy_back(scope, context, external, visible_before)
        return True

    def call_service(self, context: dict[str, Any], **kwargs: Any) -> Any:
        """Refuse: service tasks are run by the engine subclass, not by the sandbox."""
        raise NotImplementedError(
            "service tasks are handled by the script engine, not by the sandbox environment"
        )

    # -- helpers

    def _scope(self, run: _Run, context: Mapping[str, Any], external: Mapping[str, Any]) -> dict[str, Any]:
        """Build the globals of one call: data, then helpers, then guards (later entries win)."""
        scope: dict[str, Any] = {"__builtins__": run.builtins()}
        scope.update(_visible_data(external))
        scope.update(_visible_data(context))
        scope.update(self.helpers)
        scope.update(run.guards())
        return scope

    def _refuse_hidden_helpers(
        self, used: frozenset[str], context: Mapping[str, Any], external: Mapping[str, Any]
    ) -> None:
        """Refuse when task data has the name of a helper this source uses (it would be ambiguous)."""
        clashes = sorted(
            name for name in used if name in self.helpers and (name in context or name in external)
        )
        if clashes:
            names = ", ".join(f'"{name}"' for name in clashes)
            raise ValueError(
                f"task data has variable(s) named like helper function(s) this script uses: {names}; "
                "rename the form field(s) or variable(s)"
            )

    def _refuse_rebound_helpers(self, scope: Mapping[str, Any]) -> None:
        """Refuse a script that assigned to (or deleted) a helper's name."""
        rebound = sorted(name for name, helper in self.helpers.items() if scope.get(name) is not helper)
        if rebound:
            names = ", ".join(f'"{name}"' for name in rebound)
            raise ValueError(
                f"the script assigns to {names}, the name of a helper function; use another variable name"
            )

    def _copy_back(
        self,
        scope: Mapping[str, Any],
        context: dict[str, Any],
        external: Mapping[str, Any],
        visible_before: list[str],
    ) -> None:
        """Write the script's plain data into context; drop functions, modules, helpers and `_` names."""
        walk = _DataWalk()
        updates = {
            name: value
            for name, value in scope.items()
            if not name.startswith("_")
            and name not in self.helpers
            and name not in external
            and walk.is_plain(value)
        }
        removed = [name for name in visible_before if name not in scope]  # `del name` in the script
        context.update(updates)
        for name in removed:
            del context[name]


def _check_helpers(helpers: Mapping[str, Any]) -> None:
    """Refuse helper names a script could not call or that would replace a guard."""
    for name, helper in helpers.items():
        if not (isinstance(name, str) and name.isidentifier()) or name.startswith("_"):
            raise ValueError(f"helper name {name!r} must be an identifier not starting with '_'")
        if not callable(helper):
            raise ValueError(f"helper {name!r} must be callable")


# --------------------------------------------------------------------------- the script engine


def _link_original(err: WorkflowTaskException) -> None:
    """Make the error SpiffWorkflow wrapped reachable as err.exception and err.__cause__."""
    original = err.__context__
    # Only when err wraps exactly that exception (SpiffWorkflow records its class name).
    if (
        original is not None
        and err.__cause__ is None
        and getattr(err, "exception", None) is None
        and getattr(err, "error_type", None) == type(original).__name__
    ):
        err.exception = original  # type: ignore[attr-defined]
        err.__cause__ = original


class SandboxScriptEngine(PythonScriptEngine):
    """PythonScriptEngine over a SandboxEnvironment that keeps the original error reachable.

    SpiffWorkflow wraps script errors in WorkflowTaskException without setting `__cause__`
    or keeping the exception; this engine sets both, so `find_sandbox_error(err)`,
    `err.exception` and `err.__cause__` lead to the ScriptRefused / ScriptTimeout.
    """

    def __init__(self, environment: SandboxEnvironment | None = None) -> None:
        super().__init__(environment=environment or SandboxEnvironment())

    def evaluate(self, task: Any, expression: str, external_context: dict[str, Any] | None = None) -> Any:
        """Evaluate expression for task, linking the original error on failure."""
        try:
            return super().evaluate(task, expression, external_context)
        except WorkflowTaskException as err:
            _link_original(err)
            raise

    def execute(self, task: Any, script: str, external_context: dict[str, Any] | None = None) -> bool:
        """Execute script for task, linking the original error on failure."""
        try:
            return super().execute(task, script, external_context)
        except WorkflowTaskException as err:
            _link_original(err)
            raise

    def call_service(self, task: Any, **kwargs: Any) -> Any:
        """Call the environment's service; upstream's version turns every error into a NameError."""
        try:
            return self.environment.call_service(task.data, **kwargs)
        except Exception as err:
            wrapped = WorkflowTaskException(f"{type(err).__name__}: {err}", task=task, exception=err)
            wrapped.exception = err  # type: ignore[attr-defined]
            raise wrapped from err


def make_script_engine(
    helpers: dict[str, Callable[..., Any]] | None = None, **limits: Any
) -> SandboxScriptEngine:
    """Return a script engine whose environment is SandboxEnvironment(helpers, **limits)."""
    return SandboxScriptEngine(SandboxEnvironment(helpers, **limits))
