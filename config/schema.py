"""Pydantic building blocks shared by the profile and site schemas.

Pydantic checks the *shape* of a file (types, unknown keys, allowed words); the loaders then
run cross-checks that need the whole file. :func:`issues_from` turns pydantic's errors into
:class:`ConfigIssue` rows with our wording ("must be one of ...", "unknown key ...").
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Callable, Sequence
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from config.errors import ConfigIssue, format_path
from config.tomlfile import locate


class Model(BaseModel):
    """Strict base: unknown keys are errors, values are not coerced from strings, and every
    number is finite (TOML's ``nan`` and ``inf`` are refused wherever a number goes)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


def in_range(low: int, high: int) -> Callable[[int], int]:
    def check(value: int) -> int:
        if not low <= value <= high:
            raise ValueError(f"must be {low}..{high}")
        return value

    return check


def positive(value: float) -> float:
    if not value > 0:
        raise ValueError("must be > 0")
    return value


def not_negative(value: float) -> float:
    if value < 0:
        raise ValueError("must be >= 0")
    return value


def _is_name(value: str) -> str:
    if not value or not all(ch.isalnum() or ch in "-_." for ch in value):
        raise ValueError("must be a non-empty name of letters, digits, '-', '_' or '.'")
    return value


Name = Annotated[str, AfterValidator(_is_name)]
Positive = Annotated[float, AfterValidator(positive)]
NonNegative = Annotated[float, AfterValidator(not_negative)]

_TYPE_WORDS = {
    "int_type": "must be an integer",
    "float_type": "must be a number",
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "list_type": "must be a list",
    "dict_type": "must be a table",
    "model_type": "must be a table",
    "model_attributes_type": "must be a table",
    "tuple_type": "must be a list",
    "missing": "required key missing",
    "finite_number": "must be a finite number",
    "too_short": "must not be empty",
}


def issues_from(
    error: ValidationError,
    *,
    model: type[BaseModel],
    file: str,
    text: str,
    prefix: Sequence[str | int] = (),
) -> list[ConfigIssue]:
    """Convert a pydantic ``ValidationError`` into configuration issues."""
    issues = []
    for item in error.errors():
        loc = [*prefix, *_clean_loc(item["loc"])]
        rule = _rule(item, model, loc[len(prefix) :])
        value = item.get("input") if item["type"] not in ("missing",) else None
        kwargs: dict[str, Any] = {}
        if item["type"] not in ("missing", "extra_forbidden", "model_type", "dict_type"):
            kwargs["value"] = value
        if item["type"] == "extra_forbidden":
            kwargs["value"] = value
        issues.append(
            ConfigIssue(
                file, format_path(loc), rule, line=locate(text, loc) if text else None, **kwargs
            )
        )
    return issues


def _clean_loc(loc: Sequence[str | int]) -> list[str | int]:
    """Drop pydantic's union/validator tags (``function-after[...]``, type names) from a loc."""
    return [
        part for part in loc if isinstance(part, int) or ("[" not in part and part.isidentifier())
    ]


def _rule(item: Any, model: type[BaseModel], loc: Sequence[str | int]) -> str:
    kind = item["type"]
    if kind == "extra_forbidden":
        allowed = _fields_at(model, loc[:-1])
        hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        text = "unknown key"
        if hint:
            text += f" (did you mean '{hint[0]}'?)"
        elif allowed:
            text += f"; allowed: {', '.join(allowed)}"
        return text
    if kind in ("literal_error", "enum"):
        expected = item.get("ctx", {}).get("expected", "")
        words = expected.replace("'", "").replace(" or ", ", ")
        return f"must be one of {words}"
    if kind == "value_error":
        return str(item["msg"]).removeprefix("Value error, ")
    if kind in _TYPE_WORDS:
        return _TYPE_WORDS[kind]
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        ops = {
            "greater_than": ">",
            "greater_than_equal": ">=",
            "less_than": "<",
            "less_than_equal": "<=",
        }
        bound = next(iter(item.get("ctx", {}).values()), "?")
        return f"must be {ops[kind]} {bound}"
    return str(item["msg"])


def _fields_at(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """The allowed keys of the table at ``loc`` inside ``model`` (empty when unknown)."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(part, int):
            args = typing.get_args(current)
            current = args[0] if args else None
        elif isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(part)
            current = field.annotation if field else None
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [field.alias or name for name, field in current.model_fields.items()]
    return []


def _unwrap(annotation: Any) -> Any:
    """Strip Optional/Annotated so a field's table model can be found."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            models = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = models[0] if len(models) == 1 else annotation
            if len(models) != 1:
                return annotation
        else:
            return annotation
