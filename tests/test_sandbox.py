"""The script sandbox: escape attempts are refused, runaways stopped, ordinary scripts work."""

from __future__ import annotations

import pickle
import threading
import time
from typing import Any, NamedTuple

import pytest
from SpiffWorkflow import TaskState
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.spiff.parser import SpiffBpmnParser

from engine.bpmn.sandbox import (
    SandboxEnvironment,
    SandboxScriptEngine,
    ScriptLimitExceeded,
    ScriptRefused,
    ScriptTimeout,
    check_source,
    find_sandbox_error,
    make_script_engine,
)


def next_working_day(d: str) -> str:
    """Stand in for the calendar helper."""
    return f"{d[:10]}T23:59:59+06:00"


def add_days(d: str, n: int) -> str:
    """Stand in for the calendar helper."""
    return f"{d[:8]}{int(d[8:10]) + n:02d}T23:59:59+06:00"


HELPERS = {"next_working_day": next_working_day, "add_days": add_days, "today": lambda: "2026-05-11"}


@pytest.fixture
def env() -> SandboxEnvironment:
    return SandboxEnvironment(HELPERS)


def run(env: SandboxEnvironment, mode: str, source: str, data: dict[str, Any] | None = None) -> Any:
    """Evaluate or execute source over data; return the value or the data afterwards."""
    data = {"x": 1, "items": [1, 2, 3]} if data is None else data
    if mode == "eval":
        return env.evaluate(source, data)
    env.execute(source, data)
    return data


# --------------------------------------------------------------------------- escape corpus


class Attempt(NamedTuple):
    id: str
    mode: str
    source: str
    outcome: type[Exception]  # ScriptRefused: refused at compile time; anything else: raised at run time
    fragment: str  # part of the message


