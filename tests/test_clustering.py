"""Cluster placement against the real databases: serialized, idempotent, restart-safe."""

import os
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from datasketch import MinHash, MinHashLSH
from sqlalchemy import event, func, select

from config import load_settings
from monitor.alerts.rules import AlertPolicy
from monitor.cluster.assign import PlacedPosts, assign_posts, placed_memory
from monitor.cluster.index import LSH_THRESHOLD, ClusterIndex
from monitor.cluster.merge import separate
from monitor.cluster.shingle_lsh import ShingleLSH
from monitor.db.expressions import is_one_of
from monitor.db.models import (
    AuditEntry,
    Cluster,
    ClusterMembership,
    Embedding,
    PlacementRevision,
    Post,
    PostStage,
    Stage,
)
from monitor.db.statements import RowsInsert
from monitor.embed.stage import embed_again, embed_posts
from monitor.ingest.records import PostRecord
from monitor.ingest.store import store_posts
from monitor.normalize import fingerprint, matching_text
from monitor.review.clusters import merge_clusters, split_post
from monitor.similarity import (
    FEATURES,
    MINHASH_PERMUTATIONS,
    PACKAGED_CALIBRATION,
    SHINGLE_SIZE,
    STEM_LENGTH,
    Calibration,
    MatchRules,
    Pairs,
    TextEvidence,
    features_of_pairs,
    jaccard,
    minhash,
    pair_features,
    shingle_signatures,
)
from monitor.telegram.changes import apply_edit
from tests.conftest import real_channel_posts

RULES = MatchRules(Calibration.load(PACKAGED_CALIBRATION), neighbours=20)
CLAIM = ("Журналистка Айгерим Нурланова в видео призывает всех прийти на шествие "
         "Бессмертного полка 9 мая к Вечному огню в Алматы")
EDITED = "⚡️ВИДЕО: " + CLAIM.replace("всех", "всех жителей") + " Распространите!"
UNRELATED = "В Алматы ожидается сильный ветер до 20 метров в секунду, объявлено штормовое предупреждение"
T0 = datetime(2025, 5, 6, 7, 0, tzinfo=timezone.utc)


def embedded_posts(database, encoder, texts: list[str]) -> list[int]:
    records = [PostRecord(source_kind="telegram", source_key=f"@channel_{n}", external_id="1",
                          text=text, published_at=T0 + timedelta(minutes=n))
               for n, text in enumerate(texts)]
    with database.session() as session:
        ids = store_posts(session, records).new_post_ids
        assert embed_posts(session, encoder, ids) == ids
    return ids


def cluster_of(database, post_id: int) -> int:
    with database.session() as session:
        return session.scalar(select(ClusterMembership.cluster_id)
                              .where(ClusterMembership.post_id == post_id))


def test_an_edited_repost_joins_the_original_and_unrelated_news_does_not(database, encoder):
    original, edited, unrelated = embedded_posts(database, encoder, [CLAIM, EDITED, UNRELATED])
    index = ClusterIndex(encoder.model_id)
    with database.session() as session:
        assign_posts(session, index, [original, edited, unrelated], RULES)
    assert cluster_of(database, original) == cluster_of(database, edited)
    assert cluster_of(database, unrelated) != cluster_of(database, original)
    with database.session() as session:
        membership = session.scalar(select(ClusterMembership).where(ClusterMembership.post_id == edited))
        assert membership.method == "nearest" and membership.matched_post_id == original


def test_each_cluster_counts_its_posts_sources_and_times_whether_opened_alone_or_joined(database, encoder):
    original, edited, unrelated = embedded_posts(database, encoder, [CLAIM, EDITED, UNRELATED])
    with database.session() as session:
        placed = assign_posts(session, ClusterIndex(encoder.model_id), [original, edited, unrelated], RULES)
    claim, alone = cluster_of(database, original), cluster_of(database, unrelated)
    assert placed.cluster_ids == sorted([claim, alone])  # both go to the alert rules
    with database.session() as session:
        figures = {cluster.id: (cluster.post_count, cluster.source_count, cluster.first_seen_at,
                                cluster.last_seen_at) for cluster in session.scalars(select(Cluster))}
    assert figures == {claim: (2, 2, T0, T0 + timedelta(minutes=1)),
                       alone: (1, 1, T0 + timedelta(minutes=2), T0 + timedelta(minutes=2))}


def test_a_cluster_loaded_before_its_posts_are_counted_again_shows_the_new_figures(database, encoder):
    original, edited = embedded_posts(database, encoder, [CLAIM, EDITED])
    with database.session() as session:
        assign_posts(session, ClusterIndex(encoder.model_id), [original, edited], RULES)
    with database.session() as session:
        claim = session.get(Cluster, cluster_of(database, original))
        assert (claim.post_count, claim.last_seen_at) == (2, T0 + timedelta(minutes=1))
        split_post(session, edited, "aigerim", "satire", AlertPolicy.from_settings(load_settings()))
        assert (claim.post_count, claim.source_count, claim.last_seen_at) == (1, 1, T0)


