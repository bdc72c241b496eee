"""``crossmost-train demo``: the whole method end to end on the embedded synthetic benchmark, nothing downloaded.

Stages (each one call of the real command, see :mod:`crossmost_train.demo.stages`):

1. The pre-trained towers: the ones shipped with crossmost (:mod:`crossmost_train.demo.pretrained`, checked against
   their recorded checksums and recipe), or, with ``--from-scratch``, made again from the recipe
   (:data:`~crossmost_train.demo.scale.RECIPE`): ``crossmost-data synth`` of the broad 2D **corpus** and of the clean
   **source** domain, ``crossmost-train pretrain --task clip`` on the corpus, ``pretrain --task ulip`` on the source
   at the temperature the CLIP towers learned (:func:`~crossmost_train.demo.pipeline.learned_logit_scale`).
2. ``crossmost-data synth`` of the **target** domain (scans: partial, noisy, turned about the up axis, with renders
   of each object in a look of its own, sometimes with something in front of it) and of the source test split.
3. ``crossmost-train evaluate``: the zero-shot model on the source and the target test splits.
4. ``crossmost-train selftrain``: baseline self-training (``demo-baseline``) and Cross-MoST (``demo``) on the
   unlabelled target training split, once per seed; the EMA ramp is the paper's 400 of ~3.8k steps scaled to the
   demo's length.
5. ``report.md`` (with per-class accuracy per branch), ``results.json``, ``accuracy.png`` and ``pseudo_labels.png``
   in the output folder, and a Table-1-style table (mean ± std over ``--seeds``) with the orderings the paper
   reports, each counted per seed, printed at the end.

Finished stages are reused when their config and their inputs are unchanged (``stage.json`` in each folder), so a
rerun only trains what changed. ``--ablations`` adds the control (the same target with depth views of the scans, so
that both modalities carry the same information) and the paper's Tables 2–5 (``docs/ablations.md``).

Public entry points: :func:`run_demo`, :class:`DemoOptions`, :class:`DemoResult`, :data:`DEFAULT_SCALE`,
:data:`QUICK_SCALE`, :data:`RECIPE`.
"""

from crossmost_train.demo.pipeline import DemoOptions as DemoOptions
from crossmost_train.demo.pipeline import DemoResult as DemoResult
from crossmost_train.demo.pipeline import run_demo as run_demo
from crossmost_train.demo.scale import DEFAULT_SCALE as DEFAULT_SCALE
from crossmost_train.demo.scale import QUICK_SCALE as QUICK_SCALE
from crossmost_train.demo.scale import RECIPE as RECIPE
from crossmost_train.demo.scale import DemoScale as DemoScale
from crossmost_train.demo.scale import PretrainRecipe as PretrainRecipe

__all__ = [
    "DEFAULT_SCALE",
    "QUICK_SCALE",
    "RECIPE",
    "DemoOptions",
    "DemoResult",
    "DemoScale",
    "PretrainRecipe",
    "run_demo",
]
