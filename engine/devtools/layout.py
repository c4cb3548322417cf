"""Generate BPMN DI (the diagram drawing) from a diagram's semantic model.

`add_layout(bpmn)` throws away any `bpmndi:BPMNDiagram` and draws the processes again so
that bpmn-js shows them readably:

- each process is a pool (`bpmn:participant` of a collaboration, created when missing),
  its lanes horizontal bands in document order;
- flow nodes go left to right in columns by their longest path from a start event (loops
  are broken where a depth-first walk meets them), each in its lane's band; inside a band
  a node keeps its predecessor's row when it can, so the main path is a straight line;
- boundary events sit on the bottom edge of their activity; the paths leaving them go on
  rows below the normal flow of their lane, so exception paths never sit in the way of a
  gateway's branches;
- sequence flows get orthogonal waypoints: the first of a few simple routes that crosses no
  shape and does not run along an unrelated flow already drawn;
- names get explicit label positions where no flow runs: events below, gateways above-left,
  timers to the right, a flow's name beside its first segment (its last one when a sibling
  flow shares the first).

After editing a diagram's semantic part, redraw it with
`python -m engine.devtools.layout processes/<process_id>.bpmn` (rewrites the file in place).

Only `engine/bpmn/` imports SpiffWorkflow; this module does not need it (lxml only).
Contents of expanded sub-processes are not laid out: a sub-process is drawn collapsed.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

__all__ = ["LayoutError", "add_layout", "main"]

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
DC = "http://www.omg.org/spec/DD/20100524/DC"
DI = "http://www.omg.org/spec/DD/20100524/DI"
NS = {"bpmn": BPMN, "bpmndi": BPMNDI, "dc": DC, "di": DI}

MAX_BYTES = 2 * 1024 * 1024

# Geometry (pixels). A cell is one column by one row of a lane band.
COL_W = 170
ROW_H = 140
POOL_LABEL_W = 30
LANE_LABEL_W = 30
PAD_X = 20
POOL_GAP = 40
ORIGIN_X = 100
ORIGIN_Y = 80

_TASKS = {
    "task",
    "userTask",
    "manualTask",
    "scriptTask",
    "serviceTask",
    "sendTask",
    "receiveTask",
    "businessRuleTask",
    "callActivity",
    "subProcess",
    "transaction",
    "adHocSubProcess",
}
_EVENTS = {"startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent"}
_GATEWAYS = {"exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway", "complexGateway"}
_SIZES = {"task": (120, 80), "event": (36, 36), "gateway": (50, 50)}


class LayoutError(ValueError):
    """The input is not a diagram this module can lay out."""


@dataclass
class _Node:
    id: str
    kind: str  # task | event | gateway | boundary
    tag: str
    lane: int = 0
    col: int = 0
    row: int = 0
    x: float = 0.0
    y: float = 0.0
    w: float = 0.0
    h: float = 0.0
    attached_to: str | None = None
    named: bool = False

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2

    @property
    def right(self) -> float:
        return self.x + self.w

    @property
    def bottom(self) -> float:
        return self.y + self.h


@dataclass
class _Flow:
    id: str
    source: str
    target: str
    named: bool = False


@dataclass
class _Process:
    element: etree._Element
    id: str
    nodes: dict[str, _Node] = field(default_factory=dict)
    flows: list[_Flow] = field(default_factory=list)
    lanes: list[tuple[str, list[str]]] = field(default_factory=list)  # (lane id, node ids)
    content_x: float = 0.0  # x of the first column


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def _parse(bpmn: bytes) -> etree._Element:
    if len(bpmn) > MAX_BYTES:
        raise LayoutError(f"the diagram is larger than {MAX_BYTES} bytes")
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=True,
    )
    try:
        root = etree.fromstring(bpmn, parser)
    except etree.XMLSyntaxError as err:
        raise LayoutError(f"not well-formed XML: {err}") from None
    if root.getroottree().docinfo.doctype:
        raise LayoutError("a DOCTYPE is not allowed in a diagram")
    if root.tag != f"{{{BPMN}}}definitions":
        raise LayoutError("the root element must be bpmn:definitions")
    return root


def _read_process(element: etree._Element) -> _Process:
    pid = element.get("id")
    if not pid:
        raise LayoutError("a bpmn:process has no id")
    proc = _Process(element=element, id=pid)
    for child in element:
        tag = _local(child)
        node_id = child.get("id")
        if tag in _TASKS:
            kind = "task"
        elif tag in _EVENTS:
            kind = "event"
        elif tag in _GATEWAYS:
            kind = "gateway"
        elif tag == "boundaryEvent":
            kind = "boundary"
        elif tag == "sequenceFlow":
            source, target = child.get("sourceRef"), child.get("targetRef")
            if not (node_id and source and target):
                raise LayoutError(f"sequence flow {node_id!r} in {pid} lacks an id, sourceRef or targetRef")
            proc.flows.append(_Flow(node_id, source, target, bool(child.get("name"))))
            continue
        else:
            continue
        if not node_id:
            raise LayoutError(f"a {tag} in {pid} has no id")
        w, h = _SIZES["event" if kind == "boundary" else kind]
        proc.nodes[node_id] = _Node(
            node_id,
            kind,
            tag,
            w=w,
            h=h,
            attached_to=child.get("attachedToRef"),
            named=bool(child.get("name")),
        )
    for flow in proc.flows:
        for ref in (flow.source, flow.target):
            if ref not in proc.nodes:
                raise LayoutError(f"sequence flow {flow.id} in {pid} refers to unknown element {ref!r}")
    for node in proc.nodes.values():
        if node.kind == "boundary" and node.attached_to not in proc.nodes:
            raise LayoutError(
                f"boundary event {node.id} in {pid} is attached to unknown {node.attached_to!r}"
            )
    # Leaf lanes in document order (nested lane sets are flattened).
    for lane in element.iterfind(".//bpmn:lane", NS):
        if lane.find("bpmn:childLaneSet", NS) is not None:
            continue
        refs = [r.text.strip() for r in lane.iterfind("bpmn:flowNodeRef", NS) if r.text and r.text.strip()]
        proc.lanes.append((lane.get("id") or "", refs))
    return proc


# --------------------------------------------------------------------------- placement


def _columns(proc: _Process) -> None:
    """Longest-path columns; a boundary event's successors count as its activity's successors."""
    main = [n for n in proc.nodes.values() if n.kind != "boundary"]
    order = {n.id: i for i, n in enumerate(main)}
    succ: dict[str, list[str]] = defaultdict(list)
    indegree: dict[str, int] = defaultdict(int)
    for flow in proc.flows:
        source = proc.nodes[flow.source]
        src = source.attached_to if source.kind == "boundary" else source.id
        if flow.target in order and src in order:
            succ[src].append(flow.target)
            indegree[flow.target] += 1
    # Break cycles: drop edges to a node on the current depth-first path.
    back: set[tuple[str, str]] = set()
    state: dict[str, int] = {}
    roots = [n.id for n in main if indegree[n.id] == 0] + [n.id for n in main]
    for root in roots:
        if root in state:
            continue
        stack = [(root, iter(succ[root]))]
        state[root] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                back.add((node, nxt))
            elif nxt not in state:
                state[nxt] = 1
                stack.append((nxt, iter(succ[nxt])))
    dag = {k: [t for t in v if (k, t) not in back] for k, v in succ.items()}
    incoming: dict[str, int] = defaultdict(int)
    for targets in dag.values():
        for t in targets:
            incoming[t] += 1
    col = {n.id: 0 for n in main}
    ready = sorted((n for n in col if incoming[n] == 0), key=order.__getitem__)
    while ready:
        node = ready.pop(0)
        for t in dag.get(node, []):
            col[t] = max(col[t], col[node] + 1)
            incoming[t] -= 1
            if incoming[t] == 0:
                ready.append(t)
    for node_id, c in col.items():
        proc.nodes[node_id].col = c


def _rows(proc: _Process) -> int:
    """Rows inside each lane band; returns the number of lanes (at least one band)."""
    lane_of: dict[str, int] = {}
    for index, (_, refs) in enumerate(proc.lanes):
        for ref in refs:
            lane_of.setdefault(ref, index)
    for node in proc.nodes.values():
        node.lane = lane_of.get(node.id, lane_of.get(node.attached_to or "", 0))
    main = [n for n in proc.nodes.values() if n.kind != "boundary"]
    # Successors; a flow from a boundary event counts as leaving its activity.
    edges: dict[str, list[tuple[str, bool]]] = defaultdict(list)
    for flow in proc.flows:
        source = proc.nodes[flow.source]
        if proc.nodes[flow.target].kind == "boundary":
            continue
        if source.kind == "boundary":
            edges[source.attached_to or ""].append((flow.target, True))
        else:
            edges[source.id].append((flow.target, False))
    # Longest remaining path of each node, over forward edges only (columns strictly grow).
    height: dict[str, int] = {}
    for node in sorted(main, key=lambda n: -n.col):
        height[node.id] = max(
            (1 + height.get(t, 0) for t, _ in edges.get(node.id, []) if proc.nodes[t].col > node.col),
            default=0,
        )
    taken: set[tuple[int, int, int]] = set()
    placed: set[str] = set()

    def place(node: _Node, preferred: int) -> None:
        row = max(preferred, 0)
        while (node.lane, node.col, row) in taken:
            row += 1
        node.row = row
        taken.add((node.lane, node.col, row))
        placed.add(node.id)

    indegree: dict[str, int] = defaultdict(int)
    for targets in edges.values():
        for target, _ in targets:
            indegree[target] += 1

    def walk(start: _Node, row: int, follow_boundaries: bool, exceptions: list[tuple[str, str]]) -> None:
        """Place start and, depth first, what follows it (longest remaining path keeps the row)."""
        place(start, row)
        stack = [start.id]
        while stack:
            current = proc.nodes[stack.pop()]
            pending = []
            for target_id, from_boundary in sorted(
                edges.get(current.id, []), key=lambda e: -height.get(e[0], 0)
            ):
                if target_id in placed:
                    continue
                if from_boundary and not follow_boundaries:
                    exceptions.append((current.id, target_id))
                    continue
                target = proc.nodes[target_id]
                place(target, current.row if target.lane == current.lane else 0)
                pending.append(target_id)
            stack.extend(reversed(pending))

    # First the normal flow; then the paths leaving boundary events, on rows below it in their lane.
    exceptions: list[tuple[str, str]] = []
    for start in main:
        if indegree[start.id] == 0 and start.id not in placed:
            walk(start, 0, False, exceptions)
    base: dict[int, int] = defaultdict(int)
    for node in main:
        if node.id in placed:
            base[node.lane] = max(base[node.lane], node.row + 1)
    while exceptions:
        _, target_id = exceptions.pop(0)
        if target_id in placed:
            continue
        target = proc.nodes[target_id]
        walk(target, max(base[target.lane], 1), True, exceptions)
    for node in main:  # only in a cycle nothing leads into
        if node.id not in placed:
            walk(node, 0, True, exceptions)
    return max(1, len(proc.lanes))


@dataclass
class _Box:
    x: float
    y: float
    w: float
    h: float


def _geometry(proc: _Process, top: float) -> tuple[_Box, list[_Box]]:
    """Place shapes; return the pool box and the lane boxes."""
    n_bands = max(1, len(proc.lanes))
    rows_per_band = [1] * n_bands
    for node in proc.nodes.values():
        if node.kind != "boundary":
            rows_per_band[node.lane] = max(rows_per_band[node.lane], node.row + 1)
    n_cols = 1 + max((n.col for n in proc.nodes.values() if n.kind != "boundary"), default=0)
    content_x = ORIGIN_X + POOL_LABEL_W + (LANE_LABEL_W if proc.lanes else 0) + PAD_X
    width = (content_x - ORIGIN_X) + n_cols * COL_W + PAD_X
    band_tops = []
    y = top
    for rows in rows_per_band:
        band_tops.append(y)
        y += rows * ROW_H
    pool = _Box(ORIGIN_X, top, width, y - top)
    lanes = (
        [
            _Box(ORIGIN_X + POOL_LABEL_W, band_tops[i], width - POOL_LABEL_W, rows_per_band[i] * ROW_H)
            for i in range(n_bands)
        ]
        if proc.lanes
        else []
    )
    for node in proc.nodes.values():
        if node.kind == "boundary":
            continue
        cx = content_x + node.col * COL_W + COL_W / 2
        cy = band_tops[node.lane] + node.row * ROW_H + ROW_H / 2
        node.x, node.y = cx - node.w / 2, cy - node.h / 2
    by_host: dict[str, list[_Node]] = defaultdict(list)
    for node in proc.nodes.values():
        if node.kind == "boundary":
            by_host[node.attached_to or ""].append(node)
    for host_id, events in by_host.items():
        host = proc.nodes[host_id]
        for i, event in enumerate(events):
            cx = host.right - 22 - i * 40
            event.x, event.y = cx - event.w / 2, host.bottom - event.h / 2
            event.lane, event.col, event.row = host.lane, host.col, host.row
    proc.content_x = content_x
    return pool, lanes


# --------------------------------------------------------------------------- edges


def _hits(points: list[tuple[float, float]], boxes: list[_Node]) -> bool:
    """Whether an orthogonal polyline passes through any of the boxes (with a small margin)."""
    margin = 4
    for (x1, y1), (x2, y2) in zip(points, points[1:], strict=False):
        lo_x, hi_x = sorted((x1, x2))
        lo_y, hi_y = sorted((y1, y2))
        for b in boxes:
            if (
                lo_x < b.right - margin
                and hi_x > b.x + margin
                and lo_y < b.bottom - margin
                and hi_y > b.y + margin
            ):
                return True
    return False


Route = list[tuple[float, float]]


def _along(points: Route, flow: _Flow, drawn: list[tuple[_Flow, Route]]) -> bool:
    """Whether the route runs along (or meets end-on) an edge of an unrelated flow already drawn."""
    for other, route in drawn:
        if other.source == flow.source or other.target == flow.target:
            continue  # splits may share their first segment, merges their last
        for (ax1, ay1), (ax2, ay2) in zip(points, points[1:], strict=False):
            for (bx1, by1), (bx2, by2) in zip(route, route[1:], strict=False):
                if ax1 == ax2 == bx1 == bx2:
                    lo_a, hi_a = sorted((ay1, ay2))
                    lo_b, hi_b = sorted((by1, by2))
                elif ay1 == ay2 == by1 == by2:
                    lo_a, hi_a = sorted((ax1, ax2))
                    lo_b, hi_b = sorted((bx1, bx2))
                else:
                    continue
                if lo_a <= hi_b + 1 and lo_b <= hi_a + 1:
                    return True
    return False


def _route(proc: _Process, flow: _Flow, drawn: list[tuple[_Flow, Route]]) -> Route:
    s, t = proc.nodes[flow.source], proc.nodes[flow.target]
    others = [
        n
        for n in proc.nodes.values()
        if n.id not in (s.id, t.id) and n.id != s.attached_to and n.kind != "boundary"
    ]
    content_x = proc.content_x
    t_left = (t.x, t.cy)
    candidates: list[list[tuple[float, float]]] = []
    if t.x <= s.x and s.kind != "boundary":
        # Backwards: leave below the source, come back under the row, enter the target from below.
        low = max(s.bottom, t.bottom) + ROW_H / 4
        return [(s.cx, s.bottom), (s.cx, low), (t.cx, low), (t.cx, t.bottom)]
    if s.kind == "boundary":
        candidates.append([(s.cx, s.bottom), (s.cx, t.cy), t_left])
        gap = content_x + (s.col + 1) * COL_W
        candidates.append(
            [(s.cx, s.bottom), (s.cx, s.bottom + 12), (gap, s.bottom + 12), (gap, t.cy), t_left]
        )
    elif abs(s.cy - t.cy) < 1:
        candidates.append([(s.right, s.cy), t_left])
    else:
        down = t.cy > s.cy
        if s.kind == "gateway":
            candidates.append([(s.cx, s.bottom if down else s.y), (s.cx, t.cy), t_left])
        if t.kind == "gateway":
            candidates.append([(s.right, s.cy), (t.cx, s.cy), (t.cx, t.y if down else t.bottom)])
        before_target = content_x + t.col * COL_W
        after_source = content_x + (s.col + 1) * COL_W
        for gx in (before_target, after_source, before_target - 12, after_source + 12):
            candidates.append([(s.right, s.cy), (gx, s.cy), (gx, t.cy), t_left])
    clear = [points for points in candidates if not _hits(points, others)]
    for points in clear:
        if not _along(points, flow, drawn):
            return points
    return clear[0] if clear else candidates[0]


# --------------------------------------------------------------------------- output


def _shape(parent: etree._Element, element_id: str, box: _Box | _Node, **attrs: str) -> etree._Element:
    shape = etree.SubElement(parent, f"{{{BPMNDI}}}BPMNShape", id=f"{element_id}_di", bpmnElement=element_id)
    for key, value in attrs.items():
        shape.set(key, value)
    _bounds(shape, box.x, box.y, box.w, box.h)
    return shape


def _bounds(parent: etree._Element, x: float, y: float, w: float, h: float) -> None:
    etree.SubElement(parent, f"{{{DC}}}Bounds", x=_n(x), y=_n(y), width=_n(w), height=_n(h))


def _label(parent: etree._Element, x: float, y: float, w: float, h: float) -> None:
    _bounds(etree.SubElement(parent, f"{{{BPMNDI}}}BPMNLabel"), x, y, w, h)


def _node_label(shape: etree._Element, node: _Node) -> None:
    """External labels where flows do not run: events below, gateways above, timers to the right."""
    if not node.named:
        return
    if node.kind == "event":
        _label(shape, node.cx - 50, node.bottom + 4, 100, 40)
    elif node.kind == "gateway":
        _label(shape, node.x - 85, node.y - 40, 105, 40)
    elif node.kind == "boundary":
        _label(shape, node.right + 2, node.cy + 4, 90, 40)


def _flow_label(edge: etree._Element, points: Route, shared_start: bool) -> None:
    """A flow's name beside its first segment, or its last when a sibling shares the first."""
    (x0, y0), (x1, y1) = points[0], points[1]
    if abs(y0 - y1) < 1 and shared_start and len(points) >= 3:
        tx, ty = points[-1]
        _label(edge, tx - 104, ty - 44, 100, 40)
    elif abs(y0 - y1) < 1:
        width = min(110.0, max(60.0, abs(x1 - x0) - 8))
        _label(edge, min(x0, x1) + 4, y0 - 44, width, 40)
    else:
        _label(edge, x0 + 6, min(y0, y1) + 4, 100, 40)


