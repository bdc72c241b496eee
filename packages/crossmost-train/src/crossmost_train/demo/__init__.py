"""``crossmost-train demo``: the whole method end to end on the embedded synthetic benchmark, nothing downloaded.

Stages (each one call of the real command, see :mod:`crossmost_train.demo.stages`):

1. ``crossmost-data synth`` of the **source** domain (clean coloured meshes, rendered views, surface points) and the
   **target** domain (scans: partial, noisy, rotated about the up axis, with renders of the turned object).
2. ``crossmost-train pretrain --task clip``: tiny open_clip towers trained contrastively on the source renders.
3. ``crossmost-train pretrain --task ulip``: a tiny Point-BERT aligned to the frozen towers on the source, at the
   temperature the CLIP towers learned (:func:`~crossmost_train.demo.pipeline.learned_logit_scale`).
4. ``crossmost-train evaluate``: the zero-shot model on the source and the target test splits.
5. ``crossmost-train selftrain``: baseline self-training (``demo-baseline``) and Cross-MoST (``demo``) on the
   unlabelled target training split; the EMA ramp is the paper's 400 of ~3.8k steps scaled to the demo's length.
6. ``report.md``, ``results.json``, ``accuracy.png`` and ``pseudo_labels.png`` in the output folder, and a
   Table-1-style table (mean ± std over ``--seeds``) printed at the end.

Finished stages are reused when their config and their inputs are unchanged (``stage.json`` in each folder), so a
rerun only trains what changed. ``--ablations`` adds the paper's Tables 2–5 (``docs/ablations.md``).

Public entry points: :func:`run_demo`, :class:`DemoOptions`, :class:`DemoResult`, :data:`DEFAULT_SCALE`,
:data:`QUICK_SCALE`.
"""

from crossmost_train.demo.pipeline import DemoOptions as DemoOptions
from crossmost_train.demo.pipeline import DemoResult as DemoResult
from crossmost_train.demo.pipeline import run_demo as run_demo
from crossmost_train.demo.scale import DEFAULT_SCALE as DEFAULT_SCALE
from crossmost_train.demo.scale import QUICK_SCALE as QUICK_SCALE
from crossmost_train.demo.scale import DemoScale as DemoScale

__all__ = ["DEFAULT_SCALE", "QUICK_SCALE", "DemoOptions", "DemoResult", "DemoScale", "run_demo"]
