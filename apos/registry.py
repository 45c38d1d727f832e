"""Which class serves each module name.

Classes come from the ``apos.modules`` entry-point group (core modules register themselves
there exactly as a third-party package would) and from the app's own ``classes``.  An app
class that reuses a known name must extend that name's class: it *improves* the module,
which keeps its name.  A module configured with ``extend`` and no class of its own gets a
class made on the spot.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib.metadata import entry_points
from typing import Any

from apos.errors import StartupError
from apos.modules.apostrophe_module import Module

ENTRY_POINT_GROUP = "apos.modules"


class ModuleRegistry:
    """Module name -> class, with improvements stacked on top of what was installed."""

    def __init__(self, classes: Iterable[type[Module]] = (), *,
                 discover: bool = True) -> None:
        self._classes: dict[str, type[Module]] = {}
        self._entry_points = (
            {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)} if discover else {}
        )
        for cls in classes:
            self.add(cls)

    def add(self, cls: type[Module]) -> None:
        """Make ``cls`` the class for its name, improving the installed class if any."""
        if not (isinstance(cls, type) and issubclass(cls, Module)):
            raise StartupError(f"{cls!r} is not a module class (it must extend apos.Module)")
        name = cls.__dict__.get("name")
        if not name:
            raise StartupError(f"The module class {cls.__qualname__} must set name = '...'")
        current = self._lookup(name)
        if current is not None and current is not cls and not issubclass(cls, current):
            raise StartupError(
                f"{cls.__qualname__} is named {name!r}, which is already provided by "
                f"{current.__module__}.{current.__qualname__}; to improve that module the class "
                "must extend it"
            )
        self._classes[name] = cls

    def _lookup(self, name: str) -> type[Module] | None:
        if name in self._classes:
            return self._classes[name]
        entry = self._entry_points.get(name)
        if entry is None:
            return None
        try:
            cls = entry.load()
        except Exception as error:
            raise StartupError(
                f"The module {name!r} could not be loaded from {entry.value}: {error}"
            ) from error
        if not (isinstance(cls, type) and issubclass(cls, Module)):
            raise StartupError(f"The entry point {name!r} ({entry.value}) is not a module class")
        self._classes[name] = cls
        return cls

    def get(self, name: str) -> type[Module] | None:
        return self._lookup(name)

    def resolve(self, name: str, config: Mapping[str, Any]) -> type[Module]:
        """The class to instantiate for module ``name`` with its configuration."""
        cls = self._lookup(name)
        parent_name = config.get("extend")
        if parent_name is not None:
            if not isinstance(parent_name, str):
                raise StartupError(f"Module {name!r}: 'extend' must be a module name")
            if cls is not None:
                raise StartupError(
                    f"Module {name!r} is configured with extend={parent_name!r} but a class "
                    f"already provides it ({cls.__qualname__}); use one or the other"
                )
            parent = self._lookup(parent_name)
            if parent is None:
                raise StartupError(
                    f"Module {name!r} extends {parent_name!r}, which is not an installed module"
                )
            made = type(_class_name(name), (parent,), {"name": name, "__module__": __name__})
            self._classes[name] = made
            return made
        if cls is None:
            raise StartupError(
                f"Unknown module {name!r}: no installed package provides it, the app has no "
                "class for it, and its configuration names no module to 'extend'"
            )
        return cls


def _class_name(module_name: str) -> str:
    return "".join(part.capitalize() for part in module_name.replace("_", "-").split("-"))
