"""The published double-random draw (algorithm ``zj-double-random/1``): pure, reproducible, verifiable.

Everything a third party needs to re-run a draw is published with it (``GET
/sampling/plans/{id}/published``); this module is the reference implementation and
:func:`verify` re-runs it. Nothing here reads a database, a clock or global state.

1. **Pool snapshots.** A pool (objects or inspectors) is a list of entries ``(key, fields)``
   with distinct keys, sorted by key in code-point order (= UTF-8 byte order). Object keys
   are entity ids (USCC), or ``NP-`` pseudonyms for natural persons; inspector keys are
   certificate numbers. ``fields`` holds only the attributes the plan's filters and recusal
   rules used (objects: :data:`OBJECT_FIELDS`, inspectors: :data:`INSPECTOR_FIELDS`; never a
   personal name). Each entry is serialised as one line::

       json.dumps([key, fields], ensure_ascii=False, separators=(",", ":"), sort_keys=True) + "\\n"

   encoded in UTF-8. The *snapshot hash* is the lower-case hex SHA-256 of the concatenated
   lines; any added, removed or changed entry changes it.
2. **Seed commitment.** At plan creation the hub draws 32 random bytes ``seed`` and publishes
   ``seed_commitment = sha256(seed).hexdigest()``; the seed (hex) is revealed with the draw.
3. **Sample size** ``n``: with a ``count``, ``min(count, N)``; with a ``ratio`` (a decimal
   string in (0, 1]), ``ceil(ratio × N)`` computed exactly (no floating point). ``N`` is the
   object pool size.
4. **Objects.** Every object key gets the score
   ``HMAC-SHA256(key=seed, msg="object\\n" + H_obj + "\\n" + key)`` (H_obj the object snapshot
   hash in hex, strings UTF-8). Objects are ordered by ``(score bytes, key)`` ascending; the
   first ``n`` are drawn and their position is their ``draw_index`` (0-based).
5. **Teams.** For each drawn object in draw order, a stream of 64-bit integers: block ``c``
   (c = 0, 1, ...) is ``HMAC-SHA256(key=seed, msg="team\\n" + H_ins + "\\n" + H_obj + "\\n" +
   object_key + "\\n" + c as 8-byte big-endian)``, read as four big-endian unsigned 64-bit
   integers in order. ``uniform(m)`` takes the next integer ``u`` from the stream, rejecting
   it while ``u >= 2**64 - (2**64 mod m)``, and returns ``u mod m``. Over the inspector pool
   ``A`` (snapshot order, size M), a partial Fisher–Yates shuffle: for ``i = 0, 1, ...``
   while fewer than ``k = inspectors_per_object`` members were accepted and ``i < M``:
   ``j = i + uniform(M - i)``; swap ``A[i]`` and ``A[j]``; the candidate is ``A[i]``. A
   candidate is *recused* (skipped, recorded with the first rule that fired) when:
   ``conflict`` — ``(certificate_number, object_key)`` is in the plan's published conflict
   list (its reason is recorded); ``same_county`` — the rule ``same_region = "county"`` is on
   and both region codes are equal; ``same_city`` — ``same_region = "city"`` is on and the
   first four digits are equal. Otherwise it is accepted. The team is the accepted
   candidates in acceptance order; ``recused`` lists the skipped candidates in the order
   they were met. Fewer than ``k`` eligible inspectors for an object is an error
   (:class:`DrawError` ``team_incomplete``): the plan cannot be drawn as specified.

Costs: snapshots and object scores stream in one pass (O(N) time, memory O(n)); teams cost
O(k + recusals) per drawn object. A 5 % draw over 1,000,000 objects takes seconds
(:mod:`hub_api.sampling.bench`).
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

ALGORITHM = "zj-double-random/1"
OBJECT_FIELDS = ("industry_code", "kind", "region_code", "risk_grade_code")
INSPECTOR_FIELDS = ("department_code", "domains", "region_code")
SAME_REGION_RULES = {"county": 6, "city": 4}
"""``same_region`` rule -> number of leading region-code digits that must match for recusal."""

_U64 = 1 << 64

Entry = tuple[str, Mapping[str, Any]]


class DrawError(Exception):
    """The draw cannot be made as specified; ``reason`` is machine-readable."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


# -- snapshots --------------------------------------------------------------------------------
def canonical_line(key: str, fields: Mapping[str, Any]) -> bytes:
    """The canonical bytes of one pool entry (step 1)."""
    return (json.dumps([key, dict(fields)], ensure_ascii=False, separators=(",", ":"), sort_keys=True)
            + "\n").encode("utf-8")


def seed_commitment(seed: bytes) -> str:
    return hashlib.sha256(seed).hexdigest()


