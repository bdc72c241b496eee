"""Memory plans of self-training: what trains, what the EMA teacher adds, the peak memory and throughput of one
self-training step per plan, and an analytic estimate of which plan fits a giant student on an 80 GB GPU.

Measured (one row per plan, each on a freshly built model): parameters in all and trainable, the bytes the teacher
adds to the student (distinct storages), samples/s over ``--steps`` steps after a warm-up step (so AdamW's states
exist), and the peak memory of one more step. On CUDA the peak is ``torch.cuda.max_memory_allocated``; on CPU it is
the resident tensors (student, teacher, optimiser state, batch: distinct storages) plus the peak of the tensors the
step allocates, followed through torch's dispatcher (tensors, not the process: allocator slack is not counted; that
step is not timed).

Estimated: the image towers of open_clip's ``ViT-B-16``, ``ViT-bigG-14`` and ``EVA02-E-14-plus`` and the point towers
paired with them are built on the meta device to count parameters; the bytes of weights (fp32), gradients and AdamW
states of what trains, the EMA teacher (full copy or shared), and the activations a backward pass keeps per sample
(bf16 autocast, fused attention; Korthikanti et al. 2022's per-block count ``s·(17·h + 4·m)`` bytes for ``s`` tokens,
width ``h``, MLP width ``m``; with checkpointing, the fp32 block inputs plus one block recomputed) give the largest
batch that fits 80 GB with 10 % headroom.

    uv run --no-sync python benchmarks/bench_memory_plan.py                          # tiny model, CPU, ~2 min
    uv run --no-sync python benchmarks/bench_memory_plan.py --model vit-b16-pointbert --batch 2 --steps 1
    uv run --no-sync python benchmarks/bench_memory_plan.py --device cuda --model vit-b16-pointbert --batch 128
    uv run --no-sync python benchmarks/bench_memory_plan.py --estimate-only
"""

from __future__ import annotations

import argparse
import gc
import math
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from _timing import synchronizer
from bench_train_step import make_batch
from crossmost_models import PointBertConfig, PointBertEncoder, image_num_layers, layer_id_fn
from crossmost_models.lora import lora_targets
from crossmost_train.accelerator_setup import build_accelerator
from crossmost_train.checkpoint import TrainingProgress
from crossmost_train.config import load_config
from crossmost_train.ema import EmaTeacher, extra_storage_bytes
from crossmost_train.memory import prepare_student, train_mode
from crossmost_train.optim import build_adamw, build_param_groups, build_scheduler
from crossmost_train.run_builder import build_model, build_objective
from crossmost_train.selftrain import SelfTrainer

MiB = 2**20
GB = 1e9

# (mode, activation checkpointing, teacher shares the frozen parameters); the first row is the paper's setting.
PLANS: list[tuple[str, bool, bool]] = [
    ("all", False, False),
    ("all", True, True),
    ("last_blocks", False, True),
    ("last_blocks", True, True),
    ("norms_and_classifier", False, True),
    ("norms_and_classifier", True, True),
    ("lora", False, True),
    ("lora", True, True),
]


# ------------------------------------------------------------------------------------------------ measuring
class LiveTensorBytes(TorchDispatchMode):
    """Bytes of the tensor storages allocated by the ops run under the mode and still alive, and their peak.

    A storage is counted when an op returns it and is not one of the op's inputs (views and in-place results are
    not new memory), and uncounted when it is freed.
    """

    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self._counted: dict[int, weakref.finalize] = {}

    def _free(self, key: int, size: int) -> None:
        self.live -= size
        self._counted.pop(key, None)

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        inputs = {
            t.untyped_storage().data_ptr()
            for t in tree_flatten((args, kwargs))[0]
            if isinstance(t, torch.Tensor) and t.device.type != "meta"
        }
        for t in tree_flatten(out)[0]:
            if not isinstance(t, torch.Tensor) or t.device.type == "meta":
                continue
            storage = t.untyped_storage()
            key = storage.data_ptr()
            if key and key not in inputs and key not in self._counted:
                size = storage.nbytes()
                self.live += size
                self.peak = max(self.peak, self.live)
                self._counted[key] = weakref.finalize(storage, self._free, key, size)
        return out


def storage_bytes(tensors: Iterable[torch.Tensor]) -> int:
    """Bytes of the distinct storages of ``tensors``."""
    sizes = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in tensors}
    return sum(sizes.values())


def _optimizer_tensors(optimizer: Any) -> list[torch.Tensor]:
    return [v for state in optimizer.state.values() for v in state.values() if isinstance(v, torch.Tensor)]


@dataclass
class Measured:
    plan: str
    checkpointing: bool
    shared_teacher: bool
    total: int
    trainable: int
    teacher_extra: int
    peak: int
    samples_per_s: float


