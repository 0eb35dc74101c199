"""The Telegram listener with Telethon's own types and errors, through a stand-in client:
gap-free catch-up across restarts and FloodWaits, albums, forwards, media, edits, deletions."""

import asyncio

import pytest
from sqlalchemy import func, select

from monitor.db.models import ClusterMembership, Post, PostRevision, PostStage, Source, Stage
from monitor.messages import UserError
from monitor.telegram.channels import add_channel, parse_channel
from monitor.telegram.listener import ChannelListener, ListenerPolicy
from tests import telegram_standin as tg

WAVE = "Аким Алматы Ерлан Сапаров призвал всех жителей выйти 9 мая на шествие Бессмертного полка"
ALMATY, STEPPE, ORIGIN = 1_001_001, 1_002_002, 1_003_003


@pytest.fixture
def telegram():
    client = tg.StandInTelegram()
    client.add(tg.channel(ALMATY, "almaty_inside", "Almaty Inside"), [
        tg.message(ALMATY, n, f"Новость дня номер {n}: в городе открыли новый сквер и парк")
        for n in range(1, 8)
    ] + [
        tg.message(ALMATY, 8, WAVE, media=tg.video(555), views=18_200, forwards=410, replies=tg.replies(37)),
        # An album: three photos, the caption on the second.
        tg.message(ALMATY, 9, "", grouped_id=77, media=tg.photo(901)),
        tg.message(ALMATY, 10, "Фото с репетиции парада", grouped_id=77, media=tg.photo(902)),
        tg.message(ALMATY, 11, "", grouped_id=77, media=tg.photo(903)),
        tg.message(ALMATY, 12, "Подробности", entities=tg.hidden_link("Подробности", "https://example.kz/a")),
    ])
    client.add(tg.channel(STEPPE, "stepnoy_veter", "Степной ветер"), [
        tg.message(STEPPE, 1, WAVE, media=tg.video(555), fwd_from=tg.forwarded_from(ORIGIN, 4321)),
    ])
    return client


@pytest.fixture
def channels(database):
    with database.session() as session:
        return {name: add_channel(session, name, "setup").id for name in ("@almaty_inside", "@stepnoy_veter")}


def listener(database, client, stored=None, slept=None, **policy) -> ChannelListener:
    async def sleep(seconds):
        (slept if slept is not None else []).append(seconds)

    settings = dict(backfill_messages=1000, page_size=3, requests_per_second=1000.0) | policy
    return ChannelListener(client, database.sessions, ListenerPolicy(**settings),
                           on_stored=(stored.extend if stored is not None else lambda ids: None), sleep=sleep)


def posts(database, source_id: int) -> dict[str, Post]:
    with database.session() as session:
        found = session.scalars(select(Post).where(Post.source_id == source_id))
        return {post.external_id: post for post in found}


def test_a_backfill_stores_every_message_once_with_albums_forwards_and_media(database, telegram, channels):
    stored = []
    results = asyncio.run(listener(database, telegram, stored).catch_up_all())
    almaty = posts(database, channels["@almaty_inside"])
    assert sorted(almaty, key=int) == [str(n) for n in range(1, 10)] + ["12"]  # the album is post 9
    assert almaty["9"].text == "Фото с репетиции парада" and almaty["9"].media_kind == "photo"
    wave = almaty["8"]
    assert (wave.media_kind, wave.media_id, wave.views, wave.forwards, wave.replies) == (
        "video", "555", 18_200, 410, 37)
    assert almaty["12"].text == "Подробности\nhttps://example.kz/a"
    assert almaty["8"].url == "https://t.me/almaty_inside/8"

    forward = posts(database, channels["@stepnoy_veter"])["1"]
    assert (forward.forwarded_from, forward.forwarded_message_id) == (f"-100{ORIGIN}", "4321")
    assert forward.media_id == wave.media_id  # the same video, recognised across channels
    assert sorted(stored) == sorted(p.id for p in [*almaty.values(), forward])
    assert results[channels["@almaty_inside"]].stored == 10

    with database.session() as session:
        source = session.get(Source, channels["@almaty_inside"])
        assert (source.cursor, source.telegram_id, source.title) == (12, ALMATY, "Almaty Inside")
    again = asyncio.run(listener(database, telegram).catch_up_all())
    assert all(result.stored == 0 for result in again.values())


