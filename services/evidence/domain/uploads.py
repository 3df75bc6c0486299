"""Uploads in batches, and the states an upload goes through (docs/adr/0010).

``pending`` (slot made, nothing seen in S3 yet) → ``received`` (the bytes are in S3 and the
service has recorded them for the claim; verification is queued) → ``verified`` (registered
as evidence) or ``rejected`` (a stable reason; nothing registered). Only verified uploads are
evidence: they alone are listed, counted and flagged.

The uploads of one ``CreateUploads`` call share a key prefix in S3, so ``CompleteUploads``
finds all of them with one listing instead of one request per object.

Pure: the standard library only.
"""

from __future__ import annotations

import re
import uuid
from typing import Final

PENDING: Final = "pending"
RECEIVED: Final = "received"
VERIFIED: Final = "verified"
REJECTED: Final = "rejected"

MAX_SLOTS: Final = 100  # per call: a job's photos fit many times over; a response stays small

# Stable reason codes of an upload that is not evidence (besides the verification ones:
# HASH_MISMATCH, SIZE_MISMATCH, UNSUPPORTED_TYPE, TYPE_MISMATCH, TRUNCATED_IMAGE, …).
UPLOAD_NOT_RECEIVED: Final = "UPLOAD_NOT_RECEIVED"  # nothing in S3 yet (the upload is pending)
UPLOAD_EXPIRED: Final = "UPLOAD_EXPIRED"  # completed after its URL ran out: start again
VERIFICATION_FAILED: Final = "VERIFICATION_FAILED"  # tried MAX_ATTEMPTS times, never finished

MAX_ATTEMPTS: Final = 5

_BATCH_ID = re.compile(r"upl_([0-9a-f]{32})_[0-9]{3}")


def single_upload_id() -> str:
    return f"upl_{uuid.uuid4().hex}"


def batch_upload_ids(count: int) -> list[str]:
    """Ids for the slots of one batch, ``upl_<batch>_<nnn>``: they share ``upl_<batch>_``."""
    if not 1 <= count <= MAX_SLOTS:
        raise ValueError(f"a batch has 1 to {MAX_SLOTS} uploads, not {count}")
    batch = uuid.uuid4().hex
    return [f"upl_{batch}_{slot:03d}" for slot in range(count)]


def id_prefix(upload_id: str) -> str:
    """What the uploads listed with this one share: its batch's prefix, or (an upload made
    alone) the whole id."""
    batch = _BATCH_ID.fullmatch(upload_id)
    return f"upl_{batch.group(1)}_" if batch else upload_id
