"""Named identities about the specs, each with how it was established (``symce check``).

``IDENTITIES`` maps names to :class:`Identity` objects; ``get(name)`` looks one up;
``establish_all()`` establishes them all and returns one :class:`Result` each.
"""
from __future__ import annotations

from typing import Callable

from symce.identities.catalog import IDENTITIES_IN_ORDER
from symce.identities.core import Identity, Result, Status, establish_each

IDENTITIES: dict[str, Identity] = {identity.name: identity for identity in IDENTITIES_IN_ORDER}


def get(name: str) -> Identity:
    """The identity called ``name``; a KeyError that lists the known names otherwise."""
    try:
        return IDENTITIES[name]
    except KeyError:
        raise KeyError(f"no identity named {name!r}; known identities: {', '.join(IDENTITIES)}") from None


def establish_all(names: list[str] | None = None,
                  progress: Callable[[int, int, Identity], None] | None = None) -> list[Result]:
    """Establish the named identities (default: all), calling ``progress(position, total, identity)`` before each."""
    return establish_each([get(name) for name in names] if names else list(IDENTITIES.values()), progress)


__all__ = ["IDENTITIES", "Identity", "Result", "Status", "establish_all", "get"]
