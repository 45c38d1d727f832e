"""Form fields of batch operations (the tags of "Add Tag", a region to set...) and their
laundering: what the browser sent becomes a trusted value, or the request is ``invalid``
before any job exists."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from apos import launder
from apos.launder import LaunderError

FieldType = Literal["tags", "select", "string", "boolean"]
MAX_TAGS = 100
MAX_STRING = 1000


@dataclass(frozen=True)
class FormField:
    """One input of an operation's form.

    ``choices`` (for ``select``) is a list of ``{"value", "label"}``.
    """

    name: str
    type: FieldType
    label: str
    required: bool = False
    choices: Sequence[Mapping[str, str]] = field(default_factory=tuple)

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "label": self.label,
                "required": self.required, "choices": [dict(c) for c in self.choices]}


def launder_tags(value: Any) -> list[str]:
    """Tags trimmed and lowercased, empties and duplicates dropped.  A single string is
    split on commas, as a person types tags into one box."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list) or not all(isinstance(tag, str) for tag in value):
        raise LaunderError("tags must be a list of strings")
    tags = list(dict.fromkeys(tag.strip().lower() for tag in value if tag.strip()))
    if len(tags) > MAX_TAGS or any(len(tag) > MAX_STRING for tag in tags):
        raise LaunderError(f"at most {MAX_TAGS} tags of at most {MAX_STRING} characters")
    return tags


def launder_form(fields: Sequence[FormField], body: Mapping[str, Any]) -> dict[str, Any]:
    """The operation's form data from the request body; ``invalid`` when a value is wrong
    or a required one is missing."""
    data: dict[str, Any] = {}
    for form_field in fields:
        raw = body.get(form_field.name)
        value = _launder_one(form_field, raw)
        if form_field.required and value in (None, "", []):
            raise LaunderError(f"{form_field.label} is required")
        data[form_field.name] = value
    return data


def _launder_one(form_field: FormField, raw: Any) -> Any:
    if form_field.type == "tags":
        return launder_tags(raw) if raw is not None else []
    if form_field.type == "boolean":
        return launder.boolean(raw, form_field.label)
    if raw is None:
        return None
    if not isinstance(raw, str) or len(raw) > MAX_STRING:
        raise LaunderError(f"{form_field.label} must be a text")
    value = raw.strip()
    if form_field.type == "select" and value and value not in {
            choice["value"] for choice in form_field.choices}:
        raise LaunderError(f"{value!r} is not a choice of {form_field.label}")
    return value
