"""`monitor eval ...` and `monitor calibrate`: claim matching measured on labelled data
(docs/quality.md). Bad lines are reported on stderr with their line numbers and left out."""

from __future__ import annotations

import json
from pathlib import Path

import click

from config import Settings

EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def configured_encoder(settings: Settings):
    from monitor.embed.encoder import Encoder

    return Encoder.from_settings(settings)


def _rules(settings: Settings):
    from monitor.messages import UserError
    from monitor.similarity import MatchRules

    try:
        return MatchRules.from_settings(settings)
    except UserError as error:
        raise click.ClickException(str(error)) from error


def read_items(reader, path: Path) -> list:
    """The good items of PATH; each bad line said on stderr. Nothing good: an error."""
    from monitor.messages import UserError

    try:
        loaded = reader(path)
    except UserError as error:
        raise click.ClickException(str(error)) from error
    for problem in loaded.problems:
        click.echo(f"{path}: {problem}", err=True)
    if not loaded.items:
        raise click.ClickException(f"{path}: nothing usable in it")
    return loaded.items


def print_result(result: dict) -> None:
    click.echo(json.dumps(result, ensure_ascii=False))


@click.group("eval")
def eval_group() -> None:
    """Measure claim matching under the current settings; prints one JSON object."""


@eval_group.command("pairs")
@click.argument("file", type=EXISTING_FILE)
@click.pass_obj
def eval_pairs(settings: Settings, file: Path) -> None:
    """Same-claim decisions on FILE (text_a<TAB>text_b<TAB>label): precision, recall, F1."""
    from monitor.evaluation.datasets import read_pairs
    from monitor.evaluation.runs import evaluate_pairs

    rules, pairs = _rules(settings), read_items(read_pairs, file)
    print_result(evaluate_pairs(configured_encoder(settings), rules, pairs))


@eval_group.command("retrieval")
@click.option("--claims", type=EXISTING_FILE, required=True, help="JSON lines with id and text.")
@click.option("--queries", type=EXISTING_FILE, required=True, help="id<TAB>text lines.")
@click.option("--qrels", type=EXISTING_FILE, required=True, help="TREC lines: query_id 0 claim_id 1.")
@click.pass_obj
def eval_retrieval(settings: Settings, claims: Path, queries: Path, qrels: Path) -> None:
    """Known-claim retrieval: MAP@5 and P@1 over the queries that have a relevant claim."""
    from monitor.evaluation.datasets import read_claims, read_qrels, read_queries
    from monitor.evaluation.runs import evaluate_retrieval

    rules, relevant = _rules(settings), read_items(read_qrels, qrels)[0]
    print_result(evaluate_retrieval(configured_encoder(settings), rules, read_items(read_claims, claims),
                                    read_items(read_queries, queries), relevant))


@eval_group.command("cv")
@click.option("--pairs", "scored", type=EXISTING_FILE, multiple=True, required=True,
              help="Labelled pairs to fit on and score, fold by fold (repeatable).")
@click.option("--fit-also", type=EXISTING_FILE, multiple=True,
              help="Labelled pairs fitted on in every fold and never scored: weak labels (repeatable).")
@click.option("--claims", type=EXISTING_FILE, help="Known claims, as for `eval retrieval`.")
@click.option("--queries", type=EXISTING_FILE, help="Queries, as for `eval retrieval`.")
@click.option("--qrels", type=EXISTING_FILE, multiple=True, help="Relevant claims (repeatable).")
@click.option("--folds", type=click.IntRange(2, 20), default=5, show_default=True)
@click.pass_obj
def eval_cv(settings: Settings, scored: tuple[Path, ...], fit_also: tuple[Path, ...], claims: Path | None,
            queries: Path | None, qrels: tuple[Path, ...], folds: int) -> None:
    """Cross-validate `monitor calibrate`: in each of FOLDS folds, fit on the rest and score
    the same-claim decisions on the fold's pairs (F1; pairs sharing a text stay in one fold)
    and, given claims, queries and qrels, known-claim retrieval on the fold's queries
    (MAP@5; each query's training pairs are its claims and its ten nearest other
    claims). Prints the mean, the spread across folds and each fold's figure."""
    from monitor.evaluation.datasets import read_claims, read_pairs, read_qrels, read_queries
    from monitor.evaluation.runs import Retrieval, cross_validate
    from monitor.messages import UserError

    if (claims is None) != (queries is None) or (claims is None) != (not qrels):
        raise click.UsageError("retrieval needs --claims, --queries and --qrels together")
    encoder = configured_encoder(settings)
    pairs = [pair for file in scored for pair in read_items(read_pairs, file)]
    weak = [pair for file in fit_also for pair in read_items(read_pairs, file)]
    retrieval = None
    if claims is not None:
        relevant = {query_id: found for file in qrels
                    for query_id, found in read_items(read_qrels, file)[0].items()}
        retrieval = Retrieval(encoder, read_items(read_claims, claims), read_items(read_queries, queries),
                              relevant)
    try:
        print_result(cross_validate(encoder, pairs, weak, retrieval, settings.cluster_neighbours, folds))
    except UserError as error:
        raise click.ClickException(str(error)) from error


@eval_group.command("clusters")
@click.argument("file", type=EXISTING_FILE)
@click.pass_obj
def eval_clusters(settings: Settings, file: Path) -> None:
    """Run the cluster stage over FILE's items (id, text, gold[, lang, time]) in order:
    B-cubed precision, recall, F1 and the number of clusters."""
    from monitor.evaluation.datasets import read_cluster_items
    from monitor.evaluation.runs import evaluate_clusters

    rules, items = _rules(settings), read_items(read_cluster_items, file)
    print_result(evaluate_clusters(configured_encoder(settings), rules, items))