def test_two_workers_placing_near_duplicates_at_once_open_one_cluster(database, encoder):
    first, second = embedded_posts(database, encoder, [CLAIM, EDITED])
    start = threading.Barrier(2)
    errors = []

    def worker(post_id: int) -> None:
        index = ClusterIndex(encoder.model_id)  # each worker process has its own index
        try:
            start.wait()
            with database.session() as session:
                assign_posts(session, index, [post_id], RULES)
        except Exception as error:  # surfaced by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(post_id,)) for post_id in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Cluster)) == 1
    assert cluster_of(database, first) == cluster_of(database, second)


def test_under_a_backlog_a_task_also_places_the_posts_waiting_for_it(database, encoder):
    first, second, third = embedded_posts(database, encoder, [CLAIM, EDITED, UNRELATED])
    index = ClusterIndex(encoder.model_id)
    with database.session() as session:
        placed = assign_posts(session, index, [third], RULES, take_waiting=1)
    assert placed.posts == 2  # its own post and the oldest waiting one
    assert cluster_of(database, second) is None
    with database.session() as session:
        assert assign_posts(session, index, [first], RULES, take_waiting=10).posts == 1
        assert assign_posts(session, index, [first], RULES, take_waiting=10).posts == 0  # nothing left
    assert cluster_of(database, first) == cluster_of(database, second) != cluster_of(database, third)


def test_a_restarted_worker_rebuilds_its_index_from_the_database(database, encoder):
    original, edited = embedded_posts(database, encoder, [CLAIM, EDITED])
    with database.session() as session:
        assign_posts(session, ClusterIndex(encoder.model_id), [original], RULES)

    restarted = ClusterIndex(encoder.model_id)
    with database.session() as session:
        assign_posts(session, restarted, [edited], RULES)
    assert len(restarted) == 2
    assert cluster_of(database, edited) == cluster_of(database, original)
    with database.session() as session:
        assert restarted.sync(session) == 0  # up to date: nothing rebuilt


def test_vectors_of_another_model_are_never_mixed_in(database, encoder):
    original, = embedded_posts(database, encoder, [CLAIM])
    with database.session() as session:
        assign_posts(session, ClusterIndex(encoder.model_id), [original], RULES)
        other_model = ClusterIndex("intfloat/multilingual-e5-small")
        assert other_model.sync(session) == 0


def test_after_a_model_switch_reembed_gives_the_stored_posts_vectors_of_the_new_model(database, encoder,
                                                                                     tmp_path):
    from monitor.embed.encoder import Encoder, resolve_model
    from monitor.embed.stage import reembed

    original, edited = embedded_posts(database, encoder, [CLAIM, EDITED])
    with database.session() as session:
        assign_posts(session, ClusterIndex(encoder.model_id), [original, edited], RULES)
    # "Another model", with no download: the packaged weights in a folder of another name.
    other_folder = tmp_path / "other-model"
    other_folder.mkdir()
    for part in Path(resolve_model("all-MiniLM-L6-v2")[0]).iterdir():
        (other_folder / part.name).symlink_to(part)
    other = Encoder(str(other_folder))
    assert other.model_id == "other-model"
    index = ClusterIndex(other.model_id)
    with database.session() as session:
        assert index.sync(session) == 0  # the stored posts are invisible to the new model...

    assert reembed(database.sessions, other, batch_size=1) == 2
    assert reembed(database.sessions, other) == 0  # ...until re-embedded, once
    with database.session() as session:
        assert index.sync(session) == 2
        assert session.scalar(select(func.count()).select_from(Embedding)) == 4  # the old ones stay


def test_a_list_of_values_selects_the_same_rows_on_each_database(database):
    records = [PostRecord(source_kind="telegram", source_key="@channel", external_id=str(n),
                          text=text, published_at=T0) for n, text in enumerate([CLAIM, EDITED, UNRELATED])]
    with database.session() as session:
        claim, edited, unrelated = store_posts(session, records).new_post_ids
        dialect = session.get_bind().dialect

        def selected(column, values) -> set[int]:
            return set(session.scalars(select(Post.id).where(is_one_of(column, values, dialect))))

        assert selected(Post.id, {claim, unrelated, 10**9}) == {claim, unrelated}
        assert selected(Post.id, []) == set()
        assert selected(Post.fingerprint, [fingerprint(EDITED)]) == {edited}


