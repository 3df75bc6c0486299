"""The contractors service's pure domain: job events, monthly scorecards and the black/white list.

Standard library, numpy and ``shared.domain_errors`` only: no I/O, no framework.
"""
