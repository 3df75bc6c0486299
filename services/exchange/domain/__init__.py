"""The exchange service's pure domain: record kinds and their parsing, partner formats (in and
out), file decoding, push signatures, notification routing and retry schedules, alarms.

Standard library, numpy and ``shared.domain_errors`` only: no I/O, no framework.
"""
