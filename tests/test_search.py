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


def test_a_query_too_short_is_asked_again_on_the_search_page(stored, accounts):
    from tests.conftest import make_settings
    from tests.test_web_access import signed_in
    from web import create_app

    app = create_app(make_settings(stored.url))
    app.config.update(WTF_CSRF_ENABLED=False)  # signing in by a plain POST
    client = signed_in(app, "viewer")
    page = client.get("/search?q=%D0%B4")  # one letter
    assert page.status_code == 200 and "type at least 2 characters to search" in page.text
    found = client.get("/search?q=+%D0%94%D0%BE%D0%BB%D0%BB%D0%B0%D1%80+")  # " Доллар ", spaces around
    assert found.status_code == 200 and "2 posts contain" in found.text
