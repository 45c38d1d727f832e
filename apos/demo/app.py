"""The default app: what ``apos serve`` runs when no ``--app`` file is given."""

from __future__ import annotations

from pathlib import Path

from apos import App
from apos.demo.home import HomeModule

app = App(
    modules={
        "demo-home": {},
    },
    classes=[HomeModule],
    project_dir=Path(__file__).parent,
    shortname="apos-demo",
)
