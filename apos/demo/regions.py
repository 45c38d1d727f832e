"""An example batch operation written as a module of its own: "Set Region".

It adds an operation to the piece types named in its ``types`` option, with no change to
``apostrophe-pieces``: a form field (the region to set), a change function (what happens to
each selected piece) and a route (``/modules/<type module>/set-region``), which the
manager shows as a button.  A type without a ``region`` field never offers it.
docs/batch-operations.md walks through it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from apos.errors import StartupError
from apos.modules.apostrophe_module import Module
from apos.modules.apostrophe_pieces import BatchOperation, FormField, PiecesModule
from apos.request import AposRequest

REGIONS = ("Africa", "Americas", "Antarctica", "Asia", "Europe", "Oceania")


def region_tag(region: str) -> str:
    return f"region-{region.lower()}"


class RegionsModule(Module):
    name: ClassVar[str] = "demo-regions"
    default_options: ClassVar[dict[str, Any]] = {"types": []}

    def after_construct(self) -> None:
        operation = BatchOperation(
            name="set-region",
            label="Set Region of",
            button_label="Set Region",
            progress_label="Setting regions",
            requires_field="region",
            fields=(FormField(name="region", type="select", label="Region", required=True,
                              choices=tuple({"value": r, "label": r} for r in REGIONS)),),
            change=self.set_region,
        )
        for module_name in self.options["types"]:
            module = self.apos.modules.get(module_name)
            if not isinstance(module, PiecesModule):
                raise StartupError(f"demo-regions: {module_name!r} is not a piece type "
                                   "configured before demo-regions")
            module.add_batch_operation(operation)

    def set_region(self, req: AposRequest, piece: dict[str, Any], data: dict[str, Any]) -> None:
        """Set the region, and keep exactly one ``region-*`` tag in step with it."""
        piece["region"] = data["region"]
        tags = [tag for tag in piece.get("tags") or [] if not tag.startswith("region-")]
        piece["tags"] = [*tags, region_tag(data["region"])]