ESCAPES = [
    # imports
    Attempt(
        "dunder-import",
        "eval",
        "__import__('os').system('id')",
        ScriptRefused,
        '"__import__" is an invalid variable name',
    ),
    Attempt(
        "import", "exec", "import os\nos.system('id')", ScriptRefused, "import statements are not allowed"
    ),
    Attempt(
        "from-import", "exec", "from os import system", ScriptRefused, "import statements are not allowed"
    ),
    Attempt(
        "builtins-dict",
        "eval",
        "__builtins__['eval']",
        ScriptRefused,
        '"__builtins__" is an invalid variable name',
    ),
    Attempt("math-module", "eval", "math.factorial(10**6)", NameError, "'math'"),
    Attempt(
        "string-module",
        "eval",
        "string.Formatter().format('{0.__class__}', 1)",
        ScriptRefused,
        '"format" is not allowed',
    ),
    # dunder walks
    Attempt(
        "subclasses",
        "eval",
        "().__class__.__base__.__subclasses__()",
        ScriptRefused,
        '"__class__" is an invalid attribute name',
    ),
    Attempt(
        "object-subclasses",
        "eval",
        "object.__subclasses__()",
        ScriptRefused,
        '"__subclasses__" is an invalid attribute',
    ),
    Attempt(
        "mro-walk",
        "eval",
        "str.mro()[-1].__subclasses__()",
        ScriptRefused,
        '"__subclasses__" is an invalid attribute',
    ),
    Attempt(
        "getattr-concat", "eval", "getattr(x, '__cl' + 'ass__')", ScriptRefused, '"getattr" is not available'
    ),
    Attempt(
        "getattr-join",
        "eval",
        "getattr(x, ''.join(['__cl', 'ass__']))",
        ScriptRefused,
        '"getattr" is not available',
    ),
    Attempt("hasattr-probe", "eval", "hasattr(x, '__class__')", ScriptRefused, '"hasattr" is not available'),
    # str.format reaches attributes through its field names
    Attempt("format-class", "eval", "'{0.__class__}'.format(1)", ScriptRefused, '"format" is not allowed'),
    Attempt(
        "format-globals",
        "eval",
        "'{.__globals__}'.format(next_working_day)",
        ScriptRefused,
        '"format" is not allowed',
    ),
    Attempt("format-plain", "eval", "'{}'.format(1)", ScriptRefused, '"format" is not allowed'),
    Attempt(
        "format-unbound", "eval", "str.format('{0.__class__}', 1)", ScriptRefused, '"format" is not allowed'
    ),
    Attempt("format-map", "eval", "'{a}'.format_map({'a': 1})", ScriptRefused, '"format_map" is not allowed'),
    # frames and code objects
    Attempt(
        "gi-frame", "eval", "(i for i in items).gi_frame", ScriptRefused, '"gi_frame" is a restricted name'
    ),
    Attempt("gi-code", "eval", "(i for i in items).gi_code", ScriptRefused, '"gi_code" is a restricted name'),
    Attempt(
        "frame-walk",
        "exec",
        "g = (i for i in items)\nf = g.gi_frame.f_back.f_globals",
        ScriptRefused,
        '"f_globals" is a restricted name',
    ),
    Attempt(
        "traceback-frame",
        "exec",
        "try:\n    1 / 0\nexcept Exception as e:\n    f = e.__traceback__.tb_frame.f_back",
        ScriptRefused,
        '"__traceback__" is an invalid attribute name',
    ),
    Attempt(
        "lambda-code",
        "eval",
        "(lambda: 0).__code__",
        ScriptRefused,
        '"__code__" is an invalid attribute name',
    ),
    Attempt(
        "helper-globals",
        "eval",
        "next_working_day.__globals__['sys'].modules['os']",
        ScriptRefused,
        '"__globals__" is an invalid attribute',
    ),
    Attempt(
        "helper-closure",
        "eval",
        "next_working_day.__closure__",
        ScriptRefused,
        '"__closure__" is an invalid attribute',
    ),
    Attempt(
        "helper-wrapped",
        "eval",
        "next_working_day.__wrapped__",
        ScriptRefused,
        '"__wrapped__" is an invalid attribute',
    ),
    # introspection and code-running builtins
    Attempt("type", "eval", "type(1)", NameError, "'type'"),
    Attempt("type-new-class", "exec", "C = type('C', (), {})", NameError, "'type'"),
    Attempt("vars", "eval", "vars()", ScriptRefused, '"vars" is not available'),
    Attempt("globals", "eval", "globals()", ScriptRefused, '"globals" is not available'),
    Attempt("locals", "eval", "locals()", ScriptRefused, '"locals" is not available'),
    Attempt("dir", "eval", "dir()", ScriptRefused, '"dir" is not available'),
    Attempt("open", "eval", "open('/etc/passwd').read()", ScriptRefused, '"open" is not available'),
    Attempt("eval", "eval", "eval('1 + 1')", ScriptRefused, "Eval calls are not allowed"),
    Attempt("exec", "exec", "exec('x = 1')", ScriptRefused, "Exec calls are not allowed"),
    Attempt("compile", "eval", "compile('1', 'f', 'eval')", ScriptRefused, '"compile" is not available'),
    Attempt("breakpoint", "exec", "breakpoint()", ScriptRefused, '"breakpoint" is not available'),
    Attempt("setattr", "exec", "setattr(items, 'x', 1)", ScriptRefused, '"setattr" is not available'),
    Attempt("delattr", "exec", "delattr(items, 'append')", ScriptRefused, '"delattr" is not available'),
    Attempt("print", "exec", "print(x)", ScriptRefused, '"print" is not available'),
    Attempt("class", "exec", "class Evil:\n    pass", ScriptRefused, "class definitions are not allowed"),
    # exceptions that are not Exceptions would pass every `except Exception` up to the web worker
    Attempt("system-exit", "exec", "raise SystemExit(1)", NameError, "'SystemExit'"),
    Attempt("keyboard-interrupt", "exec", "raise KeyboardInterrupt", NameError, "'KeyboardInterrupt'"),
    # runaways: CPU
    Attempt("while-true", "exec", "while True:\n    pass", ScriptTimeout, "steps"),
    Attempt(
        "caught-timeout",
        "exec",
        "try:\n    while True:\n        pass\nexcept Exception:\n    pass\nescaped = True",
        ScriptTimeout,
        "steps",
    ),
    Attempt(
        "range-10-12",
        "exec",
        "for i in range(10**12):\n    pass",
        ScriptLimitExceeded,
        "range() of 1,000,000,000,000 items",
    ),
    Attempt(
        "nested-comprehension",
        "eval",
        "[[i * j for i in range(10**5)] for j in range(10**5)]",
        ScriptTimeout,
        "steps",
    ),
    Attempt(
        "generator-runaway",
        "exec",
        "def g():\n    while True:\n        yield 1\nx = list(g())",
        ScriptTimeout,
        "steps",
    ),
    Attempt("lambda-per-item", "eval", "list(map(lambda i: i, range(10**6)))", ScriptTimeout, "steps"),
    Attempt("recursion", "exec", "def f():\n    return f()\nf()", ScriptTimeout, "recursion"),
    Attempt(
        "exponential-recursion",
        "exec",
        "def f(n):\n    return f(n - 1) + f(n - 1) if n else 1\nx = f(60)",
        ScriptTimeout,
        "steps",
    ),
    # runaways: memory
    Attempt("power-tower", "eval", "10**10**8", ScriptLimitExceeded, "bits"),
    Attempt("pow-builtin", "eval", "pow(10, 10**8)", ScriptLimitExceeded, "bits"),
    Attempt("left-shift", "eval", "1 << 10**10", ScriptLimitExceeded, "bits"),
    Attempt("str-repeat", "eval", "'a' * 10**10", ScriptLimitExceeded, "10,000,000,000 items or characters"),
    Attempt("list-repeat", "eval", "[0] * 10**10", ScriptLimitExceeded, "10,000,000,000 items or characters"),
    Attempt("repeat-reversed", "eval", "10**10 * 'a'", ScriptLimitExceeded, "items or characters"),
    Attempt(
        "caught-limit",
        "exec",
        "try:\n    s = 'a' * 10**10\nexcept Exception:\n    s = 'caught'",
        ScriptLimitExceeded,
        "items or characters",
    ),
    Attempt(
        "doubling-concat",
        "exec",
        "s = 'ab'\nfor i in range(40):\n    s = s + s",
        ScriptLimitExceeded,
        "items or characters",
    ),
    Attempt(
        "doubling-inplace",
        "exec",
        "s = [1]\nfor i in range(40):\n    s += s",
        ScriptLimitExceeded,
        "items or characters",
    ),
    Attempt(
        "doubling-extend",
        "exec",
        "s = [1]\nfor i in range(40):\n    s.extend(s)",
        ScriptLimitExceeded,
        "items or characters",
    ),
    Attempt("ljust", "eval", "'x'.ljust(10**9)", ScriptLimitExceeded, "items or characters"),
    Attempt("unbound-ljust", "eval", "str.ljust('x', 10**9)", ScriptLimitExceeded, "items or characters"),
    Attempt("join-bomb", "eval", "'-'.join(['x' * 10**6] * 100)", ScriptLimitExceeded, "items or characters"),
    Attempt(
        "replace-bomb",
        "eval",
        "('x' * 10**5).replace('x', 'y' * 1000)",
        ScriptLimitExceeded,
        "items or characters",
    ),
    Attempt("fstring-width", "eval", "f'{1:>1000000000}'", ScriptLimitExceeded, "format width"),
    Attempt("fstring-nested-width", "eval", "f'{1:>{10**9}}'", ScriptLimitExceeded, "format width"),
    Attempt("percent-width", "eval", "'%1000000000d' % 1", ScriptLimitExceeded, "format width"),
    Attempt("percent-star-width", "eval", "'%*d' % (10**9, 1)", ScriptLimitExceeded, "'*' widths"),
    Attempt("int-to-bytes", "eval", "(1).to_bytes(10**9, 'big')", ScriptLimitExceeded, "items or characters"),
    Attempt(
        "translate-bomb",
        "eval",
        "('x' * 10**4).translate({120: 'y' * 10**4})",
        ScriptLimitExceeded,
        "items or characters",
    ),
    Attempt("round-digits", "eval", "round(5, -10**8)", ScriptLimitExceeded, "round() to"),
    Attempt("big-power", "eval", "3 ** 10**4", ScriptLimitExceeded, "bits"),
    Attempt("sum-of-lists", "eval", "sum([[0] * 1000] * 1000, [])", TypeError, "adds numbers only"),
]