class SnapshotBuilder:
    """Streams a sorted pool into its snapshot hash and canonical bytes, checking order and uniqueness.

    ``add`` raises ValueError when keys are not strictly increasing; ``chunks`` (if given)
    receives the canonical bytes every ``chunk_entries`` entries, so callers can store the
    frozen pool without holding it all in memory.
    """

    def __init__(self, chunk_sink=None, chunk_entries: int = 50_000) -> None:
        self._hash = hashlib.sha256()
        self._last: str | None = None
        self._buf: list[bytes] = []
        self._sink = chunk_sink
        self._chunk_entries = chunk_entries
        self.size = 0

    def add(self, key: str, fields: Mapping[str, Any]) -> None:
        if self._last is not None and key <= self._last:
            raise ValueError("pool keys must be distinct and sorted in code-point order")
        self._last = key
        line = canonical_line(key, fields)
        self._hash.update(line)
        self.size += 1
        if self._sink is not None:
            self._buf.append(line)
            if len(self._buf) >= self._chunk_entries:
                self._flush()

    def _flush(self) -> None:
        if self._buf:
            self._sink(b"".join(self._buf), len(self._buf))
            self._buf = []

    def finish(self) -> str:
        """Flush the last chunk; the snapshot hash (hex)."""
        if self._sink is not None:
            self._flush()
        return self._hash.hexdigest()


def snapshot_hash(entries: Iterable[Entry]) -> str:
    builder = SnapshotBuilder()
    for key, fields in entries:
        builder.add(key, fields)
    return builder.finish()


def parse_lines(data: bytes) -> Iterator[Entry]:
    """Entries from canonical snapshot bytes (the inverse of :func:`canonical_line`)."""
    for line in data.splitlines():
        if line:
            key, fields = json.loads(line)
            yield key, fields


# -- the draw ---------------------------------------------------------------------------------
def sample_size(pool_size: int, ratio: str | None = None, count: int | None = None) -> int:
    """Step 3. Exactly one of ``ratio`` (decimal string in (0, 1]) and ``count`` (>= 1)."""
    if (ratio is None) == (count is None):
        raise ValueError("give exactly one of ratio and count")
    if count is not None:
        if count < 1:
            raise ValueError("count must be at least 1")
        return min(count, pool_size)
    try:
        r = Decimal(ratio)
    except InvalidOperation:
        raise ValueError("ratio must be a decimal number") from None
    if not (0 < r <= 1):
        raise ValueError("ratio must be in (0, 1]")
    return math.ceil(Fraction(r) * pool_size)


def select_objects(seed: bytes, object_hash: str, entries: Iterable[Entry], n: int) -> list[Entry]:
    """Step 4: the ``n`` drawn objects in draw order; streams ``entries`` keeping O(n) memory."""
    base = hmac.new(seed, b"object\n" + object_hash.encode("ascii") + b"\n", hashlib.sha256)

    def scored():
        for key, fields in entries:
            h = base.copy()
            h.update(key.encode("utf-8"))
            yield h.digest(), key, fields

    return [(key, fields) for _, key, fields in heapq.nsmallest(n, scored(), key=lambda t: (t[0], t[1]))]


class TeamStream:
    """Step 5's integer stream for one object."""

    def __init__(self, seed: bytes, inspector_hash: str, object_hash: str, object_key: str) -> None:
        self._prefix = (b"team\n" + inspector_hash.encode("ascii") + b"\n" + object_hash.encode("ascii") + b"\n"
                        + object_key.encode("utf-8") + b"\n")
        self._seed = seed
        self._counter = 0
        self._pending: list[int] = []

    def next_u64(self) -> int:
        if not self._pending:
            block = hmac.digest(self._seed, self._prefix + self._counter.to_bytes(8, "big"), "sha256")
            self._counter += 1
            self._pending = [int.from_bytes(block[i:i + 8], "big") for i in (24, 16, 8, 0)]
        return self._pending.pop()

    def uniform(self, m: int) -> int:
        limit = _U64 - (_U64 % m)
        while True:
            u = self.next_u64()
            if u < limit:
                return u % m


