"""Sources that imitate others are shown as what they are: direction controls and invisible
characters written out, lookalike letters of the other script flagged, the handle beside
the title."""

import pytest
from sqlalchemy import select

from monitor.db.models import Source
from monitor.ingest.records import PostRecord
from monitor.ingest.store import store_posts
from monitor.review.identity import identify
from tests.conftest import make_settings
from tests.test_web_access import signed_in
from web import create_app


@pytest.mark.parametrize("title, key, shown, warnings", [
    ("Almaty Inside", "@almaty_inside", "Almaty Inside", ()),
    ("\u202eedisni_ytamla@", "@troll_1", "\\u202eedisni_ytamla@", ("direction controls in its name",)),
    ("Almaty\u200bInside", "@almaty_inside", "Almaty\\u200bInside", ("invisible characters in its name",)),
    (None, "@\u0430lmaty_inside", "@\u0430lmaty_inside", ("Latin and Cyrillic letters mixed in one word",)),
    ("Новости Алматы", "@novosti_almaty", "Новости Алматы", ()),
])
def test_a_sources_name_is_shown_as_written_and_flagged_when_it_may_imitate_another(title, key, shown,
                                                                                  warnings):
    identity = identify(title, key)
    assert (identity.title, identity.warnings) == (shown, warnings)


def test_the_sources_page_shows_the_handle_and_the_flags(database, accounts):
    with database.session() as session:
        store_posts(session, [PostRecord(source_kind="telegram", source_key=key, source_title=title,
                                         external_id="1", text="Аким призвал всех выйти")
                              for key, title in (("@troll_1", "\u202eedisni_ytamla@"),
                                                 ("@\u0430lmaty_inside", "@\u0430lmaty_inside"))])
        assert len(session.scalars(select(Source)).all()) == 2
    app = create_app(make_settings(database.url))
    app.config.update(WTF_CSRF_ENABLED=False)
    page = signed_in(app, "viewer").get("/sources").text
    assert "\u202e" not in page and "\\u202eedisni_ytamla@" in page and "@troll_1" in page
    assert "direction controls in its name" in page and "Latin and Cyrillic letters mixed in one word" in page
