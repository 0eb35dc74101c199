"""Alert rules on replayed timelines: posts arrive in the order they were published, the
whole pipeline runs after each step, and the tests check which alerts open, when, and why."""

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from monitor.alerts.known_claims import add_known_claim
from monitor.alerts.watchlists import add_entry
from monitor.db.models import Alert, AlertEvent, AlertStatus
from monitor.ingest.records import PostRecord
from monitor.review.decisions import decide
from tests.conftest import monitor_command
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
    store_posts_task.delay([record.to_message() for record in records]).get()


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
    assert "attributes a call to action to watched person Ерлан Сапаров in 2 posts; video attached" in reasons
    assert "mentions watched topic Бессмертный полк in 2 posts" in reasons
    breakdown = {item["rule"]: item for item in alert.breakdown}
    assert breakdown["impersonation"]["opens"] and breakdown["impersonation"]["points"] > 25


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
