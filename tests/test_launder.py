"""Ids and laundering (contract 1.6)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from apos import generate_id, launder
from apos.launder import LaunderError


def test_generated_ids_have_apostrophes_shape_and_do_not_repeat() -> None:
    ids = [generate_id() for _ in range(2000)]
    assert all(re.fullmatch(r"c[a-z0-9]{24}", item) for item in ids)
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize(("value", "expected"), [("abc_1", "abc_1"), ("  x9  ", "x9"),
                                                 ("A" * 100, "A" * 100)])
def test_id_accepts_trimmed_word_characters(value: str, expected: str) -> None:
    assert launder.id(value) == expected


@pytest.mark.parametrize("value", ["", " ", "a-b", "a b", "a.b", "é", None, 5, ["a"],
                                   {"$ne": 1}, "A" * 101, "a\nb"])
def test_id_rejects_everything_else(value: Any) -> None:
    with pytest.raises(LaunderError):
        launder.id(value)


def test_ids_dedupe_keep_order_and_cap() -> None:
    assert launder.ids(["b", "a", " b", "c", "a"]) == ["b", "a", "c"]
    assert launder.ids([]) == []
    with pytest.raises(LaunderError, match="at most 3"):
        launder.ids(["a", "b", "c", "d"], max_ids=3)
    for bad in ("a,b", None, {"a": 1}, ["a", None]):
        with pytest.raises(LaunderError):
            launder.ids(bad)


@pytest.mark.parametrize(("value", "expected"), [(None, False), ("", False), (True, True),
                                                 ("true", True), ("0", False), (1, True),
                                                 ("on", True), ("OFF", False)])
def test_boolean(value: Any, expected: bool) -> None:
    assert launder.boolean(value) is expected


@pytest.mark.parametrize("value", ["maybe", 2, {"a": 1}, [True], 1.5])
def test_boolean_rejects_guesses(value: Any) -> None:
    with pytest.raises(LaunderError):
        launder.boolean(value)
