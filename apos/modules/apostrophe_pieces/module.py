"""The ``apostrophe-pieces`` module class: a piece type (give it a ``name`` option)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from apos.modules.apostrophe_pieces.routes import PiecesRoutes
from apos.request import AposRequest


class PiecesModule(PiecesRoutes):
    """A piece type.  Extend it (``{"extend": "apostrophe-pieces", "name": "product"}``)
    rather than configuring it directly.

    Options: ``name`` (the documents' ``type``, required), ``label``, ``plural_label``,
    ``per_page`` (manager page size), ``add_fields`` / ``remove_fields`` (schema fields
    beyond title, slug, published and tags), ``add_batch_operations`` /
    ``remove_batch_operations``, and ``batch_concurrency`` (items a batch job works on at
    once).
    """

    name: ClassVar[str] = "apostrophe-pieces"
    folder: ClassVar[Path | None] = Path(__file__).parent
    default_options: ClassVar[dict[str, Any]] = {
        "per_page": 50,
        "batch_concurrency": 4,
    }

    async def after_construct(self) -> None:
        _ = self.type_name  # a missing name option is a start-up error, not a later 500
        await self.ensure_indexes()

    def push_assets(self) -> None:
        self.push_asset("script", "user", when="user")
        self.push_asset("stylesheet", "manager", when="user")

    def get_browser_data(self, req: AposRequest) -> dict[str, Any]:
        data = super().get_browser_data(req)
        data.update({
            "type": self.type_name,
            "label": self.options.get("label") or self.type_name,
            "pluralLabel": self.options.get("plural_label") or self.name,
            "perPage": int(self.options["per_page"]),
            "batchOperations": [op.as_json() for op in self.available_operations(req)],
            "canEdit": self.can_edit(req),
            "managerUrl": self.action("manager"),
        })
        return data
