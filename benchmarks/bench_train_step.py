"""Time one self-training step, split into its parts, and its overhead over the two forward passes it needs.

Parts: teacher forward (weak inputs, no grad), student forward + backward (strong, masked inputs; the objective's
backward included), losses (the objective's forward alone), EMA update, optimiser step. The overhead ratio is
full step / (student forward+backward + teacher forward); the target is ≤ 1.15. On CUDA it also prints samples/s
and the model FLOPs utilisation (FLOPs counted with torch.utils.flop_counter.FlopCounterMode over one step; peak
from a small table or --peak-tflops).

    uv run --no-sync python benchmarks/bench_train_step.py                       # tiny model, CPU, ~1 min
    uv run --no-sync python benchmarks/bench_train_step.py --model vit-b16-pointbert --batch 128 --points 8192 \\
        --steps 20                                                               # the paper's model (CUDA, bf16)
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable
from typing import Any

import torch

from _timing import synchronizer, timed
from crossmost_models import image_num_layers, layer_id_fn
from crossmost_train.accelerator_setup import build_accelerator
from crossmost_train.config import load_config
from crossmost_train.ema import EmaTeacher
from crossmost_train.memory import prepare_student, train_mode
from crossmost_train.optim import build_adamw, build_param_groups, build_scheduler
from crossmost_train.run_builder import build_model, build_objective
from crossmost_train.selftrain import SelfTrainer

PEAK_TFLOPS_BF16 = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0, "RTX 4090": 165.0}


def peak_tflops(device: torch.device, flag: float | None) -> float | None:
    if flag:
        return flag
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_TFLOPS_BF16.items() if k in name), None)


def make_batch(model: Any, batch: int, points: int, device: torch.device, seed: int = 0) -> dict[str, Any]:
    g = torch.Generator().manual_seed(seed)
    size = int(model.image_size[0])
    h, w = model.patch_grid
    cloud = torch.randn(batch, points, 3, generator=g)
    cloud = cloud / cloud.norm(dim=-1).amax(dim=1)[:, None, None]
    return {
        "index": torch.arange(batch),
        "label": torch.randint(0, model.num_classes, (batch,), generator=g),
        "image_weak": torch.randn(batch, 3, size, size, generator=g).to(device),
        "image_strong": torch.randn(batch, 3, size, size, generator=g).to(device),
        "image_mask": (torch.rand(batch, h, w, generator=g) < 0.3).to(device),
        "points_weak": cloud.to(device),
        "points_strong": (cloud + 0.01 * torch.randn(cloud.shape, generator=g)).to(device),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--points", type=int, default=0, help="points per cloud (0: the model config's)")
    parser.add_argument("--classes", type=int, default=40)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--precision", default="auto", choices=["auto", "no", "bf16"])
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--peak-tflops", type=float, default=None, help="device peak (bf16 dense) for MFU")
    args = parser.parse_args()

    from pathlib import Path
    from tempfile import mkdtemp

    cfg = load_config(
        ["tiny" if args.model == "tiny" else "crossmost"],
        [f"model.name={args.model}", f"run.mixed_precision={args.precision}", "run.trackers=[]",
         f"optim.global_batch_size={args.batch}", "objective.threshold=0.0", f"run.compile={args.compile}"],
    )  # fmt: skip
    accelerator = build_accelerator(cfg, Path(mkdtemp()))
    device = accelerator.device
    torch.manual_seed(0)
    model = build_model(cfg, [f"class {i}" for i in range(args.classes)])
    prepare_student(model, cfg)
    teacher = EmaTeacher(model).to(device)
    model.to(device)
    groups = build_param_groups(
        model, weight_decay=0.05, layer_decay=0.65, num_layers=image_num_layers(model), layer_id=layer_id_fn(model)
    )
    optimizer = build_adamw(groups, lr=1e-4, betas=(0.9, 0.999), eps=1e-8, fused=True, device=device)
    scheduler = build_scheduler(optimizer, warmup_steps=1, total_steps=1000, lr=1e-4, min_lr=1e-6)
    student_module = torch.compile(model) if args.compile else model
    prepared, optimizer = accelerator.prepare(student_module, optimizer)
    trainer = SelfTrainer(
        cfg, accelerator, prepared, teacher, build_objective(cfg, args.classes).to(device), optimizer, scheduler
    )
    train_mode(trainer.student, cfg)
    num_points = args.points or int(model.config.num_points)
    batch = make_batch(model, args.batch, num_points, device)
    from crossmost_train.checkpoint import TrainingProgress

    progress = TrainingProgress()
    gen = torch.Generator(device=device).manual_seed(0)

    def full_step() -> None:
        trainer.micro_step(batch, progress)
        trainer.after_optimizer_step(progress)
        progress.global_step += 1

    def student_fwd_bwd() -> None:
        t_out = trainer.teacher_forward(batch)
        s_out = trainer.student_forward(batch, gen)
        out = trainer.losses(s_out, t_out, batch["label"], None)
        out.total.backward()
        optimizer.zero_grad(set_to_none=True)

    t_out = trainer.teacher_forward(batch)
    with torch.no_grad():
        s_out = trainer.student_forward(batch, gen)
    trainable = [p for p in trainer.student.parameters() if p.requires_grad]

    def optimiser_step() -> None:
        optimizer.step()

    def fill_grads() -> None:  # untimed: the optimiser must see gradients to do its real work
        for p in trainable:
            p.grad = torch.full_like(p, 1e-3)

    parts: dict[str, Callable[[], Any]] = {
        "teacher forward": lambda: trainer.teacher_forward(batch),
        "student fwd+bwd (+loss)": student_fwd_bwd,
        "losses (forward)": lambda: trainer.losses(s_out, t_out, batch["label"], None),
        "EMA update": lambda: teacher.update(trainer.student),
        "optimiser step": optimiser_step,
        "full step": full_step,
    }
    synchronize = synchronizer(device)
    for _ in range(args.warmup):
        full_step()
    times: dict[str, list[float]] = {k: [] for k in parts}
    for _ in range(args.steps):
        for name, fn in parts.items():
            if name == "optimiser step":
                fill_grads()
            with torch.no_grad() if name == "losses (forward)" else torch.enable_grad():
                times[name].append(timed(fn, synchronize))
        optimizer.zero_grad(set_to_none=True)
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    teacher_fwd = med["teacher forward"]
    # the fwd+bwd timing above includes a teacher forward (needed by the objective): subtract it
    med["student fwd+bwd (+loss)"] -= teacher_fwd
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"device: {device} ({device_name}), model {args.model}, batch {args.batch}, points {num_points}, "
          f"precision {accelerator.mixed_precision}")  # fmt: skip
    for name, value in med.items():
        print(f"  {name:<26} {value:9.2f} ms")
    ratio = med["full step"] / (med["student fwd+bwd (+loss)"] + teacher_fwd)
    print(f"  overhead ratio full / (student fwd+bwd + teacher fwd) = {ratio:.3f} (target <= 1.15)")
    print(f"  samples/s: {args.batch / (med['full step'] / 1000):.1f}")
    if device.type == "cuda":
        from torch.utils.flop_counter import FlopCounterMode

        counter = FlopCounterMode(display=False)
        with counter:
            full_step()
        flops = counter.get_total_flops()
        achieved = flops / (med["full step"] / 1000) / 1e12
        peak = peak_tflops(device, args.peak_tflops)
        mfu = f", MFU {100 * achieved / peak:.1f}% of {peak:.0f} TFLOP/s" if peak else " (peak unknown: --peak-tflops)"
        print(f"  model FLOPs per step {flops / 1e12:.2f} TFLOP, achieved {achieved:.1f} TFLOP/s{mfu}")


if __name__ == "__main__":
    main()
