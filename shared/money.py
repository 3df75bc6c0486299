"""Money is integer fen (1 CNY = 100 fen). Never floats.

Allocations use the largest-remainder (Hamilton) method so that the parts always add up
to the whole, to the fen.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction

FEN_PER_YUAN = 100

Weight = int | Fraction | Decimal


def yuan(amount: int | str | Decimal) -> int:
    """Fen from a yuan amount given exactly ("1300.50" or 1300); rejects sub-fen precision."""
    fen = Decimal(amount) * FEN_PER_YUAN
    if fen != fen.to_integral_value():
        raise ValueError(f"{amount} yuan is not a whole number of fen")
    return int(fen)


def format_fen(fen: int) -> str:
    """'¥12,000.00' style, for people; never parse it back."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), FEN_PER_YUAN)
    return f"{sign}¥{whole:,}.{cents:02d}"


def allocate(total_fen: int, weights: Sequence[Weight]) -> list[int]:
    """Split ``total_fen`` in proportion to ``weights``; the result sums to ``total_fen`` exactly.

    Each part first gets the floor of its exact share; the fen left over go one each to the
    largest remainders, ties broken by position (earlier first) so the result is deterministic.
    """
    if total_fen < 0:
        raise ValueError("total_fen must not be negative")
    exact = [Fraction(w) for w in weights]
    if any(w < 0 for w in exact):
        raise ValueError("weights must not be negative")
    weight_sum = sum(exact, Fraction(0))
    if not exact:
        if total_fen:
            raise ValueError("cannot allocate a non-zero total over no weights")
        return []
    if weight_sum == 0:
        if total_fen:
            raise ValueError("cannot allocate a non-zero total over zero weights")
        return [0] * len(exact)
    shares = [total_fen * w / weight_sum for w in exact]
    parts = [int(s) for s in shares]  # floor: shares are non-negative
    leftover = total_fen - sum(parts)
    by_remainder = sorted(range(len(shares)), key=lambda i: (-(shares[i] - parts[i]), i))
    for i in by_remainder[:leftover]:
        parts[i] += 1
    return parts
