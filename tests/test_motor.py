"""An app that already holds a motor database can hand it in instead of connecting."""

from __future__ import annotations

from typing import Any

from apos import App
from tests.conftest import StartApp, login, post_json
from tests.fixtures.site import Animals


async def test_app_runs_on_a_motor_database_handed_in(start_app: StartApp, mongo_uri: str,
                                                      db_name: str) -> None:
    from motor.motor_asyncio import AsyncIOMotorClient

    motor_client: Any = AsyncIOMotorClient(mongo_uri)
    try:
        motor_db = motor_client[db_name]
        client, apos = await start_app(App(modules={"animals": {}}, classes=[Animals]),
                                       db=motor_db, db_uri=None)
        assert apos.db is motor_db
        # Sessions, users (argon2 login) and an api route all run through motor.
        await login(client, apos, "motorist")
        members = await post_json(client, "/modules/animals/members")
        assert await members.json() == {"status": "ok", "username": "motorist"}
        assert await motor_db["aposUsers"].count_documents({"username": "motorist"}) == 1
        assert await motor_db["aposSessions"].count_documents({}) >= 1
    finally:
        motor_client.close()
