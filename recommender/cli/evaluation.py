"""CLI commands ``alsosee evaluate`` and ``alsosee mine-links`` (registered in ``cli.py``)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .common import DEFAULT_MODEL_DIR, state_db_option
from .common import guarded as _guarded
from .common import parse_columns as _parse_columns

if TYPE_CHECKING:  # imported where used: the command line starts without it
    from ..state.db import StateDB

logger = logging.getLogger(__name__)


def _echo_err(msg: str) -> None:
    click.echo(msg, err=True)


def _read_ids(path: Path) -> list[str]:
    """Ids one per line (``#`` comments and blank lines ignored)."""
    from ..errors import InvalidParameterError

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidParameterError("--takedowns", f"{path}: cannot read ({e})") from e
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


def _sample_corpus_for(manifest: dict[str, Any]) -> Path | None:
    """The bundled sample, if the manifest says the model was trained on it (same SHA-256)."""
    from ..model.artifact import sha256_file
    from ..training.job import default_corpus

    try:
        sample = default_corpus()
    except FileNotFoundError:
        return None
    corpus = manifest.get("corpus") or []
    if len(corpus) == 1 and corpus[0].get("sha256") == sha256_file(sample):
        return sample
    return None


def _training_corpus(manifest: dict[str, Any]) -> list[Path] | None:
    """The files the model was trained on, found by SHA-256: the bundled sample, or files of
    the recorded names in the working directory (the manifest keeps names, not paths)."""
    from ..model.artifact import sha256_file

    sample = _sample_corpus_for(manifest)
    if sample is not None:
        return [sample]
    corpus = manifest.get("corpus") or []
    found = []
    for entry in corpus:
        candidate = Path(Path(str(entry.get("name", ""))).name or ".")
        if not candidate.is_file() or sha256_file(candidate) != entry.get("sha256"):
            return None
        found.append(candidate)
    return found or None


def _corpus_hint(manifest: dict[str, Any]) -> str:
    names = [str(e.get("name")) for e in manifest.get("corpus") or [] if e.get("name")]
    return f" ({', '.join(names)})" if names else ""


def _open_state(path: Path | str | None, model_dir: Path | None) -> StateDB | None:
    """The state database to apply: ``--state-db``, else the service's default if it exists
    (a read of existing state: an evaluation never creates one)."""
    try:
        from ..state.db import StateDB, default_path
    except ImportError:  # pragma: no cover - every build has db.py
        return None
    if path is None:
        candidate = default_path(model_dir or DEFAULT_MODEL_DIR)
        if isinstance(candidate, Path) and not candidate.is_file():
            return None
        path = candidate
    elif isinstance(path, Path) and not path.is_file():
        from ..errors import InvalidParameterError

        raise InvalidParameterError("--state-db", f"{path}: no such file")
    _echo_err(f"applying the editorial state in {path}")
    return StateDB(path).init()


@click.command("evaluate")
@click.option("--model", "model_dir", default=None, type=click.Path(path_type=Path),
              help=f"Models root or version directory [default: {DEFAULT_MODEL_DIR}; with "
                   "--corpus and no --model, a model is fitted in memory].")
@click.option("--truth", "truth", required=True, type=click.Path(path_type=Path),
              help="Ground truth: JSON {id: [ids]} / {id: {id: grade}} or CSV pairs.")
@click.option("--k", "ks", default="5,10", show_default=True, help="Cut-offs, e.g. 5,10.")
@click.option("--corpus", "corpus", multiple=True, type=click.Path(path_type=Path),
              help="The model's corpus: the TF-IDF baseline is fitted on it, and model "
                   "parameters are compared by re-fitting on it [default: the bundled sample "
                   "or the manifest's files in the working directory, matched by SHA-256].")
@click.option("--no-tfidf-baseline", "no_tfidf_baseline", is_flag=True, default=False,
              help="Evaluate without the TF-IDF baseline when the model's corpus is not at "
                   "hand (the other baselines still run).")
@click.option("--column", "columns", multiple=True, metavar="SOURCE=TARGET",
              help="Column mapping of the corpus (as for train).")
@click.option("--id-prefix", default=None, help="Id prefix of WordPress posts (as for train).")
@click.option("--set", "sets", multiple=True, metavar="NAME=V1,V2",
              help="Compare settings (repeatable; the cartesian product is evaluated).")
@click.option("--grid", "grid_file", type=click.Path(path_type=Path), default=None,
              help="Grid of settings to compare (TOML or JSON).")
@click.option("--test-size", type=float, default=None,
              help="Share of the queries held out for reporting; settings are chosen on the "
                   "rest [default: 0.5 when comparing settings, else 0 = no split].")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the query split and the random baseline.")
@click.option("--select-by", default=None, help="Metric that picks the best setting "
              "[default: nDCG at the largest k].")
@click.option("--takedowns", "takedowns_file", type=click.Path(path_type=Path), default=None,
              help="File of article ids (one per line) that must never be recommended.")
@click.option("--near-dup-cosine", "duplicate_threshold", type=click.FloatRange(0, 1,
              min_open=True), default=0.8, show_default=True,
              help="Metric: cosine at or above which two articles of one list count as "
                   "near-duplicates.")
@state_db_option("State database whose takedowns, pins and blocks apply [default: "
                 "ALSOSEE_STATE_DB, else state.db next to the models, if it exists].")
@click.option("--max-queries", type=click.IntRange(1), default=None,
              help="Evaluate a seeded sample of at most N queries.")
@click.option("--depth", type=click.IntRange(1, 100), default=100, show_default=True,
              help="List length fetched per query (MAP and MRR are computed at this depth).")
@click.option("--json", "json_out", type=click.Path(path_type=Path), default=None,
              help="Write the results as JSON here ('-' for stdout).")
@click.option("--report", "report_dir", type=click.Path(path_type=Path), default=None,
              help="Write an HTML report with plots into this directory.")
@_guarded
def evaluate_cmd(model_dir: Path | None, truth: Path, ks: str, corpus: tuple[Path, ...],
                 no_tfidf_baseline: bool, columns: tuple[str, ...], id_prefix: str | None,
                 sets: tuple[str, ...],
                 grid_file: Path | None, test_size: float | None, seed: int,
                 select_by: str | None, takedowns_file: Path | None,
                 duplicate_threshold: float, state_db: Path | None, max_queries: int | None,
                 depth: int, json_out: Path | None, report_dir: Path | None) -> None:
    """Measure related-links quality against editors' ground truth (and compare settings)."""
    from ..corpus.load import load_corpus
    from ..errors import InvalidParameterError
    from ..evaluation import compare
    from ..evaluation.qrels import load_qrels
    from ..evaluation.runner import baselines, evaluate_systems, parse_ks
    from ..evaluation.systems import TfidfBaselineSystem, takedown_ids
    from ..model import artifact
    from ..model.estimator import RelatedStories

    t_start = time.perf_counter()
    if report_dir is not None:
        from ..evaluation.report import require_plotting

        require_plotting()  # before the evaluation, which can take minutes
    k_values = parse_ks(ks)
    articles = None
    manifest: dict[str, Any] = {}
    if corpus:
        articles, corpus_report = load_corpus(list(corpus), columns=_parse_columns(columns),
                                              id_prefix=id_prefix)
        _echo_err(f"corpus: {corpus_report.rows_kept} articles from "
                  f"{', '.join(map(str, corpus))}")
    if model_dir is None and articles is not None:
        _echo_err("no --model: fitting a model with the default parameters in memory ...")
        model = RelatedStories().fit(articles)
        model_label = "in-memory model (defaults)"
    else:
        loaded = artifact.load(model_dir or DEFAULT_MODEL_DIR)
        model, manifest = loaded.model, loaded.manifest
        model_label = f"{loaded.path}"
    if articles is None and not no_tfidf_baseline:
        found = _training_corpus(manifest)
        if found is None:
            raise InvalidParameterError(
                "--corpus", "the TF-IDF baseline is fitted on the articles the model was "
                f"trained on{_corpus_hint(manifest)} and the model does not keep their text: "
                "pass them with --corpus FILE, or evaluate without that baseline with "
                "--no-tfidf-baseline")
        articles, _ = load_corpus(found)
        sample = _sample_corpus_for(manifest)
        _echo_err("corpus: the model's training corpus, found by its SHA-256: "
                  + (f"the bundled sample {sample.name}" if sample is not None
                     else ", ".join(map(str, found))))
    db = _open_state(state_db, model_dir if model_dir is not None or articles is None else None)
    qrels = load_qrels(truth, known_ids=set(map(str, model.ids_)))
    _echo_err(qrels.report.summary())

    settings: list[dict[str, Any]] = []
    if grid_file is not None:
        settings += compare.expand_grid(compare.load_grid(grid_file))
    if sets:
        settings += compare.expand_grid(compare.parse_set(sets))
    compare.validate_settings(model, settings)
    if articles is None and compare.needs_refit(model, settings):
        found = _training_corpus(manifest)
        if found is not None:
            articles, _ = load_corpus(found)
    systems = compare.build_systems(
        model, settings, articles, db=db,
        on_fit=lambda label: _echo_err(f"re-fitting the model with {label} ..."))
    takedowns = set(_read_ids(takedowns_file)) if takedowns_file else set()
    takedowns |= takedown_ids(db, model)
    n_configs = len(systems)
    baseline_corpus = None if no_tfidf_baseline else articles
    try:
        systems += baselines(model, seed, baseline_corpus)
    except InvalidParameterError as e:
        raise InvalidParameterError(
            "--corpus", f"{e.message}; pass the model's own corpus, or evaluate without that "
            "baseline with --no-tfidf-baseline") from e
    if baseline_corpus is not None:
        _echo_err(f"baseline: {TfidfBaselineSystem.name} fitted on "
                  f"{len(baseline_corpus)} articles (title + body)")
    if test_size is None:
        # choosing among several settings needs held-out queries; the baselines are not tuned
        test_size = 0.5 if n_configs > 1 else 0.0
    result = evaluate_systems(
        systems, qrels, model, ks=k_values,
        takedowns=takedowns,
        duplicate_threshold=duplicate_threshold, test_size=test_size or None, seed=seed,
        select_by=select_by, max_queries=max_queries, depth=depth,
        on_system=lambda name: logger.info("evaluating %s", name))
    result.seconds = time.perf_counter() - t_start

    click.echo(f"model: {model_label}; truth: {truth}")
    click.echo(result.table())
    best = result.best
    if best:
        split = bool(result.train_queries)
        click.echo("best system per metric, baselines included"
                   + (" (chosen on the train queries, value on the test queries):"
                      if split else ":"))
        for metric, b in best.items():
            if metric.startswith(("P@", "nDCG@", "MAP", "MRR", "age_gap", "near_dup")):
                name = f"[{b['name']}]" if b.get("kind") == "baseline" else b["name"]
                click.echo(f"  {metric:<22} {name}  ({_num(b['value'])}"
                           + (f"; train {_num(b['train_value'])})" if split else ")"))
        front = [f"[{r['name']}]" if r["kind"] == "baseline" else r["name"]
                 for r in result.tradeoff() if r["pareto"]]
        click.echo(f"relevance/freshness trade-off (Pareto front, nDCG@{result.main_k} vs median"
                   f" age gap): {', '.join(front) or 'n/a'}")
    names = {s.name for s in result.systems}
    if {"defaults", TfidfBaselineSystem.name} <= names:
        metric = f"nDCG@{result.main_k}"
        ours = result.system("defaults").metrics.get(metric)
        theirs = result.system(TfidfBaselineSystem.name).metrics.get(metric)
        if ours is not None and theirs is not None:
            click.echo(f"defaults vs {TfidfBaselineSystem.name}: {metric} {ours:.3f} vs "
                       f"{theirs:.3f} ({ours - theirs:+.3f})")
    leaks = {s.name: s.metrics.get("takedown_leaks") for s in result.systems
             if s.kind == "config" and s.metrics.get("takedown_leaks")}
    if leaks:
        click.echo(f"WARNING: takedown leaks: {leaks}", err=True)
    click.echo(f"evaluation took {result.seconds:.2f} s")
    if json_out is not None:
        payload = result.to_dict()
        payload["model"] = model_label
        payload["truth"] = str(truth)
        text = json.dumps(payload, indent=2, ensure_ascii=False, default=str)
        if str(json_out) == "-":
            click.echo(text)
        else:
            json_out.write_text(text, encoding="utf-8")
            _echo_err(f"results written to {json_out}")
    if report_dir is not None:
        from ..evaluation.report import write_report

        index = write_report(result, model, report_dir, title=f"alsosee evaluation: {truth.name}")
        _echo_err(f"report written to {index}")


def _num(v: Any) -> str:
    return "n/a" if v is None else f"{v:.3f}"


@click.command("mine-links")
@click.argument("corpus", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "out", type=click.Path(path_type=Path), default=Path("mined_qrels.json"),
              show_default=True, help="Where to write the mined ground truth (JSON).")
@click.option("--report", "report_path", type=click.Path(path_type=Path), default=None,
              help="Where to write the mining report (JSON) [default: OUT with .report.json].")
@click.option("--column", "columns", multiple=True, metavar="SOURCE=TARGET",
              help="Column mapping of the corpus (as for train).")
@click.option("--id-prefix", default=None, help="Id prefix of WordPress posts (as for train).")
@click.option("--fuzzy-threshold", type=click.FloatRange(0, 100), default=90.0,
              show_default=True, help="Minimum similarity (0-100) of a headline to a title.")
@click.option("--boilerplate-config", type=click.Path(path_type=Path), default=None,
              help="Newsroom block patterns (TOML/JSON), as for train.")
@click.option("--compare", "compare_to", type=click.Path(path_type=Path), default=None,
              help="Existing ground truth to compare the mined links with.")
@_guarded
def mine_links_cmd(corpus: tuple[Path, ...], out: Path, report_path: Path | None,
                   columns: tuple[str, ...], id_prefix: str | None, fuzzy_threshold: float,
                   boilerplate_config: Path | None, compare_to: Path | None) -> None:
    """Mine editors' related links (in-body links, "ALSO SEE:" blocks) from CORPUS."""
    from ..corpus.load import load_corpus
    from ..evaluation.mining import mine_links
    from ..evaluation.qrels import load_qrels
    from ..text.boilerplate import load_boilerplate_config

    patterns = load_boilerplate_config(boilerplate_config) if boilerplate_config else None
    articles, _ = load_corpus(list(corpus), columns=_parse_columns(columns), id_prefix=id_prefix,
                              keep_links=True)
    qrels, report = mine_links(articles, boilerplate=patterns, fuzzy_threshold=fuzzy_threshold)
    out.write_text(json.dumps(qrels, indent=1, ensure_ascii=False), encoding="utf-8")
    report_path = report_path or out.with_name(out.stem + ".report.json")
    payload = report.to_dict()
    click.echo(report.summary())
    if compare_to is not None:
        truth = load_qrels(compare_to, known_ids=set(articles["id"].astype(str)))
        want = {(q, d) for q in truth.queries for d in truth.relevant(q)}
        got = {(q, d) for q, ds in qrels.items() for d in ds}
        payload["compare"] = {"truth": str(compare_to), "truth_pairs": len(want),
                              "recovered": len(want & got), "missed": sorted(want - got),
                              "extra": len(got - want)}
        click.echo(f"against {compare_to}: recovered {len(want & got)} of {len(want)} pairs, "
                   f"{len(got - want)} mined pairs not in it")
    report_path.write_text(json.dumps(payload, indent=1, ensure_ascii=False, default=str),
                           encoding="utf-8")
    click.echo(f"wrote {out} ({report.pairs} pairs) and {report_path}")
