"""engine/bpmn/loader.py: safe parsing, DiagramInfo, and the deploy-time checks."""

from __future__ import annotations

import http.server
import json
import pickle
import threading
import time
from pathlib import Path

import pytest

from engine.bpmn.loader import (
    MAX_BYTES,
    DiagramError,
    Problem,
    content_hash,
    load_diagram,
    parse_xml,
)
from engine.definitions.checks import check_diagram, check_files

# --------------------------------------------------------------------------- fixtures

XML_DECL = '<?xml version="1.0" encoding="UTF-8"?>\n'

DIAGRAM = """<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    id="defs_permit" targetNamespace="http://kyzmat.kg/bpmn">
  <bpmn:process id="permit" name="Уруксат берүү" isExecutable="true">
    <bpmn:extensionElements>
      <spiffworkflow:properties>
        <spiffworkflow:property name="name_ru" value="Выдача разрешения" />
        <spiffworkflow:property name="name_en" value="Issue a permit" />
        <spiffworkflow:property name="scope" value="__SCOPE__" />
        <spiffworkflow:property name="starter_roles" value="__STARTERS__" />
      </spiffworkflow:properties>
    </bpmn:extensionElements>
    <bpmn:laneSet id="lanes">
      <bpmn:lane id="lane_csc" name="__LANE__">
        <bpmn:flowNodeRef>start</bpmn:flowNodeRef>
        __REGISTER_REF__
        <bpmn:flowNodeRef>register_due</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>decide</bpmn:flowNodeRef>
      </bpmn:lane>
      <bpmn:lane id="lane_head" name="ao_head">
        <bpmn:flowNodeRef>record</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>end</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start">
      <bpmn:documentation>__DOC__</bpmn:documentation>
      <bpmn:outgoing>f_start</bpmn:outgoing>
    </bpmn:startEvent>
    <bpmn:userTask id="register" name="Арызды каттоо">
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="name_ru" value="Зарегистрировать заявление" />
          <spiffworkflow:property name="name_en" value="Register the application" />
          <spiffworkflow:property name="catalogue_ref" value="D-10" />
          __FORM_PROP__
        </spiffworkflow:properties>
      </bpmn:extensionElements>
      <bpmn:incoming>f_start</bpmn:incoming>
      <bpmn:outgoing>f_decide</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:boundaryEvent id="register_due" name="Кийинки жумушчу күн" attachedToRef="register" cancelActivity="false">
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="name_ru" value="Следующий рабочий день" />
          <spiffworkflow:property name="catalogue_ref" value="§8 #8" />
        </spiffworkflow:properties>
      </bpmn:extensionElements>
      <bpmn:timerEventDefinition id="register_due_def">
        <bpmn:timeDate>__TIMER__</bpmn:timeDate>
      </bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f_start" sourceRef="start" targetRef="register" />
    <bpmn:sequenceFlow id="f_decide" sourceRef="register" targetRef="decide" />
    <bpmn:exclusiveGateway id="decide" name="Макулбу?" __DEFAULT__>
      <bpmn:incoming>f_decide</bpmn:incoming>
      <bpmn:outgoing>flow_yes</bpmn:outgoing>
      <bpmn:outgoing>flow_no</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:sequenceFlow id="flow_yes" sourceRef="decide" targetRef="record">
      <bpmn:conditionExpression>__CONDITION__</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="flow_no" sourceRef="decide" targetRef="end" />
    <bpmn:scriptTask id="record" name="Жыйынтык">
      <bpmn:incoming>flow_yes</bpmn:incoming>
      <bpmn:outgoing>f_end</bpmn:outgoing>
      <bpmn:script>__SCRIPT__</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="f_end" sourceRef="record" targetRef="end" />
    <bpmn:endEvent id="end">
      <bpmn:incoming>flow_no</bpmn:incoming>
      <bpmn:incoming>f_end</bpmn:incoming>
    </bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""

DEFAULTS = {
    "__SCOPE__": "municipal",
    "__STARTERS__": "csc_operator, ao_head",
    "__LANE__": "csc_operator",
    "__REGISTER_REF__": "<bpmn:flowNodeRef>register</bpmn:flowNodeRef>",
    "__DOC__": "Арыз",
    "__FORM_PROP__": "",
    "__TIMER__": 'next_working_day("2026-01-01")',
    "__DEFAULT__": 'default="flow_no"',
    "__CONDITION__": "approved == True",
    "__SCRIPT__": 'result = "ok"',
}


def diagram(prolog: str = "", **subst: str) -> str:
    text = DIAGRAM
    for key, value in {**DEFAULTS, **{f"__{k.upper()}__": v for k, v in subst.items()}}.items():
        text = text.replace(key, value)
    return XML_DECL + prolog + text


def bpmn(prolog: str = "", **subst: str) -> bytes:
    return diagram(prolog, **subst).encode("utf-8")


def line_of(text: str | bytes, needle: str) -> int:
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    pos = text.index(needle)
    return text.count("\n", 0, pos) + 1


GOOD_FORM = {
    "type": "object",
    "x-label": {"ky": "Каттоо", "ru": "Регистрация", "en": "Registration"},
    "required": ["approved"],
    "properties": {
        "approved": {
            "type": "boolean",
            "title": "Макул",
            "x-label": {"ky": "Макул", "ru": "Одобрено", "en": "Approved"},
        }
    },
}


@pytest.fixture
def forms_dir(tmp_path: Path) -> Path:
    forms = tmp_path / "forms"
    (forms / "permit").mkdir(parents=True)
    (forms / "permit" / "register.json").write_text(json.dumps(GOOD_FORM), encoding="utf-8")
    return forms


def check(forms_dir: Path, data: bytes, **kw) -> list[Problem]:
    return check_diagram(data, "permit.bpmn", forms_dir=forms_dir, **kw)


def only(problems: list[Problem], **match) -> Problem:
    """The single problem whose fields equal ``match`` (message: substring)."""
    found = [
        p
        for p in problems
        if all((v in p.message) if k == "message" else getattr(p, k) == v for k, v in match.items())
    ]
    assert len(found) == 1, f"expected one problem matching {match}, got:\n" + "\n".join(map(str, problems))
    return found[0]


def load_error(data: bytes, filename: str = "permit.bpmn", **kw) -> list[Problem]:
    with pytest.raises(DiagramError) as info:
        load_diagram(data, filename, **kw)
    assert info.value.problems
    assert str(info.value) == "\n".join(str(p) for p in info.value.problems)
    return info.value.problems


# --------------------------------------------------------------------------- a good diagram


def test_valid_diagram_loads_with_its_info(forms_dir):
    data = bpmn()
    loaded = load_diagram(data, "permit.bpmn")
    info = loaded.info

    assert loaded.spec.name == "permit"
    assert "register" in loaded.spec.task_specs
    assert loaded.subprocess_specs == {}
    assert loaded.bpmn == data and loaded.dmn == {}

    assert info.process_id == "permit"
    assert info.file == "permit.bpmn"
    assert info.names == {"ky": "Уруксат берүү", "ru": "Выдача разрешения", "en": "Issue a permit"}
    assert info.scope == "municipal"
    assert info.starter_roles == ["csc_operator", "ao_head"]
    assert info.properties["name_en"] == "Issue a permit"
    assert info.lanes == ["csc_operator", "ao_head"]

    register = info.elements["register"]
    assert register.kind == "userTask"
    assert register.names == {
        "ky": "Арызды каттоо",
        "ru": "Зарегистрировать заявление",
        "en": "Register the application",
    }
    assert register.lane == "csc_operator"
    assert register.catalogue_ref == "D-10"
    assert register.form == "permit/register.json"
    assert register.line == line_of(data, '<bpmn:userTask id="register"')
    assert register.timer is None and register.attached_to is None
    assert [t.id for t in info.user_tasks()] == ["register"]

    due = info.due_timer_for("register")
    assert due is not None and due.id == "register_due"
    assert due.kind == "boundaryEvent"
    assert due.attached_to == "register"
    assert due.cancel_activity is False
    assert due.timer == ("timeDate", 'next_working_day("2026-01-01")')
    assert due.catalogue_ref == "§8 #8"
    assert due.names == {"ky": "Кийинки жумушчу күн", "ru": "Следующий рабочий день"}
    assert due.lane == "csc_operator"
    assert [t.id for t in info.timers()] == ["register_due"]
    assert info.due_timer_for("record") is None

    assert info.elements["record"].lane == "ao_head"
    assert info.elements["decide"].kind == "exclusiveGateway"
    assert "flow_yes" not in info.elements  # flows are not flow nodes

    assert sorted(info.expressions, key=lambda e: e[1]) == [
        ("register_due", line_of(data, "<bpmn:timeDate>"), 'next_working_day("2026-01-01")', "eval"),
        ("flow_yes", line_of(data, "<bpmn:conditionExpression>"), "approved == True", "eval"),
        ("record", line_of(data, "<bpmn:script>"), 'result = "ok"', "exec"),
    ]

    assert check(forms_dir, data) == []


def test_form_property_overrides_the_default_form_path(forms_dir):
    (forms_dir / "shared").mkdir()
    (forms_dir / "shared" / "intake.json").write_text(json.dumps(GOOD_FORM), encoding="utf-8")
    data = bpmn(
        form_prop='<spiffworkflow:property name="formJsonSchemaFilename" value="shared/intake.json" />'
    )
    assert load_diagram(data, "permit.bpmn").info.elements["register"].form == "shared/intake.json"
    assert check(forms_dir, data) == []


def test_str_input_with_encoding_declaration_is_accepted():
    root = parse_xml(diagram(), "permit.bpmn")
    assert root.get("id") == "defs_permit"


def test_process_defaults():
    data = bpmn(scope="national", starters="")
    info = load_diagram(data, "permit.bpmn").info
    assert info.scope == "national"
    assert info.starter_roles == []


NESTED = (
    XML_DECL
    + """<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    id="defs_review" targetNamespace="http://kyzmat.kg/bpmn">
  <bpmn:process id="review" isExecutable="true">
    <bpmn:laneSet id="lanes">
      <bpmn:lane id="lane_ao" name="ao_specialist">
        <bpmn:flowNodeRef>start</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>prepare</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>end</bpmn:flowNodeRef>
        <bpmn:childLaneSet id="child_lanes">
          <bpmn:lane id="lane_head" name="ao_head">
            <bpmn:flowNodeRef>prepare</bpmn:flowNodeRef>
          </bpmn:lane>
        </bpmn:childLaneSet>
      </bpmn:lane>
      <bpmn:lane id="lane_council" name="council_secretary">
        <bpmn:flowNodeRef>sessions</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="prepare" />
    <bpmn:serviceTask id="prepare">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="register_in_journal" resultVariable="registration">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="journal" type="str" value="'council'" />
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator>
        <spiffworkflow:preScript>journal = "council"</spiffworkflow:preScript>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="prepare" targetRef="sessions" />
    <bpmn:subProcess id="sessions" name="Сессиялар">
      <bpmn:incoming>f2</bpmn:incoming>
      <bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:startEvent id="s_start"><bpmn:outgoing>s1</bpmn:outgoing></bpmn:startEvent>
      <bpmn:sequenceFlow id="s1" sourceRef="s_start" targetRef="vote" />
      <bpmn:userTask id="vote" name="Добуш берүү">
        <bpmn:incoming>s1</bpmn:incoming>
        <bpmn:outgoing>s2</bpmn:outgoing>
        <bpmn:multiInstanceLoopCharacteristics>
          <bpmn:loopCardinality>len(members)</bpmn:loopCardinality>
          <bpmn:completionCondition>quorum_reached</bpmn:completionCondition>
        </bpmn:multiInstanceLoopCharacteristics>
      </bpmn:userTask>
      <bpmn:sequenceFlow id="s2" sourceRef="vote" targetRef="s_end" />
      <bpmn:endEvent id="s_end"><bpmn:incoming>s2</bpmn:incoming></bpmn:endEvent>
    </bpmn:subProcess>
    <bpmn:sequenceFlow id="f3" sourceRef="sessions" targetRef="end" />
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""
)


