"""``apostrophe-module``: the base every module extends."""

from apos.modules.apostrophe_module.module import Module

BaseModule = Module

__all__ = ["BaseModule", "Module"]
