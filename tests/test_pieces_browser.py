"""The pieces manager in a real Chromium: select, select everything, run an operation,
watch the jobs modal, see the list refresh."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from playwright.async_api import Dialog, Page, Route, expect

from apos import AposRequest
from tests.browser import LiveSite, ServeApp, login_page
from tests.fixtures.pieces_site import make_app
from tests.pieces_helpers import ADMIN_REQ_USER, add_pieces

pytestmark = pytest.mark.browser
SCREENSHOTS = Path(__file__).parent.parent / "test-results"
MANAGER = "/modules/products/manager"


async def open_manager(serve_app: ServeApp, page: Page, *, role: str = "editor",
                       count: int = 45) -> LiveSite:
    site = await serve_app(make_app())
    await add_pieces(site.apos, "products", count)
    await site.add_user("user", "pw-user", role=role)
    await login_page(page, site, "user", "pw-user", next_path=MANAGER)
    await expect(page.locator("[data-apos-manager-rows] tr")).to_have_count(min(count, 20))
    return site


async def accept(dialog: Dialog) -> None:
    assert dialog.type == "confirm"
    await dialog.accept()


async def products_in_trash(site: LiveSite) -> int:
    count: int = await site.apos.db["aposDocs"].count_documents({"type": "product",
                                                                "trash": True})
    return count


async def finish_job(page: Page) -> None:
    modal = page.locator("[data-apos-job-modal]")
    await expect(modal.locator(".apos-job-progress__heading")).to_have_text(
        "Completed", timeout=30_000)
    await modal.locator("[data-apos-job-done]").click()
    await expect(modal).to_have_count(0)


async def test_select_a_page_and_trash_it(serve_app: ServeApp, page: Page) -> None:
    site = await open_manager(serve_app, page)
    await expect(page.locator("[data-apos-page-text]")).to_have_text(
        "Page 1 of 3 (45 items)")
    operation = page.locator("[data-apos-batch-operation]")
    await expect(operation.locator("option:checked")).to_have_text("Trash Selected (0)")
    await expect(page.locator("[data-apos-batch-run]")).to_be_disabled()
    await page.locator("[data-apos-select-page]").check()
    await expect(operation.locator("option:checked")).to_have_text("Trash Selected (20)")
    messages: list[str] = []

    async def confirm(dialog: Dialog) -> None:
        messages.append(dialog.message)
        await dialog.accept()

    page.on("dialog", confirm)
    await page.locator("[data-apos-batch-run]").click()
    await finish_job(page)
    assert messages == ["Are you sure you want to trash 20 items?"]
    await expect(page.locator("[data-apos-page-text]")).to_have_text(
        "Page 1 of 2 (25 items)")  # the list refreshed when the modal closed
    assert await products_in_trash(site) == 20
    await expect(operation.locator("option:checked")).to_have_text("Trash Selected (0)")


async def test_select_everything_across_pages_then_trash(serve_app: ServeApp, page: Page
                                                         ) -> None:
    site = await open_manager(serve_app, page)
    await page.locator("[data-apos-select-page]").check()
    offer = page.locator("[data-apos-select-everything-button]")
    await expect(offer).to_have_text("Select all 45 item(s) that match this search")
    await offer.click()
    await expect(page.locator("[data-apos-select-everything-text]")).to_have_text(
        "All 45 items that match this search are selected.")
    await expect(page.locator("[data-apos-batch-operation] option:checked")).to_have_text(
        "Trash Selected (45)")
    # Selection survives paging.
    await page.locator("[data-apos-page-next]").click()
    await expect(page.locator("[data-apos-page-text]")).to_have_text("Page 2 of 3 (45 items)")
    await expect(page.locator("[data-apos-select-piece]:checked")).to_have_count(20)
    page.on("dialog", accept)
    await page.locator("[data-apos-batch-run]").click()
    await expect(page.locator("[data-apos-job-modal]")).to_be_visible()
    SCREENSHOTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "pieces-manager-job.png"))
    await finish_job(page)
    await expect(page.locator("[data-apos-manager-rows]")).to_have_text("Nothing to show.")
    assert await products_in_trash(site) == 45


async def test_the_trash_view_offers_rescue_not_trash(serve_app: ServeApp, page: Page) -> None:
    site = await open_manager(serve_app, page)
    operation = page.locator("[data-apos-batch-operation]")
    live = await operation.locator("option").all_inner_texts()
    assert "Trash Selected (0)" in live and "Rescue Selected (0)" not in live
    await page.locator("[data-apos-select-piece]").first.check()
    page.on("dialog", accept)
    await page.locator("[data-apos-batch-run]").click()
    await finish_job(page)
    await page.locator("[data-apos-filter='trash']").select_option("true")
    await expect(page.locator("[data-apos-manager-rows] tr")).to_have_count(1)
    texts = await operation.locator("option").all_inner_texts()
    assert "Rescue Selected (0)" in texts and not any(t.startswith("Trash") for t in texts)
    await page.locator("[data-apos-select-piece]").first.check()
    await operation.select_option("rescue")
    await page.locator("[data-apos-batch-run]").click()
    await finish_job(page)
    await expect(page.locator("[data-apos-manager-rows]")).to_have_text("Nothing to show.")
    assert await products_in_trash(site) == 0


async def test_a_tag_operation_sends_its_form_field(serve_app: ServeApp, page: Page) -> None:
    site = await open_manager(serve_app, page, count=3)
    await page.locator("[data-apos-select-page]").check()
    await page.locator("[data-apos-batch-operation]").select_option("tag")
    await expect(page.locator("[data-apos-batch-run]")).to_have_text("Add Tag")
    page.on("dialog", accept)
    await page.locator("[data-apos-batch-run]").click()
    # No tags typed: refused before anything is sent, with the reason.
    await expect(page.locator("[data-apos-manager-status]")).to_have_text(
        "Please fill in: Tags.")
    await page.locator("[data-apos-batch-field='tags']").fill("Summer, sale")
    await page.locator("[data-apos-batch-run]").click()
    await finish_job(page)
    await expect(page.locator(".apos-manager__tag", has_text="summer")).to_have_count(3)
    docs = [d async for d in site.apos.db["aposDocs"].find({"type": "product"})]
    assert all(d["tags"] == ["summer", "sale"] for d in docs)


async def test_editors_do_not_see_operations_they_cannot_run(serve_app: ServeApp,
                                                             page: Page) -> None:
    await open_manager(serve_app, page, role="editor", count=3)
    options = await page.locator("[data-apos-batch-operation] option").all_inner_texts()
    assert "Feature Selected (0)" not in options and "Trash Selected (0)" in options


async def test_admins_see_the_admin_only_operation(serve_app: ServeApp, page: Page) -> None:
    await open_manager(serve_app, page, role="admin", count=3)
    options = await page.locator("[data-apos-batch-operation] option").all_inner_texts()
    assert "Feature Selected (0)" in options


async def test_an_editor_of_another_type_cannot_open_the_manager(serve_app: ServeApp,
                                                                 page: Page) -> None:
    site = await serve_app(make_app())
    await site.add_user("writer", "pw", role="editor", permissions=["edit-article"])
    await login_page(page, site, "writer", "pw", next_path="/modules/articles/manager")
    response = await page.goto(site.url(MANAGER))
    assert response is not None and response.status == 403


async def test_rows_of_the_previous_filter_cannot_be_selected(serve_app: ServeApp,
                                                              page: Page) -> None:
    site = await open_manager(serve_app, page, count=30)
    module = site.apos.modules["products"]
    req = AposRequest(site.apos, user=ADMIN_REQ_USER)
    for n in range(3):
        await module.insert(req, {"title": f"Blue {n}", "tags": ["blue"]})  # type: ignore[attr-defined]
    async def slow(route: Route) -> None:
        await asyncio.sleep(1.5)
        await route.continue_()

    await page.route("**/modules/products/list", slow)
    await page.locator("[data-apos-filter='tags']").fill("blue")
    await asyncio.sleep(0.5)  # the filtered list is on its way; the old rows still show
    # Ticking now must wait for the new rows, not select the 20 unfiltered ones.
    await page.locator("[data-apos-select-page]").check()
    await expect(page.locator("[data-apos-page-text]")).to_have_text("Page 1 of 1 (3 items)")
    await expect(page.locator("[data-apos-batch-operation] option:checked")).to_have_text(
        "Trash Selected (3)")
    page.on("dialog", accept)
    await page.locator("[data-apos-batch-run]").click()
    await finish_job(page)
    trashed = [d["tags"] async for d in site.apos.db["aposDocs"].find({"trash": True})]
    assert trashed == [["blue"]] * 3


async def test_a_failed_list_leaves_nothing_to_act_on(serve_app: ServeApp, page: Page) -> None:
    await open_manager(serve_app, page)
    await page.locator("[data-apos-select-page]").check()
    await page.locator("[data-apos-select-everything-button]").click()
    await expect(page.locator("[data-apos-batch-operation] option:checked")).to_have_text(
        "Trash Selected (45)")

    async def fail(route: Route) -> None:
        await route.abort()

    await page.route("**/modules/products/list", fail)
    await page.locator("[data-apos-filter='published']").select_option("true")
    status = page.locator("[data-apos-manager-status]")
    await expect(status).to_have_text("The list could not be loaded. Please try again.")
    await expect(page.locator("[data-apos-manager-rows]")).to_have_text("Nothing to show.")
    await expect(page.locator("[data-apos-select-everything]")).to_be_hidden()
    await expect(page.locator("[data-apos-batch-operation] option:checked")).to_have_text(
        "Trash Selected (0)")
    await expect(page.locator("[data-apos-batch-run]")).to_be_disabled()
    await page.unroute("**/modules/products/list", fail)
    await page.locator("[data-apos-filter='published']").select_option("any")
    await expect(page.locator("[data-apos-page-text]")).to_have_text("Page 1 of 3 (45 items)")
    await expect(status).to_have_text("")
