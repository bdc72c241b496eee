"""The demo's parts without training: scales and cache keys, the synth command it runs, the stage cache, the
aggregation over seeds, the Table-1-style table, the orderings and the ablation rows."""

import dataclasses
import json
import math
from pathlib import Path

import pytest

from crossmost_data.datasets.synthetic import SHAPES_VERSION
from crossmost_train.cli import build_parser
from crossmost_train.config import list_presets, load_config
from crossmost_train.demo.ablations import ablation_variants
from crossmost_train.demo.pipeline import stage_times
from crossmost_train.demo.scale import (
    DEFAULT_SCALE,
    QUICK_SCALE,
    RECIPE,
    TARGET_SEED,
    VALIDATION_SEED,
    DomainSpec,
    ema_warmup_steps,
)
from crossmost_train.demo.stages import Stage, StageError, StageRunner, synth_arguments
from crossmost_train.demo.table import MeanStd, aggregate, check_orderings, format_cell, markdown_table, text_table


def test_ema_ramp_is_the_papers_share_of_the_schedule() -> None:
    assert ema_warmup_steps(3800) == 400  # the paper: 400 of ~3.8k steps
    assert ema_warmup_steps(300) == 32  # 300 × 400/3800 = 31.6
    assert ema_warmup_steps(3) == 1  # never zero


def test_data_key_changes_with_what_changes_the_data() -> None:
    key = RECIPE.data_key(DEFAULT_SCALE.target)
    assert key == RECIPE.data_key(DomainSpec("target", 75, dict(DEFAULT_SCALE.target.options), TARGET_SEED))
    assert key != RECIPE.data_key(RECIPE.source)
    other = DomainSpec("target", 75, {**DEFAULT_SCALE.target.options, "clutter": 0.5}, TARGET_SEED)
    assert key != RECIPE.data_key(other)
    assert key != RECIPE.data_key(QUICK_SCALE.target)  # fewer objects
    assert key != RECIPE.data_key(DEFAULT_SCALE.control)  # depth views
    assert key != RECIPE.data_key(dataclasses.replace(DEFAULT_SCALE.target, seed=VALIDATION_SEED))
    fewer_classes = dataclasses.replace(RECIPE, classes=RECIPE.classes[:4])
    assert key != fewer_classes.data_key(DEFAULT_SCALE.target)
    assert RECIPE.key() != dataclasses.replace(RECIPE, clip_epochs=RECIPE.clip_epochs + 1).key()
    newer_shapes = dataclasses.replace(RECIPE, shapes_version=RECIPE.shapes_version + 1)
    assert key != newer_shapes.data_key(DEFAULT_SCALE.target)  # objects of other generators
    assert RECIPE.key() != newer_shapes.key()


def test_recipe_is_for_the_installed_object_generators() -> None:
    assert RECIPE.shapes_version == SHAPES_VERSION


def test_the_default_benchmark_is_the_one_the_demo_promises() -> None:
    assert len(RECIPE.classes) == 14
    test_per_class = round(DEFAULT_SCALE.target.objects_per_class * DEFAULT_SCALE.target.options["test_fraction"])
    assert len(RECIPE.classes) * test_per_class >= 480  # test splits large enough that an ordering is not noise
    assert RECIPE.corpus.objects_per_class > RECIPE.source.objects_per_class  # the corpus is the broad one
    assert DEFAULT_SCALE.control.options == {**DEFAULT_SCALE.target.options, "target_views": "depth"}
    assert QUICK_SCALE.recipe == DEFAULT_SCALE.recipe  # one set of towers serves both
    # The demo reports on target objects the benchmark was not designed on.
    assert DEFAULT_SCALE.target.seed == QUICK_SCALE.target.seed == TARGET_SEED != VALIDATION_SEED


