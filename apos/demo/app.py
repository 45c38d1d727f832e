"""The default app: what ``apos serve`` runs when no ``--app`` file is given.

Two piece types filled from real public data (the ``pycountry`` package): ISO 639-3
languages and ISO 3166 countries, plus ``demo-regions``, an example of a batch operation
written as a module of its own (see docs/batch-operations.md).
"""

from __future__ import annotations

from pathlib import Path

from apos import App
from apos.demo.home import HomeModule
from apos.demo.regions import RegionsModule
from apos.demo.seed import SeedModule

app = App(
    modules={
        "languages": {
            "extend": "apostrophe-pieces",
            "name": "language",
            "label": "Language",
            "plural_label": "Languages",
        },
        "countries": {
            "extend": "apostrophe-pieces",
            "name": "country",
            "label": "Country",
            "plural_label": "Countries",
            "add_fields": ["region"],
        },
        "demo-regions": {"types": ["countries"]},
        "demo-seed": {},
        "demo-home": {},
    },
    classes=[HomeModule, RegionsModule, SeedModule],
    project_dir=Path(__file__).parent,
    shortname="apos-demo",
    title="apos demo",
)
