"""Alert rules on replayed timelines: posts arrive in the order they were published, the
whole pipeline runs after each step, and the tests check which alerts open, when, and why."""

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import select

from monitor.alerts.known_claims import add_known_claim
from monitor.alerts.watchlists import add_entry
from monitor.db.models import Alert, AlertEvent, AlertStatus, AuditEntry, ClusterMembership, Post
from monitor.ingest.records import PostRecord
from monitor.review.decisions import decide
from tests.conftest import monitor_command
from workers.celery_app import app
from workers.dispatch import send
from workers.tasks import store_posts_task

T0 = datetime(2025, 5, 6, 7, 0, tzinfo=timezone.utc)
CLAIM = ("Аким Алматы Ерлан Сапаров призвал всех жителей выйти 9 мая на шествие Бессмертного полка "
         "у Вечного огня и взять с собой портреты родных")
EDITS = ["", " Срочно!", " Видео распространяется в соцсетях.", " Приходите все, сбор в 10:00.",
         " Репост!", " Подробности в видео.", " Поделитесь с друзьями.", " Смотрите до конца."]
ORGANIC = ("В Алматы после ремонта открылся сквер на улице Абая: высадили двести деревьев, "
           "поставили скамейки и фонтан")

# The same claim in other words: little shared wording, the same meaning.
PARAPHRASED_CLAIM = "Drinking hot water every fifteen minutes kills the coronavirus"
RETOLD = "Doctors now say the coronavirus dies if you drink a glass of hot water every 15 minutes"


def post(n: int, minutes: float, text: str = CLAIM, source: str | None = None, **fields) -> PostRecord:
    return PostRecord(source_kind="telegram", source_key=source or f"@channel_{n % 9}", external_id=str(n),
                      text=text + EDITS[n % len(EDITS)], published_at=T0 + timedelta(minutes=minutes),
                      **fields)


def replay(*records: PostRecord) -> None:
    # Sent as the web app and the CLI send tasks in the embedded mode (workers/dispatch.py),
    # which reads eager results past Celery's process-wide join guard: eager tasks on the
    # browser tests' server threads can leave that flag set for the tests after them.
    send(app.conf.monitor_settings, store_posts_task, [record.to_message() for record in records])


def alert_now(database) -> Alert | None:
    with database.session() as session:
        return session.scalars(select(Alert)).one_or_none()


def events(database) -> list[str]:
    with database.session() as session:
        return list(session.scalars(select(AlertEvent.kind).order_by(AlertEvent.id)))


def test_a_slow_organic_story_never_alerts(database, eager_pipeline):
    for day in range(6):  # one or two posts a day from four sources, for six days
        replay(post(day * 2, day * 24 * 60, ORGANIC, f"@city_{day % 4}"),
               post(day * 2 + 1, day * 24 * 60 + 600, ORGANIC, f"@city_{(day + 1) % 4}"))
    assert alert_now(database) is None


def test_a_coordinated_burst_alerts_once_it_spreads_and_updates_as_it_grows(database, eager_pipeline):
    replay(*(post(n, n * 4) for n in range(3)))  # 3 posts from 3 channels: not yet
    assert alert_now(database) is None
    replay(*(post(n, n * 4) for n in range(3, 6)))  # 6 posts from 6 channels within 20 minutes
    alert = alert_now(database)
    assert alert is not None and alert.status is AlertStatus.open
    assert alert.reasons[0].startswith("6 posts from 6 sources within 0.3 h")
    assert "a claim not seen before" in " ".join(alert.reasons)
    replay(*(post(n, 60 + n) for n in range(6, 12)))
    grown = alert_now(database)
    assert grown.post_count == 12 and grown.score > alert.score
    replay(*(post(n, 60 + n) for n in range(6, 12)))  # the same posts again: nothing new
    assert events(database) == ["alert.opened", "alert.updated"]


def test_a_known_falsehood_resurfacing_alerts_at_once_whatever_its_size(database, eager_pipeline):
    with database.session() as session:
        add_known_claim(session, CLAIM, "deepfake", "aigerim", url="https://factcheck.kz/saparov")
    replay(post(1, 0))  # a single post from a single channel
    alert = alert_now(database)
    assert alert is not None and alert.post_count == 1
    assert any(reason.startswith("repeats known claim") and "deepfake" in reason for reason in alert.reasons)


