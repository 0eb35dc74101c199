"""Index snapshots: a cluster worker restarted from its snapshot places posts exactly as one
that never stopped; a snapshot killed half-written, made for another model or damaged is
never used, and the index is built from the database instead."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import select

from monitor.cluster.assign import assign_posts
from monitor.cluster.index import EVIDENCE_FILE, LSH_WINDOW, SHINGLES_FILE, VECTORS_FILE, ClusterIndex
from monitor.cluster.snapshot import MANIFEST, PARTIAL, PREFIX, load_snapshot, save_snapshot
from monitor.db.models import ClusterMembership, Post
from monitor.embed.stage import embed_posts
from monitor.ingest.records import PostRecord
from monitor.ingest.store import store_posts
from monitor.review.similar import find_similar
from tests.conftest import REPO, real_channel_posts
from tests.test_clustering import RULES, T0

POSTS = 160


@pytest.fixture(scope="module")
def channel_texts() -> list[tuple[str, str]]:
    """Real posts of several channels, (channel, text), in publication order."""
    posts = [post for post in real_channel_posts(since="2024-12-01") if len(post["text"]) > 40][:POSTS]
    return [(str(post["sender_id"]), post["text"]) for post in posts]


def store_and_embed(database, encoder, channel_texts) -> list[int]:
    records = [PostRecord(source_kind="telegram", source_key=channel, external_id=str(n), text=text,
                          published_at=T0 + timedelta(minutes=n))
               for n, (channel, text) in enumerate(channel_texts)]
    with database.session() as session:
        ids = store_posts(session, records).new_post_ids
        embed_posts(session, encoder, ids)
    return ids


def clusters(database) -> set[frozenset[str]]:
    """The clusters as sets of the posts' external ids: the same whatever ids the store gave."""
    with database.session() as session:
        rows = session.execute(select(ClusterMembership.cluster_id, Post.external_id)
                               .join(Post, Post.id == ClusterMembership.post_id)).all()
    members: dict[int, set[str]] = {}
    for cluster_id, external_id in rows:
        members.setdefault(cluster_id, set()).add(external_id)
    return {frozenset(posts) for posts in members.values()}


def place(database, index: ClusterIndex, post_ids: list[int]) -> None:
    with database.session() as session:
        assign_posts(session, index, post_ids, RULES)


