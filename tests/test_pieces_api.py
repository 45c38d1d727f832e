"""apostrophe-pieces over HTTP: piece types, the list route, batch operations through
batch_simple, and who may do what."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from apos import AposRequest
from apos.modules.apostrophe_pieces import BatchOperation
from tests.conftest import StartApp, login, post_json
from tests.fixtures.pieces_site import make_app
from tests.jobs_helpers import assert_consistent_end, wait_for_end
from tests.pieces_helpers import ADMIN_REQ_USER, add_pieces, pieces


async def post(client: Any, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await post_json(client, path, body)
    data: dict[str, Any] = await response.json()
    return data


async def run_operation(client: Any, apos: Any, module: str, operation: str,
                        body: dict[str, Any]) -> dict[str, Any]:
    answer = await post(client, f"/modules/{module}/{operation}", {**body, "job": True})
    assert answer["status"] == "ok", answer
    job = await wait_for_end(apos, answer["jobId"])
    assert_consistent_end(job)
    return job


async def test_pieces_have_the_contract_fields(start_app: StartApp) -> None:
    _, apos = await start_app(make_app())
    [piece] = await add_pieces(apos, "products", 1, tags=["a"])
    stored = await apos.db["aposDocs"].find_one({"_id": piece["_id"]})
    assert stored["type"] == "product" and stored["title"] == "Product 000"
    assert stored["slug"] == "product-000"
    assert stored["published"] is True and stored["trash"] is False
    assert stored["tags"] == ["a"]
    assert stored["createdAt"] == stored["updatedAt"]
    assert len(stored["_id"]) == 25 and stored["_id"].startswith("c")


async def test_update_sets_updated_at_and_stays_within_the_type(start_app: StartApp) -> None:
    _, apos = await start_app(make_app())
    [product] = await add_pieces(apos, "products", 1)
    [article] = await add_pieces(apos, "articles", 1)
    req = AposRequest(apos, user=ADMIN_REQ_USER)
    found = await pieces(apos, "products").find_for_editing(req, product["_id"])
    assert found is not None
    await asyncio.sleep(0.01)
    found["title"] = "Renamed"
    await pieces(apos, "products").update(req, found)
    stored = await apos.db["aposDocs"].find_one({"_id": product["_id"]})
    assert stored["title"] == "Renamed" and stored["updatedAt"] > stored["createdAt"]
    # An article is not a product, whoever asks.
    assert await pieces(apos, "products").find_for_editing(req, article["_id"]) is None


async def test_list_pages_filters_and_sorts_stably(start_app: StartApp) -> None:
    client, apos = await start_app(make_app())
    await login(client, apos, "ed", role="editor")
    made = await add_pieces(apos, "products", 45)
    req = AposRequest(apos, user=ADMIN_REQ_USER)
    module = pieces(apos, "products")
    for piece in made[:5]:
        found = await module.find_for_editing(req, piece["_id"])
        assert found is not None
        found.update(trash=True)
        await module.update(req, found)
    for piece in made[5:8]:
        found = await module.find_for_editing(req, piece["_id"])
        assert found is not None
        found.update(published=False, tags=["blue"])
        await module.update(req, found)
    first = await post(client, "/modules/products/list", {"page": 1, "perPage": 20})
    assert first["status"] == "ok"
    data = first["data"]
    assert (data["total"], data["page"], data["pages"]) == (40, 1, 2)
    titles = [p["title"] for p in data["pieces"]]
    assert titles == sorted(titles) and len(titles) == 20
    second = (await post(client, "/modules/products/list", {"page": 2, "perPage": 20}))["data"]
    assert not {p["_id"] for p in second["pieces"]} & {p["_id"] for p in data["pieces"]}
    trash = (await post(client, "/modules/products/list", {"trash": True}))["data"]
    assert trash["total"] == 5
    unpublished = (await post(client, "/modules/products/list", {"published": False}))["data"]
    assert unpublished["total"] == 3
    blue = (await post(client, "/modules/products/list", {"tags": ["Blue "]}))["data"]
    assert blue["total"] == 3
    search = (await post(client, "/modules/products/list", {"search": "uct 01"}))["data"]
    assert [p["title"] for p in search["pieces"]] == [f"Product 01{n}" for n in range(10)]
    regex = (await post(client, "/modules/products/list", {"search": ".*"}))["data"]
    assert regex["total"] == 0  # searched as text, not as a pattern
    ids = await post(client, "/modules/products/list", {"format": "allIds"})
    assert len(ids["data"]["ids"]) == 40
    assert ids["data"]["label"] == "Select all 40 item(s) that match this search"
    articles = (await post(client, "/modules/articles/list", {}))["data"]
    assert articles["total"] == 0  # restricted to the type


@pytest.mark.parametrize("body", [{"tags": 5}, {"search": ["x"]}, {"published": {"a": 1}},
                                  {"format": "everything"}, {"tags": [{"$ne": 1}]}])
async def test_list_rejects_bad_filters(start_app: StartApp, body: dict[str, Any]) -> None:
    client, apos = await start_app(make_app())
    await login(client, apos, "ed", role="editor")
    assert (await post(client, "/modules/products/list", body))["status"] == "invalid"


async def test_operations_defaults_added_removed_and_filtered(start_app: StartApp) -> None:
    _, apos = await start_app(make_app())
    products = pieces(apos, "products")
    articles = pieces(apos, "articles")
    assert list(products.batch_operations) == [
        "trash", "rescue", "publish", "unpublish", "tag", "untag", "feature"]
    # "never" ruled out by only_if; "paint" needs a color field products lack.
    assert list(articles.batch_operations) == ["trash", "rescue", "tag", "untag"]
    tag = products.batch_operations["tag"].as_json()
    assert tag == {"name": "tag", "label": "Add Tag to", "buttonLabel": "Add Tag",
                   "unlessFilter": None, "route": "tag",
                   "fields": [{"name": "tags", "type": "tags", "label": "Tags",
                               "required": True, "choices": []}]}
    assert products.batch_operations["trash"].as_json()["unlessFilter"] == {"trash": True}


async def test_a_type_without_a_field_loses_the_operations_that_need_it(
        start_app: StartApp) -> None:
    _, apos = await start_app(make_app(remove_fields=["tags", "published"]))
    assert list(pieces(apos, "products").batch_operations) == ["trash", "rescue", "feature"]


@pytest.mark.parametrize("path", ["/modules/products/never", "/modules/products/paint",
                                  "/modules/articles/publish"])
async def test_routes_of_removed_operations_answer_invalid(start_app: StartApp,
                                                           path: str) -> None:
    client, apos = await start_app(make_app())
    await login(client, apos, "boss", role="admin")
    [piece] = await add_pieces(apos, "products", 1)
    answer = await post(client, path, {"ids": [piece["_id"]], "job": True})
    # A default removed by remove_batch_operations never got a route at all.
    assert answer["status"] == ("notfound" if path.endswith("publish") else "invalid")
    assert await apos.db["aposJobs"].count_documents({}) == 0


async def test_trash_rescue_publish_unpublish(start_app: StartApp) -> None:
    client, apos = await start_app(make_app())
    await login(client, apos, "ed", role="editor")
    made = await add_pieces(apos, "products", 4)
    ids = [p["_id"] for p in made]
    job = await run_operation(client, apos, "products", "trash", {"ids": ids[:3]})
    assert (job["status"], job["good"], job["total"]) == ("completed", 3, 3)
    assert job["labels"]["title"] == "Trash"
    assert job["results"][ids[0]] == {"_id": ids[0], "title": "Product 000",
                                      "slug": "product-000"}
    docs = {d["_id"]: d async for d in apos.db["aposDocs"].find({"type": "product"})}
    assert [docs[i]["trash"] for i in ids] == [True, True, True, False]
    assert docs[ids[0]]["updatedAt"] > docs[ids[0]]["createdAt"]
    await run_operation(client, apos, "products", "rescue", {"ids": ids[:1]})
    # Only trash and rescue reach trashed pieces: the two still in the trash count as bad.
    job = await run_operation(client, apos, "products", "unpublish", {"ids": ids})
    assert (job["good"], job["bad"]) == (2, 2)
    docs = {d["_id"]: d async for d in apos.db["aposDocs"].find({"type": "product"})}
    assert [docs[i]["trash"] for i in ids] == [False, True, True, False]
    assert [docs[i]["published"] for i in ids] == [False, True, True, False]
    await run_operation(client, apos, "products", "publish", {"ids": ids})
    docs = {d["_id"]: d async for d in apos.db["aposDocs"].find({"type": "product"})}
    assert all(docs[i]["published"] for i in ids)


async def test_tag_and_untag_launder_and_require_tags(start_app: StartApp) -> None:
    client, apos = await start_app(make_app())
    await login(client, apos, "ed", role="editor")
    made = await add_pieces(apos, "products", 2, tags=["old"])
    ids = [p["_id"] for p in made]
    await run_operation(client, apos, "products", "tag",
                        {"ids": ids, "tags": [" Red ", "red", "", "BLUE", "old"]})
    docs = [d async for d in apos.db["aposDocs"].find({"type": "product"})]
    assert all(d["tags"] == ["old", "red", "blue"] for d in docs)
    await run_operation(client, apos, "products", "untag", {"ids": ids, "tags": ["OLD"]})
    docs = [d async for d in apos.db["aposDocs"].find({"type": "product"})]
    assert all(d["tags"] == ["red", "blue"] for d in docs)
    for bad in ([], ["", "  "], None, "x" * 2000, [1], {"a": "b"}):
        answer = await post(client, "/modules/products/tag", {"ids": ids, "tags": bad,
                                                              "job": True})
        assert answer["status"] == "invalid", bad
    assert await apos.db["aposJobs"].count_documents({"labels.title": "Add Tag"}) == 1


async def test_anonymous_and_non_editors_are_forbidden_and_create_no_job(
        start_app: StartApp) -> None:
    client, apos = await start_app(make_app())
    [piece] = await add_pieces(apos, "products", 1)
    body = {"ids": [piece["_id"]], "job": True}
    for path in ("/modules/products/trash", "/modules/products/list",
                 "/modules/products/tag"):
        assert (await post(client, path, {**body, "tags": ["x"]}))["status"] == "forbidden"
    await login(client, apos, "articles-only", role="editor",
                permissions=["edit-article"])
    for path in ("/modules/products/trash", "/modules/products/list",
                 "/modules/products/feature"):
        assert (await post(client, path, body))["status"] == "forbidden"
    assert await apos.db["aposJobs"].count_documents({}) == 0
    stored = await apos.db["aposDocs"].find_one({"_id": piece["_id"]})
    assert stored["trash"] is False


async def test_an_editor_of_one_type_cannot_touch_other_documents_by_id(
        start_app: StartApp) -> None:
    client, apos = await start_app(make_app())
    user = await login(client, apos, "articles-only", role="editor",
                       permissions=["edit-article"])
    [product] = await add_pieces(apos, "products", 1)
    [article] = await add_pieces(apos, "articles", 1)
    session = await apos.db["aposSessions"].find_one({})
    ids = [product["_id"], article["_id"], user["_id"], session["_id"][:20].replace("-", "_"),
           "cdoesnotexist000000000000"]
    job = await run_operation(client, apos, "articles", "trash", {"ids": ids})
    assert (job["good"], job["bad"], job["total"]) == (1, 4, 5)
    assert list(job["results"]) == [article["_id"]]
    assert (await apos.db["aposDocs"].find_one({"_id": product["_id"]}))["trash"] is False
    assert (await apos.db["aposDocs"].find_one({"_id": article["_id"]}))["trash"] is True
    stored_user = await apos.db["aposUsers"].find_one({"_id": user["_id"]})
    assert "trash" not in stored_user


async def test_per_piece_permission_is_checked_for_every_item(start_app: StartApp) -> None:
    client, apos = await start_app(make_app())
    await login(client, apos, "ed", role="editor")
    made = await add_pieces(apos, "products", 4)
    module = pieces(apos, "products")
    locked = made[1]["_id"]
    original = module.can_edit

    def can_edit(req: AposRequest, piece: dict[str, Any] | None = None) -> bool:
        return original(req, piece) and (piece is None or piece["_id"] != locked)

    module.can_edit = can_edit  # type: ignore[method-assign]
    job = await run_operation(client, apos, "products", "trash",
                              {"ids": [p["_id"] for p in made]})
    assert (job["good"], job["bad"]) == (3, 1)
    assert (await apos.db["aposDocs"].find_one({"_id": locked}))["trash"] is False


@pytest.mark.parametrize("ids", ["abc", [{"_id": "x"}], [["x"]], None,
                                 [f"i{n}" for n in range(100_001)]])
async def test_bad_ids_are_invalid_before_any_job(start_app: StartApp, ids: Any) -> None:
    client, apos = await start_app(make_app())
    await login(client, apos, "ed", role="editor")
    answer = await post(client, "/modules/products/trash", {"ids": ids, "job": True})
    assert answer["status"] == "invalid"
    assert await apos.db["aposJobs"].count_documents({}) == 0


async def test_duplicate_ids_are_processed_once(start_app: StartApp) -> None:
    client, apos = await start_app(make_app())
    await login(client, apos, "ed", role="editor")
    [piece] = await add_pieces(apos, "products", 1, tags=[])
    job = await run_operation(client, apos, "products", "tag",
                              {"ids": [piece["_id"]] * 3, "tags": ["x"]})
    assert (job["total"], job["good"]) == (1, 1)


async def test_admin_only_operation(start_app: StartApp) -> None:
    client, apos = await start_app(make_app())
    await login(client, apos, "ed", role="editor")
    [piece] = await add_pieces(apos, "products", 1)
    answer = await post(client, "/modules/products/feature", {"ids": [piece["_id"]],
                                                              "job": True})
    assert answer["status"] == "forbidden"
    editor_req = AposRequest(apos, user={"_id": "e", "permissions": ["edit-*"]})
    names = [op.name for op in pieces(apos, "products").available_operations(editor_req)]
    assert "feature" not in names and "trash" in names


async def test_add_batch_operation_after_startup_gets_a_route(start_app: StartApp) -> None:
    client, apos = await start_app(make_app())
    await login(client, apos, "ed", role="editor")
    [piece] = await add_pieces(apos, "products", 1)

    async def shout(req: AposRequest, piece: dict[str, Any], data: dict[str, Any]) -> None:
        piece["title"] = piece["title"].upper()

    pieces(apos, "products").add_batch_operation(
        BatchOperation(name="shout", label="Shout", change=shout))
    await run_operation(client, apos, "products", "shout", {"ids": [piece["_id"]]})
    assert (await apos.db["aposDocs"].find_one({"_id": piece["_id"]}))["title"] == "PRODUCT 000"


async def test_concurrent_jobs_on_the_same_pieces_keep_both_changes(start_app: StartApp
                                                                    ) -> None:
    client, apos = await start_app(make_app())
    await login(client, apos, "ed", role="editor")
    made = await add_pieces(apos, "products", 60, tags=["base"])
    ids = [p["_id"] for p in made]
    started = [await post(client, "/modules/products/tag",
                          {"ids": ids, "tags": [tag], "job": True})
               for tag in ("first", "second")]
    trashing = await post(client, "/modules/products/trash", {"ids": ids, "job": True})
    for answer in [*started, trashing]:
        job = await wait_for_end(apos, answer["jobId"])
        assert (job["status"], job["good"]) == ("completed", 60)
    docs = [d async for d in apos.db["aposDocs"].find({"type": "product"})]
    assert all(d["trash"] is True for d in docs)
    assert all(sorted(d["tags"]) == ["base", "first", "second"] for d in docs)


@pytest.mark.parametrize("body", [{"published": "maybe"}, {"trash": {"$ne": 1}},
                                  {"trash": "yes please"}, {"page": 10**20},
                                  {"page": 1e300}])
async def test_list_filters_are_strict_and_pages_bounded(start_app: StartApp,
                                                         body: dict[str, Any]) -> None:
    client, apos = await start_app(make_app())
    await login(client, apos, "ed", role="editor")
    await add_pieces(apos, "products", 3)
    answer = await post(client, "/modules/products/list", body)
    if "page" in body:
        assert answer["status"] == "ok" and answer["data"]["page"] == 1
        assert len(answer["data"]["pieces"]) == 3  # past the end: the last page
    else:
        assert answer["status"] == "invalid"


async def test_a_non_boolean_job_flag_is_invalid(start_app: StartApp) -> None:
    client, apos = await start_app(make_app())
    await login(client, apos, "ed", role="editor")
    [piece] = await add_pieces(apos, "products", 1)
    answer = await post(client, "/modules/products/trash", {"ids": [piece["_id"]],
                                                            "job": {"a": 1}})
    assert answer["status"] == "invalid"
    assert (await apos.db["aposDocs"].find_one({"_id": piece["_id"]}))["trash"] is False
