from flask import Blueprint, abort, render_template

from monitor.review.queries import get_cluster
from web.database import get_session

bp = Blueprint("clusters", __name__)


@bp.get("/clusters/<int:cluster_id>")
def show(cluster_id: int):
    view = get_cluster(get_session(), cluster_id)
    if view is None:
        abort(404, f"no cluster {cluster_id}")
    return render_template("cluster.html", view=view)
