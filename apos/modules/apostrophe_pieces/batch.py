"""Batch operations: what the manager can do to many selected pieces at once.

Each operation is a :class:`BatchOperation`.  A piece type's operations are the defaults,
plus its ``add_batch_operations`` option, minus ``remove_batch_operations``; those whose
required field the type lacks, or whose ``only_if`` refuses the type, are dropped once all
modules are ready (their routes then answer ``invalid``).  Most operations change each
piece through :meth:`~apos.modules.apostrophe_pieces.batch.PiecesBatch.batch_simple`.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from apos.errors import ApiError
from apos.modules.apostrophe_pieces.api import PiecesApi
from apos.modules.apostrophe_pieces.fields import FormField, launder_form
from apos.request import AposRequest

Piece = dict[str, Any]
ChangeFunction = Callable[[AposRequest, Piece, dict[str, Any]], Awaitable[None] | None]
RouteHandler = Callable[[AposRequest], Awaitable[Mapping[str, Any]]]


@dataclass(frozen=True)
class BatchOperation:
    """One batch operation of a piece type.

    ``unless_filter``: the manager hides the operation while the list is filtered this way
    (no "Trash" in the trash).  ``requires_field``: the type's schema must have this field.
    ``only_if(type_name)``: another way to rule the operation out for a type.  ``change``
    modifies one piece for ``batch_simple``; ``handler`` replaces ``batch_simple`` entirely.
    ``route`` defaults to the name.  ``permission`` narrows who may run it.
    """

    name: str
    label: str
    button_label: str | None = None
    unless_filter: Mapping[str, Any] | None = None
    requires_field: str | None = None
    fields: Sequence[FormField] = ()
    progress_label: str | None = None
    only_if: Callable[[str], bool] | None = None
    route: str | None = None
    change: ChangeFunction | None = None
    handler: RouteHandler | None = None
    permission: str | None = None
    """Who may run it; the type's edit permission when not given."""
    include_trash: bool = False
    """Whether it applies to trashed pieces (rescue must; most operations must not)."""

    @property
    def path(self) -> str:
        return self.route or self.name

    @property
    def title(self) -> str:
        """The job's title: ``progress_label or button_label or label``."""
        return self.progress_label or self.button_label or self.label

    def as_json(self) -> dict[str, Any]:
        """What the browser's manager needs (Apostrophe's camelCase keys)."""
        return {
            "name": self.name,
            "label": self.label,
            "buttonLabel": self.button_label or self.label,
            "unlessFilter": dict(self.unless_filter) if self.unless_filter else None,
            "fields": [form_field.as_json() for form_field in self.fields],
            "route": self.path,
        }


SAVE_ATTEMPTS = 5


class PieceUnavailable(LookupError):
    """A selected piece is missing, not editable by this user, or busy: it counts as bad."""


def _set(field_name: str, value: Any) -> ChangeFunction:
    def change(req: AposRequest, piece: Piece, data: dict[str, Any]) -> None:
        piece[field_name] = value

    change.__name__ = f"set_{field_name}_{value}".lower()
    return change


def add_tags(req: AposRequest, piece: Piece, data: dict[str, Any]) -> None:
    piece["tags"] = list(dict.fromkeys([*(piece.get("tags") or []), *data["tags"]]))


def remove_tags(req: AposRequest, piece: Piece, data: dict[str, Any]) -> None:
    removed = set(data["tags"])
    piece["tags"] = [tag for tag in piece.get("tags") or [] if tag not in removed]


TAGS_FIELD = FormField(name="tags", type="tags", label="Tags", required=True)

DEFAULT_BATCH_OPERATIONS: tuple[BatchOperation, ...] = (
    BatchOperation("trash", "Trash", "Trash", unless_filter={"trash": True},
                   change=_set("trash", True), include_trash=True),
    BatchOperation("rescue", "Rescue", "Rescue", unless_filter={"trash": False},
                   change=_set("trash", False), include_trash=True),
    BatchOperation("publish", "Publish", "Publish", unless_filter={"published": True},
                   requires_field="published", change=_set("published", True)),
    BatchOperation("unpublish", "Unpublish", "Unpublish", unless_filter={"published": False},
                   requires_field="published", change=_set("published", False)),
    BatchOperation("tag", "Add Tag to", "Add Tag", requires_field="tags",
                   fields=(TAGS_FIELD,), change=add_tags),
    BatchOperation("untag", "Remove Tag from", "Remove Tag", requires_field="tags",
                   fields=(TAGS_FIELD,), change=remove_tags),
)


def operation_from_option(value: BatchOperation | Mapping[str, Any]) -> BatchOperation:
    """An entry of ``add_batch_operations``: a BatchOperation, or a dict of its fields."""
    if isinstance(value, BatchOperation):
        return value
    if not isinstance(value, Mapping) or not isinstance(value.get("name"), str):
        raise ValueError(f"a batch operation needs at least a name and a label: {value!r}")
    known = set(BatchOperation.__dataclass_fields__)
    unknown = set(value) - known
    if unknown:
        raise ValueError(f"batch operation {value['name']!r}: unknown keys {sorted(unknown)}")
    options = dict(value)
    options["fields"] = tuple(f if isinstance(f, FormField) else FormField(**f)
                              for f in options.get("fields", ()))
    return BatchOperation(**options)