def test_rows_of_any_number_are_inserted_by_one_statement_text_on_each_database(database):
    """What a cluster task writes its new clusters with: every row's values stored as given
    (times, nulls included), its RETURNING read back; on PostgreSQL, one statement text for
    any number of rows, which is what lets the server prepare it once."""
    opened = RowsInsert(Cluster.__table__, database.engine.dialect,
                        lambda insert: insert.returning(Cluster.id, Cluster.post_count))
    rows = [{"representative_post_id": None, "post_count": count,
             "first_seen_at": T0 + timedelta(hours=count)} for count in (1, 2, 3)]
    sent: list[str] = []

    def record(connection, cursor, statement, *_):
        sent.append(statement)

    with database.session() as session:
        connection = session.connection()
        event.listen(connection, "before_cursor_execute", record)
        returned = opened(connection, rows[:1]).all() + opened(connection, rows[1:]).all()
        event.remove(connection, "before_cursor_execute", record)
    assert sorted(count for _, count in returned) == [1, 2, 3]
    with database.session() as session:
        stored = {cluster.post_count: cluster for cluster in session.scalars(select(Cluster))}
        assert {count: (cluster.representative_post_id, cluster.first_seen_at)
                for count, cluster in stored.items()} == {
            row["post_count"]: (None, row["first_seen_at"]) for row in rows}
        assert {cluster.id for cluster in stored.values()} == {cluster_id for cluster_id, _ in returned}
    assert len(sent) == 2  # one statement a call
    if database.backend == "postgresql":
        assert sent[0] == sent[1]


def test_an_index_built_on_a_database_since_emptied_starts_again(database, encoder):
    """Ids are reused after the store is emptied or restored: the old vectors must go."""
    old, = embedded_posts(database, encoder, [UNRELATED])
    index = ClusterIndex(encoder.model_id)
    with database.session() as session:
        assign_posts(session, index, [old], RULES)
    database.clear()

    original, edited, filler = embedded_posts(database, encoder, [CLAIM, EDITED, UNRELATED + " Ещё."])
    assert original == old  # the same post id, now another post
    with database.session() as session:
        assign_posts(session, ClusterIndex(encoder.model_id), [original, filler], RULES)
    with database.session() as session:
        assert index.sync(session) == 2  # rebuilt whole, not caught up from the stale watermark
        assign_posts(session, index, [edited], RULES)
    assert cluster_of(database, edited) == cluster_of(database, original)


def edit(database, post_id: int, text: str) -> None:
    """The post's channel edits it to TEXT (as the Telegram listener records an edit)."""
    with database.session() as session:
        post = session.get(Post, post_id)
        record = PostRecord(source_kind="telegram", source_key=post.source.key, external_id=post.external_id,
                            text=text)
        assert apply_edit(session, post.source_id, record) == post_id


def test_edited_posts_are_placed_again_by_their_new_text(database, encoder):
    rate = "Курс тенге к доллару на бирже KASE вырос на 0,4 процента за день"
    original, repost, weather, alone = embedded_posts(database, encoder, [CLAIM, EDITED, UNRELATED, rate])
    index, other_worker = ClusterIndex(encoder.model_id), ClusterIndex(encoder.model_id)
    with database.session() as session:
        assign_posts(session, index, [original, repost, weather, alone], RULES)
        other_worker.sync(session)
    wave, storm, tenge = (cluster_of(database, post) for post in (original, weather, alone))
    assert cluster_of(database, repost) == wave

    # The repost is edited away from the claim, the storm warning into it, and the
    # exchange rate into other news.
    edit(database, repost, "Турнир по волейболу среди школьников пройдёт в Шымкенте в эту субботу")
    edit(database, weather, CLAIM + " Поделитесь с друзьями!")
    edit(database, alone, "На трассе Алматы — Бишкек ограничено движение грузовиков из-за ремонта")
    with database.session() as session:
        assert embed_posts(session, encoder, [repost, weather, alone]) == [repost, weather, alone]
    with database.session() as session:
        placed = assign_posts(session, index, [repost, weather, alone], RULES)

    assert cluster_of(database, weather) == wave
    assert cluster_of(database, repost) not in (wave, storm, tenge)  # a claim of its own
    assert cluster_of(database, alone) == tenge  # alone before, alone still: its cluster stays
    assert {wave, tenge, cluster_of(database, repost)} <= set(placed.cluster_ids)
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(ClusterMembership)) == 4  # once each
        assert (session.get(Cluster, wave).post_count, session.get(Cluster, wave).representative_post_id) == \
            (2, original)
        # The storm warning's cluster, left empty, leads to where its post went.
        emptied = session.get(Cluster, storm)
        assert (emptied.merged_into_id, emptied.post_count, emptied.representative_post_id) == (wave, 0, None)
        assert session.scalar(select(AuditEntry.details).where(AuditEntry.action == "cluster.merge")) == {
            "absorbed_cluster_id": storm, "posts_moved": 0,
            "reason": f"its only post, {weather}, was edited into this claim"}
        # A worker whose index was built before the edits catches up on their new vectors.
        other_worker.sync(session)
        vectors = {row.post_id: np.frombuffer(row.vector, dtype=np.float32)
                   for row in session.scalars(select(Embedding))}
    for post_id in (repost, weather, alone):
        assert float(other_worker.vectors([post_id])[0] @ vectors[post_id]) == pytest.approx(1, abs=1e-3)


