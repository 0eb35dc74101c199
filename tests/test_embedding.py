"""The embedding model as the embed worker runs it: device and batch picked per machine,
tokenization overlapped with the model where it pays, and known claims given vectors."""

import numpy as np

from monitor.alerts.known_claims import add_known_claim, embed_new_claims
from monitor.db.models import KnownClaim
from monitor.embed.encoder import Encoder
from monitor.normalize import readable_text

TEXTS = ["Аким Алматы призвал всех выйти 9 мая на шествие Бессмертного полка",
         "Hot water every fifteen minutes does not kill the coronavirus",
         "Ақпарат", "", "В Астане открыли новый мост через Ишим, движение по нему запустят в июне " * 4]


def test_without_a_gpu_the_encoder_runs_on_the_cpu_in_small_batches_without_tokenizer_threads(encoder):
    assert (encoder.device, encoder.batch_size, encoder.tokenizer_threads) == ("cpu", 16, 0)


def test_tokenizing_ahead_of_the_model_gives_the_vectors_of_the_plain_path(encoder):
    overlapped = Encoder("all-MiniLM-L6-v2", device="cpu", batch_size=2, tokenizer_threads=2)
    expected = encoder.encode(TEXTS)
    found = overlapped.encode(TEXTS)
    assert found.shape == expected.shape == (len(TEXTS), encoder.dimensions)
    assert np.allclose(found, expected, atol=1e-5)
    assert np.allclose(np.linalg.norm(found, axis=1), 1.0, atol=1e-5)


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
