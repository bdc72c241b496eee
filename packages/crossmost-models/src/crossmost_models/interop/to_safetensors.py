"""A one-time converter of a released checkpoint file to safetensors.

crossmost reads checkpoints without executing code from them (safetensors, or ``torch.load(weights_only=True)``).
Released files that pickle arbitrary objects next to their weights (optimiser or scheduler objects, DeepSpeed's
records, custom argument classes) cannot be read that way: :func:`~crossmost_models.interop.load_checkpoint_file`
refuses them and says so. For such a file **that you trust**, this converter unpickles it once, in full, and writes
its flat state dict (containers unwrapped, ``module.`` stripped, dtypes kept) as a ``.safetensors`` file, which
crossmost then reads safely. Files that load safely are converted without unpickling anything.

    python -m crossmost_models.interop.to_safetensors uni3d-g/model.pt uni3d-g.safetensors [--trust-pickle]
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from crossmost_models.interop.files import load_checkpoint_file, unwrap_state_dict
from crossmost_models.saved_model import save_safetensors

__all__ = ["convert_to_safetensors", "main"]


def convert_to_safetensors(source: str | Path, target: str | Path, *, trust_pickle: bool = False) -> Path:
    """Write the flat state dict of checkpoint ``source`` to ``target`` (``.safetensors``), atomically.

    Args:
        source: the released checkpoint file.
        target: the safetensors file to write (replaced if it exists; nothing is left behind on failure).
        trust_pickle: when ``source`` cannot be read without unpickling arbitrary objects, unpickle it anyway.
            **This executes code from the file**: only for files from a source you trust.

    Returns:
        ``target``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file needs unpickling and ``trust_pickle`` is not set, or it holds no state dict.
    """
    source, target = Path(source), Path(target)
    if target.suffix != ".safetensors":
        raise ValueError(f"the target must be a .safetensors file; got {target}")
    try:
        checkpoint = load_checkpoint_file(source)
    except ValueError as error:
        if not trust_pickle or "unpickle" not in str(error):
            raise
        checkpoint = torch.load(source, map_location="cpu", weights_only=False)  # the caller trusts this file
    state = unwrap_state_dict(checkpoint, origin=str(source))
    tensors = {key: value.detach().contiguous().clone() for key, value in state.items()}
    partial = target.with_name(f".{target.name}.partial")
    try:
        save_safetensors(tensors, partial, metadata={"converted_from": source.name})
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m crossmost_models.interop.to_safetensors SOURCE TARGET [--trust-pickle]``."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="the released checkpoint file")
    parser.add_argument("target", type=Path, help="the .safetensors file to write")
    parser.add_argument(
        "--trust-pickle",
        action="store_true",
        help="unpickle a file that needs arbitrary Python objects (executes code from it: trusted files only)",
    )
    args = parser.parse_args(argv)
    try:
        written = convert_to_safetensors(args.source, args.target, trust_pickle=args.trust_pickle)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {written}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
