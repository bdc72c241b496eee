"""``LoadReport``: a readable account of what a state-dict load matched, missed and skipped.

Every weight load in crossmost (saved models, the authors' checkpoints, ULIP / Point-BERT point towers) compares the
target's state dict with the converted weights through :func:`compare_state_dicts` and explains the result with
one :class:`LoadReport`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from torch import Tensor

__all__ = ["CheckpointMismatchError", "LoadReport", "compare_state_dicts"]

_SHOWN_SKIPPED = 8


@dataclass(frozen=True)
class LoadReport:
    """Differences between a model's state dict and the weights given to it.

    Attributes:
        source: where the weights came from (a file name or a checkpoint format).
        loaded: model keys that received a value.
        missing: model keys the weights do not provide (an error under ``strict``).
        unexpected: weight keys the model has no place for (an error under ``strict``).
        mismatched: ``(key, model shape, weight shape)`` for keys present on both sides with different shapes
            (never loaded).
        skipped: weight keys deliberately ignored by a conversion (e.g. a text tower), with no error.
        allowed_missing: model keys the weights lack that this kind of checkpoint never has; they keep their
            current values, with no error.
    """

    source: str
    loaded: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    unexpected: tuple[str, ...] = ()
    mismatched: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...] = ()
    skipped: tuple[str, ...] = ()
    allowed_missing: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """No missing (beyond what the source never has), unexpected or mismatched keys."""
        return not (self.missing or self.unexpected or self.mismatched)

    def check(self, *, strict: bool = True, allow_mismatched: bool = False) -> None:
        """Raise :class:`CheckpointMismatchError` when the weights cannot be loaded as asked.

        Args:
            strict: any missing, unexpected or mismatched key is an error.
            allow_mismatched: without ``strict``, shapes that differ are left out instead of raising.
        """
        if (self.mismatched and not allow_mismatched) or (strict and not self.ok):
            raise CheckpointMismatchError(self, lenient_load_possible=allow_mismatched or not self.mismatched)

    def __str__(self) -> str:
        lines = [f"load report for {self.source}: {len(self.loaded)} tensors loaded"]
        if self.missing:
            lines.append(f"  missing from the weights ({len(self.missing)}):")
            lines += [f"    - {key}" for key in self.missing]
        if self.unexpected:
            lines.append(f"  unexpected in the weights ({len(self.unexpected)}):")
            lines += [f"    + {key}" for key in self.unexpected]
        if self.mismatched:
            lines.append(f"  shape mismatches ({len(self.mismatched)}):")
            lines += [f"    ! {key}: model {list(a)} vs weights {list(b)}" for key, a, b in self.mismatched]
        if self.skipped:
            lines.append(
                f"  skipped on purpose ({len(self.skipped)}): {', '.join(self.skipped[:_SHOWN_SKIPPED])}"
                + (", …" if len(self.skipped) > _SHOWN_SKIPPED else "")
            )
        if self.allowed_missing:
            lines.append(
                f"  never in such checkpoints, kept at their current values ({len(self.allowed_missing)}): "
                + ", ".join(self.allowed_missing)
            )
        return "\n".join(lines)


class CheckpointMismatchError(ValueError):
    """A load found missing, unexpected or wrongly shaped tensors; ``report`` has the details."""

    def __init__(self, report: LoadReport, *, lenient_load_possible: bool = True) -> None:
        hint = (
            "\nPass strict=False to load the tensors that do match and keep the rest." if lenient_load_possible else ""
        )
        super().__init__(f"weights do not fit the model:\n{report}{hint}")
        self.report = report


def compare_state_dicts(
    expected: Mapping[str, Tensor],
    given: Mapping[str, Tensor],
    *,
    source: str,
    skipped: list[str] | tuple[str, ...] = (),
    may_be_missing: Callable[[str], bool] | None = None,
) -> LoadReport:
    """Compare the model's state dict ``expected`` with the weights ``given``.

    Args:
        expected: the model's ``state_dict()`` (or the part of it the weights should fill).
        given: the converted weights.
        source: where the weights came from, for the report.
        skipped: weight keys the conversion left out on purpose.
        may_be_missing: model keys this kind of checkpoint never has (reported as ``allowed_missing``).
    """
    loaded: list[str] = []
    missing: list[str] = []
    allowed_missing: list[str] = []
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = []
    for key, value in expected.items():
        if key not in given:
            (allowed_missing if may_be_missing is not None and may_be_missing(key) else missing).append(key)
        elif tuple(given[key].shape) != tuple(value.shape):
            mismatched.append((key, tuple(value.shape), tuple(given[key].shape)))
        else:
            loaded.append(key)
    return LoadReport(
        source=source,
        loaded=tuple(loaded),
        missing=tuple(missing),
        unexpected=tuple(sorted(set(given) - set(expected))),
        mismatched=tuple(mismatched),
        skipped=tuple(skipped),
        allowed_missing=tuple(allowed_missing),
    )
