"""The reason codes a reviewer picks from when deciding (the pipeline's own codes come from
the services). Codes are UPPER_SNAKE and stable; their words live in the catalogues under
``reason.<CODE>``, so the same code reads in Chinese to an adjuster and in English to an
auditor abroad."""

from __future__ import annotations

DECISION_REASONS: tuple[str, ...] = (
    "AGREED_WITH_RECOMMENDATION",
    "PRICE_ABOVE_REFERENCE",
    "QTY_ABOVE_SPEC",
    "PART_UNRELATED_TO_FAULT",
    "LABOUR_ABOVE_NORM",
    "NOT_COVERED",
    "WEAR_AND_TEAR_EXCLUDED",
    "EVIDENCE_INSUFFICIENT",
    "PHOTO_REUSED_ACROSS_CLAIMS",
    "DUPLICATE_CLAIM",
)

DECISION_KINDS: tuple[str, ...] = ("approve", "approve_in_part", "reject", "request_evidence")
