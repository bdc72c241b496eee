#!/usr/bin/env bash
# One short GPU check of the memory plans (about 5 minutes on an H100-class GPU): the peak memory and samples/s of
# one self-training step per plan for the paper's model at its batch, and the analytic estimate for the giant
# students. Needs CUDA; prints everything to stdout.
#
#   bash benchmarks/gpu_selftrain_step.sh                 # the paper's model, batch 128, bf16
#   MODEL=vit-b16-pointbert BATCH=64 bash benchmarks/gpu_selftrain_step.sh
set -euo pipefail
cd "$(dirname "$0")"
MODEL="${MODEL:-vit-b16-pointbert}"
BATCH="${BATCH:-128}"
STEPS="${STEPS:-3}"
RUN=(uv run --no-sync python)
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
"${RUN[@]}" bench_memory_plan.py --device cuda --precision bf16 --model "$MODEL" --batch "$BATCH" --steps "$STEPS"
"${RUN[@]}" bench_memory_plan.py --device cuda --precision bf16 --model tiny --batch 64 --steps "$STEPS" --no-estimate