def test_a_post_edited_while_the_cluster_stage_places_it_is_placed_again_by_its_new_text(
        database, encoder, monkeypatch):
    original, repost = embedded_posts(database, encoder, [CLAIM, UNRELATED])
    index = ClusterIndex(encoder.model_id)
    write = PlacedPosts.write

    def edited_before_written(placed: PlacedPosts) -> None:
        # The edit commits after the stage read the post and before it writes its placement.
        post = placed.session.get(Post, repost)
        post.text, post.fingerprint = EDITED, fingerprint(EDITED)
        embed_again(placed.session, [repost])
        write(placed)

    with monkeypatch.context() as patched, database.session() as session:
        patched.setattr(PlacedPosts, "write", edited_before_written)
        assign_posts(session, index, [original, repost], RULES)
    with database.session() as session:
        assert session.get(PostStage, repost).stage == Stage.stored  # left for the embed stage
        assert embed_posts(session, encoder, [repost]) == [repost]
    with database.session() as session:
        assign_posts(session, index, [repost], RULES)
        assert session.get(PostStage, repost).stage == Stage.clustered
        assert session.scalar(select(func.count()).select_from(ClusterMembership)) == 2
    assert cluster_of(database, repost) == cluster_of(database, original)  # by its new text


def test_the_index_knows_a_post_edited_since_by_its_fingerprint_and_computes_its_new_evidence():
    index = ClusterIndex("any model")
    index.evidence(1, CLAIM, fingerprint(CLAIM))
    assert index.cached_evidence(1, fingerprint(CLAIM)) is not None
    assert index.cached_evidence(1, fingerprint(UNRELATED)) is None  # edited: its text must be read
    edited = index.evidence(1, UNRELATED, fingerprint(UNRELATED))
    assert np.array_equal(edited.char5, TextEvidence.of(UNRELATED).char5)
    short = index.evidence(2, "Да.", fingerprint("Да."))  # too short for a fingerprint
    assert index.cached_evidence(2, None) is None  # known by its text only
    assert index.evidence(2, "Нет.", None) is not short


def test_a_placed_post_edited_since_its_evidence_was_cached_is_compared_by_its_new_text(database, encoder):
    original, = embedded_posts(database, encoder, [CLAIM])
    index = ClusterIndex(encoder.model_id)
    with database.session() as session:
        assign_posts(session, index, [original], RULES)
        cached = PlacedPosts(session, index, placed_memory(session, index)).claims([original])[0].evidence
    with database.session() as session:
        source_id = session.get(Post, original).source_id
        assert apply_edit(session, source_id, PostRecord(source_kind="telegram", source_key="@channel_0",
                                                         external_id="1", text=UNRELATED))
    with database.session() as session:
        evidence = PlacedPosts(session, index, placed_memory(session, index)).claims([original])[0].evidence

    assert evidence is not cached
    assert np.array_equal(evidence.shingles, TextEvidence.of(UNRELATED).shingles)


def test_shingles_are_indexed_for_the_most_recent_posts_only_and_vectors_for_all():
    index = ClusterIndex("any model", lsh_window=2)
    texts = [CLAIM, UNRELATED, EDITED]
    vectors = np.eye(3, 8, dtype=np.float32)
    index.add_batch([1, 2, 3], vectors, [shingle_signatures(TextEvidence.of(text)) for text in texts])
    assert len(index) == 3
    # Probing with post 3's vector (one neighbour: post 3) and each text's shingles:
    # the oldest post's shingles have left the window, the newer ones are found.
    assert index.candidates(vectors[2], shingle_signatures(TextEvidence.of(CLAIM)), 1) == {3}
    assert index.candidates(vectors[2], shingle_signatures(TextEvidence.of(UNRELATED)), 1) == {2, 3}


def test_an_index_rebuilt_in_chunks_holds_the_shingles_of_the_most_recent_posts_only(database, encoder,
                                                                                     monkeypatch):
    weather = "Погода в Астане: завтра до минус десяти, снег и сильный ветер к вечеру"
    bank = "Central bank keeps the base rate unchanged at its December meeting, citing inflation"
    texts = [UNRELATED, weather, bank, CLAIM]
    post_ids = embedded_posts(database, encoder, texts)
    with database.session() as session:
        assign_posts(session, ClusterIndex(encoder.model_id), post_ids, RULES)
    monkeypatch.setattr("monitor.cluster.index.SYNC_CHUNK", 2)
    rebuilt = ClusterIndex(encoder.model_id, lsh_window=2)
    with database.session() as session:
        assert rebuilt.sync(session) == 4

    newest = rebuilt.vectors([post_ids[-1]])[0]  # its nearest neighbour: the newest post itself
    found = {post_id: rebuilt.candidates(newest, shingle_signatures(TextEvidence.of(text)), 1)
             for post_id, text in zip(post_ids, texts, strict=True)}
    assert found == {post_ids[0]: {post_ids[-1]}, post_ids[1]: {post_ids[-1]},
                     post_ids[2]: {post_ids[2], post_ids[-1]}, post_ids[3]: {post_ids[-1]}}


