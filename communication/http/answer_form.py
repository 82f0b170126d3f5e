"""A server-rendered HTML form from a request's JSON schema, and the answer parsed back from its fields.

Used by the signed link's page (``routes/approval_links.py``): no JavaScript, no external assets. Booleans are a
Yes/No choice, enums a select, numbers an ``<input type=number>`` with the schema's bounds, strings a text input
(a text area when long), anything else a JSON text area. Parsing turns each field into the schema's type and
leaves an empty optional field out; whatever does not convert is kept as text, so the schema's validation (in
the core) reports it in the usual ``answer_invalid`` errors.
"""

from __future__ import annotations

import html
import json
from typing import Any
from urllib.parse import parse_qs

from communication.protocol.errors import ValidationFailed

#: Strings longer than this get a text area.
_LONG_TEXT = 200


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """A property's effective schema: ``$ref`` into ``$defs`` and pydantic's ``anyOf [X, null]`` unwrapped."""
    for _ in range(5):  # bounded: a schema may be hostile or cyclic
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            target = root.get("$defs", {}).get(ref.removeprefix("#/$defs/"))
            if not isinstance(target, dict):
                return {"type": "json"}
            schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
            continue
        options = schema.get("anyOf")
        if isinstance(options, list):
            others = [o for o in options if isinstance(o, dict) and o.get("type") != "null"]
            if len(others) != 1:
                return {"type": "json", **{k: v for k, v in schema.items() if k in ("title", "description")}}
            schema = {**others[0], **{k: v for k, v in schema.items() if k != "anyOf"}}
            continue
        return schema
    return {"type": "json"}


def fields_of(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any], bool]]:
    """``(name, effective schema, required)`` of each property of an object schema."""
    props = schema.get("properties")
    if not isinstance(props, dict):
        return []
    required = set(schema.get("required") or [])
    return [(str(n), _resolve(p, schema), n in required) for n, p in props.items() if isinstance(p, dict)]


def _attr(name: str, value: Any) -> str:
    return f' {name}="{html.escape(str(value), quote=True)}"'


def _control(name: str, prop: dict[str, Any], required: bool) -> str:
    ident = f"f-{name}"
    common = _attr("name", name) + _attr("id", ident) + (" required" if required else "")
    default = prop.get("default")
    if isinstance(prop.get("enum"), list):
        options = "" if required else '<option value="">(none)</option>'
        for value in prop["enum"]:
            selected = " selected" if value == default else ""
            options += f"<option{_attr('value', json.dumps(value))}{selected}>{html.escape(str(value))}</option>"
        return f"<select{common}>{options}</select>"
    kind = prop.get("type")
    if kind == "boolean":
        choices = '<option value="">choose…</option>' if default is None else ""
        for value, label in (("true", "Yes"), ("false", "No")):
            selected = " selected" if default is (value == "true") else ""
            choices += f"<option{_attr('value', value)}{selected}>{label}</option>"
        return f"<select{common}>{choices}</select>"
    if kind in ("integer", "number"):
        extra = _attr("step", "1" if kind == "integer" else "any")
        for key, attribute in (("minimum", "min"), ("maximum", "max")):
            if isinstance(prop.get(key), int | float):
                extra += _attr(attribute, prop[key])
        if isinstance(default, int | float):
            extra += _attr("value", default)
        return f'<input type="number"{common}{extra}>'
    if kind == "string":
        limit = prop.get("maxLength")
        extra = _attr("maxlength", limit) if isinstance(limit, int) else ""
        text = default if isinstance(default, str) else ""
        if isinstance(limit, int) and limit <= _LONG_TEXT:
            return f'<input type="text" autocomplete="off"{common}{extra}{_attr("value", text)}>'
        return f"<textarea{common}{extra}>{html.escape(text)}</textarea>"
    text = "" if default is None else json.dumps(default)
    return f'<textarea{common} data-kind="json" placeholder="JSON">{html.escape(text)}</textarea>'


def _hint(prop: dict[str, Any]) -> str:
    parts = []
    if isinstance(prop.get("description"), str):
        parts.append(prop["description"])
    low, high = prop.get("minimum"), prop.get("maximum")
    if low is not None or high is not None:
        parts.append(f"from {'-inf' if low is None else low} to {'inf' if high is None else high}")
    return f'<small class="hint">{html.escape(" · ".join(parts))}</small>' if parts else ""


def render_fields(schema: dict[str, Any], errors: list[dict[str, Any]] | None = None) -> str:
    """The form's fields for ``schema`` (an object schema), each with its label, hint and any error."""
    by_field: dict[str, list[str]] = {}
    for error in errors or []:
        loc = error.get("loc") or [""]
        by_field.setdefault(str(loc[0]), []).append(str(error.get("msg", "")))
    out = []
    for name, prop, required in fields_of(schema):
        label = html.escape(str(prop.get("title") or name)) + (" *" if required else "")
        problems = "".join(f'<div class="error">{html.escape(m)}</div>' for m in by_field.pop(name, []))
        out.append(
            f'<div class="field"><label for="f-{html.escape(name, quote=True)}">{label}</label>'
            f"{_control(name, prop, required)}{_hint(prop)}{problems}</div>"
        )
    rest = [m for ms in by_field.values() for m in ms]
    if rest:
        out.insert(0, "".join(f'<div class="error">{html.escape(m)}</div>' for m in rest))
    return "".join(out)


def _convert(text: str, prop: dict[str, Any]) -> Any:
    if isinstance(prop.get("enum"), list):
        try:
            return json.loads(text)
        except ValueError:
            return text
    kind = prop.get("type")
    try:
        if kind == "boolean":
            return {"true": True, "false": False}.get(text, text)
        if kind == "integer":
            return int(text)
        if kind == "number":
            number = float(text)
            return int(number) if number.is_integer() and "." not in text and "e" not in text.lower() else number
        if kind == "string":
            return text
        return json.loads(text)
    except ValueError:
        return text  # the schema's validation names the problem


def parse_answer(body: bytes, content_type: str, schema: dict[str, Any]) -> dict[str, Any]:
    """The answer object from the form's fields (typed by ``schema``; empty fields left out).

    Raises:
        ValidationFailed: not a form, or more fields than the schema has.
    """
    if content_type.split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        raise ValidationFailed("send the answer as a form (application/x-www-form-urlencoded)")
    fields = fields_of(schema)
    try:
        posted = parse_qs(body.decode("utf-8", errors="replace"), max_num_fields=len(fields) + 5)
    except ValueError as exc:  # more fields than max_num_fields
        raise ValidationFailed("too many form fields") from exc
    answer: dict[str, Any] = {}
    for name, prop, _required in fields:
        text = (posted.get(name) or [""])[0]
        if text.strip() == "" and prop.get("type") != "string":
            continue
        if text == "" and prop.get("type") == "string" and "default" in prop:
            continue
        answer[name] = _convert(text, prop)
    return answer
