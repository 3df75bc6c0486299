"""The pure domain of the claims service: intake, the claim state machine, clocks, quotes,
the adjudication recommendation, the double review and the hash-chained audit trail.

Plain frozen dataclasses, StrEnums and functions. No I/O and no clock: callers pass "now" in
as a timezone-aware datetime (a naive one is refused). Money is integer fen.
"""
