"""Step-by-step derivations whose every step SymPy has checked (``symce derive``).

To write one: a :class:`Derivation` of :class:`Step` objects, each citing a :class:`Rule` (one
of the named rules below, or your own, optionally with the formula it applies, which is then
proven), expressions shown under :class:`Abbreviation` names, and ``specs`` naming the specs
whose assumptions and parameter settings its steps may give.
"""
from symce.derivations.catalog import CATALOG, derivation, generic_gradient, gradient_closed_form
from symce.derivations.core import (ALGEBRA, ASSUMPTION, CHAIN_RULE, DEFINITION, KRONECKER_DELTA, LINEARITY_OF_SUM,
                                    LOG_OF_EXP, LOG_OF_PRODUCT, LOG_OF_QUOTIENT, NO_CLASSES, QUOTIENT_RULE, SETTING,
                                    SIMPLIFY, SUM_OF_DERIVATIVES, SYMBOLIC, Abbreviation, Check, Derivation,
                                    DerivationError, Rule, Step, establish, formula_problem, given_problem)
from symce.derivations.printing import FORMATS, render

__all__ = ["ALGEBRA", "ASSUMPTION", "Abbreviation", "CATALOG", "CHAIN_RULE", "Check", "DEFINITION", "Derivation",
           "DerivationError", "FORMATS", "KRONECKER_DELTA", "LINEARITY_OF_SUM", "LOG_OF_EXP", "LOG_OF_PRODUCT",
           "LOG_OF_QUOTIENT", "NO_CLASSES", "QUOTIENT_RULE", "Rule", "SETTING", "SIMPLIFY", "SUM_OF_DERIVATIVES",
           "SYMBOLIC", "Step", "derivation", "establish",
           "generic_gradient", "gradient_closed_form", "formula_problem", "given_problem", "render"]