def test_synth_arguments_parse_as_the_data_command(tmp_path: Path) -> None:
    from crossmost_data.cli import build_parser as data_parser

    domain = DomainSpec("target", 7, {"partiality": 0.5, "target_views": "depth"})
    argv = synth_arguments(RECIPE, domain, tmp_path / "t", workers=2, progress=False)
    args = data_parser().parse_args(argv)
    assert (args.command, args.domain, args.objects_per_class) == ("synth", "target", 7)
    assert (args.views, args.image_size, args.points) == (RECIPE.views, RECIPE.image_size, 512)
    assert args.classes == list(RECIPE.classes)
    assert dict(args.option) == {"partiality": 0.5, "target_views": "depth"}
    assert args.workers == 2
    assert args.no_progress
    assert args.out == tmp_path / "t"
    # no number asked: the data command's default (one worker per 64 objects, up to the usable cores)
    default = synth_arguments(RECIPE, domain, tmp_path, workers=None, progress=False)
    assert data_parser().parse_args(default).workers is None


def test_demo_presets_load_and_differ_only_where_the_baseline_should() -> None:
    assert {"demo", "demo-baseline", "demo-pretrain-clip", "demo-pretrain-ulip"} <= set(list_presets())
    ours, base = load_config(["demo"]), load_config(["demo-baseline"])
    assert ours.model.name == base.model.name == "synthetic-demo"
    assert (ours.objective.strategy, base.objective.strategy) == ("joint", "independent")
    assert ours.objective.alignment_weight > 0
    assert base.objective.alignment_weight == 0
    assert ours.optim == base.optim
    assert ours.ema == base.ema
    assert ours.data == base.data
    clip, ulip = load_config(["demo-pretrain-clip"]), load_config(["demo-pretrain-ulip"])
    assert (clip.pretrain.task, ulip.pretrain.task) == ("clip", "ulip")
    assert clip.model.name == ulip.model.name == ours.model.name
    assert clip.pretrain.class_positives
    assert ulip.pretrain.train_point_tokenizer


def test_stage_cache_reuses_a_finished_stage_with_the_same_key(tmp_path: Path) -> None:
    calls = []
    lines: list[str] = []
    runner = StageRunner(progress=False, echo=lines.append)

    def body() -> dict[str, int]:
        calls.append(1)
        print("chatter that goes to the stage log")
        return {"value": 7}

    assert runner._run("s", "cmd", tmp_path / "s", {"k": 1}, body) == {"value": 7}
    assert runner._run("s", "cmd", tmp_path / "s", {"k": 1}, body) == {"value": 7}
    assert len(calls) == 1
    assert [s.cached for s in runner.stages] == [False, True]
    assert "chatter" in (tmp_path / "s" / "output.log").read_text()
    runner._run("s", "cmd", tmp_path / "s", {"k": 2}, body)  # another config: run again
    assert len(calls) == 2
    saved = json.loads((tmp_path / "s" / "stage.json").read_text())
    assert saved["result"] == {"value": 7}
    assert saved["command"] == "cmd"


def test_a_failing_stage_names_itself_and_its_command(tmp_path: Path) -> None:
    runner = StageRunner(progress=False, echo=lambda _: None)

    def body() -> dict[str, int]:
        raise ValueError("boom")

    with pytest.raises(StageError, match=r"pretrain clip failed: boom\n  reproduce with: crossmost-train x"):
        runner._run("pretrain clip", "crossmost-train x", tmp_path / "p", {}, body)
    assert not (tmp_path / "p" / "stage.json").exists()


def _scores(image: float, image_star: float, point: float, joint: float) -> dict[str, float]:
    return {"image": image, "image*": image_star, "point": point, "joint": joint}


def test_aggregate_gives_mean_and_sample_std() -> None:
    per_seed = {
        0: {"a": _scores(10, 20, 30, 40)},
        1: {"a": _scores(20, 20, 50, 40)},
        2: {"a": _scores(30, 20, 70, math.nan)},
    }
    table = aggregate(per_seed, ["a"])
    assert table["a"]["image"] == MeanStd(20.0, 10.0, 3)
    assert table["a"]["point"] == MeanStd(50.0, 20.0, 3)
    assert table["a"]["image*"].std == 0.0
    assert table["a"]["joint"] == MeanStd(40.0, 0.0, 2)  # the NaN seed is left out
    assert format_cell(table["a"]["point"]) == "50.0 ± 20.0"
    assert format_cell(MeanStd(71.25, 0.0, 1)) == "71.2"
    assert format_cell(MeanStd(math.nan, math.nan, 0)) == "–"


