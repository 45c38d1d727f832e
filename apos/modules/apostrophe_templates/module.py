"""Holds the site layout (``apostrophe-templates:layout.html``) and its stylesheet.

A project overrides the layout by placing ``modules/apostrophe-templates/views/layout.html``
in its folder, like any other template."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from apos.modules.apostrophe_module import Module
from apos.request import AposRequest


class TemplatesModule(Module):
    name: ClassVar[str] = "apostrophe-templates"
    folder: ClassVar[Path | None] = Path(__file__).parent

    def push_assets(self) -> None:
        self.push_asset("stylesheet", "site")

    def page_data(self, req: AposRequest, data: dict[str, Any]) -> None:
        data["site_title"] = self.apos.app.title
        data.setdefault("title", self.apos.app.title)