def build_operations(added: Sequence[BatchOperation | Mapping[str, Any]],
                     removed: Sequence[str]) -> dict[str, BatchOperation]:
    """Defaults, then the added ones (replacing a default of the same name), minus removed."""
    operations = {operation.name: operation for operation in DEFAULT_BATCH_OPERATIONS}
    for value in added:
        operation = operation_from_option(value)
        operations[operation.name] = operation
    for name in removed:
        operations.pop(name, None)
    return operations


class PiecesBatch(PiecesApi):
    """Batch operations of a piece type, combined into
    :class:`~apos.modules.apostrophe_pieces.module.PiecesModule`."""

    def before_construct(self) -> None:
        self.batch_operations: dict[str, BatchOperation] = build_operations(
            self.options.get("add_batch_operations") or (),
            self.options.get("remove_batch_operations") or (),
        )
        self.routed_operations: dict[str, BatchOperation] = {}
        """Every operation that got a route, available or not."""

    def add_batch_operation(self, operation: BatchOperation | Mapping[str, Any]) -> None:
        """Add (or replace) an operation; call it before routes are added (a module's own
        ``construct``/``after_construct`` is the place)."""
        built = operation_from_option(operation)
        self.batch_operations[built.name] = built
        if self.routed_operations:
            self._add_operation_route(built)

    def modules_ready(self) -> None:
        """Drop operations this type cannot support, now that every module has had its say."""
        fields = self.schema_fields
        type_name = self.type_name
        self.batch_operations = {
            name: operation for name, operation in self.batch_operations.items()
            if (operation.requires_field is None or operation.requires_field in fields)
            and (operation.only_if is None or operation.only_if(type_name))
        }

    @property
    def job_options(self) -> dict[str, Any]:
        """Options for the jobs of this type's batch operations."""
        return {"concurrency": int(self.options.get("batch_concurrency") or 1)}

    def operation_permission(self, operation: BatchOperation) -> str:
        return operation.permission or self.edit_permission

    def available_operations(self, req: AposRequest) -> list[BatchOperation]:
        """The operations this user may run on this type, in order."""
        return [operation for operation in self.batch_operations.values()
                if req.can(self.operation_permission(operation))]

    def add_batch_routes(self) -> None:
        for operation in self.batch_operations.values():
            self._add_operation_route(operation)

    def _add_operation_route(self, operation: BatchOperation) -> None:
        self.routed_operations[operation.name] = operation

        async def handle(req: AposRequest) -> Mapping[str, Any]:
            current = self.batch_operations.get(operation.name)
            if current is None:
                raise ApiError("invalid", f"{operation.name} is not available for "
                               f"{self.type_name}")
            if not req.can(self.operation_permission(current)):
                raise ApiError("forbidden")
            if current.handler is not None:
                return await current.handler(req)
            if current.change is None:
                raise ApiError("invalid", f"{operation.name} has no change function")
            return await self.batch_simple(req, current.name, current.change)

        self.api_route("post", operation.path, handle, permission=self.edit_permission)

    async def batch_simple(self, req: AposRequest, name: str,
                           change: ChangeFunction) -> dict[str, Any]:
        """Run operation ``name`` over ``req.body['ids']`` as a job, ``change`` modifying
        each piece before it is saved; the api answer (``{"jobId"}``) to return.

        The operation's form is validated first: bad input is ``invalid`` and no job is
        created.  Each id is then looked up as this type, for editing by this user; a
        missing or forbidden piece counts as bad."""
        operation = self.batch_operations.get(name)
        if operation is None:
            raise ApiError("invalid", f"{name} is not available for {self.type_name}")
        data = launder_form(operation.fields, req.body)
        self.jobs.ids_from_body(req.body)  # bad ids are invalid before anything starts

        async def each(req: AposRequest, piece_id: str) -> dict[str, Any]:
            for _ in range(SAVE_ATTEMPTS):
                piece = await self.find_for_editing(req, piece_id,
                                                    include_trash=operation.include_trash)
                if piece is None:
                    raise PieceUnavailable(f"no {self.type_name} {piece_id} that this user "
                                           "may edit")
                original = copy.deepcopy(piece)
                result = change(req, piece, data)
                if inspect.isawaitable(result):
                    await result
                # Someone else saved it meanwhile (another job, say): apply the change
                # again to their version rather than undo their work.
                if await self.save_changes(req, original, piece):
                    return {"_id": piece["_id"], "title": piece.get("title"),
                            "slug": piece.get("slug")}
            raise PieceUnavailable(f"{self.type_name} {piece_id} kept changing; not saved")

        labels = {"title": operation.title}
        return await self.jobs.run(req, each, {"labels": labels, **self.job_options})