def test_corpus_is_large_enough():
    assert len(ESCAPES) >= 25
    assert len({attempt.id for attempt in ESCAPES}) == len(ESCAPES)


@pytest.mark.parametrize("attempt", ESCAPES, ids=[attempt.id for attempt in ESCAPES])
def test_escape_attempt_is_stopped(env, attempt):
    errors = check_source(attempt.source, attempt.mode)
    if attempt.outcome is ScriptRefused:
        # Refused before anything runs, so the diagram checker reports it at deploy time.
        assert any(attempt.fragment in error for error in errors), errors
        assert all(error.startswith("Line ") for error in errors)
    else:
        assert errors == []
    with pytest.raises(Exception) as caught:
        run(env, attempt.mode, attempt.source)
    assert type(caught.value) is attempt.outcome
    assert attempt.fragment in str(caught.value)


def test_percent_formatting_with_a_dict_reaches_no_attributes(env):
    # %-formatting looks names up as dict keys, never as attributes.
    with pytest.raises(KeyError):
        env.evaluate("'%(__class__)s' % {'a': 1}", {})
    shown = env.evaluate("'%s' % next_working_day", {})
    assert shown.startswith("<function next_working_day")
    assert env.evaluate("'%(a)s and %(b)r' % {'a': 1, 'b': 'x'}", {}) == "1 and 'x'"