LONG_POST = CLAIM + (". Видео появилось вечером в нескольких каналах, сама журналистка заявила, что "
                     "никогда не записывала такого обращения, а её голос подделан нейросетью. Акимат "
                     "напомнил, что шествие в этом году не согласовано, и попросил не распространять "
                     "ролик. Редакция проверяет происхождение записи и обещает рассказать подробности. "
                     "Эксперты по цифровой безопасности отмечают, что за последнюю неделю это уже третье "
                     "поддельное обращение известных людей: прежде в таких роликах появлялись депутат "
                     "маслихата и популярный блогер. Все три видео сначала выложил один и тот же "
                     "анонимный канал, затем их подхватили десятки чатов в нескольких городах страны. "
                     "Полиция просит сообщать о подобных публикациях через официальный бот ведомства")


def test_a_flash_is_found_by_the_opening_words_of_the_long_post_it_heads():
    flash, full = TextEvidence.of("⚡️" + CLAIM), TextEvidence.of(LONG_POST)
    (flash_signature,), (whole, opening) = shingle_signatures(flash), shingle_signatures(full)
    # By the whole text's shingles the LSH finds the flash by chance at best; by the opening's, surely.
    assert jaccard(flash.char5, full.char5) < LSH_THRESHOLD
    assert (np.mean(whole == flash_signature) < LSH_THRESHOLD < 0.8  # MinHash's estimates of the Jaccard
            < np.mean(opening == flash_signature))
    index = ClusterIndex("any model")
    vectors = np.eye(2, 8, dtype=np.float32)  # the flash's vector is nearest the unrelated post
    signatures = [shingle_signatures(full), shingle_signatures(TextEvidence.of(UNRELATED))]
    index.add_batch([1, 2], vectors, signatures)
    assert index.candidates(vectors[1], shingle_signatures(flash), 1) == {1, 2}


def test_a_batch_finds_the_candidates_each_post_would_find_were_the_posts_before_it_indexed():
    def towards(*weights: float) -> np.ndarray:
        vector = np.zeros(8, dtype=np.float32)
        vector[: len(weights)] = weights
        return vector / np.linalg.norm(vector)

    texts = [UNRELATED, "Курс тенге к доллару укрепился на торгах KASE", CLAIM,
             "Синоптики обещают тёплые выходные без осадков", CLAIM]
    vectors = np.vstack([towards(1), towards(0, 1), towards(1, 0, 0.1), towards(1, 0, 0.1, 0.01),
                         towards(0, 1)])
    signatures = [shingle_signatures(TextEvidence.of(text)) for text in texts]
    growing, batched = ClusterIndex("any model"), ClusterIndex("any model")
    for index in (growing, batched):
        index.add_batch([1, 2], vectors[:2], signatures[:2])

    found = batched.candidates_in_order([3, 4, 5], vectors[2:], signatures[2:], 1)
    # 3 is nearest post 1; 4 is nearer 3, placed before it in the batch, than 1; 5 is nearest
    # post 2 and carries 3's text, which the shingles find.
    assert found == [{1}, {3}, {2, 3}]
    assert len(batched) == 2  # the batch's vectors are added once placed
    for post_id, candidates in zip([3, 4, 5], found, strict=True):
        assert candidates == growing.candidates(vectors[post_id - 1], signatures[post_id - 1], 1)
        growing.add_batch([post_id], vectors[post_id - 1 : post_id], [signatures[post_id - 1]])
    batched.add_vectors([3, 4, 5], vectors[2:])
    # The batch's shingles were indexed as it was looked up, once: a later post finds them all.
    later = shingle_signatures(TextEvidence.of(EDITED))
    assert batched.candidates(vectors[0], later, 1) == growing.candidates(vectors[0], later, 1) == {1, 3, 5}


def test_the_minhash_of_a_text_is_the_one_datasketch_computes():
    """minhash() computes in arrays what MinHash.update_batch computes a value at a time."""
    for text in (CLAIM, LONG_POST, "9 мая"):
        shingles = TextEvidence.of(text).char5
        theirs = MinHash(num_perm=MINHASH_PERMUTATIONS, hashfunc=int, scheme="affine32")
        theirs.update_batch((shingles & 0xFFFFFFFF).tolist())
        assert np.array_equal(minhash(shingles), theirs.hashvalues)


