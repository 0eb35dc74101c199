"""The cluster page's timeline: bars stand at their time, whatever the gaps between them."""

from datetime import datetime, timezone

from web.charts import LEFT, PLOT_WIDTH, timeline_chart


def test_hours_months_apart_are_drawn_months_apart_within_the_plot():
    may = datetime(2025, 5, 6, 9, tzinfo=timezone.utc)
    chart = timeline_chart([(may, {"@a": 3}), (may.replace(hour=10), {"@a": 1, "@b": 2}),
                            (datetime(2026, 12, 1, 8, tzinfo=timezone.utc), {"@b": 1})])
    first, second, *_, last = sorted(chart.bars, key=lambda bar: bar.x)
    assert first.x == LEFT and second.x - first.x <= 2  # the next hour, beside it
    assert last.x >= LEFT + PLOT_WIDTH * 0.99  # nineteen months on: the far end, not the next slot
    assert chart.width <= LEFT + PLOT_WIDTH + 2  # no wider than the plot, however long the cluster
    assert chart.peak == 3