def test_task_data_cannot_replace_the_guards(env):
    data = {
        "_getattr_": getattr,
        "__builtins__": __builtins__,
        "_step_": lambda: True,
        "_write_": None,
        "x": 41,
    }
    assert env.evaluate("x + 1", data) == 42
    with pytest.raises(ScriptTimeout):
        env.execute("while True:\n    pass", data)
    with pytest.raises(ScriptRefused):
        env.evaluate("x.__class__", data)
    env.execute("y = x", data)
    assert data["_getattr_"] is getattr  # `_` names are neither visible nor touched
    assert data["y"] == 41


# --------------------------------------------------------------------------- limits


def test_step_budget_is_per_call():
    env = SandboxEnvironment(max_steps=1000)
    for _ in range(3):  # budgets do not accumulate across calls
        env.execute("for i in range(900):\n    pass", {})
    with pytest.raises(ScriptTimeout, match="1,000 steps"):
        env.execute("for i in range(1001):\n    pass", {})


def test_wall_time_limit_stops_a_loop_within_the_step_budget():
    env = SandboxEnvironment(max_steps=10**12, time_limit_s=0.05)
    started = time.monotonic()
    with pytest.raises(ScriptTimeout, match="took longer than 0.05 s"):
        env.execute("n = 0\nwhile True:\n    n += 1", {})
    assert time.monotonic() - started < 1.0


def test_threads_have_their_own_budgets():
    env = SandboxEnvironment(max_steps=20_000)
    outcomes: list[str] = []

    def runaway() -> None:
        try:
            env.execute("while True:\n    pass", {})
        except ScriptTimeout:
            outcomes.append("stopped")

    thread = threading.Thread(target=runaway)
    thread.start()
    # 30 x 1,000 steps: fine per call, beyond the budget if calls shared one.
    results = [env.evaluate("sum(i for i in range(1000))", {}) for _ in range(30)]
    thread.join()
    assert results == [499500] * 30
    assert outcomes == ["stopped"]


def test_sizes_just_under_the_limits_are_fine(env):
    assert len(env.evaluate("'a' * 10**6", {})) == 10**6
    assert env.evaluate("len(range(10**6))", {}) == 10**6
    assert env.evaluate("(2**999) ** 10 > 0", {})  # 9,991 bits
    assert env.evaluate("2**9999 > 0", {})
    assert env.evaluate("round(1234.5678, -2) + round(1.25, 1) + round(2.5)", {}) == 1200 + 1.2 + 2
    assert env.evaluate("f'{3.14159:>10.2f}|{42:08d}'", {}) == "      3.14|00000042"
    assert env.evaluate("'%-6s|%5.1f' % ('ab', 2.25)", {}) == "ab    |  2.2"


# --------------------------------------------------------------------------- what works


def test_arithmetic(env):
    assert env.evaluate("1 + 2 * 3 ** 2 - 7 // 2 % 3 + abs(-4) + round(2.567, 1) - 10 / 4", {}) == (
        1 + 2 * 3**2 - 7 // 2 % 3 + abs(-4) + round(2.567, 1) - 10 / 4
    )
    assert env.evaluate("divmod(17, 5) == (3, 2) and -x < 0 and not x == 2 and x is not None", {"x": 1})