def test_the_shingle_index_finds_the_posts_datasketchs_lsh_finds():
    posts = real_channel_posts(since="2024-12-01")[:1500]
    signatures = [shingle_signatures(TextEvidence.of(post["text"])) for post in posts]
    ours = ShingleLSH(LSH_THRESHOLD, MINHASH_PERMUTATIONS, window=len(posts))
    theirs = MinHashLSH(threshold=LSH_THRESHOLD, num_perm=MINHASH_PERMUTATIONS)

    def datasketchs(signature: np.ndarray) -> MinHash:
        return MinHash(num_perm=MINHASH_PERMUTATIONS, hashvalues=signature, scheme="affine32")

    def found_by_datasketch(post_signatures: list[np.ndarray]) -> set[int]:
        return {post_id for signature in post_signatures
                for post_id, _ in theirs.query(datasketchs(signature))}

    for post_id, post_signatures in enumerate(signatures[:1000]):
        ours.insert(post_id, post_signatures)
        for part, signature in enumerate(post_signatures):
            theirs.insert((post_id, part), datasketchs(signature))
    for removed in range(0, 1000, 3):  # buckets of several posts shrink back to one
        ours.remove(removed)
        for part in range(len(signatures[removed])):
            theirs.remove((removed, part))
    found = [ours.query(post_signatures) for post_signatures in signatures]
    assert found == [found_by_datasketch(post_signatures) for post_signatures in signatures]
    # The same values in uint64, as datasketch's own MinHash holds them, find the same posts.
    assert [ours.query([signature.astype(np.uint64) for signature in post_signatures])
            for post_signatures in signatures[:100]] == found[:100]
    # Reposts among the real posts: some posts find others than themselves.
    assert sum(len(posts_found - {post_id}) > 0 for post_id, posts_found in enumerate(found)) > 50


def test_the_shingle_index_keeps_the_posts_inserted_last():
    texts = [CLAIM, EDITED, UNRELATED, "Синоптики обещают тёплые выходные без осадков"]
    signatures = [shingle_signatures(TextEvidence.of(text)) for text in texts]
    index = ShingleLSH(LSH_THRESHOLD, MINHASH_PERMUTATIONS, window=2)
    for post_id, post_signatures in enumerate(signatures):
        index.insert(post_id, post_signatures)
    assert len(index) == 2 and 1 not in index and 3 in index
    assert index.query(signatures[0]) == set()  # CLAIM and EDITED left with their posts
    index.insert(2, signatures[0])  # post 2 edited to CLAIM's text: found by it, not by its old one
    assert index.query(signatures[0]) == {2} and 2 not in index.query(signatures[2])


def test_a_text_judged_against_many_others_at_once_gets_the_features_of_each_pair():
    """The shingles two texts share are counted per pair, also next to a text that has none."""
    text = TextEvidence.of(EDITED)
    others = [TextEvidence.of(each) for each in (CLAIM, "", EDITED, LONG_POST, "!!")]
    cosines = np.array([0.9, 0.1, 1.0, 0.5, 0.2])
    at_once = features_of_pairs(cosines, Pairs.of([text], [others]))
    assert at_once.tolist() == [list(pair_features(cosine, text, other))
                                for cosine, other in zip(cosines, others, strict=True)]
    assert at_once[:, 1].tolist() == [at_once[0, 1], 0.0, 1.0, at_once[3, 1], 0.0]  # char3 Jaccard
    assert 0.5 < at_once[0, 1] < 1.0


def test_numbers_differ_between_two_texts_only_if_both_have_numbers_and_not_the_same():
    texts = [TextEvidence.of(text) for text in ("Шествие 9 мая в 10 часов", "Шествие пройдёт")]
    others = [TextEvidence.of(text) for text in ("Шествие в 10 часов 9 мая", "Шествие 1 мая", "Шествие")]
    features = features_of_pairs(np.zeros(6), Pairs.of(texts, [others, others]))
    assert features[:, FEATURES.index("numbers_differ")].tolist() == [0.0, 1.0, 0.0, 0.0, 0.0, 0.0]


def _shingle_sets(text: str) -> list[set[str]]:
    """A text's shingles of each kind as plain sets of strings: its distinct 3- and
    5-character windows (a shorter text is one window) and the stems of its longer words."""
    words = matching_text(text)
    windows = [{words[start : start + size] for start in range(max(len(words) - size + 1, 1))} if words
               else set() for size in (3, SHINGLE_SIZE)]
    return [*windows, {word[:STEM_LENGTH] for word in words.split() if len(word) > 2}]


HOSTILE_TEXTS = ["", "ab", "🔥🔥🔥", "да да да да да", "Сапаpов Сапаров", "x" * 5000, "\u200bКазахстан\u200b"]


def test_a_texts_shingles_are_its_distinct_windows_and_word_stems():
    texts = [post["text"] for post in real_channel_posts(since="2024-12-01")[:300]] + HOSTILE_TEXTS
    for text in texts:
        assert TextEvidence.of(text).counts.tolist() == [len(kind) for kind in _shingle_sets(text)], text


