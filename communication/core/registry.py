"""Registry of workflow types: type name → DBOS workflow function + pydantic input model.

Two ways to register a startable type, both storing events, streams, inputs and results as portable JSON so any
client (HTTP, ``DBOSClient``, the ``dbos`` CLI, other languages) can read them:

* :func:`workflow_type` (typed): decorate an ordinary async (or sync) function with typed parameters; its input
  schema is built from the signature, and ``POST /v1/workflows {"type", "input": {...}}`` calls it with those
  keyword arguments::

      @workflow_type(description="Repeat a text")
      async def summarize(text: str, times: int = 2) -> dict: ...

* :meth:`WorkflowRegistry.register` (one dict): the function takes exactly one ``dict`` that already passed a
  hand-written pydantic model (the original form; kept working).

The registry is module-level on purpose: DBOS itself registers workflow functions at decoration time in one
process-wide registry, and ours mirrors it one-to-one.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, cast, get_type_hints

import pydantic
from dbos import DBOS, WorkflowSerializationFormat
from pydantic import BaseModel, ConfigDict, ValidationError, create_model, model_validator

from communication.core.ops.metrics import WORKFLOWS_FINISHED, instrument_workflow
from communication.protocol.errors import UnknownWorkflowType, ValidationFailed

WorkflowFunction = Callable[..., Any]
F = TypeVar("F", bound=Callable[..., Any])

#: How a type's function receives its validated input: one JSON object, or keyword arguments.
CallStyle = Literal["dict", "kwargs"]


@dataclass(frozen=True)
class WorkflowType:
    """One registered workflow type.

    Attributes:
        call_style: ``"dict"`` — the function takes the validated JSON object as its one argument;
            ``"kwargs"`` — it takes the object's members as keyword arguments (:func:`workflow_type`).
        queue: DBOS queue the type is enqueued on when started (``None``: the server's default routing).
    """

    name: str
    function: WorkflowFunction
    input_model: type[BaseModel]
    description: str
    call_style: CallStyle = "dict"
    queue: str | None = None
    tags: tuple[str, ...] = field(default=())

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
                type=self.name,
                errors=exc.errors(include_url=False, include_context=False, include_input=False),
            ) from exc
        # exclude_unset for typed functions: parameters the caller left out keep the function's own defaults
        # (recorded as such in the workflow's input), exactly as calling it directly would.
        return model.model_dump(mode="json", exclude_unset=self.call_style == "kwargs")

    def call_args(self, params: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The positional and keyword arguments that start this type with validated ``params``."""
        if self.call_style == "kwargs":
            return (), params
        return (params,), {}

    def output_schema(self) -> dict[str, Any]:
        """The JSON schema of the result, from the function's return annotation; ``{}`` (any JSON) without one.

        An annotation pydantic cannot describe (an arbitrary class) also gives ``{}``: the schema is documentation
        for clients (``wfc codegen ts``), never a reason to refuse listing the type.
        """
        try:
            hint = get_type_hints(inspect.unwrap(self.function), include_extras=True).get("return")
        except (NameError, TypeError):  # unresolvable forward references: describe the result as any JSON
            return {}
        if hint is None or hint is inspect.Signature.empty:
            return {}
        cannot_describe = (pydantic.PydanticSchemaGenerationError, pydantic.PydanticInvalidForJsonSchema)
        try:
            schema: dict[str, Any] = pydantic.TypeAdapter(hint).json_schema(mode="serialization")
        except cannot_describe:
            return {}
        return schema

    def input_schema(self) -> dict[str, Any]:
        """The JSON schema of the input object."""
        return self.input_model.model_json_schema()


#: Integers a typed input may carry: signed 64-bit, what every JSON reader of the stored input (JavaScript's
#: BigInt-free numbers aside, Go, Java, Postgres BIGINT) can hold.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _unstorable_number(value: Any, path: str) -> str | None:
    """Where in ``value`` a non-finite float or an integer outside int64 sits (``None``: nowhere)."""
    pending: list[tuple[Any, str]] = [(value, path)]
    while pending:
        item, where = pending.pop()
        if isinstance(item, bool):
            continue
        if isinstance(item, int) and not INT64_MIN <= item <= INT64_MAX:
            return f"{where}: integer outside the signed 64-bit range"
        if isinstance(item, float) and not math.isfinite(item):
            return f"{where}: number must be finite (no NaN or Infinity)"
        if isinstance(item, dict):
            pending.extend((v, f"{where}.{k}") for k, v in item.items())
        elif isinstance(item, list | tuple | set | frozenset):
            pending.extend((v, f"{where}[{i}]") for i, v in enumerate(item))
    return None


class TypedInput(BaseModel):
    """Base of the input models built from signatures: no extra keys, finite floats (``"inf"``/``"nan"`` would
    be stored as ``null``), integers within int64 (nested values included)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @model_validator(mode="after")
    def _storable_numbers(self) -> TypedInput:
        for name in self.model_fields_set:
            problem = _unstorable_number(self.model_dump(include={name})[name], name)
            if problem is not None:
                raise ValueError(problem)
        return self


def signature_model(fn: Callable[..., Any], model_name: str) -> type[BaseModel]:
    """A pydantic model whose fields are ``fn``'s parameters (annotations and defaults; a :class:`TypedInput`).

    Positional-only parameters, ``*args`` and ``**kwargs`` cannot be filled from a JSON object, so they are
    refused; an unannotated parameter accepts any JSON value.

    Raises:
        TypeError: the signature cannot be expressed as one JSON object.
    """
    hints = get_type_hints(fn, include_extras=True)
    fields: dict[str, Any] = {}
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
            raise TypeError(
                f"workflow_type {model_name!r}: parameter {param.name!r} must be an ordinary or keyword-only "
                "parameter (its value comes from a member of the JSON input object)"
            )
        annotation = hints.get(param.name, Any)
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (annotation, default)
    model: type[BaseModel] = create_model(f"{model_name}_input", __base__=TypedInput, **fields)
    return model


def _typed_entry(type_name: str, fn: Callable[..., Any], model: type[BaseModel]) -> Callable[..., Any]:
    """The function DBOS registers for a typed type: rebuild typed arguments, call ``fn``, count the outcome.

    Why rebuild: DBOS records (and replays on recovery) the arguments as portable JSON, so nested models,
    dates and the like arrive as plain JSON values; validating them against the signature model again inside
    the workflow gives ``fn`` the types its annotations promise, on the first run and on every recovery alike.
    Parameters the caller left out are not passed, so ``fn``'s own defaults apply.

    Completion is counted like :func:`instrument_workflow`. ``functools.wraps`` keeps the signature and
    ``__wrapped__`` (DBOS hashes the original source for the application version). The entry is always a
    coroutine function: calling a decorated *sync* function directly therefore returns an awaitable.
    """
    signature = inspect.signature(fn)

    def typed_arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        bound = signature.bind_partial(*args, **kwargs)
        validated = model.model_validate(bound.arguments)
        return {name: getattr(validated, name) for name in validated.model_fields_set}

    def count(status: str) -> None:
        WORKFLOWS_FINISHED.labels(type=type_name, status=status).inc()

    async def call(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        typed = typed_arguments(args, kwargs)
        if inspect.iscoroutinefunction(fn):
            return await fn(**typed)
        # DBOS 3.4 starts only coroutine workflows from async code (start_workflow_async awaits the body), so a
        # sync function runs on a worker thread inside an async workflow. The thread inherits the workflow's
        # context, so DBOS's sync calls (set_event, write_stream, recv, steps) work there as usual.
        return await asyncio.to_thread(fn, **typed)

    @functools.wraps(fn)
    async def entry(*args: Any, **kwargs: Any) -> Any:
        try:
            output = await call(args, kwargs)
        except Exception:
            count("ERROR")
            raise
        count("SUCCESS")
        return output

    return entry


class WorkflowRegistry:
    """Maps workflow type names to :class:`WorkflowType`."""

    def __init__(self) -> None:
        self._types: dict[str, WorkflowType] = {}

    def _add(self, wtype: WorkflowType) -> None:
        if wtype.name in self._types:
            raise ValueError(f"workflow type {wtype.name!r} registered twice")
        self._types[wtype.name] = wtype

    def register(
        self, name: str, input_model: type[BaseModel], description: str
    ) -> Callable[[WorkflowFunction], WorkflowFunction]:
        """Decorator: make ``fn`` (one ``dict`` argument) a DBOS workflow named ``name`` and register it."""

        def decorate(fn: WorkflowFunction) -> WorkflowFunction:
            if name in self._types:
                raise ValueError(f"workflow type {name!r} registered twice")
            # Instrumented inside DBOS's wrapper, so only real executions count as finished.
            instrumented = instrument_workflow(name, fn)
            wrapped = DBOS.workflow(name=name, serialization_type=WorkflowSerializationFormat.PORTABLE)(instrumented)
            self._add(WorkflowType(name, wrapped, input_model, description))
            return wrapped

        return decorate

    def workflow_type(
        self,
        name: str | None = None,
        *,
        description: str | None = None,
        queue: str | None = None,
        tags: tuple[str, ...] = (),
        max_recovery_attempts: int | None = None,
    ) -> Callable[[F], F]:
        """Decorator: make an ordinary typed function a DBOS workflow and a startable type.

        The input schema comes from the signature (pydantic); a start calls the function with the input
        object's members as keyword arguments. Inputs, outputs, events and streams use portable JSON.

        Args:
            name: type name and DBOS workflow name; default the function's ``__name__``.
            description: shown by ``GET /v1/workflow-types``; default the docstring's first line.
            queue: DBOS queue every start of this type is enqueued on (it must be registered by some process,
                which then runs it); default: the server's routing (``COMM_WORK_QUEUE`` or run in place).
            tags: free-form labels listed with the type.
            max_recovery_attempts: passed to ``DBOS.workflow``.

        Raises:
            TypeError: the signature has ``*args``/``**kwargs``/positional-only parameters.
            ValueError: the name is already registered.
        """

        def decorate(fn: F) -> F:
            type_name = name or fn.__name__
            model = signature_model(fn, type_name)
            doc = inspect.getdoc(fn) or ""
            text = description if description is not None else (doc.splitlines()[0] if doc else "")
            instrumented = _typed_entry(type_name, fn, model)
            options: dict[str, Any] = {"name": type_name, "serialization_type": WorkflowSerializationFormat.PORTABLE}
            if max_recovery_attempts is not None:
                options["max_recovery_attempts"] = max_recovery_attempts
            wrapped = DBOS.workflow(**options)(instrumented)
            self._add(WorkflowType(type_name, wrapped, model, text, "kwargs", queue, tuple(tags)))
            return cast(F, wrapped)

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

    def find(self, name: str) -> WorkflowType | None:
        """The type registered as ``name``, or ``None``."""
        return self._types.get(name)

    def all(self) -> list[WorkflowType]:
        """Every registered type, by name."""
        return [self._types[n] for n in sorted(self._types)]

    def names(self) -> list[str]:
        """Every registered type name, sorted."""
        return sorted(self._types)


registry = WorkflowRegistry()

workflow_type = registry.workflow_type
"""``@workflow_type(name=None, *, description=None, queue=None, tags=(), max_recovery_attempts=None)`` on the
process-wide registry; see :meth:`WorkflowRegistry.workflow_type`."""
