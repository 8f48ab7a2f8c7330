"""The tamper-evident chain: each event's hash covers its canonical content and the previous event's hash
within its organization, so an edited, deleted or reordered event breaks the chain where it happened.

* canonical form: the document as JSON with sorted keys and no whitespace, without the two hash fields
  (``prev_hash``, ``chain_hash``) and without the store's own properties (``_ts``, ``_etag``...). The
  position ``chain_seq`` is part of the hashed content, so renumbering is an edit too;
* ``chain_hash = sha256(prev_hash || canonical)`` (hex); the first event of a chain follows ``GENESIS``;
* platform events (no organization) form one chain of their own.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

GENESIS = "0" * 64
HASH_FIELDS = frozenset({"prev_hash", "chain_hash"})


def canonical(document: Mapping[str, Any]) -> str:
    """The bytes the chain hashes: sorted keys, no whitespace, no hash fields, no store properties."""
    content = {k: v for k, v in document.items() if k not in HASH_FIELDS and not k.startswith("_")}
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def link(prev_hash: str, document: Mapping[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical(document)).encode()).hexdigest()


def sealed(payload: Mapping[str, Any], chain_seq: int, prev_hash: str) -> dict[str, Any]:
    """``payload`` placed at ``chain_seq`` after ``prev_hash``: the document as the audit store keeps it."""
    document = {**payload, "chain_seq": chain_seq}
    return {**document, "prev_hash": prev_hash, "chain_hash": link(prev_hash, document)}


BreakKind = Literal["edited", "deleted", "reordered", "duplicated"]


@dataclass(frozen=True)
class ChainBreak:
    """The first place the chain does not hold, said precisely enough to find the document."""

    kind: BreakKind
    chain_seq: int
    event_id: str | None
    detail: str


@dataclass(frozen=True)
class Verification:
    checked: int
    first_seq: int | None
    last_seq: int | None
    head_hash: str | None
    broken: ChainBreak | None

    @property
    def ok(self) -> bool:
        return self.broken is None


def verify(documents: Iterable[Mapping[str, Any]], *, expected_last_seq: int | None = None) -> Verification:
    """Walk ``documents`` (one organization's chain, or a contiguous slice of it) in chain order.

    Each position must follow the previous one (``prev_hash`` equals its ``chain_hash``; positions have no
    gap) and its own ``chain_hash`` must match its content. A slice that does not start at position 1 is
    anchored on its first document's ``prev_hash``. ``expected_last_seq`` (the head the relay recorded in
    PostgreSQL) also catches events deleted from the end of the chain.
    """
    docs = sorted(documents, key=lambda d: int(d["chain_seq"]))
    by_hash = {d["chain_hash"]: d for d in docs}
    checked = 0
    prev: Mapping[str, Any] | None = None
    for index, doc in enumerate(docs):
        seq = int(doc["chain_seq"])
        broken = _check(doc, seq, prev, docs[index + 1 :], by_hash)
        if broken:
            return Verification(checked, _seq(docs, 0), _seq(docs, -1), None, broken)
        prev = doc
        checked += 1
    last = int(prev["chain_seq"]) if prev else 0
    if expected_last_seq is not None and last < expected_last_seq:
        gone = ChainBreak(
            "deleted",
            last + 1,
            None,
            f"the chain ends at position {last} but {expected_last_seq} events were delivered: "
            f"positions {last + 1}..{expected_last_seq} are missing from the end",
        )
        return Verification(checked, _seq(docs, 0), _seq(docs, -1), None, gone)
    head = prev["chain_hash"] if prev else None
    return Verification(checked, _seq(docs, 0), _seq(docs, -1), head, None)


def _check(
    doc: Mapping[str, Any],
    seq: int,
    prev: Mapping[str, Any] | None,
    later: list[Mapping[str, Any]],
    by_hash: Mapping[str, Mapping[str, Any]],
) -> ChainBreak | None:
    event_id = str(doc.get("id"))
    if prev is None:
        expected_prev = GENESIS if seq == 1 else doc["prev_hash"]  # a slice is anchored on its first link
        expected_seq = seq if seq != 1 else 1
    else:
        expected_prev, expected_seq = prev["chain_hash"], int(prev["chain_seq"]) + 1
    if seq < expected_seq:
        return ChainBreak(
            "duplicated", seq, event_id, f"position {seq} is held by two events ({prev and prev['id']})"
        )
    if doc["prev_hash"] != expected_prev:
        follows = by_hash.get(doc["prev_hash"])
        if follows is not None and any(d is follows for d in later):
            return ChainBreak(
                "reordered",
                seq,
                event_id,
                f"event {event_id} at position {seq} was chained after event {follows['id']}, "
                f"which now sits later, at position {follows['chain_seq']}",
            )
        after = f"after event {prev['id']} (position {prev['chain_seq']})" if prev else "at the start"
        return ChainBreak(
            "deleted",
            expected_seq,
            event_id,
            f"the event chained before {event_id} (position {seq}) is missing {after}",
        )
    if seq > expected_seq:
        return ChainBreak(
            "deleted",
            expected_seq,
            event_id,
            f"positions {expected_seq}..{seq - 1} are missing before event {event_id}",
        )
    if link(doc["prev_hash"], doc) != doc["chain_hash"]:
        return ChainBreak(
            "edited", seq, event_id, f"event {event_id} at position {seq} does not match its chain hash"
        )
    return None


def _seq(docs: list[Mapping[str, Any]], index: int) -> int | None:
    return int(docs[index]["chain_seq"]) if docs else None
