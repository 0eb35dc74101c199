"""`monitor models ...`: embedding models kept for machines without a model hub."""

from __future__ import annotations

from pathlib import Path

import click


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