def test_lanes_subprocesses_and_loop_expressions_follow_spiffworkflow():
    loaded = load_diagram(NESTED.encode(), "review.bpmn")
    info = loaded.info
    assert info.lanes == ["ao_specialist", "ao_head", "council_secretary"]
    assert info.elements["prepare"].lane == "ao_head"  # innermost lane
    assert info.elements["vote"].lane == "council_secretary"  # inherits the subprocess's lane
    assert info.elements["vote"].form == "review/vote.json"
    specs = {**loaded.spec.task_specs}
    for sub in loaded.subprocess_specs.values():
        specs.update(sub.task_specs)
    for element in info.elements.values():
        # A multi-instance activity's wrapper spec has no lane; its "[child]" (the task
        # a user works on) has it.
        spec = specs.get(f"{element.id} [child]", specs[element.id])
        assert element.lane == spec.lane, element.id
    assert {(e[0], e[2], e[3]) for e in info.expressions} == {
        ("prepare", "'council'", "eval"),
        ("prepare", 'journal = "council"', "exec"),
        ("vote", "len(members)", "eval"),
        ("vote", "quorum_reached", "eval"),
    }


# --------------------------------------------------------------------------- unsafe XML

SECRET = "TOP-SECRET-CONTENT-42"


def assert_refused_doctype(problems: list[Problem], *leaks: str) -> None:
    assert len(problems) == 1
    problem = problems[0]
    assert problem.file == "permit.bpmn"
    assert "DOCTYPE declarations are not allowed" in problem.message
    for leak in (SECRET, "root:", *leaks):
        assert leak not in str(problem)


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(SECRET + "\n")
    return path