def test_tables_have_one_row_per_method_and_every_branch() -> None:
    table = aggregate(
        {0: {"zero-shot": _scores(1, 2, 3, 4), "Cross-MoST": _scores(5, 6, 7, 8)}}, ["zero-shot", "Cross-MoST"]
    )
    md = markdown_table(table).splitlines()
    assert md[0] == "| method | image | image* | point | joint |"
    assert md[3] == "| Cross-MoST | 5.0 | 6.0 | 7.0 | 8.0 |"
    text = text_table(table).splitlines()
    assert text[0].split() == ["method", "image", "image*", "point", "joint"]
    assert text[3].split() == ["Cross-MoST", "5.0", "6.0", "7.0", "8.0"]


def test_orderings_are_judged_on_means_and_counted_per_seed() -> None:
    def seed(zs_img: float, base_pt: float, cm_pt: float) -> dict[str, dict[str, float]]:
        return {
            "zero-shot (source)": _scores(80, 80, 90, 85),
            "zero-shot": _scores(zs_img, zs_img, 40, 30),
            "baseline self-training": _scores(30, 32, base_pt, 40),
            "Cross-MoST": _scores(45, 50, cm_pt, 55),
        }

    checks = {c.claim: c for c in check_orderings({0: seed(20, 45, 50), 1: seed(24, 52, 50)})}
    assert len(checks) == 9
    shifted = checks["the target is shifted: zero-shot point on target < on source"]
    assert shifted.holds
    assert shifted.seeds_holding == 2
    point = checks["Cross-MoST > baseline self-training (point)"]
    assert point.holds
    assert point.seeds_holding == 1
    assert point.detail == "48.5 < 50.0"
    joint = checks["Cross-MoST > baseline self-training (joint)"]
    assert (joint.holds, joint.seeds_holding, joint.detail) == (True, 2, "40.0 < 55.0")
    gain = checks["Cross-MoST gains ≥ 10 points over zero-shot on one branch, ≥ 5 on the other"]
    assert gain.holds
    assert gain.seeds_holding == 2
    assert gain.detail == "image* +28.0, point +10.0"
    worse = {c.claim: c for c in check_orderings({0: seed(20, 60, 50)})}
    assert not worse["Cross-MoST > baseline self-training (point)"].holds
    assert worse["Cross-MoST > baseline self-training (point)"].detail == "60.0 ≥ 50.0"


def test_the_gain_check_wants_both_branches_to_gain() -> None:
    def seed(image_gain: float, point_gain: float) -> dict[str, dict[str, float]]:
        zero = _scores(50, 50, 40, 60)
        ours = _scores(50, 50 + image_gain, 40 + point_gain, 60)
        return {"zero-shot (source)": zero, "zero-shot": zero, "baseline self-training": zero, "Cross-MoST": ours}

    def gain_check(*seeds: dict[str, dict[str, float]]) -> tuple[bool, int]:
        check = check_orderings(dict(enumerate(seeds)))[-1]
        return check.holds, check.seeds_holding

    assert gain_check(seed(4.9, 30)) == (False, 0)  # the other branch gains too little
    assert gain_check(seed(5, 10)) == (True, 1)
    assert gain_check(seed(12, 6)) == (True, 1)  # either branch may be the one with 10
    assert gain_check(seed(9.9, 9.9)) == (False, 0)
    assert gain_check(seed(12, 6), seed(8, 4)) == (True, 1)  # means 10 and 5; one seed of two holds


def test_ablation_rows_follow_the_papers_tables() -> None:
    rows = ablation_variants(views=6)
    assert [label for label, _ in rows["views"]] == ["1 view", "2 views", "4 views", "6 views (all)"]
    assert rows["views"][0][1] == ["ablation-views-1"]
    labels = [label for label, _ in rows["pseudo-labels"]]
    assert labels == [
        "no comb. (each branch its own)",
        "image only",
        "point cloud only",
        "random modality",
        "joint (Cross-MoST)",
    ]
    for table in rows.values():
        assert sum(1 for _, overlays in table if not overlays) == 1  # exactly one row is the main run
        for _, overlays in table:
            for preset in overlays:
                load_config(["demo", preset])  # every overlay stacks on the demo preset
    assert [label for label, _ in ablation_variants(views=12)["views"]][-2:] == ["8 views", "12 views (all)"]


