"""The JSON API under /api/v1 through Flask's test client, against the rolled-back `kz` runtime."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import webapp
from engine.demo.data import DEMO_PASSWORD
from engine.platform.models import AuditEvent, HumanTask, User
from engine.runtime.context import Kyzmat
from tests.conftest import RECEPTION

REQUIRED_KY = "Бул талааны толтуруу милдеттүү."
REQUIRED_RU = "Обязательное поле."


def basic(username: str, password: str = DEMO_PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
def app(kz: Kyzmat) -> Flask:
    return webapp.create_app({"TESTING": True}, kyzmat=kz)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(autouse=True)
def frozen() -> Iterator[None]:
    """Wed 18 Nov 2026, 16:00 in Bishkek: a working day, so deadlines are predictable."""
    with time_machine.travel(datetime(2026, 11, 18, 10, 0, tzinfo=UTC), tick=False):
        yield


class Api:
    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def get(self, path: str, username: str = "operator", **kw: Any) -> Any:
        return self.client.get(f"/api/v1{path}", headers={**basic(username), **kw.pop("headers", {})}, **kw)

    def post(self, path: str, body: Any, username: str = "operator", **kw: Any) -> Any:
        return self.client.post(
            f"/api/v1{path}", json=body, headers={**basic(username), **kw.pop("headers", {})}, **kw
        )

    def start(self, username: str = "operator") -> dict[str, Any]:
        resp = self.post("/cases", {"process_id": "citizen_service"}, username)
        assert resp.status_code == 201, resp.get_json()
        return resp.get_json()

    def task(self, task_id: int, username: str = "operator") -> dict[str, Any]:
        resp = self.get(f"/tasks/{task_id}", username)
        assert resp.status_code == 200, resp.get_json()
        return resp.get_json()

    def complete(self, task_id: int, data: dict[str, Any], username: str = "operator") -> dict[str, Any]:
        lock = self.task(task_id, username)["lock_version"]
        resp = self.post(f"/tasks/{task_id}/complete", {"data": data, "lock_version": lock}, username)
        assert resp.status_code == 200, resp.get_json()
        return resp.get_json()

    def open_task(self, case_id: int, step_id: str, username: str = "operator") -> dict[str, Any]:
        resp = self.get(f"/cases/{case_id}", username)
        assert resp.status_code == 200, resp.get_json()
        found = [t for t in resp.get_json()["open_tasks"] if t["step_id"] == step_id]
        assert len(found) == 1, (step_id, [t["step_id"] for t in resp.get_json()["open_tasks"]])
        return found[0]


@pytest.fixture
def api(client: FlaskClient) -> Api:
    return Api(client)


# --- the description ------------------------------------------------------------------------------


def _shape(path: str) -> str:
    """'/tasks/<int:task_id>' and '/tasks/{id}' both become '/tasks/{}'."""
    return re.sub(r"<[^>]+>|{[^}]+}", "{}", path.removeprefix("/api/v1"))


def test_openapi_is_valid_and_documents_every_route(client: FlaskClient, app: Flask) -> None:
    resp = client.get("/api/v1/openapi.json")  # public: no credentials
    assert resp.status_code == 200
    spec = resp.get_json()
    try:
        from openapi_spec_validator import validate
    except ImportError:  # not installed here: check the structure by hand
        validate = None
    if validate is not None:
        validate(spec)
    assert spec["openapi"].startswith("3.1")
    assert spec["info"]["title"] and spec["info"]["version"]
    schemes = spec["components"]["securitySchemes"]
    for requirement in spec["security"]:
        assert set(requirement) <= set(schemes)

    def check_refs(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if ref is not None:
                assert ref.startswith("#/components/schemas/"), ref
                assert ref.rsplit("/", 1)[1] in spec["components"]["schemas"], ref
            for value in node.values():
                check_refs(value)
        elif isinstance(node, list):
            for value in node:
                check_refs(value)

    check_refs(spec)

    documented = {(_shape(path), method.upper()) for path, ops in spec["paths"].items() for method in ops}
    for path, ops in spec["paths"].items():
        params = set(re.findall(r"{(\w+)}", path))
        for method, op in ops.items():
            assert method in {"get", "post", "put", "patch", "delete"}, (path, method)
            assert op["responses"], (path, method)
            for code, response in op["responses"].items():
                assert re.fullmatch(r"[1-5]\d\d", code) and response["description"], (path, method, code)
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == params, (path, method)
            assert all(p["required"] for p in op.get("parameters", []) if p["in"] == "path")

    served = set()
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api.") or rule.endpoint == "api.openapi":
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            served.add((_shape(rule.rule), method))
    assert served, "the api blueprint has no routes"
    assert served == documented


# --- starting and listing --------------------------------------------------------------------------


def test_start_case_returns_the_first_step(api: Api) -> None:
    case = api.start()
    assert case["process_id"] == "citizen_service"
    assert case["status"] == "running"
    assert isinstance(case["next_task_id"], int)
    task = api.task(case["next_task_id"])
    assert task["step_id"] == "D_02_reception"
    assert task["case_id"] == case["id"]
    assert task["may_act"] is True
    assert task["lock_version"] == case["lock_version"]


def test_start_case_needs_a_process_id(api: Api) -> None:
    resp = api.post("/cases", {})
    assert resp.status_code == 422
    assert "process_id" in resp.get_json()["fields"]
    assert api.post("/cases", {"process_id": "no_such_process"}).status_code == 404


def test_start_case_refused_to_a_role_that_does_not_start_it(api: Api) -> None:
    resp = api.post("/cases", {"process_id": "citizen_service"}, "specialist")
    assert resp.status_code in (400, 403)
    assert "error" in resp.get_json()


def test_new_step_is_in_the_operators_inbox_only_in_their_municipality(
    api: Api, session: Session, user: Callable[[str], User]
) -> None:
    case = api.start()
    task_id = case["next_task_id"]

    def ids(username: str, view: str) -> list[int]:
        resp = api.get(f"/tasks?view={view}", username)
        assert resp.status_code == 200, resp.get_json()
        body = resp.get_json()
        assert body["total"] == len(body["items"]) and body["page"] == 1
        return [t["id"] for t in body["items"]]

    # The first step is either given to the operator who started the case (the citizen is at their
    # desk) or waits, unclaimed, among the steps available to the role.
    claimed_by = api.task(task_id)["claimed_by"]
    assert claimed_by in (None, user("operator").id)
    mine, available = ids("operator", "mine"), ids("operator", "available")
    if claimed_by is None:
        assert task_id in available and task_id not in mine
        assert api.post(f"/tasks/{task_id}/claim", {}).status_code == 200
        mine, available = ids("operator", "mine"), ids("operator", "available")
    assert task_id in mine and task_id not in available
    assert (
        task_id in ids("operator", "due_soon") + ids("operator", "overdue")
        or api.task(task_id)["due_at"] is None
    )
    # Nobody else sees it: not the other municipality's operator, not another role.
    for other in ("operator2", "specialist"):
        for view in ("mine", "available", "overdue", "due_soon"):
            assert task_id not in ids(other, view), (other, view)
    assert api.post(f"/tasks/{task_id}/claim", {}, "operator2").status_code == 403


def test_unknown_inbox_view(api: Api) -> None:
    assert api.get("/tasks?view=everything").status_code == 400


def test_task_carries_its_json_schema_form(api: Api) -> None:
    task = api.task(api.start()["next_task_id"])
    form = task["form"]
    assert form["type"] == "object"
    assert "applicant_name" in form["properties"]
    assert "applicant_name" in form["required"]
    assert form["properties"]["applicant_name"]["x-label"]["ky"] == "Арыз берүүчүнүн аты-жөнү"
    assert task["name"]["ky"]


def test_other_municipality_may_not_read_the_case_or_step(api: Api) -> None:
    case = api.start()
    assert api.get(f"/tasks/{case['next_task_id']}", "operator2").status_code == 403
    assert api.get(f"/cases/{case['id']}", "operator2").status_code == 403
    assert api.get("/cases/999999").status_code == 404
    assert api.get("/tasks/999999").status_code == 404


# --- completing ------------------------------------------------------------------------------------


def _completed_count(session: Session, task_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(
                AuditEvent.action == "task_completed", AuditEvent.detail["task_id"].as_integer() == task_id
            )
        )
        or 0
    )


def test_invalid_data_is_refused_with_kyrgyz_field_errors(api: Api, session: Session) -> None:
    case = api.start()
    task_id = case["next_task_id"]
    resp = api.post(
        f"/tasks/{task_id}/complete", {"data": {"applicant_name": "Асель Бекова", "remote_village": "maybe"}}
    )
    assert resp.status_code == 422
    fields = resp.get_json()["fields"]
    assert fields["village"] == REQUIRED_KY
    assert fields["appeal_form"] == REQUIRED_KY
    assert "remote_village" in fields
    assert "applicant_name" not in fields
    # Nothing was applied: the step is still open, the case unchanged.
    task = api.task(task_id)
    assert task["status"] == "open"
    assert task["lock_version"] == case["lock_version"]
    assert "applicant_name" not in task["data"]
    assert api.get(f"/cases/{case['id']}").get_json()["open_tasks"][0]["id"] == task_id
    session.expire_all()
    assert _completed_count(session, task_id) == 0


def test_field_errors_follow_the_users_language(
    api: Api, session: Session, user: Callable[[str], User]
) -> None:
    task_id = api.start()["next_task_id"]
    operator = user("operator")
    operator.locale = "ru"
    session.commit()
    resp = api.post(f"/tasks/{task_id}/complete", {"data": {}}, headers={"Accept-Language": "ru"})
    assert resp.status_code == 422
    assert resp.get_json()["fields"]["village"] == REQUIRED_RU


def test_stale_lock_version_is_a_conflict(api: Api) -> None:
    case = api.start()
    task_id = case["next_task_id"]
    resp = api.post(
        f"/tasks/{task_id}/complete", {"data": RECEPTION, "lock_version": case["lock_version"] - 1}
    )
    assert resp.status_code == 409
    assert resp.get_json()["error"]
    assert api.task(task_id)["status"] == "open"
    # With the current lock_version it goes through, and a second completion is a conflict too.
    assert api.complete(task_id, RECEPTION)["status"] == "running"
    again = api.post(f"/tasks/{task_id}/complete", {"data": RECEPTION})
    assert again.status_code == 409


def test_other_municipality_may_not_complete(api: Api, session: Session) -> None:
    task_id = api.start()["next_task_id"]
    resp = api.post(f"/tasks/{task_id}/complete", {"data": RECEPTION}, "operator2")
    assert resp.status_code == 403
    assert api.task(task_id)["status"] == "open"
    assert _completed_count(session, task_id) == 0


def test_wrong_role_may_not_complete(api: Api) -> None:
    task_id = api.start()["next_task_id"]
    resp = api.post(f"/tasks/{task_id}/complete", {"data": RECEPTION}, "specialist")
    assert resp.status_code == 403
    assert api.task(task_id)["status"] == "open"


def test_unauthenticated_calls_are_refused(api: Api, client: FlaskClient) -> None:
    task_id = api.start()["next_task_id"]
    resp = client.post(f"/api/v1/tasks/{task_id}/complete", json={"data": RECEPTION})
    assert resp.status_code == 401
    assert resp.get_json()["error"]
    resp = client.get("/api/v1/tasks")
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].startswith("Basic ")
    assert client.get(f"/api/v1/tasks/{task_id}").status_code == 401
    assert client.post("/api/v1/cases", json={"process_id": "citizen_service"}).status_code == 401
    assert api.task(task_id)["status"] == "open"


def test_wrong_password_is_refused(client: FlaskClient) -> None:
    resp = client.get("/api/v1/tasks", headers=basic("operator", "not-the-password"))
    assert resp.status_code == 401
    assert resp.get_json()["error"]
    assert resp.headers["WWW-Authenticate"].startswith("Basic ")
    assert client.get("/api/v1/tasks", headers=basic("nobody")).status_code == 401
    resp = client.post(
        "/api/v1/cases", json={"process_id": "citizen_service"}, headers=basic("operator", "not-the-password")
    )
    assert resp.status_code == 401


def test_a_post_that_is_not_json_is_refused(api: Api, client: FlaskClient) -> None:
    task_id = api.start()["next_task_id"]
    resp = client.post(
        f"/api/v1/tasks/{task_id}/complete", data={"applicant_name": "x"}, headers=basic("operator")
    )
    assert resp.status_code == 415
    assert resp.get_json()["error"]
    resp = client.post(
        "/api/v1/cases",
        data='{"process_id": "citizen_service"}',
        content_type="text/plain",
        headers=basic("operator"),
    )
    assert resp.status_code == 415
    assert api.task(task_id)["status"] == "open"


def test_unknown_routes_answer_json(client: FlaskClient) -> None:
    resp = client.get("/api/v1/no-such-thing", headers=basic("operator"))
    assert resp.status_code == 404
    assert resp.get_json()["error"]
    resp = client.delete("/api/v1/cases", headers=basic("operator"))
    assert resp.status_code == 405
    assert resp.get_json()["error"]
    # Pages keep their HTML errors.
    assert client.get("/no-such-page").mimetype == "text/html"


def test_malformed_body_is_422(api: Api) -> None:
    task_id = api.start()["next_task_id"]
    assert api.post(f"/tasks/{task_id}/complete", [1, 2]).status_code == 422
    assert api.post(f"/tasks/{task_id}/complete", {"data": "text"}).status_code == 422


# --- the whole of Process D ------------------------------------------------------------------------


def test_happy_path_of_process_d_through_the_api(api: Api, session: Session) -> None:
    case = api.start()
    case_id = case["id"]
    nxt = api.complete(case["next_task_id"], RECEPTION)["next_task_id"]
    assert api.task(nxt)["step_id"] == "D_03_advise"
    nxt = api.complete(nxt, {"documents_help_given": True})["next_task_id"]
    assert api.task(nxt)["step_id"] == "D_06_check_documents"
    after_check = api.complete(
        nxt, {"documents_received": ["application", "id_document", "house_book"], "documents_complete": True}
    )
    assert after_check["reference"] == "DS-2026-00001"
    nxt = after_check["next_task_id"]
    assert api.task(nxt)["step_id"] == "D_09_issue_receipt"
    nxt = api.complete(nxt, {"receipt_handed_over": True})["next_task_id"]
    assert api.task(nxt)["step_id"] == "D_10_forward"
    after_forward = api.complete(nxt, {"forwarded_to": "Айыл өкмөтүнүн катчысы"})
    assert after_forward["next_task_id"] is None  # the next step is the specialist's

    prepare = api.open_task(case_id, "D_11_prepare_municipal", "specialist")
    assert prepare["role"] == "ao_specialist"
    api.complete(
        prepare["id"],
        {"outcome": "document", "document_number": "142", "result_transferred_to_csc": True},
        "specialist",
    )
    hand_over = api.open_task(case_id, "D_13_hand_over")
    done = api.complete(
        hand_over["id"],
        {
            "outcome": "document",
            "result_handed_over": True,
            "handed_over_on": "2026-11-20",
            "evaluation_sheet_offered": True,
        },
    )
    assert done["status"] == "completed"
    assert done["next_task_id"] is None

    final = api.get(f"/cases/{case_id}").get_json()
    assert final["status"] == "completed"
    assert final["completed_at"]
    assert final["open_tasks"] == []
    assert final["reference"] == "DS-2026-00001"
    assert final["data"]["registration"]["number"] == "DS-2026-00001"
    steps = session.scalars(
        select(HumanTask.step_id)
        .where(HumanTask.instance_id == case_id, HumanTask.status == "completed")
        .order_by(HumanTask.id)
    ).all()
    assert steps == [
        "D_02_reception",
        "D_03_advise",
        "D_06_check_documents",
        "D_09_issue_receipt",
        "D_10_forward",
        "D_11_prepare_municipal",
        "D_13_hand_over",
    ]
    done_by_operator = api.get("/tasks?view=done").get_json()
    assert done_by_operator["total"] == 6
