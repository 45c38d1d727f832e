"""``apostrophe-assets``: the browser runtime, asset files and the page's asset tags."""

from apos.modules.apostrophe_assets.module import AssetsModule

__all__ = ["AssetsModule"]
