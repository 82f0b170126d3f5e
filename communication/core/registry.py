"""Registry of workflow types: type name → DBOS workflow function + pydantic input model.

Every registered workflow takes exactly one argument, a JSON object (``dict``) that already passed its input
model, and stores its events, streams and result as portable JSON so any client (HTTP, ``DBOSClient``, the
``dbos`` CLI, other languages) can read them. New types plug in by decorating a function with
:meth:`WorkflowRegistry.register`; no HTTP code changes.

The registry is module-level on purpose: DBOS itself registers workflow functions at decoration time in one
process-wide registry, and ours mirrors it one-to-one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from dbos import DBOS, WorkflowSerializationFormat
from pydantic import BaseModel, ValidationError

from communication.core.metrics import instrument_workflow
from communication.protocol.errors import UnknownWorkflowType, ValidationFailed

WorkflowFunction = Callable[[dict[str, Any]], Awaitable[Any]]


@dataclass(frozen=True)
class WorkflowType:
    """One registered workflow type."""

    name: str
    function: WorkflowFunction
    input_model: type[BaseModel]
    description: str

    def validate_input(self, raw: Any) -> dict[str, Any]:
        """Validate ``raw`` against the input model and return the JSON object the workflow receives.

        Raises:
            ValidationFailed: with pydantic's error list in ``details.errors``.
        """
        try:
            model = self.input_model.model_validate(raw if raw is not None else {})
        except ValidationError as exc:
            raise ValidationFailed(
                f"invalid input for workflow type {self.name!r}",
                errors=exc.errors(include_url=False, include_context=False, include_input=False),
            ) from exc
        return model.model_dump(mode="json")


class WorkflowRegistry:
    """Maps workflow type names to :class:`WorkflowType`."""

    def __init__(self) -> None:
        self._types: dict[str, WorkflowType] = {}

    def register(
        self, name: str, input_model: type[BaseModel], description: str
    ) -> Callable[[WorkflowFunction], WorkflowFunction]:
        """Decorator: make ``fn`` a DBOS workflow named ``name`` and register it under that type name."""

        def decorate(fn: WorkflowFunction) -> WorkflowFunction:
            if name in self._types:
                raise ValueError(f"workflow type {name!r} registered twice")
            # Instrumented inside DBOS's wrapper, so only real executions count as finished (issue 6).
            instrumented = instrument_workflow(name, fn)
            wrapped = DBOS.workflow(name=name, serialization_type=WorkflowSerializationFormat.PORTABLE)(instrumented)
            self._types[name] = WorkflowType(name, wrapped, input_model, description)
            return wrapped

        return decorate

    def get(self, name: str) -> WorkflowType:
        """The type registered as ``name``.

        Raises:
            UnknownWorkflowType: no such type.
        """
        try:
            return self._types[name]
        except KeyError:
            raise UnknownWorkflowType(f"unknown workflow type {name!r}", type=name, known=sorted(self._types)) from None

    def all(self) -> list[WorkflowType]:
        """Every registered type, by name."""
        return [self._types[n] for n in sorted(self._types)]

    def names(self) -> list[str]:
        """Every registered type name, sorted."""
        return sorted(self._types)


registry = WorkflowRegistry()