def _n(value: float) -> str:
    return str(int(round(value)))


def _collaboration(root: etree._Element, processes: list[_Process]) -> tuple[str, dict[str, str]]:
    """The collaboration id and process id -> participant id, creating what is missing."""
    collab = root.find("bpmn:collaboration", NS)
    if collab is None:
        collab = etree.Element(f"{{{BPMN}}}collaboration", id=f"Collaboration_{processes[0].id}")
        first_root = next(
            (
                c
                for c in root
                if _local(c) not in ("import", "extension", "documentation", "extensionElements")
            ),
            None,
        )
        if first_root is None:
            root.append(collab)
        else:
            first_root.addprevious(collab)
    participants = {p.get("processRef"): p.get("id") for p in collab.iterfind("bpmn:participant", NS)}
    for proc in processes:
        if proc.id not in participants:
            pid = f"Participant_{proc.id}"
            participant = etree.Element(f"{{{BPMN}}}participant", id=pid, processRef=proc.id)
            if proc.element.get("name"):
                participant.set("name", proc.element.get("name"))
            existing = collab.findall("bpmn:participant", NS)
            if existing:
                existing[-1].addnext(participant)
            else:
                # participants come first in a collaboration (after documentation/extensionElements)
                leading = [c for c in collab if _local(c) in ("documentation", "extensionElements")]
                if leading:
                    leading[-1].addnext(participant)
                else:
                    collab.insert(0, participant)
            participants[proc.id] = pid
    return collab.get("id") or "", participants


