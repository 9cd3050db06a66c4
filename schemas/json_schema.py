"""JSON Schema export for producers, kept in the repo and checked against the models in tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel

from schemas.agent import AgentHealthEvent, AgentUsageEnvelope, AgentUsageEvent

PUBLISHED: dict[str, type[BaseModel]] = {
    "agent_usage_event.schema.json": AgentUsageEvent,
    "agent_usage_envelope.schema.json": AgentUsageEnvelope,
    "agent_health_event.schema.json": AgentHealthEvent,
}


def json_schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def render(model: type[BaseModel]) -> bytes:
    return orjson.dumps(json_schema(model), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def write_json_schemas(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in PUBLISHED.items():
        path = folder / name
        path.write_bytes(render(model))
        written.append(path)
    return written
