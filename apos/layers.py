"""A module's layers: the folders its templates and assets are looked up in.

For a class chain ``products -> apostrophe-pieces -> apostrophe-module`` the layers, most
derived first, are: the project's ``modules/products/`` folder, the ``products`` class's own
folder, the project's ``modules/apostrophe-pieces/`` folder, the pieces folder, and so on.
A project folder for a name therefore overrides that name's shipped files for every module
that extends it, with no code at all (Apostrophe's project-level ``lib/modules``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apos.modules.apostrophe_module import Module

PROJECT_MODULES_FOLDER = "modules"


@dataclass(frozen=True)
class Layer:
    """One folder in a module's chain.

    ``url_name`` is where the layer's public files are served (``/modules/<url_name>/``);
    project layers and improvements are served as ``my-<name>`` so they never collide with
    the shipped layer of the same name.
    """

    name: str
    folder: Path
    project: bool
    url_name: str

    def file(self, relative: str) -> Path | None:
        """``folder/relative`` when that file exists (and stays inside the folder)."""
        candidate = (self.folder / relative).resolve()
        if self.folder.resolve() not in candidate.parents or not candidate.is_file():
            return None
        return candidate


def layers_of(cls: type[Module], project_dir: Path | None) -> list[Layer]:
    """The layers of ``cls``'s chain, most-derived first."""
    from apos.modules.apostrophe_module import Module

    layers: list[Layer] = []
    seen_names: set[str] = set()
    chain = [klass for klass in cls.__mro__ if issubclass(klass, Module)]
    # Count how many classes of the chain share a name, base first, so that the shipped
    # layer keeps the plain name and improvements above it become ``my-<name>``.
    shipped_index: dict[str, int] = {}
    for index, klass in enumerate(reversed(chain)):
        name = klass.__dict__.get("name")
        if name is not None:
            shipped_index.setdefault(name, index)
    for index, klass in enumerate(chain):
        name = klass.__dict__.get("name")
        if name is None:
            continue
        if name not in seen_names:
            seen_names.add(name)
            if project_dir is not None:
                folder = project_dir / PROJECT_MODULES_FOLDER / name
                if folder.is_dir():
                    layers.append(Layer(name, folder, True, f"my-{name}"))
        own = klass.__dict__.get("folder")
        if own is not None:
            is_shipped = shipped_index[name] == len(chain) - 1 - index
            layers.append(Layer(name, Path(own), False, name if is_shipped else f"my-{name}"))
    return layers