def test_the_shingles_two_texts_share_are_counted_as_their_sets_intersect():
    texts = [post["text"] for post in real_channel_posts(since="2024-12-01")[:120]] + HOSTILE_TEXTS
    evidence = [TextEvidence.of(text) for text in texts]
    # Each text against itself, the next texts (reposts are often next to each other) and the hostile ones.
    others = [[*range(first, min(first + 6, len(texts))), *range(len(texts) - len(HOSTILE_TEXTS), len(texts))]
              for first in range(len(texts))]
    features = features_of_pairs(np.zeros(sum(map(len, others))),
                                 Pairs.of(evidence, [[evidence[other] for other in its] for its in others]))
    expected = []
    for first, its in enumerate(others):
        for other in its:
            mine, theirs = _shingle_sets(texts[first]), _shingle_sets(texts[other])
            expected.append([len(a & b) / len(a | b) if a and b else 0.0
                             for a, b in zip(mine, theirs, strict=True)])
    assert features[:, 1:4] == pytest.approx(np.array(expected), abs=1e-12)


def test_shingles_chosen_to_collide_in_the_hash_table_are_still_counted_exactly():
    """Hashes alike in their low bits land in one run of the table: slower, never wrong."""
    mine = np.arange(1, 2001, dtype=np.int64) << 20
    theirs = np.concatenate([mine[::2], (np.arange(1, 501, dtype=np.int64) << 40) | (1 << 20)])
    assert jaccard(mine, theirs) == 1000 / (2000 + 1500 - 1000)


def test_shingle_hashes_are_the_same_in_every_worker_process():
    """Placements go through the LSH index: salted hashes made them differ between runs."""
    program = ("import sys; from monitor.similarity import TextEvidence; "
               "print(TextEvidence.of(sys.argv[1]).char5.tolist())")
    outputs = {subprocess.run([sys.executable, "-c", program, CLAIM], check=True, capture_output=True,
                              text=True, env={**os.environ, "PYTHONHASHSEED": seed}).stdout
               for seed in ("1", "2")}
    assert outputs == {f"{TextEvidence.of(CLAIM).char5.tolist()}\n"}


def test_only_a_process_that_compares_texts_loads_the_compiled_loops():
    """numba and LLVM add about 90 MB to a process: the ingest, embed and notify workers
    import the task module too, and never compare two texts."""
    program = ("import sys, workers.tasks; print('numba' in sys.modules); "
               "from monitor.similarity import TextEvidence; TextEvidence.of('a text'); "
               "print('numba' in sys.modules)")
    loaded = subprocess.run([sys.executable, "-c", program], check=True, capture_output=True,
                            text=True).stdout
    assert loaded.split() == ["False", "True"]


# Thresholds no pair reaches: posts placed under it each open a cluster of their own.
NOTHING_MATCHES = MatchRules(replace(RULES.calibration, by_kind={
    kind: replace(weighing, threshold=0.9999, short_text_threshold=0.9999)
    for kind, weighing in RULES.calibration.by_kind.items()}), neighbours=20)
RESHARED = CLAIM + " Это не фейк, смотрите сами!"


def test_a_post_that_carries_the_claim_of_two_clusters_merges_them_into_the_larger(database, encoder):
    original, edited, again, copy, reshared = embedded_posts(
        database, encoder, [CLAIM, EDITED, EDITED, CLAIM, RESHARED])
    with database.session() as session:  # two clusters of one claim, as a missed candidate leaves them
        assign_posts(session, ClusterIndex(encoder.model_id), [original, edited, again], NOTHING_MATCHES)
    smaller, larger = cluster_of(database, original), cluster_of(database, edited)
    assert smaller != larger

    # The copy joins the smaller cluster earlier in the same batch, and moves with it.
    with database.session() as session:
        held = session.get(Cluster, larger)  # loaded before the placing, in the same transaction
        placed = assign_posts(session, ClusterIndex(encoder.model_id), [copy, reshared], RULES)
        assert held.post_count == 5
    assert {cluster_of(database, post) for post in (original, edited, again, copy, reshared)} == {larger}
    assert placed.cluster_ids == [larger]
    with database.session() as session:
        assert session.get(Cluster, smaller).merged_into_id == larger
        assert session.get(Cluster, larger).post_count == 5
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "cluster.merge")).one()
        assert (audit.actor, audit.object_id) == ("cluster stage", str(larger))
        assert (audit.details["absorbed_cluster_id"], audit.details["posts_moved"]) == (smaller, 2)


