"""``communication.client.codegen.typescript``: JSON schema → TypeScript, as ``wfc codegen ts`` writes it.

The end-to-end check (a real server's types compiled by ``tsc`` with a typed usage, and a wrong input refused) is
``js/test/codegen.test.mjs``; these pin the conversion of each schema construct pydantic emits.
"""

from __future__ import annotations

from typing import Any, Literal

import pytest
from pydantic import BaseModel, Field

from communication.client.codegen import pascal_case, typescript

pytestmark = pytest.mark.backend_independent


class Item(BaseModel):
    name: str
    tags: list[str] = []


class Everything(BaseModel):
    text: str = Field(description="Some text.")
    count: int = 1
    ratio: float | None = None
    mode: Literal["a", "b"] = "a"
    fixed: Literal["only"] = "only"
    items: list[Item] = []
    pair: tuple[int, str] = (1, "x")
    extra: dict[str, int] = {}
    anything: Any = None


class Out(BaseModel):
    summary: str


class Opaque:
    """Not JSON-describable: its schema is `{}`."""


def _one(input_schema: dict[str, Any], output_schema: dict[str, Any] | None = None, name: str = "demo") -> str:
    return typescript([{"type": name, "input_schema": input_schema, "output_schema": output_schema or {}}])


def test_every_construct_pydantic_emits() -> None:
    text = _one(Everything.model_json_schema())
    assert "export type DemoItem = {\n  name: string;\n  tags?: string[];\n};" in text
    for line in (
        "  /** Some text. */\n  text: string;",
        "  count?: number;",
        "  ratio?: number | null;",
        '  mode?: "a" | "b";',
        '  fixed?: "only";',
        "  items?: DemoItem[];",
        "  pair?: [number, string];",
        "  extra?: { [key: string]: number };",
        "  anything?: unknown;",
    ):
        assert line in text, line
    assert "export type DemoOutput = unknown;" in text
    assert "  demo: { input: DemoInput; output: DemoOutput };" in text


def test_names_open_objects_and_quoted_keys() -> None:
    schema = {
        "type": "object",
        "properties": {"a-b": {"type": "string"}},
        "required": ["a-b"],
        "additionalProperties": True,
    }
    text = _one(schema, {"type": "object", "additionalProperties": True}, name="fast_temporal.v2")
    assert 'export type FastTemporalV2Input = {\n  "a-b": string;\n  [key: string]: unknown;\n};' in text
    assert "export type FastTemporalV2Output = { [key: string]: unknown };" in text
    assert '  "fast_temporal.v2": { input: FastTemporalV2Input; output: FastTemporalV2Output };' in text
    assert pascal_case("2fa") == "T2fa"


def test_two_types_with_the_same_definition_name_do_not_collide() -> None:
    schema = Everything.model_json_schema()
    text = typescript([{"type": "one", "input_schema": schema}, {"type": "two", "input_schema": schema}])
    assert "export type OneItem = " in text and "export type TwoItem = " in text


def test_output_schema_comes_from_the_return_annotation() -> None:
    from communication.core.registry import WorkflowType

    async def typed(text: str) -> Out:
        return Out(summary=text)

    async def untyped(params):  # type: ignore[no-untyped-def]
        return params

    async def opaque(text: str) -> Opaque:
        return Opaque()

    schema = WorkflowType("t", typed, Everything, "").output_schema()
    assert schema["properties"]["summary"] == {"title": "Summary", "type": "string"}
    assert WorkflowType("u", untyped, Everything, "").output_schema() == {}
    assert WorkflowType("o", opaque, Everything, "").output_schema() == {}
    assert "export type TOutput = {\n  summary: string;\n};" in _one({}, schema, name="t")
