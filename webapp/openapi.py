"""The OpenAPI 3.1 description of /api/v1."""

from typing import Any


def _err(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Kyzmat API",
        "version": "1",
        "description": "Cases and steps of the municipal processes. Authenticate with HTTP Basic or the web session.",
    },
    "servers": [{"url": "/api/v1"}],
    "security": [{"basic": []}, {"session": []}],
    "components": {
        "securitySchemes": {
            "basic": {"type": "http", "scheme": "basic"},
            "session": {"type": "apiKey", "in": "cookie", "name": "session"},
        },
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {"type": "string"},
                    "fields": {
                        "type": "object",
                        "additionalProperties": {"type": "string"},
                        "description": "field path -> message in the caller's language",
                    },
                },
            },
            "Case": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "process_id": {"type": "string"},
                    "version": {"type": "integer"},
                    "municipality_id": {"type": ["integer", "null"]},
                    "status": {"enum": ["running", "completed", "error"]},
                    "reference": {"type": ["string", "null"]},
                    "subject": {"type": ["string", "null"]},
                    "started_at": {"type": "string", "format": "date-time"},
                    "completed_at": {"type": ["string", "null"], "format": "date-time"},
                    "lock_version": {"type": "integer"},
                    "next_task_id": {"type": ["integer", "null"]},
                },
            },
            "Task": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "case_id": {"type": "integer"},
                    "process_id": {"type": "string"},
                    "step_id": {"type": "string"},
                    "name": {"type": "object", "additionalProperties": {"type": "string"}},
                    "role": {"type": "string"},
                    "municipality_id": {"type": ["integer", "null"]},
                    "status": {"enum": ["open", "completed", "cancelled"]},
                    "priority": {"enum": ["high", "normal"]},
                    "due_at": {"type": ["string", "null"], "format": "date-time"},
                    "working_days_left": {"type": ["integer", "null"]},
                    "claimed_by": {"type": ["integer", "null"]},
                    "reference": {"type": ["string", "null"]},
                    "subject": {"type": ["string", "null"]},
                    "lock_version": {"type": "integer"},
                },
            },
        },
    },
    "paths": {
        "/cases": {
            "post": {
                "summary": "Start a case of the newest published version of a process",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["process_id"],
                                "properties": {
                                    "process_id": {"type": "string"},
                                    "municipality_code": {"type": "string"},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "201": {
                        "description": "Started",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Case"}}},
                    },
                    "403": _err("Your roles may not start this process here"),
                    "404": _err("Unknown process"),
                },
            }
        },
        "/cases/{id}": {
            "get": {
                "summary": "A case with its data and open steps",
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}],
                "responses": {
                    "200": {"description": "The case"},
                    "403": _err("Another municipality's case"),
                    "404": _err("No such case"),
                },
            }
        },
        "/tasks": {
            "get": {
                "summary": "My inbox",
                "parameters": [
                    {
                        "name": "view",
                        "in": "query",
                        "schema": {"enum": ["mine", "available", "overdue", "due_soon", "done"]},
                    },
                    {"name": "process", "in": "query", "schema": {"type": "string"}},
                    {
                        "name": "q",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "receipt number or applicant",
                    },
                    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                ],
                "responses": {
                    "200": {
                        "description": "A page of steps",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "items": {
                                            "type": "array",
                                            "items": {"$ref": "#/components/schemas/Task"},
                                        },
                                        "total": {"type": "integer"},
                                        "page": {"type": "integer"},
                                        "pages": {"type": "integer"},
                                    },
                                }
                            }
                        },
                    }
                },
            }
        },
        "/tasks/{id}": {
            "get": {
                "summary": "A step with its JSON Schema form and current data",
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}],
                "responses": {
                    "200": {"description": "The step"},
                    "403": _err("Another role or municipality"),
                    "404": _err("No such step"),
                },
            }
        },
        "/tasks/{id}/complete": {
            "post": {
                "summary": "Complete a step with form data",
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "data": {"type": "object"},
                                    "lock_version": {
                                        "type": "integer",
                                        "description": "the case's lock_version you read",
                                    },
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "Completed",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Case"}}},
                    },
                    "403": _err("Another role or municipality"),
                    "409": _err("Stale: the case changed first"),
                    "422": _err("Field errors"),
                },
            }
        },
        "/tasks/{id}/claim": {
            "post": {
                "summary": "Take a step so colleagues do not work on it",
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}],
                "responses": {"200": {"description": "Claimed"}, "409": _err("Someone else has it")},
            }
        },
    },
}
