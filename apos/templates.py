"""jinja2 templates looked up along a module's chain.

Every template has a qualified name ``<module>:<file>``.  The loader finds ``<file>`` in the
``views/`` folder of that module's layers, most-derived first.  A relative ``include`` or
``extends`` inside a module's template stays within that module; ``other:file`` reaches
another module's chain.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2

from apos.layers import Layer

if TYPE_CHECKING:
    from apos.modules.apostrophe_module import Module
    from apos.request import AposRequest

VIEWS_FOLDER = "views"


def qualify(module_name: str, template: str) -> str:
    """``module:file.html`` for a name given relative to ``module_name``."""
    if ":" not in template:
        template = f"{module_name}:{template}"
    module, _, file = template.partition(":")
    if "." not in Path(file).name:
        file += ".html"
    return f"{module}:{file}"


class ChainLoader(jinja2.BaseLoader):
    """Finds ``module:file`` in the views folders of that module's layers."""

    def __init__(self, layers_for: Callable[[str], list[Layer]]) -> None:
        self._layers_for = layers_for

    def get_source(self, environment: jinja2.Environment,
                   template: str) -> tuple[str, str, Callable[[], bool]]:
        module, sep, file = template.partition(":")
        if not sep:
            raise jinja2.TemplateNotFound(template)
        for layer in self._layers_for(module):
            path = layer.file(f"{VIEWS_FOLDER}/{file}")
            if path is None:
                continue
            mtime = path.stat().st_mtime
            source = path.read_text(encoding="utf-8")
            return source, str(path), lambda p=path, m=mtime: p.stat().st_mtime == m
        raise jinja2.TemplateNotFound(template)


class ModuleEnvironment(jinja2.Environment):
    """Resolves a relative template name against the module of the template using it."""

    def join_path(self, template: str, parent: str) -> str:
        module, sep, _ = parent.partition(":")
        return qualify(module, template) if sep else template


class Templates:
    """The app's template environment."""

    def __init__(self, layers_for: Callable[[str], list[Layer]],
                 modules: Callable[[], Mapping[str, Module]]) -> None:
        self._modules = modules
        self.env = ModuleEnvironment(
            loader=ChainLoader(layers_for),
            autoescape=True,
            undefined=jinja2.ChainableUndefined,
            auto_reload=True,
        )

    def render(self, module: Module, req: AposRequest | None, name: str,
               data: Mapping[str, Any]) -> str:
        """Render ``name`` for ``module``: templates see ``data`` (with ``user`` and the
        module's ``options``) and ``module``.  ``other:name`` renders as module ``other``
        when it is running."""
        qualified = qualify(module.name, name)
        owner = self._modules().get(qualified.partition(":")[0], module)
        full = {**data, "user": req.user if req is not None else None,
                "options": owner.options}
        return self.env.get_template(qualified).render(data=full, module=owner)
