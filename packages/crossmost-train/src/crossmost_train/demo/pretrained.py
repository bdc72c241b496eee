"""The demo's pre-trained towers, shipped with crossmost, and how they are made again.

Real users start from released CLIP and ULIP weights; the demo does the same with tiny towers made by its own
recipe (:data:`crossmost_train.demo.scale.RECIPE`): CLIP towers trained on the broad synthetic 2D corpus, a
Point-BERT aligned to them on the clean source domain. They ship as a ``save_pretrained`` folder
(``model.safetensors`` + ``config.json``) beside ``recipe.json``, which records the recipe, its key, the commands that
made the towers, the versions they were made with and the sha256 of each file. :func:`shipped_towers` checks all of
it before the demo uses them; ``crossmost-train demo --from-scratch`` reruns the recipe instead, and
``--export-towers DIR`` writes what it made in the same layout.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Sequence
from dataclasses import asdict
from importlib.metadata import version
from importlib.resources import files
from pathlib import Path
from typing import Any

from crossmost_train.demo.scale import PretrainRecipe

__all__ = ["SHIPPED_NAME", "TOWER_FILES", "PretrainedTowersError", "export_towers", "shipped_towers", "verify_towers"]

SHIPPED_NAME = "synthetic-v2"
"""Name (and version) of the towers shipped in ``crossmost_train/demo/pretrained/``."""

TOWER_FILES = ("config.json", "model.safetensors")
"""The files of a towers folder besides ``recipe.json`` (a ``save_pretrained`` folder)."""

RECIPE_FILE = "recipe.json"


class PretrainedTowersError(RuntimeError):
    """The demo's pre-trained towers are missing, damaged or made by another recipe; the message says which."""


def verify_towers(folder: Path, recipe: PretrainRecipe) -> dict[str, Any]:
    """Check a towers folder against ``recipe`` and its recorded checksums; returns its ``recipe.json``.

    Raises:
        PretrainedTowersError: A file is missing or its sha256 differs from the record, or the folder was made by
            another recipe than ``recipe``.
    """
    from crossmost_data.format import file_sha256  # here, not at import: the command line loads this module light

    record_path = folder / RECIPE_FILE
    if not record_path.is_file():
        raise PretrainedTowersError(f"{folder}: no {RECIPE_FILE}; not a folder of the demo's pre-trained towers")
    record = json.loads(record_path.read_text())
    for name in TOWER_FILES:
        path = folder / name
        if not path.is_file():
            raise PretrainedTowersError(f"{folder}: {name} is missing")
        expected = record.get("sha256", {}).get(name)
        actual = file_sha256(path)
        if actual != expected:
            raise PretrainedTowersError(
                f"{path}: sha256 {actual} differs from the {expected} recorded in {record_path}; the file is damaged. "
                "Reinstall crossmost, or make the towers again with `crossmost-train demo --from-scratch`."
            )
    if record.get("recipe_key") != recipe.key():
        raise PretrainedTowersError(
            f"{folder} was made by recipe {record.get('recipe_key')}, this crossmost's demo uses {recipe.key()}; "
            "run `crossmost-train demo --from-scratch` to make towers for it."
        )
    return dict(record)


def shipped_towers(recipe: PretrainRecipe) -> Path:
    """The folder of the shipped towers, once :func:`verify_towers` accepts it for ``recipe``."""
    folder = Path(str(files("crossmost_train.demo").joinpath("pretrained", SHIPPED_NAME)))
    verify_towers(folder, recipe)
    return folder


def export_towers(model_dir: Path, dest: Path, recipe: PretrainRecipe, commands: Sequence[str]) -> Path:
    """Write the towers of ``model_dir`` (a ``save_pretrained`` folder) to ``dest`` with their ``recipe.json``.

    The folder is assembled under a temporary name beside ``dest`` and renamed into place, so ``dest`` is either the
    old folder or the complete new one.

    Args:
        model_dir: The ULIP stage's saved model (``pretrain --task ulip`` output ``model/``).
        dest: The towers folder to write (replaced when it exists).
        recipe: The recipe that made them.
        commands: The command lines that made them, in order.

    Returns:
        ``dest``.
    """
    from crossmost_data.format import file_sha256

    dest.parent.mkdir(parents=True, exist_ok=True)
    # A plain mkdir (not mkdtemp, which makes 0700 folders): the folder and its files get the umask's permissions.
    staging = dest.parent / f".{dest.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp"
    staging.mkdir()
    try:
        for name in TOWER_FILES:
            shutil.copyfile(model_dir / name, staging / name)
        record = {
            "name": dest.name,
            "recipe_key": recipe.key(),
            "recipe": asdict(recipe),
            "commands": list(commands),
            "made_with": {package: version(package) for package in ("crossmost-train", "torch", "open_clip_torch")},
            "sha256": {name: file_sha256(staging / name) for name in TOWER_FILES},
        }
        (staging / RECIPE_FILE).write_text(json.dumps(record, indent=1) + "\n")
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return dest
