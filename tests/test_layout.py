"""engine.devtools.layout: DI generated from the semantic model."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser

from engine.devtools.layout import LayoutError, add_layout, main

ROOT = Path(__file__).resolve().parent.parent
NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "dc": "http://www.omg.org/spec/DD/20100524/DC",
    "di": "http://www.omg.org/spec/DD/20100524/DI",
}
HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="d" targetNamespace="http://example.org/t">\n'
)

SAMPLE = (
    HEAD
    + """
  <bpmn:process id="sample" name="Sample" isExecutable="true">
    <bpmn:laneSet id="ls">
      <bpmn:lane id="Lane_a" name="csc_operator">
        <bpmn:flowNodeRef>start</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>split</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>left</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>merge</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>last</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>last_due</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>late</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>end</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>late_end</bpmn:flowNodeRef>
      </bpmn:lane>
      <bpmn:lane id="Lane_b" name="ao_specialist">
        <bpmn:flowNodeRef>right</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start" />
    <bpmn:exclusiveGateway id="split" />
    <bpmn:userTask id="left" />
    <bpmn:userTask id="right" />
    <bpmn:exclusiveGateway id="merge" />
    <bpmn:userTask id="last" />
    <bpmn:boundaryEvent id="last_due" attachedToRef="last" cancelActivity="false">
      <bpmn:timerEventDefinition id="t"><bpmn:timeDate xsi:type="bpmn:tFormalExpression">"2030-01-01T00:00:00+06:00"</bpmn:timeDate></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:scriptTask id="late"><bpmn:script>late = True</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="late_end" />
    <bpmn:endEvent id="end" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="split" />
    <bpmn:sequenceFlow id="f2" sourceRef="split" targetRef="left"><bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">x</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f3" sourceRef="split" targetRef="right"><bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">not x</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f4" sourceRef="left" targetRef="merge" />
    <bpmn:sequenceFlow id="f5" sourceRef="right" targetRef="merge" />
    <bpmn:sequenceFlow id="f6" sourceRef="merge" targetRef="last" />
    <bpmn:sequenceFlow id="f7" sourceRef="last" targetRef="end" />
    <bpmn:sequenceFlow id="f8" sourceRef="last_due" targetRef="late" />
    <bpmn:sequenceFlow id="f9" sourceRef="late" targetRef="late_end" />
  </bpmn:process>
