"""The one place the domain reads anything: data files shipped inside this package.

Rule sets and products are data, versioned with the code; reading them is not I/O against
the outside world, so it is allowed here (and only here).
"""

from __future__ import annotations

from importlib import resources

_PACKAGE = "services.policy.domain"


def read_packaged_text(name: str) -> str:
    """The UTF-8 text of a data file in this package, e.g. ``vote_rules.toml``."""
    return resources.files(_PACKAGE).joinpath(name).read_text(encoding="utf-8")