def test_a_restart_in_the_middle_of_a_backfill_loses_and_duplicates_nothing(database, telegram, channels):
    # Call 1 finds the newest message id (the backfill depth), calls 2 and 3 store two pages.
    telegram.failures[4] = ConnectionError("Connection to Telegram failed 5 time(s)")
    first = asyncio.run(listener(database, telegram).catch_up(channels["@almaty_inside"]))
    assert "Connection to Telegram failed" in first.error and first.stored == 6
    with database.session() as session:
        source = session.get(Source, channels["@almaty_inside"])
        assert (source.cursor, source.error_count) == (6, 1)

    # The process dies and a new one starts: it goes on from the cursor.
    second = asyncio.run(listener(database, telegram).catch_up(channels["@almaty_inside"]))
    assert second.error is None and second.stored == 4
    with database.session() as session:
        counted = session.execute(select(Post.external_id, func.count()).group_by(Post.external_id)
                                  .where(Post.source_id == channels["@almaty_inside"])).all()
        assert {count for _, count in counted} == {1} and len(counted) == 10
        assert session.get(Source, channels["@almaty_inside"]).error_count == 0


def test_a_flood_wait_in_the_middle_of_a_channel_is_waited_out(database, telegram, channels):
    telegram.failures[2] = tg.flood_wait(42)
    slept = []
    result = asyncio.run(listener(database, telegram, slept=slept).catch_up(channels["@almaty_inside"]))
    assert result.error is None and result.stored == 10
    assert 42 in slept


def test_a_flood_wait_over_the_cap_reschedules_the_channel_and_the_others_carry_on(database, telegram,
                                                                                   channels):
    telegram.failures[1] = tg.flood_wait(86_400)
    results = asyncio.run(listener(database, telegram, flood_wait_cap_seconds=300).catch_up_all())
    assert "86400 s" in results[channels["@almaty_inside"]].error
    assert results[channels["@stepnoy_veter"]].stored == 1
    with database.session() as session:
        source = session.get(Source, channels["@almaty_inside"])
        assert source.next_fetch_at is not None and "FloodWait" in source.last_error
    later = asyncio.run(listener(database, telegram).catch_up_all())  # not due yet: left alone
    assert channels["@almaty_inside"] not in later


def test_a_username_is_resolved_once_and_kept(database, telegram, channels):
    asyncio.run(listener(database, telegram).catch_up_all())
    asyncio.run(listener(database, telegram).catch_up_all())
    assert telegram.entity_lookups == 2  # one per channel, ever


def test_an_edit_keeps_the_old_text_and_a_deletion_keeps_the_post(database, telegram, channels):
    live = listener(database, telegram)
    asyncio.run(live.catch_up_all())
    edited = tg.message(ALMATY, 8, WAVE + " Это фейк, видео смонтировано.", edit_date=tg.START, views=20_000)
    assert live.on_edit(ALMATY, edited)
    assert not live.on_edit(ALMATY, edited)  # the same text again: nothing new
    assert live.on_deleted(ALMATY, [8, 999]) == 1
    with database.session() as session:
        post = session.scalar(select(Post).where(Post.external_id == "8",
                                                 Post.source_id == channels["@almaty_inside"]))
        assert post.text.endswith("видео смонтировано.") and post.views == 20_000
        assert [revision.text for revision in session.scalars(select(PostRevision))] == [WAVE]
        assert post.deleted_at is not None and post.text  # kept, as evidence


def test_new_channel_posts_go_through_the_whole_pipeline(database, telegram, channels, eager_pipeline):
    from workers.tasks import embed_posts_task

    live = listener(database, telegram)
    live.on_stored = lambda ids: embed_posts_task.delay(ids)  # as `monitor telegram` wires it
    asyncio.run(live.catch_up_all())
    with database.session() as session:
        assert set(session.scalars(select(PostStage.stage))) == {Stage.clustered}
        wave_clusters = session.scalars(select(ClusterMembership.cluster_id)
                                        .join(Post, Post.id == ClusterMembership.post_id)
                                        .where(Post.text == WAVE)).all()
        assert len(wave_clusters) == 2 and len(set(wave_clusters)) == 1  # the repost joined the original


