"""Zero-shot classifier weights from an open_clip text tower: a prompt ensemble per class."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crossmost_models.text.classnames import clean_class_names
from crossmost_models.text.templates import resolve_templates

__all__ = ["build_classifier_weights"]


@torch.no_grad()
def build_classifier_weights(
    clip_model: nn.Module,
    tokenizer: Callable[..., Tensor],
    classnames: Sequence[str],
    templates: str | Sequence[str] = "modelnet40_64",
    *,
    clean_names: bool = True,
    batch_size: int = 256,
    device: str | torch.device | None = None,
) -> Tensor:
    """Encode every ``template × class`` prompt and build the ``D×C`` classifier matrix.

    Each prompt embedding is L2-normalised, the embeddings of one class are averaged and the mean is normalised
    again (CLIP zero-shot recipe, as in the official code). Prompts are encoded in batches of ``batch_size``
    across classes, in eval mode and without gradients; the model's train/eval mode is restored afterwards.

    Args:
        clip_model: an open_clip model with ``encode_text`` (``CLIP`` or ``CustomTextCLIP``).
        tokenizer: the matching open_clip tokenizer (``open_clip.get_tokenizer(name)``).
        classnames: class names in label order.
        templates: a template-set name (``"modelnet40_64"``, ``"paper"`` …), a JSON path, or a list of templates.
        clean_names: turn ``night_stand`` into ``night stand`` etc. (:func:`clean_class_name`); ``False`` keeps the
            names verbatim as the official code does.
        batch_size: prompts per text-tower forward.
        device: where to run the text tower (default: where its parameters are).

    Returns:
        ``D×C`` float32 tensor on CPU whose columns have unit norm.

    Raises:
        ValueError: empty or colliding class names, malformed templates, ``batch_size < 1``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
    names = clean_class_names(classnames, verbatim=not clean_names)
    prompts_per_class = resolve_templates(templates)
    prompts = [template.format(name) for name in names for template in prompts_per_class]
    if device is None:
        device = next(clip_model.parameters()).device
    was_training = clip_model.training
    clip_model.eval()
    try:
        chunks = []
        for start in range(0, len(prompts), batch_size):
            tokens = tokenizer(prompts[start : start + batch_size]).to(device)
            encoded: Tensor = clip_model.encode_text(tokens)  # type: ignore[operator]
            chunks.append(F.normalize(encoded.float(), dim=-1).cpu())
    finally:
        clip_model.train(was_training)
    per_prompt = torch.cat(chunks).view(len(names), len(prompts_per_class), -1)
    return F.normalize(per_prompt.mean(dim=1), dim=-1).T.contiguous()
