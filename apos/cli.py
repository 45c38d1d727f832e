"""The ``apos`` command: ``apos serve`` and ``apos users:add``.

Problems a person can fix (no database server, a folder in use, a bad app file) are printed
as one readable line, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import importlib
import importlib.util
import logging
import os
import signal
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from apos.app import APOS_KEY, Apos, App
from apos.errors import StartupError

DEFAULT_APP = "apos.demo.app"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 3000
DEFAULT_DATA_DIR = "data"


def load_app(spec: str | None) -> App:
    """The ``app`` defined by a Python file (``mysite.py``) or module (``pkg.site``)."""
    target = spec or DEFAULT_APP
    try:
        if target.endswith(".py") or "/" in target:
            path = Path(target)
            if not path.is_file():
                raise StartupError(f"The app file {target} does not exist")
            module_spec = importlib.util.spec_from_file_location("apos_site", path)
            if module_spec is None or module_spec.loader is None:
                raise StartupError(f"The app file {target} cannot be loaded")
            module = importlib.util.module_from_spec(module_spec)
            sys.modules["apos_site"] = module
            module_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(target)
    except StartupError:
        raise
    except Exception as error:
        raise StartupError(f"The app {target} failed to load: {error!r}") from error
    app = getattr(module, "app", None)
    if not isinstance(app, App):
        raise StartupError(f"The app {target} must define `app = apos.App(...)`")
    return app


def _database_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--app", help="the site's Python file (default: the demo site)")
    parser.add_argument("--db-uri", help="MongoDB URI (default: $APOS_MONGODB_URI, else the "
                        "embedded database server)")
    parser.add_argument("--data-dir", default=DEFAULT_DATA_DIR,
                        help="folder for the embedded database (default: ./data)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="apos", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="run the site")
    _database_options(serve)
    serve.add_argument("--host", default=DEFAULT_HOST)
    serve.add_argument("--port", type=int, default=DEFAULT_PORT)
    add_user = commands.add_parser("users:add", help="create a user (the password is asked "
                                   "for, or read from standard input)")
    _database_options(add_user)
    add_user.add_argument("username")
    add_user.add_argument("--role", choices=["admin", "editor"], default="editor")
    add_user.add_argument("--permission", action="append", dest="permissions",
                          help="grant this permission instead of the role's (repeatable), "
                          "for example edit-country")
    return parser


async def serve(app: App, args: argparse.Namespace) -> None:
    """Serve until SIGINT or SIGTERM, then shut down gracefully: the site keeps answering
    (new jobs are refused) while running jobs get their grace period to stop; then the
    HTTP server closes, then the database, and the database server child last."""
    web_app = app.web_app(db_uri=args.db_uri, data_dir=args.data_dir)
    runner = web.AppRunner(web_app, handle_signals=False, shutdown_timeout=1.0)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if stop.is_set():
            _quit_now()  # a second Ctrl-C
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal)
    await runner.setup()
    try:
        apos = web_app[APOS_KEY]
        assert isinstance(apos, Apos)
        # One-time set-up (seeding the demo) may take a while: Ctrl-C still stops it.
        if not await _unless_stopped(apos.hooks.call("before_serve"), stop):
            print("apos: stopped before serving", flush=True)
            return
        site = web.TCPSite(runner, args.host, args.port)
        try:
            await site.start()
        except OSError as error:
            raise StartupError(f"Cannot listen on {args.host}:{args.port}: {error.strerror}"
                               ) from error
        print(f"apos: serving {app.shortname} at http://{args.host}:{args.port}/ "
              "(Ctrl-C to stop)", flush=True)
        await stop.wait()
        print("apos: stopping: running jobs get their grace period "
              "(Ctrl-C again quits at once)", flush=True)
        await apos.shutdown()
    finally:
        await runner.cleanup()


async def _unless_stopped(work: Coroutine[Any, Any, Any], stop: asyncio.Event) -> bool:
    """Run ``work`` unless ``stop`` is set first (then cancel it); whether it finished."""
    task = asyncio.ensure_future(work)
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait([task, stopping], return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not task.done():
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return False
    task.result()
    return not stop.is_set()


def _quit_now() -> None:
    """A second Ctrl-C: leave at once.  Jobs still running are found interrupted by the
    next apos process, and the database server is stopped by its last user."""
    print("apos: quitting now", file=sys.stderr, flush=True)
    os._exit(130)


def read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Password again: ") != first:
            raise StartupError("The passwords do not match")
        return first
    return sys.stdin.readline().rstrip("\r\n")


async def add_user(app: App, args: argparse.Namespace) -> None:
    from apos.modules.apostrophe_users import UsersModule
    from apos.modules.apostrophe_users.module import UserExists

    password = read_password()
    if not password:
        raise StartupError("The password must not be empty")
    apos = await Apos.start(app, db_uri=args.db_uri, data_dir=Path(args.data_dir))
    try:
        users = apos.module("apostrophe-users")
        assert isinstance(users, UsersModule)
        try:
            user = await users.add_user(args.username, password, role=args.role,
                                        permissions=args.permissions)
        except (UserExists, ValueError) as error:
            raise StartupError(str(error)) from error
        print(f"apos: created {args.role} {user['username']!r}")
    finally:
        await apos.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        app = load_app(args.app)
        if args.command == "serve":
            asyncio.run(serve(app, args))
        else:
            asyncio.run(add_user(app, args))
    except StartupError as error:
        print(f"apos: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