def cluster_of(database, source_id: int, external_id: str) -> int:
    with database.session() as session:
        return session.scalar(select(ClusterMembership.cluster_id).join(Post).where(
            Post.source_id == source_id, Post.external_id == external_id))


def test_a_post_edited_into_a_waves_call_joins_the_wave_and_one_edited_away_leaves_it(
        database, telegram, channels, eager_pipeline):
    from workers.tasks import embed_posts_task

    live = listener(database, telegram)
    live.on_stored = lambda ids: embed_posts_task.delay(ids)
    asyncio.run(live.catch_up_all())
    almaty, steppe = channels["@almaty_inside"], channels["@stepnoy_veter"]
    wave = cluster_of(database, steppe, "1")
    assert cluster_of(database, almaty, "8") == wave

    assert live.on_edit(ALMATY, tg.message(ALMATY, 3, WAVE + " Приходите все!", edit_date=tg.START))
    assert live.on_edit(ALMATY, tg.message(ALMATY, 8, "Погода в Алматы: завтра до +25 градусов, без осадков",
                                           edit_date=tg.START))
    assert cluster_of(database, almaty, "3") == wave
    assert cluster_of(database, almaty, "8") != wave
    with database.session() as session:
        assert set(session.scalars(select(PostStage.stage))) <= {Stage.clustered, Stage.skipped}
        assert session.scalar(select(func.count()).select_from(ClusterMembership)) == session.scalar(
            select(func.count()).select_from(PostStage).where(PostStage.stage == Stage.clustered))


@pytest.mark.parametrize("reference, key", [
    ("@Almaty_Inside", "@almaty_inside"), ("https://t.me/almaty_inside", "@almaty_inside"),
    ("t.me/s/almaty_inside/812", "@almaty_inside"), ("https://t.me/c/1292077344/5", "-1001292077344"),
    ("1292077344", "-1001292077344"), ("-1001292077344", "-1001292077344"),
])
def test_a_channel_is_added_by_username_link_or_id(reference, key):
    assert parse_channel(reference) == key


@pytest.mark.parametrize("reference", ["", "@ab", "https://example.org/x", "almaty inside",
                                       "0²", "³", "-100١٢٣", "t.me/c/١٢٣/5"])
def test_what_is_not_a_channel_is_refused_with_the_reason(reference):
    with pytest.raises(UserError, match="is not a channel"):
        parse_channel(reference)


def test_the_cluster_page_shows_edits_deletions_shared_media_and_forward_origins(
        database, telegram, channels, eager_pipeline, accounts):
    from tests.conftest import ACCOUNTS, PASSWORD
    from web import create_app
    from workers.tasks import embed_posts_task

    telegram.add(tg.channel(ORIGIN, "origin_channel", "Канал-источник"), [])
    with database.session() as session:
        add_channel(session, "@origin_channel", "setup")
    live = listener(database, telegram)
    live.on_stored = lambda ids: embed_posts_task.delay(ids)
    asyncio.run(live.catch_up_all())
    live.on_edit(ALMATY, tg.message(ALMATY, 8, WAVE + " (обновлено)", edit_date=tg.START))
    live.on_deleted(ALMATY, [8])
    with database.session() as session:
        cluster_id = session.scalar(select(ClusterMembership.cluster_id)
                                    .join(Post, Post.id == ClusterMembership.post_id)
                                    .where(Post.external_id == "8"))

    app = create_app(eager_pipeline.conf.monitor_settings)
    app.config.update(WTF_CSRF_ENABLED=False)
    client = app.test_client()
    client.post("/login", data={"name": ACCOUNTS["viewer"], "password": PASSWORD})
    page = client.get(f"/clusters/{cluster_id}").text
    assert "edited 1 time" in page and WAVE in page and "(обновлено)" in page
    assert "deleted at the source" in page
    assert "<code>555</code></td><td>2</td><td>2</td>" in page  # one video, in both channels
    assert "Канал-источник" in page  # the forward's origin, by its name once it is a known source


