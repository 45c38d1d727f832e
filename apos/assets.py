"""Pushed browser assets: which files, from which layers, for whom, at which URL.

``push_asset`` records a request; when the ``push_assets`` hook has run everywhere the
registry is frozen and each push becomes one entry per layer that has the file, base first,
each with a content hash in its URL so that it can be cached for a year.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from apos.modules.apostrophe_module import Module

AssetKind = Literal["script", "stylesheet"]
When = Literal["always", "user"]
PUBLIC_FOLDER = "public"
_SUBFOLDER = {"script": ("js", ".js"), "stylesheet": ("css", ".css")}


@dataclass(frozen=True)
class Asset:
    kind: AssetKind
    module: str
    url_path: str
    """``/modules/<layer url name>/js/<name>.js`` without the version."""
    file: Path
    version: str
    when: When

    @property
    def url(self) -> str:
        return f"{self.url_path}?v={self.version}"


class AssetRegistry:
    """Every asset pushed by every module, in push order."""

    def __init__(self) -> None:
        self._assets: list[Asset] = []
        self._files: dict[str, Path] = {}
        self._frozen = False
        self._modules_with_scripts: list[str] = []

    def push(self, module: Module, kind: AssetKind, name: str, *, when: When) -> None:
        if self._frozen:
            raise RuntimeError(
                f"{module.name} pushed the {kind} {name!r} after start-up; push assets in "
                "the push_assets hook"
            )
        if kind not in _SUBFOLDER:
            raise ValueError(f"asset kind must be 'script' or 'stylesheet', not {kind!r}")
        if when not in ("always", "user"):
            raise ValueError(f"when must be 'always' or 'user', not {when!r}")
        subfolder, suffix = _SUBFOLDER[kind]
        relative = f"{subfolder}/{name}{suffix}"
        found = False
        for layer in reversed(module.layers):
            path = layer.file(f"{PUBLIC_FOLDER}/{relative}")
            if path is None:
                continue
            found = True
            url_path = f"/modules/{layer.url_name}/{relative}"
            if any(asset.url_path == url_path for asset in self._assets):
                continue  # a parent layer's file already pushed by another module
            self._files[url_path] = path
            self._assets.append(Asset(kind, module.name, url_path, path, _hash(path), when))
        if not found:
            raise FileNotFoundError(
                f"{module.name} pushed {relative} but no layer of its chain has "
                f"{PUBLIC_FOLDER}/{relative}"
            )
        if kind == "script" and module.name not in self._modules_with_scripts:
            self._modules_with_scripts.append(module.name)

    def freeze(self) -> None:
        self._frozen = True

    def for_user(self, logged_in: bool, kind: AssetKind) -> list[Asset]:
        """The assets of ``kind`` to include in a page for this visitor."""
        return [asset for asset in self._assets
                if asset.kind == kind and (logged_in or asset.when == "always")]

    def file_for(self, url_path: str) -> Path | None:
        """The file behind a pushed asset's URL path, or ``None``."""
        return self._files.get(url_path)

    @property
    def url_paths(self) -> list[str]:
        return list(self._files)

    @property
    def modules_with_scripts(self) -> list[str]:
        """Modules that pushed browser code: each gets a browser singleton."""
        return list(self._modules_with_scripts)


def _hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]