@pytest.fixture
def http_hits():
    """A loopback HTTP server that records every request (it must get none)."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'<!ENTITY leak "NETWORK-FETCHED">')

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_xxe_external_file_entity_is_refused(forms_dir, secret_file):
    for target in ("file:///etc/passwd", secret_file.as_uri()):
        data = bpmn(f'<!DOCTYPE bpmn:definitions [<!ENTITY xxe SYSTEM "{target}">]>\n', doc="&xxe;")
        assert_refused_doctype(load_error(data))
        assert_refused_doctype(check(forms_dir, data))
        with pytest.raises(DiagramError):
            parse_xml(data, "permit.bpmn")


def test_external_entities_and_dtds_are_refused_without_network(forms_dir, http_hits):
    base, hits = http_hits
    cases = [
        f'<!DOCTYPE bpmn:definitions [<!ENTITY % pe SYSTEM "{base}/pe.dtd"> %pe;]>\n',
        f'<!DOCTYPE bpmn:definitions SYSTEM "{base}/external.dtd">\n',
        f'<!DOCTYPE bpmn:definitions [<!ENTITY net SYSTEM "{base}/entity">]>\n',
    ]
    for prolog in cases:
        data = bpmn(prolog, doc="&net;" if "net" in prolog else "x")
        assert_refused_doctype(load_error(data), "NETWORK-FETCHED")
        assert_refused_doctype(check(forms_dir, data), "NETWORK-FETCHED")
    assert hits == []


def test_billion_laughs_is_refused_quickly():
    lol = '<!ENTITY a0 "lollollollollollollollollollol">' + "".join(
        f'<!ENTITY a{i} "{f"&a{i - 1};" * 10}">' for i in range(1, 10)
    )
    data = bpmn(f"<!DOCTYPE bpmn:definitions [{lol}]>\n", doc="&a9;")
    t0 = time.monotonic()
    assert_refused_doctype(load_error(data), "lollol")
    assert time.monotonic() - t0 < 2


def test_bare_internal_doctype_is_refused():
    data = bpmn("<!-- a comment first -->\n<!DOCTYPE bpmn:definitions>\n")
    problems = load_error(data)
    assert_refused_doctype(problems)
    assert problems[0].line == 3


def test_doctype_in_utf16_is_refused():
    text = diagram("<!DOCTYPE bpmn:definitions>\n").replace('encoding="UTF-8"', 'encoding="UTF-16"')
    assert_refused_doctype(load_error(text.encode("utf-16")))


def test_oversized_file_is_refused(forms_dir):
    data = bpmn()
    data = data.replace(
        b"<bpmn:definitions", b"<!--" + b"x" * (MAX_BYTES - len(data)) + b"-->\n<bpmn:definitions", 1
    )
    assert len(data) > MAX_BYTES
    problems = load_error(data)
    only(problems, file="permit.bpmn", message="too large", line=None)
    assert check(forms_dir, data) == problems


def test_malformed_xml_names_the_line(forms_dir):
    text = diagram().replace("</bpmn:scriptTask>", "</bpmn:scriptTusk>")
    problems = load_error(text.encode())
    problem = only(problems, file="permit.bpmn", message="malformed XML")
    assert problem.line == line_of(text, "</bpmn:scriptTusk>")
    assert "scriptTusk" in problem.message
    assert check(forms_dir, text.encode()) == problems
    assert str(problem).startswith(f"permit.bpmn:{problem.line}: malformed XML")


def test_undefined_entity_is_malformed_xml():
    data = bpmn(doc="&nbsp;")
    problem = only(load_error(data), message="malformed XML")
    assert "nbsp" in problem.message
    assert problem.line == line_of(data, "&nbsp;")


def test_empty_file_is_refused():
    only(load_error(b"   \n"), message="empty")


# --------------------------------------------------------------------------- XSD and SpiffWorkflow


def test_unknown_bpmn_element_fails_xsd_with_line_and_element(forms_dir):
    text = diagram().replace(
        "<bpmn:incoming>f_start</bpmn:incoming>",
        "<bpmn:bogus />\n      <bpmn:incoming>f_start</bpmn:incoming>",
    )
    problems = load_error(text.encode())
    problem = only(problems, message="bpmn:bogus")
    assert problem.message.startswith("XSD: ")
    assert "{http" not in problem.message  # namespaces shortened to prefixes
    assert problem.line == line_of(text, "<bpmn:bogus />")
    assert problem.element_id == "register"  # the element around the bad one
    assert problem in check(forms_dir, text.encode())


def test_two_processes_in_one_file(forms_dir):
    second = (
        '  <bpmn:process id="other" isExecutable="true">\n'
        '    <bpmn:startEvent id="other_start" />\n'
        "  </bpmn:process>\n</bpmn:definitions>"
    )
    text = diagram().replace("</bpmn:definitions>", second)
    problem = only(load_error(text.encode()), message="exactly one executable process")
    assert "permit" in problem.message and "other" in problem.message
    assert problem.element_id == "other"
    assert problem.line == line_of(text, '<bpmn:process id="other"')
    assert problem in check(forms_dir, text.encode())


def test_non_executable_pool_beside_the_process_is_fine():
    text = diagram().replace(
        "</bpmn:definitions>", '  <bpmn:process id="citizen" isExecutable="false" />\n</bpmn:definitions>'
    )
    assert load_diagram(text.encode(), "permit.bpmn").info.process_id == "permit"


def test_spiff_semantic_error_has_element_id_and_line(forms_dir):
    data = bpmn(default="")  # flow_no is no longer the default and has no condition
    problems = load_error(data)
    problem = only(problems, element_id="flow_no")
    assert "without condition" in problem.message
    assert problem.line == line_of(data, 'id="flow_no"')
    assert problem.file == "permit.bpmn"
    assert str(problem) == f"permit.bpmn:{problem.line}: [flow_no] {problem.message}"

    # check_diagram reports it once (SpiffWorkflow's and our own gateway check agree).
    found = check(forms_dir, data)
    assert len(found) == 1
    assert found[0].element_id == "flow_no" and found[0].line == problem.line


def test_all_unconditioned_gateway_flows_are_reported(forms_dir):
    data = bpmn(default="", condition="")
    found = check(forms_dir, data)
    assert {p.element_id for p in found} == {"flow_yes", "flow_no"}
    for p in found:
        assert "without a condition" in p.message or "without condition" in p.message
        assert p.line == line_of(data, f'id="{p.element_id}"')


def test_call_activity_to_an_unknown_process_names_the_call(forms_dir):
    text = diagram().replace(
        '<bpmn:scriptTask id="record" name="Жыйынтык">',
        '<bpmn:callActivity id="record" calledElement="elsewhere">',
    )
    text = text.replace("</bpmn:scriptTask>", "</bpmn:callActivity>").replace(
        '<bpmn:script>result = "ok"</bpmn:script>', ""
    )
    problem = only(load_error(text.encode()), element_id="record")
    assert "'elsewhere' was not found" in problem.message
    assert problem.line == line_of(text, '<bpmn:callActivity id="record"')


def test_timer_without_expression(forms_dir):
    data = bpmn(timer="")
    problem = only(check(forms_dir, data), element_id="register_due")
    assert "timer event has no expression" in problem.message
    assert problem.line == line_of(data, "<bpmn:timeDate>")


# --------------------------------------------------------------------------- sandbox


def test_sandbox_refused_script(forms_dir):
    data = bpmn(script="__import__('os').system('true')")
    problems = check(forms_dir, data)
    problem = only(problems, element_id="record")
    assert problem.message.startswith("script: ")
    assert problem.line == line_of(data, "<bpmn:script>")
    assert "__import__" in problem.message


def test_sandbox_error_in_a_long_script_names_the_file_line(forms_dir):
    script = "\n        total = 1\n        import os\n      "
    data = bpmn(script=script)
    problem = only(check(forms_dir, data), element_id="record")
    assert problem.line == line_of(data, "<bpmn:script>") + 2 == line_of(data, "import os")
    assert problem.message.startswith("script (its line 3): ")
    assert "import" in problem.message


def test_sandbox_refused_condition(forms_dir):
    data = bpmn(condition="().__class__.__base__.__subclasses__()")
    problems = check(forms_dir, data)
    assert problems and all(p.element_id == "flow_yes" for p in problems)
    assert all(p.message.startswith("condition: ") for p in problems)
    assert all(p.line == line_of(data, "<bpmn:conditionExpression>") for p in problems)
    assert any("__class__" in p.message or "__subclasses__" in p.message for p in problems)


def test_syntax_error_in_condition(forms_dir):
    data = bpmn(condition="approved ==== True")
    problem = only(check(forms_dir, data), element_id="flow_yes")
    assert problem.message.startswith("condition: ")
    assert "syntax" in problem.message.lower()
    assert problem.line == line_of(data, "<bpmn:conditionExpression>")


def test_sandbox_refused_timer_expression(forms_dir):
    data = bpmn(timer="_secret")
    problem = only(check(forms_dir, data), element_id="register_due")
    assert problem.message.startswith("timer (timeDate): ")


# --------------------------------------------------------------------------- conventions


def test_lane_that_is_not_a_known_role(forms_dir):
    data = bpmn(lane="clerks")
    problem = only(check(forms_dir, data), element_id="lane_csc")
    assert "'clerks' is not a known role" in problem.message
    assert problem.line == line_of(data, '<bpmn:lane id="lane_csc"')
    # the engine itself loads it; it is a convention of ours
    assert load_diagram(data, "permit.bpmn").info.elements["register"].lane == "clerks"


def test_user_task_outside_any_lane(forms_dir):
    data = bpmn(register_ref="")
    assert load_diagram(data, "permit.bpmn").info.elements["register"].lane is None
    problem = only(check(forms_dir, data), element_id="register")
    assert "not in any lane" in problem.message
    assert problem.line == line_of(data, '<bpmn:userTask id="register"')


def test_user_task_without_form(forms_dir):
    (forms_dir / "permit" / "register.json").unlink()
    data = bpmn()
    problem = only(check(forms_dir, data), element_id="register")
    assert "has no form" in problem.message and "permit/register.json" in problem.message
    assert problem.line == line_of(data, '<bpmn:userTask id="register"')


def test_form_that_is_not_json(forms_dir):
    (forms_dir / "permit" / "register.json").write_text('{"type": "object",', encoding="utf-8")
    problem = only(check(forms_dir, bpmn()), element_id="register")
    assert "not valid JSON" in problem.message


def test_form_that_is_not_valid_json_schema(forms_dir):
    bad = dict(GOOD_FORM, properties={"approved": dict(GOOD_FORM["properties"]["approved"], type="strang")})
    (forms_dir / "permit" / "register.json").write_text(json.dumps(bad), encoding="utf-8")
    problems = check(forms_dir, bpmn())
    assert problems
    assert all(p.element_id == "register" and "forms/permit/register.json" in p.message for p in problems)
    assert any("strang" in p.message for p in problems)


def test_form_path_may_not_leave_the_forms_directory(forms_dir, secret_file):
    rel = "../" + secret_file.name.replace(".txt", ".json")
    secret_file.rename(secret_file.with_suffix(".json"))
    data = bpmn(form_prop=f'<spiffworkflow:property name="formJsonSchemaFilename" value="{rel}" />')
    problem = only(check(forms_dir, data), element_id="register")
    assert "inside the forms directory" in problem.message
    assert SECRET not in problem.message


def test_process_scope_and_starter_roles(forms_dir):
    data = bpmn(scope="regional", starters="csc_operator, mayor")
    problems = check(forms_dir, data)
    line = line_of(data, '<bpmn:process id="permit"')
    only(problems, element_id="permit", line=line, message="scope is 'regional'")
    only(problems, element_id="permit", line=line, message="'mayor', which is not a known role")
    assert len(problems) == 2


def test_known_roles_can_be_given(forms_dir):
    problems = check(forms_dir, bpmn(lane="clerks"), known_roles={"clerks", "ao_head", "csc_operator"})
    assert problems == []


def test_check_reports_every_problem_at_once(forms_dir):
    (forms_dir / "permit" / "register.json").unlink()
    data = bpmn(lane="clerks", condition="approved ==== True", script="import os")
    ids = sorted(p.element_id for p in check(forms_dir, data))
    assert ids == ["flow_yes", "lane_csc", "record", "register"]


# --------------------------------------------------------------------------- DMN

DMN = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="defs_fee" name="Fee" namespace="http://kyzmat.kg/dmn">
  <decision id="fee" name="Төлөм">
    <decisionTable id="fee_table">
      <input id="in_kind" label="Kind">
        <inputExpression id="in_kind_expr" typeRef="string"><text>kind</text></inputExpression>
      </input>
      <output id="out_fee" label="Fee" name="fee" typeRef="integer" />
      <rule id="rule_1">
        <inputEntry id="rule_1_in"><text>"urgent"</text></inputEntry>
        <outputEntry id="rule_1_out"><text>__OUT__</text></outputEntry>
      </rule>
      <rule id="rule_2">
        <inputEntry id="rule_2_in"><text>-</text></inputEntry>
        <outputEntry id="rule_2_out"><text>100</text></outputEntry>
      </rule>
    </decisionTable>
  </decision>
</definitions>
"""