def measure_plan(args: argparse.Namespace, accelerator: Any, mode: str, checkpointing: bool, shared: bool) -> Measured:
    """One optimiser step of self-training under a plan, after a warm-up step."""
    cfg = load_config(
        ["tiny" if args.model == "tiny" else "crossmost"],
        [f"model.name={args.model}", "model.require_pretrained=false", f"run.mixed_precision={args.precision}",
         "run.trackers=[]", f"optim.global_batch_size={args.batch}", "objective.threshold=0.0",
         f"memory.trainable={mode}", f"memory.last_blocks={args.last_blocks}", f"memory.lora_rank={args.lora_rank}",
         f"memory.activation_checkpointing={checkpointing}", f"memory.teacher_shares_frozen={shared}"],
    )  # fmt: skip
    device = accelerator.device
    torch.manual_seed(0)
    model: Any = build_model(cfg, [f"class {i}" for i in range(args.classes)])
    report = prepare_student(model, cfg)
    teacher = EmaTeacher(model, share_frozen=shared, constant_buffers=report.constant_buffers).to(device)
    model.to(device)
    teacher_extra = extra_storage_bytes(teacher.module, model)
    groups = build_param_groups(
        model, weight_decay=0.05, layer_decay=0.65, num_layers=image_num_layers(model), layer_id=layer_id_fn(model)
    )
    optimizer = build_adamw(groups, lr=1e-4, betas=(0.9, 0.999), eps=1e-8, fused=True, device=device)
    scheduler = build_scheduler(optimizer, warmup_steps=1, total_steps=1000, lr=1e-4, min_lr=1e-6)
    prepared, optimizer = accelerator.prepare(model, optimizer)
    trainer = SelfTrainer(
        cfg, accelerator, prepared, teacher, build_objective(cfg, args.classes).to(device), optimizer, scheduler
    )
    train_mode(trainer.student, cfg)
    batch = make_batch(model, args.batch, args.points or int(model.config.num_points), device)
    progress = TrainingProgress()
    sync = synchronizer(device)

    def step() -> None:
        trainer.micro_step(batch, progress)
        trainer.after_optimizer_step(progress)
        progress.global_step += 1

    step()  # warm-up: AdamW's states, autotuning
    sync()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    sync()
    seconds = (time.perf_counter() - start) / args.steps
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        step()
        sync()
        peak = torch.cuda.max_memory_allocated(device)
    else:  # one more step under the tracker (it slows the step down, so it is not timed)
        tracker = LiveTensorBytes()
        with tracker:
            step()
        resident = [*model.parameters(), *model.buffers(), *teacher.module.parameters(), *teacher.module.buffers()]
        resident += _optimizer_tensors(optimizer) + [v for v in batch.values() if isinstance(v, torch.Tensor)]
        peak = storage_bytes(resident) + tracker.peak
    result = Measured(mode, checkpointing, shared, report.total, report.trainable, teacher_extra, peak,
                      args.batch / seconds)  # fmt: skip
    accelerator.free_memory()
    return result


def print_measured(rows: list[Measured], args: argparse.Namespace, device: torch.device) -> None:
    print(f"\nmeasured: {args.model}, batch {args.batch}, {device.type}, precision {args.precision}, "
          f"last_blocks={args.last_blocks}, lora_rank={args.lora_rank}")  # fmt: skip
    print(f"{'plan':<22}{'ckpt':>5}{'teacher':>8}{'params':>14}{'trainable':>14}{'teacher +MiB':>14}"
          f"{'peak MiB':>11}{'samples/s':>11}")  # fmt: skip
    for r in rows:
        print(f"{r.plan:<22}{'on' if r.checkpointing else 'off':>5}{'shared' if r.shared_teacher else 'copy':>8}"
              f"{r.total:>14,}{r.trainable:>14,}{r.teacher_extra / MiB:>14.1f}{r.peak / MiB:>11.1f}"
              f"{r.samples_per_s:>11.2f}")  # fmt: skip


# ------------------------------------------------------------------------------------------------ estimating
@dataclass
class TowerShape:
    """What the estimate needs of a tower: parameters by role, block geometry and its adapters."""

    name: str
    total: int
    stem: int
    tokenizer: int
    blocks: list[int]
    block_norms: int
    lora_shapes: list[tuple[int, int]]
    tokens: int
    width: int
    mlp: int


def _mlp_width(block: nn.Module, width: int) -> int:
    widths = [m.out_features for m in block.modules() if isinstance(m, nn.Linear) and m.in_features == width]
    return max(widths) if widths else 4 * width