</bpmn:definitions>
"""
)


def parse(data: bytes) -> etree._Element:
    return etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))


def bounds(root: etree._Element) -> dict[str, tuple[float, float, float, float]]:
    out = {}
    for shape in root.iterfind(".//bpmndi:BPMNShape", NS):
        b = shape.find("dc:Bounds", NS)
        out[shape.get("bpmnElement")] = tuple(float(b.get(k)) for k in ("x", "y", "width", "height"))
    return out


def waypoints(root: etree._Element) -> dict[str, list[tuple[float, float]]]:
    return {
        e.get("bpmnElement"): [(float(p.get("x")), float(p.get("y"))) for p in e.iterfind("di:waypoint", NS)]
        for e in root.iterfind(".//bpmndi:BPMNEdge", NS)
    }


def center(box):
    x, y, w, h = box
    return x + w / 2, y + h / 2


def inside(point, box):
    x, y, w, h = box
    return x <= point[0] <= x + w and y <= point[1] <= y + h


@pytest.fixture(scope="module")
def laid_out() -> bytes:
    return add_layout(SAMPLE.encode())


def test_output_is_valid_and_still_parses(laid_out):
    assert laid_out.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')
    parser = SpiffBpmnParser(validator=VALIDATOR)
    parser.add_bpmn_xml(parse(laid_out), filename="sample.bpmn")
    spec = parser.get_spec("sample")
    assert spec.task_specs["right"].lane == "ao_specialist"


def test_pool_lanes_and_shapes(laid_out):
    root = parse(laid_out)
    (participant,) = root.findall("bpmn:collaboration/bpmn:participant", NS)
    assert participant.get("processRef") == "sample" and participant.get("name") == "Sample"
    plane = root.find("bpmndi:BPMNDiagram/bpmndi:BPMNPlane", NS)
    assert plane.get("bpmnElement") == root.find("bpmn:collaboration", NS).get("id")
    box = bounds(root)
    ids = {"start", "split", "left", "right", "merge", "last", "last_due", "late", "late_end", "end"}
    assert ids | {participant.get("id"), "Lane_a", "Lane_b"} == set(box)
    assert set(waypoints(root)) == {f"f{i}" for i in range(1, 10)}
    # lanes are stacked bands inside the pool, in document order
    pool, a, b = box[participant.get("id")], box["Lane_a"], box["Lane_b"]
    assert a[1] == pool[1] and b[1] == a[1] + a[3] and b[1] + b[3] == pool[1] + pool[3]
    assert a[0] == b[0] == pool[0] + 30
    for node in ids - {"right"}:
        assert inside(center(box[node]), a), node
    assert inside(center(box["right"]), b)
    # the boundary event sits on its activity's bottom edge
    lx, ly, lw, lh = box["last"]
    bx, by = center(box["last_due"])
    assert by == ly + lh and lx <= bx <= lx + lw


def test_left_to_right_and_no_overlaps(laid_out):
    root = parse(laid_out)
    box = bounds(root)
    order = ["start", "split", "left", "merge", "last", "end"]
    xs = [center(box[n])[0] for n in order]
    assert xs == sorted(xs) and len(set(xs)) == len(xs)
    # the main path is one straight line
    assert len({center(box[n])[1] for n in order}) == 1
    assert center(box["late"])[1] > center(box["last"])[1]
    flow_nodes = [
        n for n in box if n not in ("Lane_a", "Lane_b", "last_due") and not n.startswith("Participant")
    ]
    for i, p in enumerate(flow_nodes):
        for q in flow_nodes[i + 1 :]:
            (ax, ay, aw, ah), (bx, by, bw, bh) = box[p], box[q]
            assert ax + aw <= bx or bx + bw <= ax or ay + ah <= by or by + bh <= ay, (p, q)


def test_edges_are_orthogonal_and_join_their_shapes(laid_out):
    root = parse(laid_out)
    box = bounds(root)
    flows = {
        f.get("id"): (f.get("sourceRef"), f.get("targetRef"))
        for f in root.iterfind(".//bpmn:sequenceFlow", NS)
    }
    for flow_id, points in waypoints(root).items():
        assert len(points) >= 2
        for (x1, y1), (x2, y2) in zip(points, points[1:], strict=False):
            assert x1 == x2 or y1 == y2, flow_id
        source, target = flows[flow_id]

        def on_border(point, b):
            x, y, w, h = b
            return inside(point, b) and (
                point[0] in (x, x + w) or point[1] in (y, y + h) or (w == 36 and h == 36)
            )

        assert on_border(points[0], box[source]), flow_id
        assert on_border(points[-1], box[target]), flow_id


def test_layout_is_idempotent_and_replaces_old_di(laid_out):
    assert add_layout(laid_out) == laid_out
    root = parse(laid_out)
    assert len(root.findall("bpmndi:BPMNDiagram", NS)) == 1
    assert len(root.findall("bpmn:collaboration/bpmn:participant", NS)) == 1


def test_existing_collaboration_is_reused():
    data = SAMPLE.replace(
        '<bpmn:process id="sample"',
        '<bpmn:collaboration id="C1"><bpmn:participant id="P1" name="Pool" processRef="sample" /></bpmn:collaboration>\n'
        '  <bpmn:process id="sample"',
    )
    root = parse(add_layout(data.encode()))
    assert [p.get("id") for p in root.iterfind(".//bpmn:participant", NS)] == ["P1"]
    assert "P1" in bounds(root)
    assert root.find("bpmndi:BPMNDiagram/bpmndi:BPMNPlane", NS).get("bpmnElement") == "C1"


def test_process_without_lanes_and_with_a_loop():
    data = (
        HEAD
        + """
  <bpmn:process id="loop" isExecutable="true">
    <bpmn:startEvent id="s" />
    <bpmn:exclusiveGateway id="g" />
    <bpmn:userTask id="t" />
    <bpmn:exclusiveGateway id="again" />
    <bpmn:endEvent id="e" />
    <bpmn:sequenceFlow id="a" sourceRef="s" targetRef="g" />
    <bpmn:sequenceFlow id="b" sourceRef="g" targetRef="t" />
    <bpmn:sequenceFlow id="c" sourceRef="t" targetRef="again" />
    <bpmn:sequenceFlow id="back" sourceRef="again" targetRef="g"><bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">x</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f" sourceRef="again" targetRef="e"><bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">not x</bpmn:conditionExpression></bpmn:sequenceFlow>
  </bpmn:process>
</bpmn:definitions>
"""
    )
    out = add_layout(data.encode())
    VALIDATOR.validate(parse(out))
    root = parse(out)
    box = bounds(root)
    assert not any(k.startswith("Lane") for k in box)
    xs = [center(box[n])[0] for n in ("s", "g", "t", "again", "e")]
    assert xs == sorted(xs)
    back = waypoints(root)["back"]
    assert back[0][1] > center(box["again"])[1] and back[-1][1] > center(box["g"])[1]  # routed underneath


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "x">]><x/>', "DOCTYPE"),
        (b"<not-closed>", "not well-formed"),
        (b"<x/>", "bpmn:definitions"),
        (HEAD.encode() + b"</bpmn:definitions>", "no bpmn:process"),
        (SAMPLE.replace('targetRef="end"', 'targetRef="nowhere"').encode(), "unknown element 'nowhere'"),
        (
            SAMPLE.replace('attachedToRef="last"', 'attachedToRef="ghost"').encode(),
            "attached to unknown 'ghost'",
        ),
        (b" " * (2 * 1024 * 1024 + 1), "larger than"),
    ],
)
def test_bad_input_is_refused(data, message):
    with pytest.raises(LayoutError, match=message):
        add_layout(data)


def test_shipped_diagrams_carry_the_generated_layout():
    for path in sorted((ROOT / "processes").glob("citizen_service.bpmn")):
        data = path.read_bytes()
        assert add_layout(data) == data, f"{path.name}: run engine.devtools.layout.add_layout on it"


def test_command_line_rewrites_files(tmp_path, capsys):
    good = tmp_path / "sample.bpmn"
    good.write_text(SAMPLE, encoding="utf-8")
    bad = tmp_path / "bad.bpmn"
    bad.write_bytes(b"<x/>")
    assert main([str(good)]) == 0
    assert good.read_bytes() == add_layout(SAMPLE.encode())
    assert main([str(good), str(bad), str(tmp_path / "missing.bpmn")]) == 1
    out, err = capsys.readouterr()
    assert "layout written" in out and "unchanged" in out
    assert "bad.bpmn: the root element must be bpmn:definitions" in err and "missing.bpmn" in err
    assert main([]) == 2
