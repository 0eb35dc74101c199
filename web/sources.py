"""Sources: feeds and channels with their health; admins add, pause and resume them."""

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user

from monitor.db.models import Role
from monitor.ingest.sources import list_sources, set_paused
from monitor.news.sources import add_feed
from monitor.telegram.channels import add_channel
from web.access import requires
from web.database import commit, get_session
from web.forms import ButtonForm, ChannelForm, FeedForm, PauseForm, submitted

bp = Blueprint("sources", __name__)


@bp.get("/sources")
def index():
    sources = list_sources(get_session(), "kind")
    return render_template("sources.html", sources=sources, feed=FeedForm(), channel=ChannelForm(),
                           pause=PauseForm(), button=ButtonForm())


@bp.post("/sources/feeds")
@requires(Role.admin)
def add():
    form = FeedForm()
    if submitted(form):
        source = add_feed(get_session(), form.url.data, form.interval.data, current_user.name,
                          form.title.data or "")
        commit()
        flash(f"feed {source.key} added; it is fetched every {source.fetch_interval_seconds} s", "ok")
    return redirect(url_for("sources.index"))


@bp.post("/sources/telegram")
@requires(Role.admin)
def add_telegram_channel():
    form = ChannelForm()
    if submitted(form):
        source = add_channel(get_session(), form.channel.data, current_user.name)
        commit()
        flash(f"channel {source.key} added; the Telegram listener resolves it and catches it up", "ok")
    return redirect(url_for("sources.index"))


@bp.post("/sources/<int:source_id>/pause")
@requires(Role.admin)
def pause(source_id: int):
    form = PauseForm()
    if submitted(form):
        set_paused(get_session(), source_id, current_user.name, form.reason.data)
        commit()
        flash(f"source {source_id} paused", "ok")
    return redirect(url_for("sources.index"))


@bp.post("/sources/<int:source_id>/resume")
@requires(Role.admin)
def resume(source_id: int):
    if submitted(ButtonForm()):
        set_paused(get_session(), source_id, current_user.name, None)
        commit()
        flash(f"source {source_id} resumed", "ok")
    return redirect(url_for("sources.index"))
