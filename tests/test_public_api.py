"""The package's top level: what a user calls, imported on first use."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import recommender


def test_every_exported_name_resolves() -> None:
    for name in recommender.__all__:
        assert getattr(recommender, name) is not None, name
    assert recommender.Recommender.__module__ == "recommender.engine.recommender"
    assert recommender.RelatedStories.__module__ == "recommender.model.estimator"


def test_importing_the_package_loads_no_model_code() -> None:
    code = ("import sys, recommender; "
            "print(sorted(m for m in sys.modules if m.startswith(('sklearn', 'recommender.'))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]", done.stdout


def test_the_engine_on_a_loaded_model_version(trained_model_dir: Path) -> None:
    from recommender import RankingOptions, Recommender, RelatedResult, load, load_corpus

    loaded = load(trained_model_dir)
    engine = Recommender(loaded.model, defaults=RankingOptions(k=3))
    first = str(loaded.model.ids_[0])
    result = engine.related(first, half_life=90)
    assert isinstance(result, RelatedResult)
    assert len(result.ids) == 3 and first not in result.ids
    articles, _ = load_corpus(Path(__file__).resolve().parents[1] / "data" /
                              "globalvoices-2012-05.jsonl")
    assert set(result.ids) <= set(articles["id"])
    assert engine.related_to_text("Floods in Jakarta", "Rain and floods").ids


def test_the_engine_and_the_service_use_only_public_names_of_the_model() -> None:
    """``model._x`` / ``self.model._x`` in the engine or the service would tie them to the
    estimator's internals; the model offers what they need under public names."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    found = []
    for path in [*(root / "recommender" / "engine").glob("*.py"),
                 *(root / "service").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                    and not node.attr.endswith("__")):
                continue
            owner = node.value
            name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", None)
            if name == "model":
                found.append(f"{path.relative_to(root)}:{node.lineno}: model.{node.attr}")
    assert not found, found
