"""`crossmost-train demo --quick` end to end through the command line: the shipped towers, the synthetic target,
zero-shot, baseline and Cross-MoST self-training, the table, the report and a rerun from the stage cache; and the
`--from-scratch` path (corpus, CLIP and ULIP pre-training, export of the towers) on a miniature recipe.

Asserted among the orderings are only those that held, with the margin asserted, in every seed of
`crossmost-train demo --quick --seeds 5` (docs/synthetic-benchmark.md lists the figures).
"""

import dataclasses
import json
from pathlib import Path

import pytest

from crossmost_train.cli import main
from crossmost_train.demo.pipeline import DemoOptions, run_demo
from crossmost_train.demo.pretrained import verify_towers
from crossmost_train.demo.scale import QUICK_SCALE, DomainSpec
from crossmost_train.demo.selftraining import selftrain_seeds
from crossmost_train.demo.stages import StageRunner

pytestmark = pytest.mark.slow

METHODS = ("zero-shot (source)", "zero-shot", "baseline self-training", "Cross-MoST")
BRANCHES = ("image", "image*", "point", "joint")


def test_quick_demo_runs_end_to_end_and_reruns_from_the_cache(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())

    table = results["table"]
    assert list(table) == list(METHODS)
    for method in METHODS:
        for branch in BRANCHES:
            assert table[method][branch]["n"] == 1
    seed = results["per_seed"]["0"]
    target = QUICK_SCALE.target
    test_objects = 14 * round(target.objects_per_class * target.options["test_fraction"])
    assert all(seed[m]["num_samples"] == test_objects for m in METHODS[1:])

    # The orderings that held in every seed of `demo --quick --seeds 5`, each with about half the smallest margin
    # it held by there (in brackets), so that float differences between machines do not flip them.
    zero_shot, baseline, cross_most = seed["zero-shot"], seed["baseline self-training"], seed["Cross-MoST"]
    assert zero_shot["point"] < seed["zero-shot (source)"]["point"] - 14  # the shift (28.6)
    assert zero_shot["image*"] < seed["zero-shot (source)"]["image*"] - 7  # (13.7)
    assert baseline["point"] > zero_shot["point"] + 2.5  # (5.4)
    assert baseline["image*"] > zero_shot["image*"] + 1  # (2.4)
    assert cross_most["point"] > zero_shot["point"] + 5  # (10.7)
    assert cross_most["image"] > zero_shot["image"] + 1  # (2.4)
    checks = {c["claim"]: c for c in results["checks"]}
    assert len(checks) == 9
    assert all(c["seeds"] == 1 for c in checks.values())

    # the printed summary: the table with every method, the stage times and the files
    for method in METHODS:
        assert method in printed
    assert "selftrain Cross-MoST" in printed
    assert str(out / "report.md") in printed
    report = (out / "report.md").read_text()
    assert "| Cross-MoST |" in report
    assert "crossmost-train selftrain -c demo " in report
    assert "| soccer_ball | same shape as basketball |" in report  # the per-class table
    assert (out / "accuracy.png").stat().st_size > 0
    assert (out / "pseudo_labels.png").stat().st_size > 0
    assert (out / "seed-0" / "cross-most" / "model" / "config.json").is_file()

    # a rerun with the same config reuses every stage and reports the same numbers
    assert main(["demo", "--quick", "--out", str(out), "--no-progress"]) == 0
    rerun = capsys.readouterr().out
    assert rerun.count(": reused ") == 6  # 2 data sets, 2 evaluations, 2 self-trainings
    again = json.loads((out / "results.json").read_text())
    assert again["table"] == results["table"]
    assert all(seconds == 0.0 for seconds in again["stage_seconds"].values())


def test_from_scratch_makes_exports_and_uses_towers_of_its_own(tmp_path: Path) -> None:
    recipe = dataclasses.replace(
        QUICK_SCALE.recipe,
        classes=("chair", "dice"),
        corpus=DomainSpec("corpus", 20, {"test_fraction": 0.1}),  # each split at least one batch of 32
        source=DomainSpec("source", 20, {"test_fraction": 0.1}),
        views=2,
        clip_epochs=1,
        ulip_epochs=1,
    )
    scale = dataclasses.replace(
        QUICK_SCALE,
        recipe=recipe,
        # 32 training objects per class: the two classes fill one global batch of the demo preset (64)
        target=DomainSpec("target", 40, {**QUICK_SCALE.target.options, "test_fraction": 0.2}),
        source_eval=recipe.source,
        selftrain_steps=2,
    )
    towers = tmp_path / "towers"
    options = DemoOptions(
        out=tmp_path / "demo", scale=scale, from_scratch=True, export_towers=towers, progress=False, threads=1
    )
    lines: list[str] = []
    result = run_demo(options, echo=lines.append)
    assert result.from_scratch
    assert Path(result.towers) == tmp_path / "demo" / "pretrained" / "pretrain-ulip" / "model"
    record = verify_towers(towers, recipe)
    assert [c.split()[:3] for c in record["commands"]] == [
        ["crossmost-data", "synth", "--domain"],
        ["crossmost-data", "synth", "--domain"],
        ["crossmost-train", "pretrain", "--task"],
        ["crossmost-train", "pretrain", "--task"],
    ]
    assert any(line.startswith("[demo] towers exported to ") for line in lines)
    assert result.scores[0]["Cross-MoST"]["num_samples"] == 16  # 2 classes × 8 test objects

    # The same self-training runs, two at a time in worker processes, give the same numbers as in this process.
    runner = StageRunner(progress=False, echo=lines.append, jobs=2, threads=1)
    variants = [("baseline self-training", ["demo-baseline"], []), ("Cross-MoST", ["demo"], [])]
    in_workers = selftrain_seeds(
        runner, scale, Path(result.data["target"]), Path(result.towers), {0: tmp_path / "in-workers"}, variants
    )[0]
    for method in ("baseline self-training", "Cross-MoST"):
        assert in_workers[method]["student"] == result.scores[0][method]
    assert [stage.cached for stage in runner.stages] == [False, False]
    assert "[demo] 2 self-training runs, 2 at a time (1 torch thread each); each run's output is in its folder" in lines