def test_a_call_to_action_put_in_a_watched_persons_mouth_with_video_alerts(database, eager_pipeline):
    with database.session() as session:
        add_entry(session, "person", "Ерлан Сапаров", ["Erlan Saparov", "Сапаров Ерлан"], "admin")
        add_entry(session, "topic", "Бессмертный полк", ["Immortal Regiment", "Батырларға тағзым"], "admin")
    replay(post(1, 0, media_kind="video", media_id="555"), post(2, 5, media_kind="video", media_id="555"))
    alert = alert_now(database)
    assert alert is not None and alert.post_count == 2  # far below the spread rule
    reasons = " ".join(alert.reasons)
    assert ("attributes a call to come out to watched person Ерлан Сапаров in 2 posts from 2 sources; "
            "video attached (2 posts)") in reasons
    assert "mentions watched topic Бессмертный полк in 2 posts" in reasons
    breakdown = {item["rule"]: item for item in alert.breakdown}
    assert breakdown["impersonation"]["opens"] and breakdown["impersonation"]["points"] > 25


def test_posts_edited_into_a_call_in_a_watched_persons_mouth_alert_once_placed_again(
        database, eager_pipeline):
    from dataclasses import replace

    from monitor.db.models import Source
    from monitor.telegram.changes import apply_edit
    from workers.tasks import embed_posts_task

    with database.session() as session:
        add_entry(session, "person", "Ерлан Сапаров", ["Erlan Saparov", "Сапаров Ерлан"], "admin")
    ordinary = [post(n, n * 5, ORGANIC, media_kind="video", media_id="555") for n in (1, 2)]
    replay(*ordinary)
    assert alert_now(database) is None
    # Both channels edit their post's caption into the call, as the listener records edits.
    with database.session() as session:
        sources = dict(session.execute(select(Source.key, Source.id)).all())
        edited = [apply_edit(session, sources[record.source_key], replace(record, text=CLAIM + EDITS[n]))
                  for n, record in enumerate(ordinary)]
    send(app.conf.monitor_settings, embed_posts_task, edited)
    alert = alert_now(database)
    assert alert is not None and alert.post_count == 2
    assert ("attributes a call to come out to watched person Ерлан Сапаров in 2 posts from 2 sources; "
            "video attached (2 posts)") in " ".join(alert.reasons)


def test_a_dismissed_alert_reopens_only_when_the_cluster_has_grown_well_past_it(database, eager_pipeline):
    replay(*(post(n, n * 4) for n in range(6)))
    with database.session() as session:
        decide(session, alert_now(database).id, "dismiss", "aigerim", note="an old story")
    replay(*(post(n, 30 + n) for n in range(6, 10)))  # 10 posts: less than twice the 6 dismissed
    assert alert_now(database).status is AlertStatus.dismissed
    replay(*(post(n, 40 + n) for n in range(10, 13)))  # 13 posts: past twice
    alert = alert_now(database)
    assert alert.status is AlertStatus.open
    assert alert.reasons[0] == "re-opened: grew from 6 to 13 posts since it was dismissed"
    assert events(database) == ["alert.opened", "alert.dismissed", "alert.reopened"]


def test_alerts_explain_prints_every_rules_points(database, eager_pipeline):
    replay(*(post(n, n * 4, views=20_000) for n in range(6)))
    cluster_id = alert_now(database).cluster_id
    result = monitor_command("alerts", "explain", str(cluster_id), env={"DATABASE_URL": database.url})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"cluster {cluster_id}: score") and "an alert opens" in lines[0]
    rules = {line.split()[0] for line in lines[1:]}
    assert {"spread", "reach", "novelty"} <= rules
    assert "reach 120,000 views" in result.stdout
    missing = monitor_command("alerts", "explain", "999999", env={"DATABASE_URL": database.url})
    assert missing.returncode == 1 and "no cluster 999999" in missing.stderr


def test_a_burst_passed_on_from_channel_to_channel_says_how_far_it_was_forwarded(database, eager_pipeline):
    # @channel_1 forwards @channel_0's post, and @channel_2 forwards @channel_1's.
    replay(*(post(n, n * 4, forwarded_from_id=f"@channel_{n - 1}" if n in (1, 2) else None)
             for n in range(6)))
    assert alert_now(database).reasons[0].endswith("; forwarded along 2 hops")