def test_comprehensions_and_builtins(env):
    data = {"rows": [{"name": "b", "fee": 2}, {"name": "a", "fee": 3}]}
    assert env.evaluate("[r['name'] for r in rows if r['fee'] > 2]", data) == ["a"]
    assert env.evaluate("{r['name']: r['fee'] for r in rows}", data) == {"b": 2, "a": 3}
    assert env.evaluate("{r['fee'] % 2 for r in rows}", data) == {0, 1}
    assert env.evaluate("sum(r['fee'] for r in rows)", data) == 5
    assert env.evaluate("[(i, j) for i in range(3) for j in range(i)]", {}) == [(1, 0), (2, 0), (2, 1)]
    assert env.evaluate("sorted(rows, key=lambda r: r['name'])[0]['name']", data) == "a"
    assert env.evaluate(
        "[list(reversed([1, 2])), list(zip('ab', [1, 2])), list(enumerate('x')), min(3, 1), max([4, 2]),"
        " any([0, 1]), all([]), list(map(str, [1])), list(filter(None, [0, 2])), len('abc'), int('7'),"
        " float('1.5'), bool(0), tuple([1]), set([1]), frozenset([1]), dict(a=1), isinstance(1, int)]",
        {},
    ) == [
        [2, 1],
        [("a", 1), ("b", 2)],
        [(0, "x")],
        1,
        4,
        True,
        True,
        ["1"],
        [2],
        3,
        7,
        1.5,
        False,
        (1,),
        {1},
        frozenset({1}),
        {"a": 1},
        True,
    ]


def test_statements_build_data(env):
    data: dict[str, Any] = {"counts": {"a": 1}, "n": 1, "items": [1]}
    env.execute(
        "counts['a'] += 1\n"  # RestrictedPython refuses this; the sandbox rewrites it
        "counts['b'] = 10\n"
        "key = 'b'\n"
        "counts[key] -= 3\n"
        "n += 1\n"
        "n **= 3\n"
        "items += [2]\n"
        "items.append(3)\n"
        "a, (b, c) = 1, (2, 3)\n"
        "first, *rest = [1, 2, 3]\n"
        "def fee(days):\n"
        "    return 100 if days < 3 else 50\n"
        "fees = [fee(d) for d in range(5)]\n"
        "label = f'{n} items, {b!r:>4}'\n"
        "ref = '%s-%05d' % ('DS', 7)\n",
        data,
    )
    assert data["counts"] == {"a": 2, "b": 7}
    assert data["n"] == 8
    assert data["items"] == [1, 2, 3]
    assert (data["a"], data["b"], data["c"], data["first"], data["rest"]) == (1, 2, 3, 1, [2, 3])
    assert data["fees"] == [100, 100, 100, 50, 50]
    assert data["label"] == "8 items,    2"
    assert data["ref"] == "DS-00007"


def test_helpers_are_callable(env):
    assert env.evaluate(
        "next_working_day(registered_at)", {"registered_at": "2026-05-08T10:00:00+06:00"}
    ) == ("2026-05-08T23:59:59+06:00")
    data = {"registered_at": "2026-05-08"}
    env.execute("due = add_days(registered_at, 3)\nasked_on = today()", data)
    assert data == {
        "registered_at": "2026-05-08",
        "due": "2026-05-11T23:59:59+06:00",
        "asked_on": "2026-05-11",
    }


def test_copy_back_keeps_only_plain_data(env):
    data: dict[str, Any] = {"keep": 1, "tmp": 2, "_internal": "x"}
    env.execute(
        "new = [keep, {'a': (1, 2)}]\n"
        "changed = keep + 1\n"
        "def helper_of_mine():\n"
        "    return 1\n"
        "square = lambda v: v * v\n"
        "numbers = range(3)\n"
        "pending = (i for i in [])\n"
        "mixed = [1, square]\n"
        "for _ in range(2):\n"
        "    pass\n"
        "del tmp\n",
        data,
    )
    assert data == {"keep": 1, "_internal": "x", "new": [1, {"a": (1, 2)}], "changed": 2}


def test_a_failing_script_leaves_task_data_untouched(env):
    data = {"items": [1], "n": 1}
    with pytest.raises(ZeroDivisionError):
        env.execute("items.append(2)\nn = 5\nboom = 1 / 0", data)
    assert data == {"items": [1], "n": 1}


def test_evaluate_does_not_modify_task_data(env):
    data = {"items": [1]}
    assert env.evaluate("items.append(2) or len(items)", data) == 2
    assert data == {"items": [1]}