def test_a_merge_beside_a_cluster_kept_apart_counts_the_posts_it_moved(database, encoder):
    original, edited, again, reshared, urgent = embedded_posts(
        database, encoder, [CLAIM, EDITED, EDITED, RESHARED, CLAIM + " Срочно"])
    with database.session() as session:  # three clusters of one claim, the second the largest
        assign_posts(session, ClusterIndex(encoder.model_id), [original, edited, again, reshared],
                     NOTHING_MATCHES)
    claim, largest, third = (cluster_of(database, post) for post in (original, edited, reshared))
    with database.session() as session:
        separate(session, claim, largest, "aigerim")

    # The new post is nearest the claim's cluster, kept apart from the largest: the third
    # cluster merges into the largest, and the new post joins the claim's cluster.
    with database.session() as session:
        assign_posts(session, ClusterIndex(encoder.model_id), [urgent], RULES)
    assert (cluster_of(database, urgent), cluster_of(database, reshared)) == (claim, largest)
    with database.session() as session:
        assert session.get(Cluster, third).merged_into_id == largest
        assert (session.get(Cluster, largest).post_count, session.get(Cluster, claim).post_count) == (3, 2)


def test_clusters_a_moderator_split_apart_stay_apart_when_a_later_post_carries_both(database, encoder):
    original, edited, reshared = embedded_posts(database, encoder, [CLAIM, EDITED, RESHARED])
    index = ClusterIndex(encoder.model_id)
    with database.session() as session:
        assign_posts(session, index, [original, edited], RULES)
    with database.session() as session:
        split_post(session, edited, "aigerim", "a satire account quoting the fake",
                   AlertPolicy.from_settings(load_settings()))
    split_off = cluster_of(database, edited)
    assert split_off != cluster_of(database, original)

    with database.session() as session:
        assign_posts(session, index, [reshared], RULES)
    assert cluster_of(database, edited) == split_off
    assert cluster_of(database, original) != split_off
    assert cluster_of(database, reshared) in (split_off, cluster_of(database, original))
    with database.session() as session:
        assert session.scalars(select(AuditEntry).where(AuditEntry.actor == "cluster stage")).all() == []


def test_the_placement_revision_rises_when_placed_posts_change_not_when_posts_are_placed(database, encoder):
    """The database triggers a cluster worker's memory of placed posts relies on."""
    original, edited, unrelated = embedded_posts(database, encoder, [CLAIM, EDITED, UNRELATED])
    policy = AlertPolicy.from_settings(load_settings())

    def revision_after(change) -> int:
        with database.session() as session:
            change(session)
        with database.session() as session:
            return session.scalar(select(PlacementRevision.revision))

    before = revision_after(lambda session: None)
    placed = revision_after(lambda session: assign_posts(session, ClusterIndex(encoder.model_id),
                                                         [original, edited, unrelated], RULES))
    assert placed == before  # opening clusters, joining them, counting their posts
    split = revision_after(lambda session: split_post(session, edited, "aigerim", "satire", policy))
    assert split > placed
    merged = revision_after(lambda session: merge_clusters(
        session, cluster_of(database, original), cluster_of(database, edited), "aigerim", "one", policy))
    assert merged > split
    counted = revision_after(lambda session: setattr(session.get(Post, original), "views", 1000))
    assert counted == merged  # a post's views are nothing placing reads
    with database.session() as session:
        source_id = session.get(Post, unrelated).source_id
    edited_text = revision_after(lambda session: apply_edit(session, source_id, PostRecord(
        source_kind="telegram", source_key="@channel_2", external_id="1", text=UNRELATED + " Обновлено.")))
    assert edited_text > counted


def test_a_cluster_worker_keeps_what_it_read_of_placed_posts_till_a_moderator_changes_them(database, encoder):
    original, edited, unrelated, reshared = embedded_posts(database, encoder,
                                                           [CLAIM, EDITED, UNRELATED, RESHARED])
    policy = AlertPolicy.from_settings(load_settings())
    index = ClusterIndex(encoder.model_id)
    with database.session() as session:
        assign_posts(session, index, [original, edited], RULES)
    with database.session() as session:
        split_post(session, edited, "aigerim", "looked like satire", policy)
    claim, split_off = cluster_of(database, original), cluster_of(database, edited)
    with database.session() as session:
        assign_posts(session, index, [unrelated], RULES)  # reads the claim's posts as candidates
    memory = index.placed_memory
    assert {original: claim, edited: split_off}.items() <= {
        post_id: cluster.id for post_id, cluster in memory.cluster_of_post.items()}.items()
    with database.session() as session:
        assign_posts(session, index, [], RULES)  # nothing changed since: the same memory
    assert index.placed_memory is memory

    # The moderator takes it back: the claim's cluster merges into the split-off one. What
    # the worker remembers of the claim's cluster (not merged) is no longer true.
    with database.session() as session:
        merge_clusters(session, split_off, claim, "aigerim", "one claim after all", policy)
    with database.session() as session:
        assign_posts(session, index, [reshared], RULES)
    assert index.placed_memory is not memory
    assert cluster_of(database, reshared) == split_off
    with database.session() as session:  # nor does it merge again what the moderator merged
        assert session.scalars(select(AuditEntry).where(AuditEntry.actor == "cluster stage")).all() == []
