"""Planning shared-prefix batches for log-probability scoring (backend-independent, pure Python).

A ScoreUnit is one token sequence to run forward plus the continuation tokens to read from it.
Units are sorted so those sharing an instruction prefix are adjacent, then grouped greedily: a group's
prefix is encoded once and its KV cache reused for every suffix.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ScoreUnit:
    request: int  # index of the ScoreRequest this unit answers
    ids: tuple[int, ...]  # tokens to run forward
    # (continuation index, position where it starts in the full sequence, its token ids)
    reads: tuple[tuple[int, int, tuple[int, ...]], ...]

    @property
    def first_read(self) -> int:
        """Earliest position whose logits are read: the token just before a continuation starts."""
        return min(start for _, start, _ in self.reads) - 1


@dataclass(frozen=True)
class PrefixGroup:
    prefix_len: int  # 0: no shared prefix worth caching
    units: list[ScoreUnit]


def _common_prefix(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def plan_prefix_groups(units: list[ScoreUnit], min_prefix: int, min_group: int = 4) -> list[PrefixGroup]:
    """Group units by shared leading tokens; each group's prefix stops before any position it must read.

    A group needs `min_group` units sharing `min_prefix` tokens to be worth its own prefix pass; the
    rest are pooled into one batch without KV reuse (small groups would fragment batches for little gain).
    """
    groups: list[PrefixGroup] = []
    ordered = sorted(units, key=lambda u: u.ids)
    current: list[ScoreUnit] = []
    shared = 0

    def usable(unit: ScoreUnit, length: int) -> int:
        # The suffix must keep every read position and at least one token.
        return min(length, unit.first_read, len(unit.ids) - 1)

    loose: list[ScoreUnit] = []  # units with no worthwhile shared prefix: batched together, no KV reuse

    def close(group: list[ScoreUnit], length: int) -> None:
        if len(group) >= min_group and length >= min_prefix:
            groups.append(PrefixGroup(length, group))
        else:
            loose.extend(group)

    for unit in ordered:
        if current:
            candidate = min(shared, usable(unit, _common_prefix(current[0].ids, unit.ids)))
            if candidate >= min_prefix:
                current.append(unit)
                shared = candidate
                continue
            close(current, shared)
        current, shared = [unit], usable(unit, len(unit.ids))
    if current:
        close(current, shared)
    if loose:
        groups.append(PrefixGroup(0, loose))
    return groups


def chunk_by_length(
    units: list[ScoreUnit], prefix_len: int, max_rows: int, max_tokens: int, max_padding: float = 0.15
) -> list[list[ScoreUnit]]:
    """Split units into forward batches: length-sorted, bounded in rows and padded tokens, and cut
    wherever padding would exceed `max_padding` of the batch (a long tail gets its own batch)."""
    chunks: list[list[ScoreUnit]] = []
    chunk: list[ScoreUnit] = []
    real = 0
    for u in sorted(units, key=lambda u: len(u.ids)):
        n = len(u.ids) - prefix_len
        width = n  # sorted ascending: the newest unit is the longest
        padded = width * (len(chunk) + 1)
        if chunk and (
            len(chunk) >= max_rows or padded > max_tokens or padded - (real + n) > max_padding * padded
        ):
            chunks.append(chunk)
            chunk, real = [], 0
        chunk.append(u)
        real += n
    if chunk:
        chunks.append(chunk)
    return chunks