BUSINESS_RULE = """<bpmn:businessRuleTask id="compute_fee" name="Төлөмдү эсептөө">
      <bpmn:extensionElements>
        <spiffworkflow:calledDecisionId>fee</spiffworkflow:calledDecisionId>
      </bpmn:extensionElements>
      <bpmn:incoming>flow_yes</bpmn:incoming>
      <bpmn:outgoing>f_end</bpmn:outgoing>
    </bpmn:businessRuleTask>"""


def dmn_diagram() -> bytes:
    text = diagram()
    start = text.index('<bpmn:scriptTask id="record"')
    end = text.index("</bpmn:scriptTask>") + len("</bpmn:scriptTask>")
    text = text[:start] + BUSINESS_RULE + text[end:]
    return (
        text.replace(
            "<bpmn:flowNodeRef>record</bpmn:flowNodeRef>", "<bpmn:flowNodeRef>compute_fee</bpmn:flowNodeRef>"
        )
        .replace('targetRef="record"', 'targetRef="compute_fee"')
        .replace('sourceRef="record"', 'sourceRef="compute_fee"')
        .encode()
    )


def test_dmn_cells_are_expressions(forms_dir):
    dmn = DMN.replace("__OUT__", "500").encode()
    loaded = load_diagram(dmn_diagram(), "permit.bpmn", dmn={"fee.dmn": dmn})
    exprs = {e[0]: e for e in loaded.info.expressions}
    assert exprs["in_kind"][2:] == ("kind", "eval")
    assert exprs["rule_1_in"][2:] == ('(kind) == ("urgent")', "eval")
    assert exprs["rule_1_out"] == ("rule_1_out", line_of(dmn, 'id="rule_1_out"'), "500", "eval")
    assert "rule_2_in" not in exprs  # '-' means any value
    assert check(forms_dir, dmn_diagram(), dmn={"fee.dmn": dmn}) == []