def test_the_listener_down_for_an_hour_with_a_dropped_connection_catches_up_from_its_cursors(
        database, telegram, channels):
    asyncio.run(listener(database, telegram).catch_up_all())
    # While the listener is down for an hour, the channel goes on posting...
    telegram.history[ALMATY] += [tg.message(ALMATY, n, f"Пост номер {n}, пока слушатель не работал",
                                            minutes=60 + n) for n in range(13, 73)]
    # ...and when it comes back, the first request finds the connection dropped.
    telegram.failures[telegram.message_calls + 1] = ConnectionError("Connection reset by peer")
    first = asyncio.run(listener(database, telegram).catch_up_all())
    assert first[channels["@almaty_inside"]].error
    second = asyncio.run(listener(database, telegram).catch_up_all())  # the next round
    assert second[channels["@almaty_inside"]].stored == 60
    assert sorted(int(key) for key in posts(database, channels["@almaty_inside"])) == \
        [*range(1, 10), *range(12, 73)]


def test_edits_and_deletions_made_while_the_listener_was_stopped_are_found_when_it_starts(
        database, telegram, channels):
    asyncio.run(listener(database, telegram).catch_up_all())
    # While the listener is stopped, the channel edits two posts (one of them the album's
    # caption) and deletes two: the deepfake video and an older post.
    history = {message.id: message for message in telegram.history[ALMATY]}
    history[3] = tg.message(ALMATY, 3, "Новость дня номер 3: сквер открыли не сегодня", edit_date=tg.START)
    history[10] = tg.message(ALMATY, 10, "Фото с репетиции парада (исправлено)", grouped_id=77,
                             media=tg.photo(902), edit_date=tg.START)
    del history[8], history[2]
    telegram.history[ALMATY] = list(history.values())

    to_embed = []
    restarted = listener(database, telegram, to_embed, recheck_messages=500, recheck_hours=72)
    rounds = asyncio.run(restarted.catch_up_all())
    almaty = channels["@almaty_inside"]
    assert (rounds[almaty].edited, rounds[almaty].deleted, rounds[almaty].stored) == (2, 2, 0)
    stored = posts(database, almaty)
    assert sorted(to_embed) == sorted([stored["3"].id, stored["9"].id])  # to be embedded and placed again
    assert stored["3"].text.endswith("сквер открыли не сегодня")
    assert stored["9"].text == "Фото с репетиции парада (исправлено)"  # the album, by its first message
    assert {key for key, post in stored.items() if post.deleted_at is not None} == {"2", "8"}
    assert stored["8"].text == WAVE  # kept, as evidence
    with database.session() as session:
        assert sorted(session.scalars(select(PostRevision.text))) == sorted(
            ["Новость дня номер 3: в городе открыли новый сквер и парк", "Фото с репетиции парада"])

    again = asyncio.run(restarted.catch_up_all())  # the same process: not read again
    assert (again[almaty].edited, again[almaty].deleted) == (0, 0)


def test_reading_again_stops_at_its_count_and_its_hours(database, telegram, channels):
    asyncio.run(listener(database, telegram).catch_up_all())
    telegram.history[ALMATY] = [message for message in telegram.history[ALMATY] if message.id not in (1, 12)]
    counted = listener(database, telegram, recheck_messages=4, recheck_hours=72)
    assert asyncio.run(counted.catch_up_all())[channels["@almaty_inside"]].deleted == 1  # 12, not 1
    dated = listener(database, telegram, recheck_messages=500, recheck_hours=1)
    assert asyncio.run(dated.catch_up_all())[channels["@almaty_inside"]].deleted == 0  # all 2 days old


def test_the_listener_is_healthy_while_it_fetches_and_stalled_when_it_stops(database, telegram, channels):
    from datetime import timedelta

    from monitor.db.models import utcnow
    from monitor.telegram.channels import listener_health

    with database.session() as session:
        assert listener_health(session, 300)["status"] == "stalled"  # never fetched yet
    asyncio.run(listener(database, telegram).catch_up_all())
    with database.session() as session:
        state = listener_health(session, 300)
        assert (state["status"], state["channels"], state["stale_channels"], state["due"]) == ("ok", 2, [], 2)
        later = listener_health(session, 300, now=utcnow() + timedelta(minutes=16))
        assert later["status"] == "stalled"
        assert sorted(later["stale_channels"]) == ["@almaty_inside", "@stepnoy_veter"]