def test_forwarding_depth_is_the_longest_chain_of_forwards():
    from monitor.alerts.rules import forwarding_depth

    assert forwarding_depth(set()) == 0
    assert forwarding_depth({("a", "b"), ("b", "c"), ("c", "d"), ("a", "x")}) == 3
    assert forwarding_depth({("a", "b"), ("b", "a")}) == 1  # a cycle ends the chain


def test_a_known_claim_retold_in_other_words_is_recognised_by_meaning(database, eager_pipeline):
    with database.session() as session:
        add_known_claim(session, PARAPHRASED_CLAIM, "false_claim", "aigerim")
    replay(PostRecord(source_kind="telegram", source_key="@wellness", external_id="1", text=RETOLD,
                      published_at=T0))
    alert = alert_now(database)
    assert alert is not None, "the claim's vector and the post's were not compared"
    reason = next(reason for reason in alert.reasons if reason.startswith("repeats known claim"))
    assert "carries the same claim" in reason


LABELLED = Path(__file__).parent / "data" / "alerts"


def labelled_posts() -> list:
    from monitor.evaluation.alerts import read_wave_posts

    loaded = read_wave_posts(LABELLED / "waves.jsonl")
    assert not loaded.problems
    return sorted(loaded.items, key=lambda post: post.record.published_at)


def test_a_reworded_wave_in_russian_and_kazakh_is_one_alert_and_its_hard_negatives_none(
        database, eager_pipeline):
    from monitor.alerts.watchlists import import_entries, read_watchlist_file

    entries, problems = read_watchlist_file(LABELLED / "watchlist.json")
    assert not problems
    with database.session() as session:
        import_entries(session, entries, "admin")
    posts = [post for post in labelled_posts() if post.wave in ("saparov-may9", None)]
    for post in posts:  # one at a time, as they were published
        replay(post.record)
        if post.record.external_id == "w1":
            assert alert_now(database) is not None, "the wave's first post opens its alert"
    with database.session() as session:
        alerts = session.scalars(select(Alert).where(Alert.status != AlertStatus.merged)).all()
        assert len(alerts) == 1
        alert = alerts[0]
        held = set(session.scalars(select(Post.external_id).join(ClusterMembership)
                                   .where(ClusterMembership.cluster_id == alert.cluster_id)))
    wave = {post.record.external_id for post in posts if post.wave}
    assert held == wave and alert.wave_key is not None
    assert "in 10 posts from 8 sources; video attached (4 posts)" in " ".join(alert.reasons)
    with database.session() as session:
        merges = session.scalars(select(AuditEntry).where(AuditEntry.action == "cluster.merge")).all()
        assert merges and all(entry.actor == "alert rules" for entry in merges)


def test_the_queue_lists_each_alert_with_its_rules_and_posts(database, eager_pipeline):
    replay(*(post(n, n * 4) for n in range(6)))
    listed = monitor_command("alerts", "list", "--json", "--with-posts", env={"DATABASE_URL": database.url})
    assert listed.returncode == 0, listed.stderr
    alert, = json.loads(listed.stdout)
    assert (alert["post_count"], alert["sources"], alert["clusters"], alert["status"]) == (6, 6, 1, "open")
    assert {rule["rule"] for rule in alert["rules"]} >= {"spread", "novelty"}
    assert alert["posts"] == [{"source": f"@channel_{n % 9}", "id": str(n)} for n in range(6)]
    counted = json.loads(monitor_command("alerts", "list", "--json", "--status", "open",
                                         env={"DATABASE_URL": database.url}).stdout)
    assert counted[0]["posts"] == 6 and counted[0]["reasons"] == alert["reasons"]


def test_a_cluster_is_shown_with_its_posts_sources_and_alert(database, eager_pipeline):
    replay(*(post(n, n * 4) for n in range(6)))
    cluster_id = alert_now(database).cluster_id
    env = {"DATABASE_URL": database.url}
    shown = json.loads(monitor_command("clusters", "show", str(cluster_id), "--json", env=env).stdout)
    assert [item["external_id"] for item in shown["posts"]] == [str(n) for n in range(6)]
    assert shown["sources"] == sorted(f"@channel_{n}" for n in range(6))
    assert shown["alert"]["status"] == "open" and shown["alert"]["reasons"]
    text = monitor_command("clusters", "show", str(cluster_id), env=env).stdout
    assert text.startswith(f"cluster {cluster_id}: 6 posts from 6 sources\nalert #")
    missing = monitor_command("clusters", "show", "999999", env=env)
    assert missing.returncode == 1 and "no cluster 999999" in missing.stderr
