"""Searching stored posts the way moderators type: any case, in Cyrillic and Kazakh letters
as in Latin ones, on SQLite and PostgreSQL alike, whatever invisible characters a post
hides inside its words."""

import pytest

from monitor.ingest.records import PostRecord
from monitor.ingest.store import store_posts
from monitor.review.queries import search_posts

TEXTS = ["Курс ДОЛЛАРА вырос до 100 рублей", "Путин подписал указ", "Алматы әкімі Ерлан Сапаров",
         "Аким\u200bАлматы и до\u00adллар", "100% of the vote, under_score"]


@pytest.fixture
def stored(database):
    with database.session() as session:
        store_posts(session, [PostRecord(source_kind="telegram", source_key="@news", external_id=str(n),
                                         text=text) for n, text in enumerate(TEXTS)])
    return database


@pytest.mark.parametrize("query, found", [
    ("доллар", {0, 3}), ("Доллар", {0, 3}), ("ДОЛЛАР", {0, 3}),
    ("путин", {1}), ("ПУТИН", {1}), ("әкімі", {2}), ("ӘКІМІ", {2}), ("акималматы", {3}),
    ("100%", {4}), ("under_", {4}), ("of_the", set()), ("%", {4}),
])
def test_search_finds_posts_in_any_case_and_script(stored, query, found):
    with stored.session() as session:
        posts = search_posts(session, query).posts
        assert {int(post.external_id) for post in posts} == found