def _tower_shape(
    name: str, module: nn.Module, blocks: nn.ModuleList, stem: tuple[str, ...], tokens: int, tokenizer: str = "-"
) -> TowerShape:
    total = sum(p.numel() for p in module.parameters())
    stem_count = sum(p.numel() for n, p in module.named_parameters() if n.startswith(stem))
    tokenizer_count = sum(p.numel() for n, p in module.named_parameters() if n.startswith(tokenizer))
    sizes = [sum(p.numel() for p in b.parameters()) for b in blocks]
    norms = sum(
        p.numel()
        for m in blocks.modules()
        if isinstance(m, nn.LayerNorm) or type(m).__name__.endswith("LayerNorm")
        for p in m.parameters(recurse=False)
    )
    shapes: list[tuple[int, int]] = []
    for block in blocks:
        for _, sub, weight_name in lora_targets(block):
            w = getattr(sub, weight_name)
            shapes.append((int(w.shape[0]), int(w.shape[1])))
    width = int(next(m for m in blocks[0].modules() if isinstance(m, nn.LayerNorm)).normalized_shape[0])
    mlp = _mlp_width(blocks[0], width)
    return TowerShape(name, total, stem_count, tokenizer_count, sizes, norms, shapes, tokens, width, mlp)


def image_tower_shape(clip_name: str) -> TowerShape:
    """The open_clip image tower ``clip_name`` built on the meta device."""
    import open_clip

    with torch.device("meta"):  # timm towers are built under the default device: keep them off the CPU too
        model = open_clip.create_model(clip_name, pretrained=None, device="meta")
    visual: Any = model.visual
    trunk = getattr(visual, "trunk", None)
    if trunk is not None:  # a timm tower (EVA02): blocks and stem under trunk
        tokens = int(trunk.patch_embed.num_patches) + 1
        stem = ("trunk.patch_embed", "trunk.pos_embed", "trunk.cls_token")
        return _tower_shape(clip_name, visual, trunk.blocks, stem, tokens)
    tokens = int(visual.grid_size[0]) * int(visual.grid_size[1]) + 1
    return _tower_shape(clip_name, visual, visual.transformer.resblocks,
                        ("conv1", "class_embedding", "positional_embedding", "ln_pre"), tokens)  # fmt: skip


def point_tower_shape(name: str, config: PointBertConfig) -> TowerShape:
    """A Point-BERT stack of ``config`` built on the meta device."""
    with torch.device("meta"):
        encoder = PointBertEncoder(config)
    stem = ("encoder.", "reduce_dim.", "cls_token", "cls_pos", "mask_token", "pos_embed.")
    return _tower_shape(name, encoder, encoder.blocks.blocks, stem, config.num_group + 1, tokenizer="encoder.")


@dataclass(frozen=True)
class Estimate:
    static: float
    per_sample: float
    trainable: int
    total: int

    def max_batch(self, budget: float) -> int:
        return max(0, math.floor((budget - self.static) / self.per_sample)) if self.per_sample else 0


def _block_activations(t: TowerShape) -> float:
    return t.tokens * (17 * t.width + 4 * t.mlp)


def estimate(
    towers: list[TowerShape], heads: int, projection: int, mode: str, ckpt: bool, shared: bool, last: int, rank: int
) -> Estimate:
    """Bytes of one self-training step: resident (weights, gradients, AdamW, teacher) and activations per sample.

    ``heads`` are the parameters every plan trains (classifier, MPM head, local projection, MIM decoder);
    ``projection`` the point projection, which ``all`` and ``last_blocks`` train."""
    total = heads + projection + sum(t.total for t in towers)
    trainable = heads + (projection if mode in ("all", "last_blocks") else 0)
    per_sample = 0.0
    static_extra = 0.0
    for t in towers:
        depth = len(t.blocks)
        kept = min(last, depth) if mode == "last_blocks" else depth
        if mode == "all":
            trainable += t.total - t.tokenizer
        elif mode == "last_blocks":
            trainable += sum(t.blocks[depth - kept :]) + (t.total - t.stem - sum(t.blocks))
        elif mode == "norms_and_classifier":
            trainable += t.block_norms
        else:
            adapters = sum(rank * (o + i) for o, i in t.lora_shapes)
            trainable += adapters
            total += adapters
            adapted = sum(o * i for o, i in t.lora_shapes) * 2  # bf16 effective weights kept for backward
            static_extra += adapted / depth if ckpt else adapted
        if ckpt:
            per_sample += kept * t.tokens * t.width * 4 + _block_activations(t)
        else:
            per_sample += kept * _block_activations(t)
    teacher = (trainable if shared else total) * 4
    static = total * 4 + trainable * (4 + 8) + teacher + static_extra
    return Estimate(static, per_sample, trainable, total)