def add_layout(bpmn: bytes) -> bytes:
    """Return the diagram with freshly generated DI (see the module docstring)."""
    root = _parse(bpmn)
    processes = [_read_process(p) for p in root.iterfind("bpmn:process", NS)]
    if not processes:
        raise LayoutError("the diagram has no bpmn:process")
    for old in root.findall("bpmndi:BPMNDiagram", NS):
        root.remove(old)
    collab_id, participants = _collaboration(root, processes)
    diagram = etree.Element(f"{{{BPMNDI}}}BPMNDiagram", id=f"BPMNDiagram_{processes[0].id}")
    plane = etree.SubElement(
        diagram, f"{{{BPMNDI}}}BPMNPlane", id=f"BPMNPlane_{processes[0].id}", bpmnElement=collab_id
    )
    top = float(ORIGIN_Y)
    for proc in processes:
        _columns(proc)
        _rows(proc)
        pool, lanes = _geometry(proc, top)
        _shape(plane, participants[proc.id], pool, isHorizontal="true")
        for (lane_id, _), box in zip(proc.lanes, lanes, strict=True):
            if lane_id:
                _shape(plane, lane_id, box, isHorizontal="true")
        for node in proc.nodes.values():
            if node.kind == "boundary":
                continue
            extra = {"isMarkerVisible": "true"} if node.tag == "exclusiveGateway" else {}
            if node.tag in ("subProcess", "transaction", "adHocSubProcess"):
                extra = {"isExpanded": "false"}
            _node_label(_shape(plane, node.id, node, **extra), node)
        for node in proc.nodes.values():
            if node.kind == "boundary":
                _node_label(_shape(plane, node.id, node), node)
        drawn: list[tuple[_Flow, Route]] = []
        outgoing: dict[str, int] = defaultdict(int)
        for flow in proc.flows:
            outgoing[flow.source] += 1
        for flow in proc.flows:
            edge = etree.SubElement(plane, f"{{{BPMNDI}}}BPMNEdge", id=f"{flow.id}_di", bpmnElement=flow.id)
            points = _route(proc, flow, drawn)
            drawn.append((flow, points))
            for x, y in points:
                etree.SubElement(edge, f"{{{DI}}}waypoint", x=_n(x), y=_n(y))
            if flow.named:
                _flow_label(edge, points, outgoing[flow.source] > 1)
        top = pool.y + pool.h + POOL_GAP
    # BPMNDiagram follows the root elements and precedes any bpmn:relationship.
    relationship = root.find("bpmn:relationship", NS)
    if relationship is not None:
        relationship.addprevious(diagram)
    else:
        root.append(diagram)
    etree.cleanup_namespaces(root, top_nsmap={"bpmndi": BPMNDI, "dc": DC, "di": DI})
    body = etree.tostring(root, xml_declaration=False, encoding="UTF-8", pretty_print=True)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body


def main(argv: list[str] | None = None) -> int:
    """`python -m engine.devtools.layout FILE...`: rewrite each diagram with a freshly generated drawing."""
    paths = sys.argv[1:] if argv is None else argv
    if not paths:
        print("usage: python -m engine.devtools.layout DIAGRAM.bpmn...", file=sys.stderr)
        return 2
    status = 0
    for name in paths:
        path = Path(name)
        try:
            data = path.read_bytes()
            out = add_layout(data)
        except (OSError, LayoutError) as err:
            print(f"{name}: {err}", file=sys.stderr)
            status = 1
            continue
        if out != data:
            path.write_bytes(out)
        print(f"{name}: {'layout written' if out != data else 'unchanged'}")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
