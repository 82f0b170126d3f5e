"""The signed link's form, generated from a request's JSON schema, and the answer parsed back from it."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from pydantic import BaseModel, Field

from communication.core.inbox import schema_errors
from communication.http.answer_form import parse_answer, render_fields
from communication.protocol.errors import ValidationFailed
from tests.support.inbox_workflows import Decision

pytestmark = pytest.mark.backend_independent
FORM = "application/x-www-form-urlencoded"


class RefundDecision(BaseModel):
    """The answer model of examples/approvals.py: an optional number and a text with a default."""

    approved: bool
    amount: float | None = Field(None, ge=0)
    comment: str = Field("", max_length=500)


def test_each_kind_of_field_gets_its_control() -> None:
    html = render_fields(Decision.model_json_schema())
    assert '<select name="approved" id="f-approved" required>' in html  # a boolean: Yes / No
    assert '<option value="true">Yes</option>' in html
    assert 'type="number" name="amount" id="f-amount" required step="1" min="0" max="1000"' in html
    assert '<option value="&quot;high&quot;">high</option>' in html  # an enum (a $ref into $defs)
    assert 'type="text" autocomplete="off" name="note" id="f-note" maxlength="200"' in html
    optional = render_fields(RefundDecision.model_json_schema())
    assert 'name="amount" id="f-amount" step="any" min="0"' in optional  # Optional[float]: not required


def test_the_answer_is_typed_by_the_schema_and_empty_optional_fields_are_left_out() -> None:
    schema = RefundDecision.model_json_schema()
    body = urlencode({"approved": "false", "amount": "", "comment": "no"}).encode()
    assert parse_answer(body, FORM, schema) == {"approved": False, "comment": "no"}
    body = urlencode({"approved": "true", "amount": "12.5"}).encode()
    answer = parse_answer(body, FORM, schema)
    assert answer == {"approved": True, "amount": 12.5} and schema_errors(schema, answer) == []


def test_what_does_not_convert_is_kept_for_the_schema_to_refuse() -> None:
    schema = Decision.model_json_schema()
    answer = parse_answer(urlencode({"approved": "true", "amount": "many"}).encode(), FORM, schema)
    assert answer["amount"] == "many"
    assert [e["loc"] for e in schema_errors(schema, answer)] == [["amount"]]


def test_errors_are_shown_beside_their_field_and_hostile_text_is_escaped() -> None:
    html = render_fields(Decision.model_json_schema(), [{"loc": ["amount"], "msg": "<b>too big</b>"}])
    assert '<div class="error">&lt;b&gt;too big&lt;/b&gt;</div>' in html


def test_not_a_form_or_too_many_fields_is_refused() -> None:
    schema = Decision.model_json_schema()
    with pytest.raises(ValidationFailed):
        parse_answer(b'{"approved": true}', "application/json", schema)
    with pytest.raises(ValidationFailed):
        parse_answer(urlencode({f"x{i}": "1" for i in range(50)}).encode(), FORM, schema)
