from datetime import datetime, timedelta, timezone

from monitor.alerts.rules import busiest_window

T0 = datetime(2025, 5, 6, 7, 0, tzinfo=timezone.utc)


def at(minutes: float, source: int):
    return (T0 + timedelta(minutes=minutes), source)


def test_busiest_window_counts_posts_and_distinct_sources_inside_the_window():
    timeline = [at(0, 1), at(10, 2), at(20, 2), at(30, 3), at(500, 4)]
    burst = busiest_window(timeline, timedelta(hours=1))
    assert (burst.posts, burst.sources) == (4, 3)
    assert burst.start == T0 and burst.end == T0 + timedelta(minutes=30)


def test_posts_spread_thinner_than_the_window_never_form_a_burst():
    timeline = [at(hour * 120, hour) for hour in range(6)]
    burst = busiest_window(timeline, timedelta(hours=1))
    assert (burst.posts, burst.sources) == (1, 1)


def test_the_window_with_most_sources_wins_over_one_with_more_posts():
    one_source_flood = [at(minute, 1) for minute in range(10)]
    many_sources = [at(300 + minute, source) for minute, source in enumerate(range(2, 6))]
    burst = busiest_window(one_source_flood + many_sources, timedelta(minutes=30))
    assert (burst.posts, burst.sources) == (4, 4)
    assert "4 posts from 4 sources" in burst.describe()


def test_empty_cluster_has_no_burst():
    assert busiest_window([], timedelta(hours=1)) is None