@eval_group.command("convert")
@click.argument("shared_data", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.pass_obj
def eval_convert(settings: Settings, shared_data: Path, out: Path) -> None:
    """Write the development data of SHARED_DATA (../shared/data) into OUT in the formats the
    other `monitor eval` commands read (docs/quality.md): ParaPhraser pairs (train, and one
    pair in five held out as dev) and dev clusters, CheckThat! 2022 2A claims, queries,
    qrels, and English training pairs (each training tweet with its claim, and with the
    ten nearest claims that are not its own)."""
    from cli.progress import Progress
    from monitor.evaluation.datasets import convert_shared_data

    out.mkdir(parents=True, exist_ok=True)
    bars: dict[str, Progress] = {}

    def progress(step: str, done: int, total: int) -> None:
        bar = bars.setdefault(step, Progress(total, "texts", step))
        bar.reach(done)
        if done == total:
            bar.close()

    for path, count in convert_shared_data(shared_data, out, configured_encoder(settings), progress).items():
        click.echo(f"{path}: {count}")


@click.command("calibrate")
@click.argument("files", type=EXISTING_FILE, nargs=-1, required=True)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write it [default: MATCHING_CALIBRATION, else config/matching.json].")
@click.pass_obj
def calibrate_command(settings: Settings, files: tuple[Path, ...], output: Path | None) -> None:
    """Fit the same-claim weights and thresholds on labelled pair FILES (TSV as for
    `monitor eval pairs`) with the configured embedding model, and write them to config."""
    from monitor.evaluation.datasets import read_pairs
    from monitor.evaluation.runs import calibrate
    from monitor.messages import UserError
    from monitor.similarity import PACKAGED_CALIBRATION

    pairs = [pair for file in files for pair in read_items(read_pairs, file)]
    try:
        calibration = calibrate(configured_encoder(settings), pairs, [file.name for file in files])
    except UserError as error:
        raise click.ClickException(str(error)) from error
    target = output or Path(settings.matching_calibration or PACKAGED_CALIBRATION)
    calibration.save(target)
    click.echo(json.dumps({"written": str(target), "pairs": len(pairs), "thresholds": {
        kind: [round(weighing.threshold, 4), round(weighing.short_text_threshold, 4)]
        for kind, weighing in calibration.by_kind.items()}}, ensure_ascii=False))
    if target.resolve() != Path(settings.matching_calibration or PACKAGED_CALIBRATION).resolve():
        click.echo(f"set MATCHING_CALIBRATION={target.resolve()} for the service to use it", err=True)


@eval_group.command("alerts")
@click.argument("streams", type=EXISTING_FILE, nargs=-1, required=True)
@click.option("--watchlist", type=EXISTING_FILE,
              help="People and topics to watch (JSON or CSV, as `monitor watchlist import` reads).")
@click.option("--waves", type=EXISTING_FILE,
              help="Labelled posts: JSON lines in the import schema with a `wave` name (null: must not "
                   "alert).")
@click.option("--keep", type=click.Path(dir_okay=False, path_type=Path),
              help="Keep the replay's SQLite database in this new file, to look into its alerts.")
@click.pass_obj
def eval_alerts(settings: Settings, streams: tuple[Path, ...], watchlist: Path | None,
                waves: Path | None, keep: Path | None) -> None:
    """Replay STREAMS (any import format: JSON Lines, channel dumps, Telegram exports) and the
    labelled WAVES in publication order through the whole pipeline, on a new temporary
    database; print the alert queue's figures: alerts per 1,000 ordinary posts by rule, and
    for each wave its alerts, the posts its alert holds, after how many of its posts it
    opened and its rank in the queue."""
    import tempfile

    from cli.progress import Progress, report_problems
    from monitor.alerts.watchlists import import_entries, read_watchlist_file
    from monitor.db.migrate import upgrade
    from monitor.db.session import make_engine, make_session_factory, unit_of_work
    from monitor.evaluation.alerts import read_wave_posts, replay
    from monitor.ingest.files import parse_file
    from workers.celery_app import app, configure
    from workers.tasks import store_posts_task

    stream = []
    for path in streams:
        parsed = parse_file(path)
        report_problems(str(path), parsed.problems)
        stream += parsed.records
    labelled = read_items(read_wave_posts, waves) if waves else []
    if keep is not None and keep.exists():
        raise click.ClickException(f"{keep} exists: --keep names a new file")
    with tempfile.TemporaryDirectory(prefix="monitor-eval-") as scratch:
        database = keep.resolve() if keep is not None else Path(scratch) / "alerts.db"
        replay_settings = settings.model_copy(update={"database_url": f"sqlite:///{database}",
                                                      "celery_always_eager": True})
        upgrade(replay_settings.database_url)
        engine = make_engine(replay_settings.database_url)
        sessions = make_session_factory(engine)
        if watchlist:
            entries, problems = read_watchlist_file(watchlist)
            report_problems(str(watchlist), problems)
            with unit_of_work(sessions) as session:
                import_entries(session, entries, "monitor eval")
        configure(app, replay_settings)

        def push(batch):
            store_posts_task.delay([record.to_message() for record in batch])

        bar = Progress(len(stream) + len(labelled), "posts", "replayed")
        try:
            report = replay(stream, labelled, push, sessions, lambda done, _total: bar.reach(done))
        finally:
            bar.close()
            engine.dispose()
    print_result(report)
