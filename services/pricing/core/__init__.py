"""The pure core of the pricing service: the parts catalogue, description matching, reference
prices and padding rules.

Standard library and rapidfuzz only: no I/O beyond the packaged data file
(``catalogue.toml``), no clock (callers pass dates in). Money is integer fen.
"""