def test_a_worker_restarted_from_its_snapshot_places_posts_as_one_that_never_stopped(
        database, encoder, channel_texts, tmp_path):
    ids = store_and_embed(database, encoder, channel_texts)
    never_stopped = ClusterIndex(encoder.model_id)
    place(database, never_stopped, ids[: POSTS // 2])
    place(database, never_stopped, ids[POSTS // 2 :])
    expected = clusters(database)
    assert len(expected) < POSTS  # some posts did join others: the comparison means something

    database.clear()
    ids = store_and_embed(database, encoder, channel_texts)
    first = ClusterIndex(encoder.model_id)
    place(database, first, ids[: POSTS // 2])
    save_snapshot(first, tmp_path)
    evidence = {post_id: (key, cached.shingles) for post_id, (key, cached) in first._evidence.items()}
    del first  # the worker is gone

    restarted = load_snapshot(tmp_path, encoder.model_id, LSH_WINDOW)
    assert restarted is not None and len(restarted) == POSTS // 2
    # The text evidence it had cached, in the same order (least recently used first).
    assert list(restarted._evidence) == list(evidence) and len(evidence) >= POSTS // 2
    for post_id, (key, cached) in restarted._evidence.items():
        assert key == evidence[post_id][0] and np.array_equal(cached.shingles, evidence[post_id][1])
    with database.session() as session:
        assert restarted.sync(session) == 0  # up to date: nothing read again from the database
    place(database, restarted, ids[POSTS // 2 :])
    assert clusters(database) == expected
    assert len(restarted) == len(never_stopped) == POSTS


def test_a_snapshot_catches_up_with_posts_placed_after_it_was_taken(database, encoder, channel_texts,
                                                                    tmp_path):
    ids = store_and_embed(database, encoder, channel_texts)
    worker = ClusterIndex(encoder.model_id)
    place(database, worker, ids[:100])
    save_snapshot(worker, tmp_path)
    place(database, worker, ids[100:])  # placed after the snapshot, then the worker dies

    restarted = load_snapshot(tmp_path, encoder.model_id, LSH_WINDOW)
    with database.session() as session:
        assert restarted.sync(session) == POSTS - 100
    assert len(restarted) == POSTS and restarted.watermark == worker.watermark
    probe = encoder.encode([channel_texts[120][1]])[0]
    assert restarted.candidates(probe, [], 10) == worker.candidates(probe, [], 10)


def test_a_snapshot_of_another_database_is_dropped_at_the_first_sync(database, encoder, channel_texts,
                                                                     tmp_path):
    ids = store_and_embed(database, encoder, channel_texts[:40])
    index = ClusterIndex(encoder.model_id)
    place(database, index, ids)
    save_snapshot(index, tmp_path)
    database.clear()  # restored from another backup: the same ids now name other posts
    ids = store_and_embed(database, encoder, channel_texts[40:70])
    place(database, ClusterIndex(encoder.model_id), ids)

    loaded = load_snapshot(tmp_path, encoder.model_id, LSH_WINDOW)
    with database.session() as session:
        assert loaded.sync(session) == 30  # rebuilt whole from this database
    assert len(loaded) == 30


WINDOW = 100_000


def synthetic_index(posts: int, seed: int = 3, model_id: str = "test-model") -> ClusterIndex:
    """POSTS random vectors and shingle signatures, placed up to membership POSTS."""
    rng = np.random.default_rng(seed)
    index = ClusterIndex(model_id, lsh_window=WINDOW)
    post_ids = list(range(1, posts + 1))
    signatures = [[rng.integers(0, 2**32, size=128, dtype=np.uint32)] for _ in post_ids]
    index.add_batch(post_ids, rng.random((posts, 16), dtype=np.float32), signatures)
    index.placed_up_to(posts, posts, T0)
    return index


def test_a_snapshot_made_for_another_model_or_window_is_not_used(tmp_path):
    save_snapshot(synthetic_index(50), tmp_path)
    assert load_snapshot(tmp_path, "another-model", WINDOW) is None
    assert load_snapshot(tmp_path, "test-model", WINDOW + 1) is None
    assert len(load_snapshot(tmp_path, "test-model", WINDOW)) == 50


def test_a_loaded_snapshot_holds_the_same_vectors_and_shingle_buckets(tmp_path):
    saved = synthetic_index(300)
    save_snapshot(saved, tmp_path)
    loaded = load_snapshot(tmp_path, "test-model", WINDOW)
    post_ids = list(range(1, 301))
    assert np.array_equal(loaded.vectors(post_ids), saved.vectors(post_ids))
    for left, right in zip(loaded._lsh.to_arrays(), saved._lsh.to_arrays(), strict=True):
        assert np.array_equal(left, right)
    probe = saved.vectors([7])[0]
    assert loaded.candidates(probe, [], 5) == saved.candidates(probe, [], 5)


@pytest.mark.parametrize("damage", ["vectors cut short", "shingles missing", "evidence cut short",
                                    "manifest not JSON", "no manifest"])
def test_a_damaged_newest_snapshot_gives_way_to_the_one_before(tmp_path, damage):
    save_snapshot(synthetic_index(40), tmp_path)
    newest = save_snapshot(synthetic_index(60, seed=4), tmp_path)
    if damage == "vectors cut short":
        (newest / VECTORS_FILE).write_bytes((newest / VECTORS_FILE).read_bytes()[:300])
    elif damage == "shingles missing":
        (newest / SHINGLES_FILE).unlink()
    elif damage == "evidence cut short":
        (newest / EVIDENCE_FILE).write_bytes((newest / EVIDENCE_FILE).read_bytes()[:100])
    elif damage == "manifest not JSON":
        (newest / MANIFEST).write_text("{half")
    else:
        (newest / MANIFEST).unlink()
    assert len(load_snapshot(tmp_path, "test-model", WINDOW)) == 40


def test_only_the_two_newest_snapshots_are_kept(tmp_path):
    made = [save_snapshot(synthetic_index(20 + n), tmp_path) for n in range(4)]
    assert sorted(tmp_path.glob(f"{PREFIX}*")) == made[-2:]


# Saves snapshots of a growing index, one after another, until killed.
WRITER = """
import sys
from pathlib import Path
import numpy as np
from tests.test_index_snapshots import synthetic_index
from monitor.cluster.snapshot import save_snapshot
index = synthetic_index(20_000)
rng = np.random.default_rng(1)
for batch in range(1, 10_000):
    ids = list(range(20_000 + batch * 500, 20_000 + batch * 500 + 500))
    index.add_batch(ids, rng.random((500, 16), dtype=np.float32), [[] for _ in ids])
    index.placed_up_to(ids[-1], ids[-1], index._watermark_stamp[1])
    save_snapshot(index, Path(sys.argv[1]))
"""


def test_a_process_killed_while_writing_a_snapshot_leaves_the_one_before_it_whole(tmp_path):
    killed_mid_snapshot = 0
    for _ in range(10):  # until three kills have landed while a snapshot was being written
        before = set(tmp_path.glob(f"{PREFIX}*"))
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], cwd=REPO,
                                  env={**os.environ, "PYTHONPATH": str(REPO)})
        try:
            deadline = time.monotonic() + 120
            # Wait for a complete snapshot of this writer, then for it to be half-way into the next.
            while not (set(tmp_path.glob(f"{PREFIX}*")) - before and list(tmp_path.glob(f"{PARTIAL}*"))):
                assert time.monotonic() < deadline and writer.poll() is None, "the writer made no snapshot"
                time.sleep(0.005)
        finally:
            writer.send_signal(signal.SIGKILL)
            writer.wait()
        killed_mid_snapshot += bool(list(tmp_path.glob(f"{PARTIAL}*")))  # a half-written one is left
        loaded = load_snapshot(tmp_path, "test-model", WINDOW)
        newest = sorted(tmp_path.glob(f"{PREFIX}*"))[-1]
        manifest = json.loads((newest / MANIFEST).read_text())
        assert len(loaded) == manifest["posts"] >= 20_500 and loaded.watermark == manifest["watermark"]
        assert len(loaded._lsh) == 20_000  # the later batches came without shingles
        if killed_mid_snapshot == 3:
            break
    assert killed_mid_snapshot == 3
    save_snapshot(loaded, tmp_path)
    assert not list(tmp_path.glob(f"{PARTIAL}*"))  # the next save clears what killed ones left


def place_texts(database, encoder, index: ClusterIndex, texts: list[str], tag: str) -> list[int]:
    records = [PostRecord(source_kind="telegram", source_key=f"@{tag}_{n}", external_id=f"{tag}{n}",
                          text=text, published_at=T0 + timedelta(minutes=n)) for n, text in enumerate(texts)]
    with database.session() as session:
        ids = store_posts(session, records).new_post_ids
        embed_posts(session, encoder, ids)
    place(database, index, ids)
    return ids


def test_posts_placed_before_the_window_leave_the_index_but_a_claim_that_spread_still_grows(
        database, encoder, tmp_path):
    from sqlalchemy import update

    from monitor.db.models import Alert, utcnow
    from tests.test_clustering import CLAIM, EDITED, UNRELATED

    call = "Шымкент: сегодня на площади раздают бесплатные флаги, приходите все"
    first = ClusterIndex(encoder.model_id, days=30)
    claim, repost, lone, alerted = place_texts(database, encoder, first, [CLAIM, EDITED, UNRELATED, call],
                                               "old")
    with database.session() as session:
        alerted_cluster = session.scalar(select(ClusterMembership.cluster_id)
                                         .where(ClusterMembership.post_id == alerted))
        session.add(Alert(cluster_id=alerted_cluster, score=1.0, reasons=["test"], post_count=1,
                          source_count=1))
        session.execute(update(ClusterMembership).values(created_at=utcnow() - timedelta(days=40)))

    restarted = ClusterIndex(encoder.model_id, days=30)  # built from the database, then a post of today
    comeback, = place_texts(database, encoder, restarted, [EDITED.replace("Распространите!", "Срочно!")],
                            "new")
    assert claim in restarted and alerted in restarted  # the spread claim's representative, an open alert
    assert repost not in restarted and lone not in restarted  # aged out, still in the database
    with database.session() as session:  # and "find similar" still finds them there
        found = find_similar(session, restarted, encoder, UNRELATED + " Будьте осторожны.", RULES,
                             scan_posts=10)
        for scanned in (0, 1):  # none scanned; only the post placed last before the window
            assert not any(hit.post.id == lone for hit in find_similar(
                session, restarted, encoder, UNRELATED + " Будьте осторожны.", RULES, scan_posts=scanned))
    assert (found[0].post.id, found[0].same_claim) == (lone, True)
    with database.session() as session:
        cluster_of = dict(session.execute(select(ClusterMembership.post_id,
                                                 ClusterMembership.cluster_id)).all())
    assert cluster_of[comeback] == cluster_of[claim]  # the old claim's cluster grows
    assert len(restarted) == 3

    save_snapshot(restarted, tmp_path)
    loaded = load_snapshot(tmp_path, encoder.model_id, LSH_WINDOW, 30)
    assert len(loaded) == 3 and list(loaded._aging) == list(restarted._aging)
    assert load_snapshot(tmp_path, encoder.model_id, LSH_WINDOW, 60) is None  # made for another window


def test_a_post_placed_before_the_window_and_edited_since_stays_by_its_new_placement(database, encoder):
    from sqlalchemy import update

    from monitor.db.models import utcnow
    from tests.test_clustering import CLAIM, UNRELATED, edit

    old_claim, edited = place_texts(database, encoder, ClusterIndex(encoder.model_id, days=30),
                                    [CLAIM, UNRELATED], "old")
    with database.session() as session:
        session.execute(update(ClusterMembership).values(created_at=utcnow() - timedelta(days=40)))
    index = ClusterIndex(encoder.model_id, days=30)
    with database.session() as session:
        index.sync(session)  # both placed 40 days ago, as far as it knows
    edit(database, edited, "На трассе Алматы — Бишкек ограничено движение грузовиков из-за ремонта")
    with database.session() as session:
        embed_posts(session, encoder, [edited])
    place(database, index, [edited])  # placed again today, which ages the others out
    assert old_claim not in index and edited in index
