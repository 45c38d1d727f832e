"""The demo site on real data: languages and countries from pycountry, the first-start
admin, and an editor running a batch operation over hundreds of real records."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Dialog, Page, expect

from apos.demo.app import app as demo_app
from tests.browser import LiveSite, ServeApp, login_page

pytestmark = pytest.mark.browser


async def accept(dialog: Dialog) -> None:
    await dialog.accept()


async def seeded_demo(serve_app: ServeApp, capsys: pytest.CaptureFixture[str]) -> LiveSite:
    site = await serve_app(demo_app)
    await site.apos.hooks.call("before_serve")  # what `apos serve` does on start-up
    printed = capsys.readouterr()
    assert "created the admin user 'admin' with password" in printed.out
    assert "7923/7923" in printed.err and "249/249" in printed.err
    return site


async def test_first_start_seeds_real_data_once(serve_app: ServeApp,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    site = await seeded_demo(serve_app, capsys)
    docs = site.apos.db["aposDocs"]
    assert await docs.count_documents({"type": "language"}) == 7923
    assert await docs.count_documents({"type": "country"}) == 249
    french = await docs.find_one({"type": "language", "code": "fra"})
    assert french["title"] == "French" and french["tags"] == ["living", "individual"]
    latin = await docs.find_one({"type": "language", "code": "lat"})
    assert latin["tags"] == ["historical", "individual"]
    assert await docs.count_documents({"type": "language", "tags": "extinct"}) == 602
    # A second start adds nothing and creates no second admin.
    await site.apos.hooks.call("before_serve")
    assert await docs.count_documents({}) == 7923 + 249
    assert await site.apos.db["aposUsers"].count_documents({}) == 1
    assert "password" not in capsys.readouterr().out


async def test_an_editor_tags_hundreds_of_real_languages(serve_app: ServeApp, page: Page,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    site = await seeded_demo(serve_app, capsys)
    await site.add_user("editor", "pw-editor", role="editor")
    await login_page(page, site, "editor", "pw-editor", next_path="/")
    await expect(page.get_by_role("link", name="Languages")).to_be_visible()
    await page.get_by_role("link", name="Languages").click()
    await page.locator("[data-apos-filter='tags']").fill("extinct")
    await expect(page.locator("[data-apos-page-text]")).to_have_text(
        "Page 1 of 13 (602 items)", timeout=15_000)
    await page.locator("[data-apos-select-page]").check()
    await page.locator("[data-apos-select-everything-button]").click()
    await expect(page.locator("[data-apos-select-everything-text]")).to_have_text(
        "All 602 items that match this search are selected.", timeout=15_000)
    await page.locator("[data-apos-batch-operation]").select_option("tag")
    await page.locator("[data-apos-batch-field='tags']").fill("no-speakers")
    page.on("dialog", accept)
    await page.locator("[data-apos-batch-run]").click()
    modal = page.locator("[data-apos-job-modal]")
    await expect(modal.locator(".apos-jobs-modal__title")).to_have_text("Add Tag")
    await expect(modal.locator(".apos-job-progress__heading")).to_have_text(
        "Completed", timeout=120_000)
    await expect(modal.locator("[data-apos-job-good]")).to_have_text("602")
    await modal.locator("[data-apos-job-done]").click()
    await expect(page.locator(".apos-manager__tag", has_text="no-speakers")).to_have_count(50)
    docs = site.apos.db["aposDocs"]
    assert await docs.count_documents({"type": "language", "tags": "no-speakers"}) == 602
    assert await docs.count_documents({"tags": "no-speakers", "tags.0": {"$ne": "extinct"}}
                                      ) == 0


async def test_the_set_region_example_operation(serve_app: ServeApp, page: Page,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    site = await seeded_demo(serve_app, capsys)
    countries = site.apos.modules["countries"]
    languages = site.apos.modules["languages"]
    assert "set-region" in countries.batch_operations  # type: ignore[attr-defined]
    assert "set-region" not in languages.batch_operations  # type: ignore[attr-defined]
    await site.add_user("editor", "pw-editor", role="editor")
    await login_page(page, site, "editor", "pw-editor", next_path="/modules/countries/manager")
    docs = site.apos.db["aposDocs"]
    query = {"type": "country", "title": {"$regex": "land", "$options": "i"}}
    count = await docs.count_documents(query)
    await page.locator("[data-apos-filter='search']").fill("land")
    await expect(page.locator("[data-apos-page-text]")).to_have_text(
        f"Page 1 of 1 ({count} items)")
    await page.locator("[data-apos-select-page]").check()
    operation = page.locator("[data-apos-batch-operation]")
    await operation.select_option("set-region")
    await expect(page.locator("[data-apos-batch-run]")).to_have_text("Set Region")
    await page.locator("[data-apos-batch-field='region']").select_option("Europe")
    page.on("dialog", accept)
    await page.locator("[data-apos-batch-run]").click()
    modal = page.locator("[data-apos-job-modal]")
    await expect(modal.locator(".apos-jobs-modal__title")).to_have_text("Setting regions")
    await expect(modal.locator(".apos-job-progress__heading")).to_have_text("Completed",
                                                                            timeout=30_000)
    matching: list[dict[str, Any]] = await docs.find(query).to_list(None)
    assert len(matching) == count > 10 and all(d["region"] == "Europe" for d in matching)
    assert all(d["tags"].count("region-europe") == 1 for d in matching)


async def test_a_seed_cut_short_is_completed_on_the_next_start(serve_app: ServeApp) -> None:
    from apos.demo.seed import language_records

    site = await serve_app(demo_app)
    languages = site.apos.modules["languages"]
    partial = [languages.new_piece(r)  # type: ignore[attr-defined]
               for r, _ in zip(language_records(), range(1000), strict=False)]
    await site.apos.db["aposDocs"].insert_many(partial)  # as if killed after 1,000
    await site.apos.hooks.call("before_serve")
    docs = site.apos.db["aposDocs"]
    assert await docs.count_documents({"type": "language"}) == 7923
    assert len(await docs.distinct("slug", {"type": "language"})) == 7923
    assert await docs.count_documents({"type": "country"}) == 249
