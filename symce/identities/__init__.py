"""Named identities about the specs, each with how it was established (``symce check``).

``IDENTITIES`` maps names to :class:`Identity` objects; ``get(name)`` looks one up;
``establish_all()`` establishes them all and returns one :class:`Result` each. The classes the
catalog builds its identities with are exported too, for identities of your own.
"""
from __future__ import annotations

from typing import Callable

from symce.errors import UnknownName
from symce.identities.catalog import IDENTITIES_IN_ORDER, one_hot
from symce.identities.core import (
    EQUATION, Cases, Concrete, Identity, Lemma, Limits, NonnegativeSum, Numeric, Outcome, ProofError, Result,
    Status, Symbolic, Witness, establish_each, find_counterexample,
)
from symce.spec.core import Assumption, class_sum

IDENTITIES: dict[str, Identity] = {identity.name: identity for identity in IDENTITIES_IN_ORDER}


def get(name: str) -> Identity:
    """The identity called ``name``; a KeyError that lists the known names otherwise."""
    try:
        return IDENTITIES[name]
    except KeyError:
        raise UnknownName(f"no identity named {name!r}; known identities: {', '.join(IDENTITIES)}") from None


def establish_all(names: list[str] | None = None,
                  progress: Callable[[int, int, Identity], None] | None = None) -> list[Result]:
    """Establish the named identities (default: all), calling ``progress(position, total, identity)`` before each."""
    return establish_each([get(name) for name in names] if names else list(IDENTITIES.values()), progress)


# what a user needs to state and establish identities of their own, as the catalog does
__all__ = ["EQUATION", "IDENTITIES", "Assumption", "Cases", "Concrete", "Identity", "Lemma", "Limits",
           "NonnegativeSum", "Numeric", "Outcome", "ProofError", "Result", "Status", "Symbolic", "Witness",
           "class_sum", "establish_all", "find_counterexample", "get", "one_hot"]
