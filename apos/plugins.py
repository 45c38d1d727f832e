"""Hook dispatch through pluggy, in module order, awaiting async implementations.

pluggy calls implementations last-registered-first and has no notion of coroutines; apos
wants the opposite on both counts (Apostrophe's modules run in configuration order and its
handlers may be async), so :meth:`HookCaller.call` walks pluggy's registered implementations
itself.  Module instances are plugins whose hook methods are found by name, so an override
in a subclass needs no marker.
"""

from __future__ import annotations

import inspect
from typing import Any

import pluggy

from apos import hookspecs
from apos.errors import StartupError


class ModuleAwarePluginManager(pluggy.PluginManager):
    """A plugin manager that treats every method named like a hook as an implementation
    when the plugin is an apos module, and reads markers on anything else."""

    def parse_hookimpl_opts(self, plugin: object, name: str) -> pluggy.HookimplOpts | None:
        from apos.modules.apostrophe_module import Module

        if isinstance(plugin, Module):
            if name.startswith("_") or not hasattr(self.hook, name):
                return None
            if not callable(getattr(plugin, name, None)):
                return None
            return {
                "wrapper": False,
                "hookwrapper": False,
                "optionalhook": False,
                "tryfirst": False,
                "trylast": False,
                "specname": None,
            }
        return super().parse_hookimpl_opts(plugin, name)


class Hooks:
    """The app's hooks: register modules and plugins, then ``await hooks.call(name, ...)``."""

    def __init__(self) -> None:
        self._pm = ModuleAwarePluginManager(hookspecs.PROJECT_NAME)
        self._pm.add_hookspecs(hookspecs)

    def register(self, plugin: object, name: str) -> None:
        """Register ``plugin`` under ``name``; the same object or name twice is an error."""
        if self._pm.is_registered(plugin) or self._pm.get_plugin(name) is not None:
            raise StartupError(
                f"The module or plugin {name!r} is registered twice. Each module may appear "
                "only once in the app's configuration."
            )
        self._pm.register(plugin, name=name)

    async def call(self, hook_name: str, **kwargs: Any) -> list[Any]:
        """Call every implementation of ``hook_name`` in registration order.

        Each implementation receives only the arguments it names; awaitable results are
        awaited before the next implementation runs.  Returns the results in order.
        """
        caller = getattr(self._pm.hook, hook_name, None)
        if caller is None:
            raise ValueError(f"There is no hook named {hook_name!r}")
        spec_args = set(caller.spec.argnames) if caller.spec else set()
        unknown = set(kwargs) - spec_args
        if unknown:
            raise TypeError(f"Hook {hook_name!r} takes no argument(s) {sorted(unknown)}")
        results: list[Any] = []
        impls = caller.get_hookimpls()
        ordered = (
            [i for i in impls if i.tryfirst]
            + [i for i in impls if not (i.tryfirst or i.trylast)]
            + [i for i in impls if i.trylast]
        )
        for impl in ordered:
            result = impl.function(**{arg: kwargs.get(arg) for arg in impl.argnames})
            if inspect.isawaitable(result):
                result = await result
            results.append(result)
        return results