@dataclass(frozen=True)
class Rules:
    """Team rules: size and recusal (step 5). ``conflicts`` maps (certificate, object key) -> reason."""

    inspectors_per_object: int = 2
    same_region: str | None = None
    conflicts: Mapping[tuple[str, str], str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.inspectors_per_object < 2:
            raise ValueError("at least two inspectors per object")
        if self.same_region is not None and self.same_region not in SAME_REGION_RULES:
            raise ValueError(f"same_region must be one of {', '.join(SAME_REGION_RULES)} or null")

    def recusal(self, cert: str, inspector: Mapping[str, Any], key: str, obj: Mapping[str, Any]) -> str | None:
        reason = self.conflicts.get((cert, key))
        if reason is not None:
            return f"conflict:{reason}"
        if self.same_region is not None:
            digits = SAME_REGION_RULES[self.same_region]
            a, b = inspector.get("region_code"), obj.get("region_code")
            if a and b and a[:digits] == b[:digits]:
                return f"same_{self.same_region}"
        return None


@dataclass(frozen=True)
class DrawnObject:
    draw_index: int
    object_key: str
    inspectors: tuple[str, ...]
    recused: tuple[tuple[str, str], ...]

    def as_dict(self) -> dict[str, Any]:
        return {"draw_index": self.draw_index, "object_id": self.object_key, "inspectors": list(self.inspectors),
                "recused": [{"certificate_number": c, "reason": r} for c, r in self.recused]}


def draw_team(seed: bytes, inspector_hash: str, object_hash: str, key: str, obj: Mapping[str, Any],
              inspectors: Sequence[Entry], rules: Rules) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """Step 5 for one object: (team, recused)."""
    stream = TeamStream(seed, inspector_hash, object_hash, key)
    swapped: dict[int, int] = {}
    team: list[str] = []
    recused: list[tuple[str, str]] = []
    m = len(inspectors)
    i = 0
    while len(team) < rules.inspectors_per_object and i < m:
        j = i + stream.uniform(m - i)
        at_i, at_j = swapped.get(i, i), swapped.get(j, j)
        swapped[i], swapped[j] = at_j, at_i
        cert, fields = inspectors[at_j]
        reason = rules.recusal(cert, fields, key, obj)
        if reason is None:
            team.append(cert)
        else:
            recused.append((cert, reason))
        i += 1
    if len(team) < rules.inspectors_per_object:
        raise DrawError("team_incomplete", f"only {len(team)} eligible inspector(s) remain for a drawn object "
                        f"after recusal; {rules.inspectors_per_object} inspectors per object are required")
    return tuple(team), tuple(recused)


def run_draw(seed: bytes, object_hash: str, objects: Iterable[Entry], n: int, inspector_hash: str,
             inspectors: Sequence[Entry], rules: Rules) -> list[DrawnObject]:
    """Steps 4-5: the whole draw. ``inspectors`` must be in snapshot order."""
    if n > 0 and len(inspectors) < rules.inspectors_per_object:
        raise DrawError("pool_too_small", f"inspector pool has {len(inspectors)} officer(s); "
                        f"{rules.inspectors_per_object} inspectors per object are required")
    drawn = []
    for index, (key, fields) in enumerate(select_objects(seed, object_hash, objects, n)):
        team, recused = draw_team(seed, inspector_hash, object_hash, key, fields, inspectors, rules)
        drawn.append(DrawnObject(index, key, team, recused))
    return drawn


# -- verification -----------------------------------------------------------------------------
@dataclass
class Verification:
    verified: bool
    diffs: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"verified": self.verified, "diffs": self.diffs}


def rules_from_published(published: Mapping[str, Any]) -> Rules:
    recusal = published.get("recusal") or {}
    conflicts = {(c["certificate_number"], c["object_id"]): c.get("reason") or "listed"
                 for c in recusal.get("conflicts", [])}
    return Rules(int(published["inspectors_per_object"]), recusal.get("same_region"), conflicts)


def verify(published: Mapping[str, Any], max_diffs: int = 20) -> Verification:
    """Re-run a published draw (format of ``GET /sampling/plans/{id}/published``) and compare.

    Checks the algorithm name, the seed against its commitment, both snapshot hashes and
    sizes against the published pools, and every drawn object, team and recusal.
    """
    diffs: list[str] = []
    if published.get("algorithm") != ALGORITHM:
        return Verification(False, [f"unknown algorithm {published.get('algorithm')!r}; this is {ALGORITHM}"])
    try:
        seed = bytes.fromhex(published["seed"])
    except (TypeError, ValueError, KeyError):
        return Verification(False, ["seed missing or not hex (not drawn yet?)"])
    if seed_commitment(seed) != published.get("seed_commitment"):
        diffs.append("seed does not match the published seed commitment")
    pools: dict[str, list[Entry]] = {}
    for kind in ("objects", "inspectors"):
        pool = published[kind]
        entries = [(e[0], e[1]) for e in pool["entries"]]
        try:
            actual = snapshot_hash(entries)
        except ValueError as exc:
            return Verification(False, [f"{kind} pool: {exc}"])
        if actual != pool["snapshot_hash"]:
            diffs.append(f"{kind} snapshot hash {actual} != published {pool['snapshot_hash']}")
        if len(entries) != pool.get("size", len(entries)):
            diffs.append(f"{kind} pool has {len(entries)} entries, published size {pool['size']}")
        pools[kind] = entries
    selection = published["selection"]
    try:
        n = sample_size(len(pools["objects"]), selection.get("ratio"), selection.get("count"))
        rerun = run_draw(seed, published["objects"]["snapshot_hash"], pools["objects"], n,
                         published["inspectors"]["snapshot_hash"], pools["inspectors"], rules_from_published(published))
    except (ValueError, DrawError) as exc:
        return Verification(False, diffs + [f"re-run failed: {exc}"])
    expected = [d.as_dict() for d in rerun]
    got = list(published.get("draw") or [])
    if len(expected) != len(got):
        diffs.append(f"draw has {len(got)} objects; re-run gives {len(expected)}")
    for e, g in zip(expected, got, strict=False):
        if e != {k: g.get(k) for k in e}:
            diffs.append(f"draw_index {e['draw_index']}: published {g!r} != re-run {e!r}")
        if len(diffs) >= max_diffs:
            break
    return Verification(not diffs, diffs)