def test_dmn_cell_refused_by_sandbox_names_the_dmn_file(forms_dir):
    dmn = DMN.replace("__OUT__", "__import__('os')").encode()
    problem = only(check(forms_dir, dmn_diagram(), dmn={"fee.dmn": dmn}), element_id="rule_1_out")
    assert problem.file == "fee.dmn"
    assert problem.line == line_of(dmn, 'id="rule_1_out"')
    assert problem.message.startswith("DMN output entry: ")


def test_missing_decision_is_reported_on_the_task():
    problem = only(load_error(dmn_diagram()), element_id="compute_fee")
    assert "fee" in problem.message
    assert problem.line == line_of(dmn_diagram(), '<bpmn:businessRuleTask id="compute_fee"')


def test_dmn_with_doctype_is_refused():
    dmn = DMN.replace("__OUT__", "1").replace("<definitions", "<!DOCTYPE definitions>\n<definitions", 1)
    problem = only(load_error(dmn_diagram(), dmn={"fee.dmn": dmn.encode()}), file="fee.dmn")
    assert "DOCTYPE" in problem.message


def test_dmn_xsd_error_names_the_dmn_file():
    dmn = DMN.replace("__OUT__", "1").replace('<rule id="rule_2">', '<bogus /><rule id="rule_2">').encode()
    problem = only(load_error(dmn_diagram(), dmn={"fee.dmn": dmn}), file="fee.dmn")
    assert problem.message.startswith("XSD: ") and "bogus" in problem.message
    assert problem.line == line_of(dmn, "<bogus />")