def test_task_data_hiding_a_used_helper_is_refused(env):
    with pytest.raises(ValueError, match='"today"'):
        env.evaluate("today() > '2026'", {"today": "2026-01-01"})
    with pytest.raises(ValueError, match='"today"'):
        env.execute("d = today()", {"today": "2026-01-01"})
    # Not used by the source: the data is left alone.
    data = {"today": "2026-01-01"}
    env.execute("x = 1", data)
    assert data == {"today": "2026-01-01", "x": 1}


def test_a_script_may_not_rebind_a_helper(env):
    with pytest.raises(ValueError, match='"today", the name of a helper'):
        env.execute("today = '2026-01-01'", {})


def test_helpers_must_be_named_and_callable():
    with pytest.raises(ValueError, match="identifier"):
        SandboxEnvironment({"_getattr_": getattr})
    with pytest.raises(ValueError, match="callable"):
        SandboxEnvironment({"rate": 3})


def test_source_whitespace_from_xml_is_tolerated(env):
    assert env.evaluate("\n      approved == True\n    ", {"approved": True})
    data: dict[str, Any] = {}
    env.execute("\n        total = 1\n        if total:\n            total += 1\n      ", data)
    assert data == {"total": 2}
    # line numbers still count from the start of the text
    assert check_source("\n\n   x ==== 1\n", "eval")[0].startswith("Line 3:")


def test_check_source_reports_syntax_errors_with_line_numbers():
    assert check_source("approved ==== True", "eval") == [
        "Line 1: SyntaxError: invalid syntax at statement: 'approved ==== True'"
    ]
    assert check_source("x = 1\nreturn x", "exec") == ["Line 2: SyntaxError: 'return' outside function"]
    assert check_source("  ", "eval") == ["Line 1: the expression is empty"]
    assert check_source("", "exec") == []
    assert check_source("-" * 5000 + "1", "eval") == ["Line 1: the expression is nested too deeply"]
    assert check_source("x = 1\ny = x._secret\nz = open", "exec") == [
        'Line 2: "_secret" is an invalid attribute name because it starts with "_".',
        'Line 3: "open" is not available in the script sandbox',
    ]
    with pytest.raises(ValueError, match="mode"):
        check_source("1", "single")


def test_script_refused_names_its_lines(env):
    with pytest.raises(ScriptRefused) as caught:
        env.execute("x = 1\nimport os\ny = x.__dict__", {})
    refused = caught.value
    assert refused.lineno == 2
    assert refused.errors == [
        "Line 2: import statements are not allowed; use the helper functions",
        'Line 3: "__dict__" is an invalid attribute name because it starts with "_".',
    ]
    assert str(refused) == "; ".join(refused.errors)
    assert not isinstance(refused, SyntaxError)  # SpiffWorkflow's error reporting needs a lineno on those
    copy = pickle.loads(pickle.dumps(refused))
    assert (copy.errors, copy.lineno, str(copy)) == (refused.errors, 2, str(refused))


def test_compiled_code_is_cached(env):
    from engine.bpmn import sandbox

    source = "cache_probe + 1"
    env.evaluate(source, {"cache_probe": 1})
    before = sandbox._compile.cache_info()
    env.evaluate(source, {"cache_probe": 2})
    after = sandbox._compile.cache_info()
    assert (after.hits - before.hits, after.misses - before.misses) == (1, 0)


def test_call_service_is_left_to_the_engine(env):
    with pytest.raises(NotImplementedError):
        env.call_service({}, operation_name="register_in_journal")


def test_make_script_engine():
    engine = make_script_engine(HELPERS, max_steps=10, time_limit_s=0.5)
    assert isinstance(engine, PythonScriptEngine)
    assert isinstance(engine.environment, SandboxEnvironment)
    assert (engine.environment.max_steps, engine.environment.time_limit_s) == (10, 0.5)
    assert engine.environment.globals == HELPERS


# --------------------------------------------------------------------------- through a real workflow

BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="defs" targetNamespace="kyzmat">
  <bpmn:process id="proc" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="compute"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script><![CDATA[SCRIPT]]></bpmn:script>
    </bpmn:scriptTask>
    <bpmn:exclusiveGateway id="gw" default="f_no">
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f_yes</bpmn:outgoing><bpmn:outgoing>f_no</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:endEvent id="end_yes"><bpmn:incoming>f_yes</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="end_no"><bpmn:incoming>f_no</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="compute"/>
    <bpmn:sequenceFlow id="f2" sourceRef="compute" targetRef="gw"/>
    <bpmn:sequenceFlow id="f_yes" sourceRef="gw" targetRef="end_yes">
      <bpmn:conditionExpression><![CDATA[CONDITION]]></bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_no" sourceRef="gw" targetRef="end_no"/>
  </bpmn:process>
