"""One symbolic definition per quantity: the registry every other part of symce reads."""
from symce.errors import UnknownName
from symce.spec import information, losses, softmax
from symce.spec.core import Assumption, Input, Param, Spec, class_sum

SPECS: dict[str, Spec] = {spec.name: spec for module in (information, softmax, losses) for spec in module.SPECS}


def get(name: str) -> Spec:
    """The spec called ``name``; a KeyError that lists the known names otherwise."""
    try:
        return SPECS[name]
    except KeyError:
        raise UnknownName(f"no spec named {name!r}; known specs: {', '.join(SPECS)}") from None


__all__ = ["Assumption", "Input", "Param", "SPECS", "Spec", "class_sum", "get"]