# --------------------------------------------------------------------------- files, hashes, errors


def test_check_files(tmp_path, forms_dir):
    procs = tmp_path / "processes"
    procs.mkdir()
    (procs / "permit.bpmn").write_bytes(bpmn())
    (procs / "misnamed.bpmn").write_bytes(bpmn(lane="clerks"))
    assert check_files([procs / "permit.bpmn"], forms_dir=forms_dir) == []
    problems = check_files([procs], forms_dir=forms_dir)
    misnamed = str(procs / "misnamed.bpmn")
    only(problems, file=misnamed, element_id="lane_csc")
    only(problems, file=misnamed, element_id="permit", message="must be named permit.bpmn")
    assert len(problems) == 2


def test_content_hash():
    a, b = b"<x/>", b"<y/>"
    h = content_hash(a, {"one.dmn": b"1", "two.dmn": b"2"})
    assert len(h) == 64 and int(h, 16) >= 0
    assert h == content_hash(a, {"two.dmn": b"2", "one.dmn": b"1"})
    assert h != content_hash(a, {"one.dmn": b"2", "two.dmn": b"1"})
    assert content_hash(a, {}) != content_hash(b, {})
    assert content_hash(a, {"x": b"yz"}) != content_hash(a, {"xy": b"z"})


def test_problem_str_and_error_pickling():
    assert str(Problem("a.bpmn", "broken", "T_1", 42)) == "a.bpmn:42: [T_1] broken"
    assert str(Problem("a.bpmn", "broken")) == "a.bpmn: broken"
    assert str(Problem("a.bpmn", "broken", line=3)) == "a.bpmn:3: broken"
    assert str(Problem("a.bpmn", "broken", "T_1")) == "a.bpmn: [T_1] broken"
    err = DiagramError([Problem("a.bpmn", "one", line=1), Problem("a.bpmn", "two")])
    assert str(err) == "a.bpmn:1: one\na.bpmn: two"
    again = pickle.loads(pickle.dumps(err))  # noqa: S301 - our own object
    assert again.problems == err.problems