</bpmn:definitions>
"""


def workflow(script: str, condition: str, engine: PythonScriptEngine | None = None) -> BpmnWorkflow:
    parser = SpiffBpmnParser()
    parser.add_bpmn_str(BPMN.replace("SCRIPT", script).replace("CONDITION", condition).encode(), "proc.bpmn")
    return BpmnWorkflow(parser.get_spec("proc"), script_engine=engine or make_script_engine(HELPERS))


def finished_at(wf: BpmnWorkflow) -> str:
    """Return the id of the end event the workflow completed."""
    ends = [
        t.task_spec.bpmn_id
        for t in wf.get_tasks(state=TaskState.COMPLETED)
        if t.task_spec.bpmn_id in ("end_yes", "end_no")
    ]
    assert len(ends) == 1, ends
    return ends[0]


@pytest.mark.parametrize(("threshold", "end"), [(50, "end_yes"), (500, "end_no")])
def test_script_and_gateway_condition_in_a_workflow(threshold, end):
    wf = workflow(
        "fees = [i * 2 for i in range(10)]\ntotal = sum(fees)\ndue = add_days('2026-05-08', 3)",
        f"total > {threshold} and due.startswith('2026-05-11')",
    )
    wf.do_engine_steps()
    assert wf.is_completed()
    assert finished_at(wf) == end
    data = wf.last_task.data
    assert data["total"] == 90 and data["due"] == "2026-05-11T23:59:59+06:00"
    assert not any(name in data for name in HELPERS)


def test_refused_condition_is_recoverable_from_the_workflow_error():
    wf = workflow("x = 1", "().__class__.__base__.__subclasses__()")
    with pytest.raises(WorkflowTaskException) as caught:
        wf.do_engine_steps()
    err = caught.value
    assert isinstance(err.exception, ScriptRefused)
    assert err.__cause__ is err.exception
    assert find_sandbox_error(err) is err.exception
    assert '"__class__" is an invalid attribute name' in str(err.exception)


def test_refused_script_is_recoverable_from_the_workflow_error():
    wf = workflow("import os\nos.system('id')", "True")
    with pytest.raises(WorkflowTaskException) as caught:
        wf.do_engine_steps()
    assert isinstance(caught.value.exception, ScriptRefused)
    assert caught.value.__cause__ is caught.value.exception
    assert caught.value.error_type == "ScriptRefused"


def test_runaway_script_in_a_workflow_is_stopped_quickly():
    engine = make_script_engine(HELPERS, max_steps=10**12, time_limit_s=0.2)
    wf = workflow("n = 0\nwhile True:\n    n += 1", "True", engine)
    started = time.monotonic()
    with pytest.raises(WorkflowTaskException) as caught:
        wf.do_engine_steps()
    assert time.monotonic() - started < 2.0
    err = caught.value
    assert isinstance(err.exception, ScriptTimeout)
    assert err.__cause__ is err.exception
    assert str(err.exception) == "took longer than 0.2 s"
    assert (err.line_number, err.error_line) == (2, "while True:")  # SpiffWorkflow found the line


def test_runaway_condition_in_a_workflow_is_stopped():
    wf = workflow("x = 1", "len([i for i in range(10**6)]) > 0")
    with pytest.raises(WorkflowTaskException) as caught:
        wf.do_engine_steps()
    assert isinstance(caught.value.exception, ScriptTimeout)


def test_sandbox_error_is_found_behind_a_plain_engine_too():
    # An engine that subclasses PythonScriptEngine directly only gets implicit chaining (__context__).
    engine = PythonScriptEngine(environment=SandboxEnvironment(HELPERS))
    wf = workflow("x = 1", "x.__class__", engine)
    with pytest.raises(WorkflowTaskException) as caught:
        wf.do_engine_steps()
    assert caught.value.__cause__ is None
    assert isinstance(find_sandbox_error(caught.value), ScriptRefused)


def test_sandbox_script_engine_defaults_to_a_sandbox():
    engine = SandboxScriptEngine()
    assert isinstance(engine.environment, SandboxEnvironment)
    wf = workflow("x = 1", "x == 1", engine)
    wf.do_engine_steps()
    assert finished_at(wf) == "end_yes"
