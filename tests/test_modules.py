"""Module system: inheritance, options, lifecycle, hooks, improvements, registration."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from apos import App, Module, StartupError, hookimpl
from tests.conftest import FIXTURES, StartApp, post_json
from tests.fixtures import site
from tests.fixtures.site import Animals, Dogs


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    site.CALLS.clear()


def make_app(**kwargs: Any) -> App:
    kwargs.setdefault("modules", {"animals": {}, "dogs": {"legs": 3}})
    kwargs.setdefault("classes", [Animals, Dogs])
    return App(**kwargs)


async def test_options_merge_down_the_chain_and_config_wins(start_app: StartApp) -> None:
    _, apos = await start_app(make_app())
    dogs = apos.modules["dogs"]
    assert dogs.options["sound"] == "woof"  # the subclass layer beats the parent's default
    assert dogs.options["color"] == "brown"  # the parent's default is kept when not overridden
    assert dogs.options["legs"] == 3  # the app's configuration beats every layer
    assert dogs.options["adjusted"] == "by-before-construct"
    assert apos.modules["animals"].options["legs"] == 4
    assert isinstance(dogs, Animals)


async def test_lifecycle_order_per_module_then_app_wide_hooks(start_app: StartApp) -> None:
    await start_app(make_app())
    assert site.CALLS == [
        "animals:before_construct:animals",
        "animals:construct:animals",
        "animals:after_construct:animals",
        "dogs:before_construct:dogs",  # most-derived layer first
        "dogs:before_construct:animals",
        "dogs:construct:animals",  # base first
        "dogs:construct:dogs",
        "dogs:after_construct:animals",
        "animals:modules_ready",  # async hooks awaited in module order
        "dogs:modules_ready",
        "animals:after_init",
        "dogs:after_init",
    ]


async def test_config_only_module_extends_by_name(start_app: StartApp) -> None:
    app = make_app(modules={"cats": {"extend": "animals", "sound": "meow"}})
    client, apos = await start_app(app)
    assert type(apos.modules["cats"]).__mro__[1] is Animals
    response = await post_json(client, "/modules/cats/speak")
    assert await response.json() == {"status": "ok", "sound": "meow", "legs": 4}


async def test_subclass_route_replaces_parent_route(start_app: StartApp) -> None:
    client, _ = await start_app(make_app())
    animals = await (await post_json(client, "/modules/animals/speak")).json()
    dogs = await (await post_json(client, "/modules/dogs/speak")).json()
    assert animals == {"status": "ok", "sound": "...", "legs": 4}
    assert dogs == {"status": "ok", "sound": "WOOF", "legs": 3}


class ImprovedAnimals(Animals):
    """A project's improvement of ``animals``: same name, one overridden method."""

    name: ClassVar[str] = "animals"

    def speak(self, req: Any) -> dict[str, Any]:
        return {**super().speak(req), "improved": True}


async def test_improvement_keeps_the_name_and_calls_super(start_app: StartApp) -> None:
    app = make_app(modules={"animals": {}}, classes=[Animals, ImprovedAnimals])
    client, apos = await start_app(app)
    assert isinstance(apos.modules["animals"], ImprovedAnimals)
    body = await (await post_json(client, "/modules/animals/speak")).json()
    assert body == {"status": "ok", "sound": "...", "legs": 4, "improved": True}


async def test_improving_a_shipped_core_module_with_code(start_app: StartApp) -> None:
    from apos.modules.apostrophe_users import UsersModule

    class MyUsers(UsersModule):
        name: ClassVar[str] = "apostrophe-users"
        default_options: ClassVar[dict[str, Any]] = {"collection_name": "siteUsers"}

    _, apos = await start_app(make_app(classes=[Animals, Dogs, MyUsers]))
    users = apos.modules["apostrophe-users"]
    assert isinstance(users, MyUsers)
    await users.add_user("someone", "pw")
    assert await apos.db["siteUsers"].count_documents({"username": "someone"}) == 1


async def test_template_only_improvement_from_the_project_folder(start_app: StartApp) -> None:
    app = make_app(project_dir=FIXTURES / "project")
    client, _ = await start_app(app)
    # The project's modules/apostrophe-templates/views/layout.html replaces the shipped
    # layout with no code at all.
    text = await (await client.get("/login")).text()
    assert "project layout" in text
    # A project folder for a parent overrides that parent's template for subclasses too.
    assert "project page rendered" in await (await client.get("/modules/dogs/page")).text()


def test_class_reusing_a_name_without_extending_is_rejected() -> None:
    class Impostor(Module):
        name: ClassVar[str] = "apostrophe-users"

    from apos.registry import ModuleRegistry

    with pytest.raises(StartupError, match="must extend it"):
        ModuleRegistry([Impostor])


async def test_unknown_module_is_a_readable_startup_error(start_app: StartApp) -> None:
    with pytest.raises(StartupError, match="Unknown module 'nope'"):
        await start_app(make_app(modules={"nope": {}}))


async def test_same_plugin_registered_twice_fails_at_startup(start_app: StartApp) -> None:
    class Plugin:
        @hookimpl
        def after_init(self) -> None:
            site.CALLS.append("plugin")

    plugin = Plugin()
    with pytest.raises(StartupError, match="registered twice"):
        await start_app(make_app(plugins=[plugin, plugin]))


async def test_marked_plugin_hooks_run_after_modules(start_app: StartApp) -> None:
    class Plugin:
        @hookimpl
        async def after_init(self) -> None:
            site.CALLS.append("plugin:after_init")

    await start_app(make_app(plugins=[Plugin()]))
    assert site.CALLS[-3:] == ["animals:after_init", "dogs:after_init", "plugin:after_init"]


def test_core_modules_are_found_through_the_entry_point_group() -> None:
    from importlib.metadata import entry_points

    names = {ep.name for ep in entry_points(group="apos.modules")}
    assert {"apostrophe-module", "apostrophe-assets", "apostrophe-login"} <= names


async def test_hooks_registry_rejects_a_second_module_of_the_same_name() -> None:
    from apos.plugins import Hooks

    hooks = Hooks()
    hooks.register(object(), "x")
    with pytest.raises(StartupError, match="'x' is registered twice"):
        hooks.register(object(), "x")
