"""Full-text search over posts, and "find similar" for a pasted text or a stored post's URL."""

from __future__ import annotations

from threading import Lock

from flask import Blueprint, abort, render_template, request
from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length

from config import Settings
from monitor.db.models import Cluster
from monitor.review.queries import search_posts
from monitor.review.similar import SimilarPost, find_similar, query_text
from monitor.similarity import MatchRules
from web.database import current_settings, get_session
from web.forms import submitted
from web.schemas import SearchQuery, parse_query

bp = Blueprint("search", __name__)
MIN_QUERY = SearchQuery.model_fields["q"].metadata[0].min_length
# The candidate index is not thread-safe; the web app serves requests on threads.
_index_lock = Lock()


class SimilarForm(FlaskForm):
    text = TextAreaField("Text, or the URL of a stored post",
                         validators=[DataRequired(), Length(max=20_000)])


@bp.get("/search")
def posts():
    words = request.args.get("q", "").strip()
    if len(words) < MIN_QUERY:  # asked again on the page, not refused with an error page
        problem = f"type at least {MIN_QUERY} characters to search" if words else None
        return render_template("search.html", result=None, q=words, problem=problem, form=SimilarForm())
    query = parse_query(SearchQuery, request.args.to_dict() | {"q": words})
    return render_template("search.html", result=search_posts(get_session(), query.q, query.page),
                           q=query.q, form=SimilarForm())


@bp.route("/similar", methods=["GET", "POST"])
def similar():
    """For a pasted text or a stored post's URL; or, with ?cluster=ID, for that cluster's claim,
    offering to merge each other cluster found into it."""
    form = SimilarForm()
    hits, cluster = None, None
    if (cluster_id := request.args.get("cluster", type=int)) is not None:
        cluster = get_session().get(Cluster, cluster_id)
        if cluster is None or cluster.representative is None:
            abort(404, f"no cluster {cluster_id} with posts")
        hits = similar_posts(current_settings(), cluster.representative.text, limit=50)
    elif request.method == "POST" and submitted(form):
        hits = similar_posts(current_settings(), form.text.data)
    return render_template("similar.html", form=form, hits=hits, cluster=cluster)


def similar_posts(settings: Settings, text: str, limit: int = 20) -> list[SimilarPost]:
    # The model and index load on first use, once per process, as in a worker.
    from monitor.runtime import cluster_index, encoder

    session = get_session()
    query = query_text(session, text)
    with _index_lock:
        return find_similar(session, cluster_index(settings), encoder(settings), query,
                            MatchRules.from_settings(settings), limit, settings.similar_scan_posts)