def test_demo_is_a_registered_command() -> None:
    args = build_parser().parse_args(["demo", "--quick", "--seeds", "2", "--out", "x"])
    assert (args.command, args.quick, args.seeds, args.out, args.threads) == ("demo", True, 2, Path("x"), 1)


def test_a_stage_reruns_when_the_stage_it_reads_from_changed(tmp_path: Path) -> None:
    calls: list[str] = []

    def body(name: str) -> dict[str, str]:
        calls.append(name)
        return {}

    upstream = tmp_path / "pretrain"
    runner = StageRunner(progress=False, echo=lambda _: None)

    def run_b(r: StageRunner) -> None:
        inputs = r._upstream([f"model.pretrained={upstream / 'model'}", "schedule.max_steps=3"])
        r._run("b", "cmd", tmp_path / "b", {"inputs": inputs}, lambda: body("b"))

    runner._run("a", "cmd", upstream, {"epochs": 1}, lambda: body("a"))
    run_b(runner)
    run_b(runner)
    run_b(StageRunner(progress=False, echo=lambda _: None))  # a new process reads the digest from stage.json
    assert calls == ["a", "b"]
    runner._run("a", "cmd", upstream, {"epochs": 2}, lambda: body("a"))  # the pre-training changed ...
    run_b(runner)  # ... so what was trained from it is redone
    assert calls == ["a", "b", "a", "b"]


def test_stage_times_count_a_stage_reused_within_the_run_once(tmp_path: Path) -> None:
    clip, full, other = tmp_path / "clip", tmp_path / "cross-most", tmp_path / "seed-1" / "clip"
    stages = [
        Stage("pretrain clip", "", clip, 120.0, False, computed_seconds=120.0),
        Stage("selftrain Cross-MoST", "", full, 0.0, True, computed_seconds=90.0),  # from an earlier run
        Stage("pretrain clip", "", clip, 0.0, True, computed_seconds=120.0),  # the ablations reuse it
        Stage("selftrain Cross-MoST", "", full, 0.0, True, computed_seconds=90.0),
        Stage("pretrain clip", "", other, 100.0, False, computed_seconds=100.0),  # another seed's
    ]
    spent, computed = stage_times(stages)
    assert spent == {"pretrain clip": 220.0, "selftrain Cross-MoST": 0.0}
    assert computed == {"pretrain clip": 220.0, "selftrain Cross-MoST": 90.0}


def test_the_point_tower_is_aligned_at_the_temperature_the_clip_towers_learned(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import save_file
    from torch import nn

    from crossmost_train.demo.pipeline import learned_logit_scale
    from crossmost_train.pretrain import _PointBranch

    clip = tmp_path / "open_clip.safetensors"
    save_file({"logit_scale": torch.tensor(math.log(1 / 0.07)), "text_projection": torch.zeros(4, 4)}, str(clip))
    assert learned_logit_scale(clip) == 14.3  # 1/0.07 = 14.2857…, to 3 significant digits
    no_scale = tmp_path / "other.safetensors"
    save_file({"text_projection": torch.zeros(4, 4)}, str(no_scale))
    with pytest.raises(ValueError, match=r"other\.safetensors has no 'logit_scale'"):
        learned_logit_scale(no_scale)

    towers = nn.Module()
    towers.point_encoder, towers.point_projection = nn.Identity(), nn.Identity()
    fixed = _PointBranch(towers, learnable_scale=False, scale=14.3)
    assert fixed.log_scale.exp().item() == pytest.approx(14.3)
    assert not fixed.log_scale.requires_grad
    assert _PointBranch(towers, learnable_scale=True, scale=14.3).log_scale.requires_grad
    with pytest.raises(ValueError, match=r"pretrain\.logit_scale must be > 0"):
        _PointBranch(towers, learnable_scale=False, scale=0.0)
