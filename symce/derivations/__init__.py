"""Step-by-step derivations whose every step SymPy has checked (``symce derive``)."""
from symce.derivations.catalog import CATALOG, derivation
from symce.derivations.core import Abbreviation, Check, Derivation, DerivationError, Rule, Step
from symce.derivations.printing import FORMATS, render

__all__ = ["Abbreviation", "CATALOG", "Check", "Derivation", "DerivationError", "FORMATS", "Rule", "Step",
           "derivation", "render"]
