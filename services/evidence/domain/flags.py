"""Forensic flags of a piece of evidence: a photo's EXIF time against the claim's times, and
reuse of the same photo (or the same document) in another claim.

Flags do not refuse evidence: they tell the adjuster where to look (the claims pipeline sends
a flagged claim to a person). Codes are an interface: never renamed or reused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from shared.clock import SHANGHAI

PHOTO_REUSED_ACROSS_CLAIMS: Final = "PHOTO_REUSED_ACROSS_CLAIMS"
DOCUMENT_REUSED_ACROSS_CLAIMS: Final = "DOCUMENT_REUSED_ACROSS_CLAIMS"
PHOTO_TAKEN_BEFORE_FAULT: Final = "PHOTO_TAKEN_BEFORE_FAULT"
PHOTO_TAKEN_LONG_AFTER_REPAIR: Final = "PHOTO_TAKEN_LONG_AFTER_REPAIR"
BEFORE_PHOTO_TAKEN_AFTER_REPAIR: Final = "BEFORE_PHOTO_TAKEN_AFTER_REPAIR"
PHOTO_METADATA_MISSING: Final = "PHOTO_METADATA_MISSING"
# Not about one piece of evidence: the claim has uploads that are received but not verified
# yet, so its evidence is not complete (docs/adr/0010).
EVIDENCE_BEING_VERIFIED: Final = "EVIDENCE_BEING_VERIFIED"

# Phone clocks drift and the fault time is the alarm's, not the breakage's: an hour of slack.
CLOCK_SLACK: Final = timedelta(hours=1)
# After photos are taken at the repair; two days later is a photo of something else.
AFTER_REPAIR_LIMIT: Final = timedelta(hours=48)


@dataclass(frozen=True)
class ClaimTimes:
    fault_at: datetime
    repaired_at: datetime | None = None


@dataclass(frozen=True)
class Finding:
    code: str
    message: str
    other_claim_id: str = ""
    other_evidence_id: str = ""
    distance: int = 0
    evidence_id: str = ""  # which piece of the claim's evidence (set by the caller)


def _aware(taken_at: datetime) -> datetime:
    """EXIF without an offset is the phone's local time: the scheme's phones are in China."""
    return taken_at if taken_at.tzinfo else taken_at.replace(tzinfo=SHANGHAI)


def _shown(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def time_findings(kind: str, taken_at: datetime | None, times: ClaimTimes) -> list[Finding]:
    """What a photo's EXIF time says against the claim's fault and repair times."""
    if taken_at is None:
        return [Finding(PHOTO_METADATA_MISSING, "the photo carries no time taken (EXIF)")]
    taken = _aware(taken_at)
    found: list[Finding] = []
    if taken < times.fault_at - CLOCK_SLACK:
        found.append(
            Finding(
                PHOTO_TAKEN_BEFORE_FAULT,
                f"taken {_shown(taken)}, before the fault at {_shown(times.fault_at)}",
            )
        )
    if times.repaired_at is not None:
        if kind == "before_photo" and taken > times.repaired_at + CLOCK_SLACK:
            found.append(
                Finding(
                    BEFORE_PHOTO_TAKEN_AFTER_REPAIR,
                    f"a 'before' photo taken {_shown(taken)}, after the repair at "
                    f"{_shown(times.repaired_at)}",
                )
            )
        elif taken > times.repaired_at + AFTER_REPAIR_LIMIT:
            found.append(
                Finding(
                    PHOTO_TAKEN_LONG_AFTER_REPAIR,
                    f"taken {_shown(taken)}, more than 48 hours after the repair at "
                    f"{_shown(times.repaired_at)}",
                )
            )
    return found


def reuse_finding(
    *, is_photo: bool, other_claim_id: str, other_evidence_id: str, distance: int
) -> Finding:
    if is_photo:
        return Finding(
            PHOTO_REUSED_ACROSS_CLAIMS,
            f"the same photo is evidence of claim {other_claim_id} (hash distance {distance})",
            other_claim_id,
            other_evidence_id,
            distance,
        )
    return Finding(
        DOCUMENT_REUSED_ACROSS_CLAIMS,
        f"the same document (identical bytes) is evidence of claim {other_claim_id}",
        other_claim_id,
        other_evidence_id,
    )


def unverified_finding(count: int) -> Finding:
    noun = "upload is" if count == 1 else "uploads are"
    return Finding(
        EVIDENCE_BEING_VERIFIED,
        f"{count} {noun} received but not verified yet: the evidence is not complete",
    )