ESTIMATED = [
    ("ViT-B/16 + Point-BERT (paper)", "ViT-B-16",
     PointBertConfig(num_group=64, group_size=32, drop_path_rate=0.0), "Point-BERT 12×384", 512, 40),
    ("ViT-bigG-14 + ULIP-2 Point-BERT", "ViT-bigG-14",
     PointBertConfig(depth=18, num_group=512, group_size=32, in_channels=6, drop_path_rate=0.0),
     "Point-BERT 18×384, xyzrgb", 1280, 40),
    ("EVA02-E-14-plus + Uni3D-g", "EVA02-E-14-plus",
     PointBertConfig(trans_dim=1408, depth=40, num_heads=16, mlp_ratio=6144 / 1408, qkv_bias=True, encoder_dims=512,
                     tokenizer_widths=(128, 256, 512), num_group=512, group_size=64, in_channels=6, drop_path_rate=0.0),
     "Uni3D-g as a 40×1408 Point-BERT stack", 1024, 40),
]  # fmt: skip


def print_estimates(args: argparse.Namespace) -> None:
    budget = args.budget_gb * GB * 0.9
    for title, clip_name, point_cfg, point_note, embed, classes in ESTIMATED:
        if args.estimate_models and clip_name not in args.estimate_models:
            continue
        start = time.perf_counter()
        towers = [image_tower_shape(clip_name), point_tower_shape(point_note, point_cfg)]
        # local projection (W→D), MPM head (W×W), classifier (D×C and the scale), MIM decoder (W→p²·3); the point
        # projection (2W→D)
        wp = point_cfg.trans_dim
        heads = wp * embed + wp * wp + wp + embed * classes + 1 + (towers[0].width + 1) * 3 * 14 * 14
        projection = 2 * wp * embed
        built = time.perf_counter() - start
        print(f"\nestimate: {title} (towers built on the meta device in {built:.0f} s)")
        for t in towers:
            print(f"  {t.name}: {t.total / 1e6:,.1f} M parameters, {len(t.blocks)} blocks, width {t.width}, "
                  f"MLP {t.mlp}, {t.tokens} tokens")  # fmt: skip
        print(f"  {args.budget_gb:.0f} GB budget, 10 % headroom; weights fp32, activations bf16 autocast")
        print(f"  {'plan':<22}{'ckpt':>5}{'teacher':>8}{'trainable':>16}{'resident GB':>13}{'act MB/sample':>15}"
              f"{'max batch':>11}")  # fmt: skip
        for mode, ckpt, shared in [("all", False, False), ("all", True, False), *PLANS[2:]]:
            e = estimate(towers, heads, projection, mode, ckpt, shared, args.last_blocks, args.lora_rank)
            fits = e.max_batch(budget) or "none"
            print(f"  {mode:<22}{'on' if ckpt else 'off':>5}{'shared' if shared else 'copy':>8}{e.trainable:>16,}"
                  f"{e.static / GB:>13.1f}{e.per_sample / 1e6:>15.1f}{fits:>11}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny", help="a crossmost model config (tiny, vit-b16-pointbert, ...)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--points", type=int, default=0, help="points per cloud (0: the model config's)")
    parser.add_argument("--classes", type=int, default=40)
    parser.add_argument("--steps", type=int, default=2, help="measured steps per plan (after one warm-up step)")
    parser.add_argument("--precision", default="auto", choices=["auto", "no", "bf16"])
    parser.add_argument("--last-blocks", type=int, default=2)
    parser.add_argument("--lora-rank", type=int, default=8)
    parser.add_argument("--plans", default="", help="comma-separated modes to measure (default: all)")
    parser.add_argument("--estimate-only", action="store_true")
    parser.add_argument("--no-estimate", action="store_true")
    parser.add_argument("--estimate-models", default="", help="comma-separated open_clip names to estimate")
    parser.add_argument("--budget-gb", type=float, default=80.0)
    args = parser.parse_args()
    args.estimate_models = [m for m in args.estimate_models.split(",") if m]
    if args.device == "cpu":
        import os

        os.environ["ACCELERATE_USE_CPU"] = "true"
    if not args.estimate_only:
        cfg = load_config(["tiny"], [f"run.mixed_precision={args.precision}", "run.trackers=[]"])
        accelerator = build_accelerator(cfg, Path(mkdtemp()))
        wanted = {p for p in args.plans.split(",") if p}
        rows = []
        for mode, ckpt, shared in PLANS:
            if not wanted or mode in wanted:
                rows.append(measure_plan(args, accelerator, mode, ckpt, shared))
                gc.collect()  # the row's model, teacher and optimiser go before the next row is built
                if accelerator.device.type == "cuda":
                    torch.cuda.empty_cache()
        print_measured(rows, args, accelerator.device)
    if not args.no_estimate:
        print_estimates(args)


if __name__ == "__main__":
    main()
