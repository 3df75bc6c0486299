"""The pure domain of the policy service: elevator codes, enrolment votes, products, policies,
premium funding, coverage and the limits ledger.

Plain dataclasses and functions; no I/O beyond reading the packaged data files
(``vote_rules.toml``, ``products.toml``), no clock (callers pass the time in). Money is integer
fen, floor areas are ``Decimal`` m², vote shares are ``Fraction``.
"""
