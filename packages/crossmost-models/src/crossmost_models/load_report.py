"""``LoadReport``: a readable account of what a state-dict load matched, missed and skipped."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from torch import Tensor

__all__ = ["LoadReport", "compare_state_dicts"]


@dataclass
class LoadReport:
    """Differences between a model's state dict and the weights given to it.

    Attributes:
        source: where the weights came from (a file name or a checkpoint format).
        loaded: model keys that received a value.
        missing: model keys the weights do not provide.
        unexpected: weight keys the model has no place for.
        mismatched: ``(key, model shape, weight shape)`` for keys present on both sides with different shapes.
        skipped: weight keys deliberately ignored by a conversion (e.g. a text tower), with no error.
    """

    source: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No missing, unexpected or mismatched keys."""
        return not (self.missing or self.unexpected or self.mismatched)

    def check(self, *, strict: bool = True) -> None:
        """Raise a ``ValueError`` holding this report when shapes mismatch, or (``strict``) keys differ."""
        if self.mismatched or (strict and not self.ok):
            raise ValueError(f"weights do not fit the model:\n{self}")

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
                f"  skipped on purpose ({len(self.skipped)}): {', '.join(self.skipped[:8])}"
                + (", …" if len(self.skipped) > 8 else "")
            )
        return "\n".join(lines)


def compare_state_dicts(
    expected: Mapping[str, Tensor], given: Mapping[str, Tensor], *, source: str, skipped: list[str] | None = None
) -> LoadReport:
    """Compare the model's state dict ``expected`` with the weights ``given``."""
    report = LoadReport(source=source, skipped=list(skipped or []))
    for key, value in expected.items():
        if key not in given:
            report.missing.append(key)
        elif tuple(given[key].shape) != tuple(value.shape):
            report.mismatched.append((key, tuple(value.shape), tuple(given[key].shape)))
        else:
            report.loaded.append(key)
    report.unexpected = sorted(set(given) - set(expected))
    return report
