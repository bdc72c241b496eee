"""``CrossModalModel``: image tower, point tower, projections, MPM head and the shared classifier."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crossmost_models.checkpointing import set_activation_checkpointing
from crossmost_models.classifier import TextInitialisedClassifier
from crossmost_models.config import CrossModalConfig
from crossmost_models.image.plain_tower import PlainVisionTower
from crossmost_models.image.tower import MaskableVisionTower
from crossmost_models.lora import merge_lora
from crossmost_models.output import CrossModalOutput
from crossmost_models.parts import layer_id_fn
from crossmost_models.point.family import PointEncoder
from crossmost_models.point.inputs import prepare_points
from crossmost_models.saved_model import write_saved_model
from crossmost_models.text import build_classifier_weights
from crossmost_models.trainable import TrainablePlan, TrainableReport, apply_trainable_plan, set_train_mode

__all__ = ["CrossModalModel", "save_pretrained"]


class CrossModalModel(nn.Module):
    """Cross-MoST model: a CLIP image tower and a point tower sharing one classifier.

    Parts (parameter-name prefixes):

    - ``image_tower``: :class:`MaskableVisionTower` over an open_clip ViT (its ``visual.proj`` is ``f^I``), or a
      :class:`~crossmost_models.image.PlainVisionTower` for towers that cannot be masked (no image MIM then).
    - ``point_encoder``: a point tower of any family (``PointBertEncoder``, ``PpatEncoder``, ``Uni3dEncoder``);
      its global feature has ``feature_dim`` channels (Point-BERT: ``[CLS ; max-pool]``, ``2W``).
    - ``point_projection``: ``f^P``, ``Linear(feature_dim → D)`` (with a bias where the released tower has one),
      init ``N(0, D^-0.5)`` (official ``pc_projection``).
    - ``point_local_projection``: ``Linear(W → D)`` without bias for the global–local alignment, applied to both of
      its sides: the masked group tokens and the CLS token, init ``N(0, D^-0.5)``. The official code uses a
      separate ``W×D`` matrix initialised with std 1 on the class and group tokens; converted official checkpoints
      load that matrix here.
    - ``mpm_head``: ``Linear(W → W)`` predicting the pre-mask group tokens (official ``lm_head``).
    - ``classifier``: :class:`TextInitialisedClassifier` (``D×C``) built from the text tower at creation. The text
      tower is not part of the model; :meth:`set_classnames` rebuilds the classifier for other class names from
      it (:func:`crossmost_models.create_text_encoder` recreates it from the weights the model records).

    The class is the network alone. It is built by :func:`crossmost_models.create_model` (every route ends in
    :func:`crossmost_models.build_model`, which assembles it from a typed config), loaded by
    :func:`crossmost_models.from_pretrained`, and filled from foreign checkpoints by :mod:`crossmost_models.interop`;
    :meth:`save_pretrained` writes the folder that ``from_pretrained`` reads.

    Every cloud given to the model is first brought into its point tower's input conventions
    (``config.point_inputs``: up axis, colour, normalisation; :func:`~crossmost_models.point.prepare_points`).

    Args:
        image_tower: the image tower.
        point_encoder: the point tower.
        classifier: the shared classifier; its ``D`` must equal the image embedding dimension.
        classnames: class names in label order (as given by the user, before cleaning).
        config: the architecture, saved with the model.
        templates: name of the template set used for the classifier (recorded in saved models), if any.
    """

    def __init__(
        self,
        image_tower: MaskableVisionTower | PlainVisionTower,
        point_encoder: PointEncoder,
        classifier: TextInitialisedClassifier,
        *,
        classnames: Sequence[str],
        config: CrossModalConfig,
        templates: str | None = None,
    ) -> None:
        super().__init__()
        embed_dim = image_tower.embed_dim
        width = int(point_encoder.width)
        if classifier.embed_dim != embed_dim:
            raise ValueError(f"classifier has D={classifier.embed_dim} but the image tower embeds into D={embed_dim}")
        if len(classnames) != classifier.num_classes:
            raise ValueError(f"{len(classnames)} class names for a classifier with {classifier.num_classes} classes")
        self.config = config
        self.templates = templates
        self._classnames = list(classnames)
        self.image_tower = image_tower
        self.point_encoder = point_encoder
        projection_bias = bool(getattr(point_encoder.config, "projection_bias", False))
        self.point_projection = nn.Linear(point_encoder.feature_dim, embed_dim, bias=projection_bias)
        self.point_local_projection = nn.Linear(width, embed_dim, bias=False)
        self._init_point_projections()
        self.mpm_head = nn.Linear(width, width)
        self.classifier = classifier

    # ------------------------------------------------------------------ properties
    @property
    def classnames(self) -> list[str]:
        """Class names in label order (a copy)."""
        return list(self._classnames)

    @property
    def num_classes(self) -> int:
        """Number of classes ``C``."""
        return self.classifier.num_classes

    @property
    def embed_dim(self) -> int:
        """Shared embedding dimension ``D``."""
        return self.image_tower.embed_dim

    @property
    def image_num_layers(self) -> int:
        """Number of ViT blocks (for :func:`~crossmost_models.vit_layer_id`)."""
        return self.image_tower.num_layers

    @property
    def image_size(self) -> tuple[int, int]:
        """``(H, W)`` the image tower expects."""
        return self.image_tower.image_size

    @property
    def patch_grid(self) -> tuple[int, int]:
        """``(h, w)`` of the image patch mask."""
        return self.image_tower.grid_size

    @property
    def num_groups(self) -> int:
        """``G``, the number of point groups (length of the point group mask)."""
        return int(self.point_encoder.num_groups)

    @property
    def supports_image_masking(self) -> bool:
        """Whether the image tower can be masked (masked image modelling and the image global–local term)."""
        return bool(getattr(self.image_tower, "supports_masking", True))

    # ------------------------------------------------------------------ encoders
    def encode_image(self, images: Tensor, image_mask: Tensor | None = None) -> Tensor:
        """``B×3×H×W`` images (optionally masked) → ``B×D`` L2-normalised embeddings ``f^I``."""
        return self.image_tower.encode(images, image_mask)

    def prepare_points(self, points: Tensor) -> Tensor:
        """``B×N×3`` or ``B×N×6`` crossmost clouds (y up) in the point tower's conventions (``config.point_inputs``
        and the tower's ``in_channels``)."""
        return prepare_points(points, self.config.point_inputs, int(self.point_encoder.config.in_channels))

    def encode_points(self, points: Tensor) -> Tensor:
        """``B×N×C`` points → ``B×D`` L2-normalised embeddings ``f^P`` (no masking)."""
        features = self.point_encoder(self.prepare_points(points)).global_feature
        return F.normalize(self.point_projection(features), dim=-1)

    def classify(self, embedding: Tensor) -> Tensor:
        """``B×D`` embeddings of either modality → ``B×C`` logits."""
        return self.classifier(embedding)

    # ------------------------------------------------------------------ forward
    def forward(
        self,
        images: Tensor | None,
        points: Tensor | None,
        *,
        image_mask: Tensor | None = None,
        mask_points: bool = False,
        generator: torch.Generator | None = None,
    ) -> CrossModalOutput:
        """Run both branches (teacher path without masks, student path with them).

        Args:
            images: ``B×3×H×W`` CLIP-normalised images, or ``None`` to skip the image branch.
            points: ``B×N×C`` points (``C`` = the point config's ``in_channels``), or ``None`` to skip the point
                branch.
            image_mask: ``B×h×w`` bool patch mask (``True`` = masked) → image masked-modelling outputs; ignored (no
                such outputs) when the image tower cannot be masked (:attr:`supports_image_masking`).
            mask_points: draw a block mask of point groups inside the encoder → point masked-modelling outputs.
            generator: random source for the point encoder (group-centre start, block masks).

        Returns:
            A :class:`CrossModalOutput`; see its docstring for which fields are set.

        Raises:
            ValueError: nothing to encode, a mask without its modality, different batch sizes, or bad inputs
                (wrong image size/channels, non-finite points, too few points, wrong layout).
        """
        if images is None and points is None:
            raise ValueError("forward needs images, points or both; got neither")
        if image_mask is not None and images is None:
            raise ValueError("image_mask was given without images")
        if mask_points and points is None:
            raise ValueError("mask_points=True was given without points")
        if images is not None and points is not None and images.shape[0] != points.shape[0]:
            raise ValueError(f"images and points have different batch sizes: {images.shape[0]} vs {points.shape[0]}")
        image_fields = self._image_branch(images, image_mask) if images is not None else {}
        point_fields = self._point_branch(points, mask_points, generator) if points is not None else {}
        return CrossModalOutput(**image_fields, **point_fields)

    def _image_branch(self, images: Tensor, image_mask: Tensor | None) -> dict[str, Tensor]:
        if not self.supports_image_masking:
            image_mask = None
        out = self.image_tower(images, image_mask)
        embedding = F.normalize(out.embedding, dim=-1)
        fields = {"image_embedding": embedding, "image_logits": self.classifier(embedding)}
        if image_mask is not None:
            assert out.reconstruction is not None
            assert out.local_embedding is not None
            fields["image_patch_mask"] = image_mask
            fields["image_reconstruction"] = out.reconstruction
            fields["image_target"] = images
            fields["image_local_embedding"] = F.normalize(out.local_embedding, dim=-1)
        return fields

    def _point_branch(self, points: Tensor, mask_points: bool, generator: torch.Generator | None) -> dict[str, Tensor]:
        out = self.point_encoder(self.prepare_points(points), mask_groups=mask_points, generator=generator)
        embedding = F.normalize(self.point_projection(out.global_feature), dim=-1)
        fields = {"point_embedding": embedding, "point_logits": self.classifier(embedding)}
        if mask_points:
            assert out.group_mask is not None
            fields["point_group_mask"] = out.group_mask
            fields["point_token_prediction"] = self.mpm_head(out.tokens)
            fields["point_token_target"] = out.pre_mask_tokens.detach()
            fields["point_local_embedding"] = F.normalize(self.point_local_projection(out.tokens), dim=-1)
            fields["point_cls_embedding"] = F.normalize(self.point_local_projection(out.cls_token), dim=-1)
        return fields

    # ------------------------------------------------------------------ initialisation
    def _init_point_projections(self) -> None:
        for projection in (self.point_projection, self.point_local_projection):
            nn.init.normal_(projection.weight, std=self.embed_dim**-0.5)
            if projection.bias is not None:
                nn.init.zeros_(projection.bias)

    def reset_point_branch(self) -> None:
        """Re-initialise the point tower, its two projections and the MPM head, keeping the tokenizer (Point-BERT's
        and Uni3D's mini-PointNet, PPAT's set abstraction).

        This is the paper's "Init ✗" ablation: the point tower skips the aligned pre-training but keeps its
        pre-trained tokenizer.
        """
        tokenizer = {key: value.clone() for key, value in self.point_encoder.encoder.state_dict().items()}
        self.point_encoder.reset_parameters()
        self.point_encoder.encoder.load_state_dict(tokenizer)
        self._init_point_projections()
        self.mpm_head.reset_parameters()

    # ------------------------------------------------------------------ training memory plan
    def apply_trainable(self, plan: TrainablePlan | None = None) -> TrainableReport:
        """Set which parameters train (:func:`crossmost_models.trainable.apply_trainable_plan`) and report it."""
        return apply_trainable_plan(self, plan)

    def train_mode(self, plan: TrainablePlan | None = None) -> None:
        """Training mode for ``plan``: a frozen tokenizer keeps fixed BatchNorm statistics where the plan says so
        (:func:`crossmost_models.trainable.set_train_mode`)."""
        set_train_mode(self, plan)

    def set_activation_checkpointing(self, enabled: bool = True) -> int:
        """Recompute the towers' block activations in the backward pass instead of keeping them
        (:mod:`crossmost_models.checkpointing`); returns the number of blocks switched."""
        return set_activation_checkpointing(self, enabled)

    def merge_lora(self) -> int:
        """Fold low-rank adapters into plain weights (before saving); returns the number of merged matrices."""
        return merge_lora(self)

    def layer_id(self, param_name: str) -> int:
        """Layer id of a parameter for layer-wise lr decay (:func:`crossmost_models.parts.layer_id_fn`)."""
        return layer_id_fn(self)(param_name, self.image_num_layers)

    # ------------------------------------------------------------------ classes and saving
    def set_classnames(
        self,
        classnames: Sequence[str],
        *,
        text_encoder: tuple[nn.Module, Callable[..., Tensor]] | None = None,
        class_embeddings: Tensor | None = None,
        templates: str | Sequence[str] | None = None,
        text_batch_size: int = 256,
    ) -> None:
        """Classify into other classes: replace the classifier by one built for ``classnames``.

        The new columns are the prompt-ensemble text embeddings of the class names (or ``class_embeddings``); the
        logit scale and the classifier settings are kept. Columns learned by self-training are discarded, so use
        this for new class sets, not to rename the classes a model was trained on.

        Args:
            classnames: the new class names in label order.
            text_encoder: ``(clip_model, tokenizer)`` of the text tower the model was created with, e.g.
                :func:`crossmost_models.create_text_encoder` ``(model)``.
            class_embeddings: a ``D×C`` matrix of class embeddings instead (column ``c`` = class ``c``).
            templates: prompt templates (default: those the model was built with, else its config's).
            text_batch_size: prompts per text-tower forward.

        Raises:
            ValueError: neither or both of ``text_encoder`` and ``class_embeddings``, or embeddings whose shape is
                not ``D×len(classnames)``.
        """
        if (text_encoder is None) == (class_embeddings is None):
            raise ValueError("set_classnames needs text_encoder=(clip_model, tokenizer) or class_embeddings=D×C")
        if text_encoder is not None:
            clip_model, tokenizer = text_encoder
            chosen = templates if templates is not None else (self.templates or self.config.templates)
            class_embeddings = build_classifier_weights(
                clip_model,
                tokenizer,
                classnames,
                chosen,
                clean_names=self.config.clean_class_names,
                batch_size=text_batch_size,
            )
            if isinstance(chosen, str):
                self.templates = chosen
        assert class_embeddings is not None
        expected = (self.embed_dim, len(classnames))
        if tuple(class_embeddings.shape) != expected:
            raise ValueError(f"class_embeddings must be D×C = {expected}, got {tuple(class_embeddings.shape)}")
        old = self.classifier
        self.classifier = TextInitialisedClassifier(
            class_embeddings.to(old.weight.device),
            scale=float(old.scale().detach()),
            learnable_scale=old.learnable_scale,
            normalize_columns=old.normalize_columns,
        )
        self._classnames = list(classnames)

    def save_pretrained(self, directory: str | Path) -> Path:
        """Save as ``model.safetensors`` + ``config.json`` into ``directory``, atomically (see
        :func:`~crossmost_models.saved_model.write_saved_model`); :func:`crossmost_models.from_pretrained` loads it.

        Returns:
            The folder path.
        """
        return write_saved_model(directory, self.state_dict(), self.config, self._classnames, self.templates)

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, embed_dim={self.embed_dim}, clip={self.config.clip!r}"


def save_pretrained(model: CrossModalModel, directory: str | Path) -> Path:
    """Save ``model`` into ``directory`` as ``model.safetensors`` and ``config.json`` (the same as
    ``model.save_pretrained(directory)``); :func:`crossmost_models.from_pretrained` loads it back.

    Args:
        model: the model to save.
        directory: target folder (created, or replaced if it exists).

    Returns:
        The folder path.
    """
    return model.save_pretrained(directory)
