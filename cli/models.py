"""`monitor models ...`: embedding models kept for machines without a model hub."""

from __future__ import annotations

from pathlib import Path

import click

from config import Settings


@click.group("models")
def models_group() -> None:
    """Embedding models."""


@models_group.command("download")
@click.argument("name")
@click.option("--to", "directory", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder to keep models in (EMBEDDING_MODEL_DIR).")
def models_download(name: str, directory: Path) -> None:
    """Download the sentence-transformers model NAME once, for machines that must not reach
    a model hub at run time (the Docker image does this at build time)."""
    from monitor.embed.encoder import download_model

    try:
        path = download_model(name, directory)
    except OSError as error:
        raise click.ClickException(f"could not download {name}: {error}") from error
    click.echo(f"saved {name} in {path}; run with EMBEDDING_MODEL={name} EMBEDDING_MODEL_DIR={directory} "
               "HF_HUB_OFFLINE=1")


@models_group.command("finetune")
@click.argument("files", type=click.Path(exists=True, dir_okay=False, path_type=Path), nargs=-1,
                required=True)
@click.option("--to", "directory", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder to keep models in (EMBEDDING_MODEL_DIR).")
@click.option("--name", help="The fine-tuned model's name [default: the configured one's, then -finetuned].")
@click.option("--epochs", type=click.IntRange(1, 50), default=1, show_default=True)
@click.option("--learning-rate", type=click.FloatRange(0, 0.01, min_open=True), default=2e-5,
              show_default=True)
@click.option("--eval", "held_out", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Labelled pairs not trained on: F1 before and after, printed as JSON.")
@click.pass_obj
def models_finetune(settings: Settings, files: tuple[Path, ...], directory: Path, name: str | None,
                    epochs: int, learning_rate: float, held_out: Path | None) -> None:
    """Fine-tune the configured embedding model on labelled pair FILES (text_a<TAB>text_b<TAB>label,
    as `monitor calibrate` reads) and keep it in DIRECTORY under NAME. With --eval, report
    the F1 of the same-claim rule (fitted on FILES) and of the cosine alone on those pairs,
    before and after."""
    from cli.evaluate import configured_encoder, print_result, read_items
    from monitor.embed.encoder import Encoder, configured_model_id, saved_model_path
    from monitor.embed.finetune import finetune_model
    from monitor.evaluation.datasets import read_pairs
    from monitor.evaluation.runs import compare_models
    from monitor.messages import UserError

    pairs = [pair for file in files for pair in read_items(read_pairs, file)]
    scored = read_items(read_pairs, held_out) if held_out else []
    name = name or f"{configured_model_id(settings).split('/')[-1]}-finetuned"
    target = saved_model_path(directory, name)
    if target.exists():
        raise click.ClickException(f"{target} exists: choose another --name or folder")
    try:
        finetune_model(settings.embedding_model, settings.embedding_model_dir, pairs, target, epochs=epochs,
                       learning_rate=learning_rate, device=settings.embedding_device)
    except UserError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"saved {name} in {target}, fine-tuned on {len(pairs)} pairs; to use it: "
               f"EMBEDDING_MODEL={name} EMBEDDING_MODEL_DIR={directory.resolve()}, then `monitor reembed` "
               "and `monitor calibrate` (the weights were fitted on the old model's cosines)", err=True)
    if scored:
        after = Encoder.from_settings(settings.model_copy(update={"embedding_model": name,
                                                                  "embedding_model_dir": str(directory)}))
        print_result(compare_models({"before": configured_encoder(settings), "after": after}, pairs, scored))
