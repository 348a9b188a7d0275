"""Trace PyTorch code into SymPy through ``__torch_function__``.

``SymbolicTensor`` is not a ``torch.Tensor``: it holds an object array of SymPy expressions
and implements ``__torch_function__``, so ``torch.*``, ``torch.nn.functional.*`` and tensor
methods called with it (or with a real tensor and it) come here and are looked up by name in
``TORCH_OPS``. Elementwise meaning comes from :mod:`symce.verify.ops`; the torch losses
(``cross_entropy``, ``nll_loss``, ``binary_cross_entropy(_with_logits)``) are written as
torch documents them, in terms of those operations. Importing this module imports torch.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import sympy as sp
import torch

from symce.verify import ops
from symce.verify.ops import TraceError

TORCH_OPS: dict[str, Callable] = {}


def op(*names: str):
    def register(function):
        for name in names:
            TORCH_OPS[name] = function
        return function
    return register


def objects(value: object) -> np.ndarray:
    """Any argument as an object array: symbolic tensors as they are, real tensors by value."""
    if isinstance(value, SymbolicTensor):
        return value.array
    if isinstance(value, torch.Tensor):
        return ops.as_objects(value.detach().cpu().numpy())
    return ops.as_objects(value)


def integers(value: object, what: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy().astype(np.int64)
    if isinstance(value, SymbolicTensor):
        return ops.concrete_integers(value.array, what)
    return np.asarray(value, dtype=np.int64)


def _axis(dim, kwargs):
    dim = kwargs.pop("axis", dim) if dim is None else dim
    return tuple(dim) if isinstance(dim, (list, tuple)) else dim


class SymbolicTensor:
    """A tensor of SymPy expressions that torch dispatches to."""

    def __init__(self, array: object):
        self.array = ops.as_objects(array)

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", str(func))
        if name.startswith("__") and name.endswith("_") and name not in TORCH_OPS:
            name = name.strip("_")
        try:
            function = TORCH_OPS[name]
        except KeyError:
            raise TraceError(f"torch.{name} is not supported by the symbolic tracer") from None
        return function(*args, **(kwargs or {}))

    def __getattr__(self, name):
        if name in TORCH_OPS:
            return lambda *args, **kwargs: TORCH_OPS[name](self, *args, **kwargs)
        raise AttributeError(f"{name!r}: tensor method not supported by the symbolic tracer")

    # shape
    @property
    def shape(self):
        return torch.Size(self.array.shape)

    @property
    def ndim(self):
        return self.array.ndim

    @property
    def T(self):
        return SymbolicTensor(self.array.T)

    @property
    def dtype(self):
        return torch.float64

    def size(self, dim=None):
        return self.shape if dim is None else self.array.shape[dim]

    def dim(self):
        return self.array.ndim

    def numel(self):
        return self.array.size

    def __len__(self):
        return len(self.array)

    def __getitem__(self, index):
        return SymbolicTensor(self.array[_index(index)])

    def __setitem__(self, index, value):
        self.array[_index(index)] = objects(value)

    def __bool__(self):
        raise TraceError("the function branches on a value computed from its inputs")

    def item(self):
        raise TraceError("the function converts a traced value to a Python number (.item())")

    def __repr__(self):
        return f"SymbolicTensor({self.array!r})"


def _index(index):
    if isinstance(index, tuple):
        return tuple(_index(i) for i in index)
    if isinstance(index, (torch.Tensor, SymbolicTensor)):
        values = integers(index, "an index") if not (isinstance(index, torch.Tensor) and index.dtype == torch.bool) \
            else index.numpy()
        return values
    return index


def _binary(name, reverse=False):
    def apply(left, right, *args, **kwargs):
        if kwargs.get("alpha", 1) != 1:
            right = objects(right) * ops.to_sympy(kwargs["alpha"])
        a, b = (right, left) if reverse else (left, right)
        return SymbolicTensor(ops.elementwise(name, objects(a), objects(b)))
    return apply


for _name, _ufunc in (("add", "add"), ("sub", "subtract"), ("subtract", "subtract"), ("mul", "multiply"),
                      ("multiply", "multiply"), ("div", "true_divide"), ("divide", "true_divide"),
                      ("true_divide", "true_divide"), ("pow", "power"), ("maximum", "maximum"),
                      ("minimum", "minimum"), ("logaddexp", "logaddexp"), ("gt", "gt"), ("ge", "ge"),
                      ("lt", "lt"), ("le", "le"), ("eq", "eq"), ("ne", "ne"), ("greater", "gt"), ("less", "lt")):
    TORCH_OPS[_name] = _binary(_ufunc)
    TORCH_OPS[_name + "_"] = TORCH_OPS[_name]
for _name, _ufunc in (("radd", "add"), ("rsub", "subtract"), ("rmul", "multiply"), ("rtruediv", "true_divide"),
                      ("rdiv", "true_divide"), ("rpow", "power")):
    TORCH_OPS[_name] = _binary(_ufunc, reverse=True)
TORCH_OPS["truediv"] = TORCH_OPS["div"]
for _name in ("add", "sub", "mul", "truediv", "pow", "radd", "rsub", "rmul", "rtruediv", "rpow",
              "gt", "ge", "lt", "le", "eq", "ne"):
    setattr(SymbolicTensor, f"__{_name}__", lambda self, other, _f=TORCH_OPS[_name]: _f(self, other))


def _unary(name):
    def apply(value, *args, **kwargs):
        return SymbolicTensor(ops.elementwise(name, objects(value)))
    return apply


for _name, _ufunc in (("exp", "exp"), ("log", "log"), ("log1p", "log1p"), ("expm1", "expm1"),
                      ("sqrt", "sqrt"), ("abs", "abs"), ("neg", "negative"), ("negative", "negative"),
                      ("sigmoid", "sigmoid"), ("logsigmoid", "logsigmoid"), ("log_sigmoid", "logsigmoid"), ("softplus", "softplus"),
                      ("square", "square"), ("reciprocal", "reciprocal"), ("tanh", "tanh"), ("sign", "sign"),
                      ("log2", "log2"), ("log10", "log10"), ("exp2", "exp2"), ("positive", "positive")):
    TORCH_OPS[_name] = _unary(_ufunc)
    TORCH_OPS[_name + "_"] = TORCH_OPS[_name]
SymbolicTensor.__neg__ = lambda self: TORCH_OPS["neg"](self)
SymbolicTensor.__abs__ = lambda self: TORCH_OPS["abs"](self)
SymbolicTensor.__matmul__ = lambda self, other: SymbolicTensor(np.matmul(self.array, objects(other)))
SymbolicTensor.__rmatmul__ = lambda self, other: SymbolicTensor(np.matmul(objects(other), self.array))


@op("float", "double", "to", "type_as", "detach", "clone", "contiguous", "cpu")
def _same(value, *args, **kwargs):
    return SymbolicTensor(value.array.copy())


@op("clamp", "clip", "clamp_", "clip_")
def _clamp(value, min=None, max=None):
    out = objects(value)
    if min is not None:
        out = ops.elementwise("maximum", out, objects(min))
    if max is not None:
        out = ops.elementwise("minimum", out, objects(max))
    return SymbolicTensor(out)


TORCH_OPS["clamp_min"] = lambda value, min: _clamp(value, min=min)
TORCH_OPS["clamp_max"] = lambda value, max: _clamp(value, max=max)


def _reduction(name):
    def apply(value, dim=None, keepdim=False, **kwargs):
        kwargs.pop("dtype", None)
        axis = _axis(dim, kwargs)
        keepdim = kwargs.pop("keepdims", keepdim)
        array = objects(value)
        if name == "mean":
            return SymbolicTensor(ops.mean(array, axis, keepdim))
        if isinstance(axis, tuple):
            for a in sorted((x % array.ndim for x in axis), reverse=True):
                array = ops.reduce(name, array, a, keepdim)
            return SymbolicTensor(array)
        return SymbolicTensor(ops.reduce(name, array, axis, keepdim))
    return apply


TORCH_OPS["sum"] = _reduction("add")
TORCH_OPS["mean"] = _reduction("mean")
TORCH_OPS["amax"] = _reduction("maximum")
TORCH_OPS["amin"] = _reduction("minimum")


class _ValuesAndIndices(tuple):
    """torch.max(x, dim)'s (values, indices); the indices (an argmax) cannot be traced."""

    @property
    def values(self):
        return self[0]

    @property
    def indices(self):
        raise TraceError("the function uses an argmax (the indices of torch.max)")


def _extremum(name):
    def apply(value, dim=None, keepdim=False, **kwargs):
        out = _reduction(name)(value, dim, keepdim, **kwargs)
        return out if dim is None and "axis" not in kwargs else _ValuesAndIndices((out, None))
    return apply


TORCH_OPS["max"] = _extremum("maximum")
TORCH_OPS["min"] = _extremum("minimum")


@op("logsumexp")
def _logsumexp(value, dim, keepdim=False):
    return SymbolicTensor(ops.logsumexp(objects(value), dim, keepdim))


@op("softmax")
def _softmax(value, dim=None, *args, **kwargs):
    return SymbolicTensor(ops.softmax(objects(value), -1 if dim is None else dim))


@op("log_softmax")
def _log_softmax(value, dim=None, *args, **kwargs):
    return SymbolicTensor(ops.log_softmax(objects(value), -1 if dim is None else dim))


@op("gather")
def _gather(value, dim, index, **kwargs):
    return SymbolicTensor(np.take_along_axis(objects(value), integers(index, "gather's index"), axis=dim))


def _scattered(value, dim, index, src):
    out = objects(value).copy()
    index = integers(index, "scatter's index")
    source = np.broadcast_to(objects(src), index.shape)
    for position in np.ndindex(index.shape):
        target = list(position)
        target[dim] = index[position]
        out[tuple(target)] = source[position]
    return out


@op("scatter")
def _scatter(value, dim, index, src=None, **kwargs):
    return SymbolicTensor(_scattered(value, dim, index, kwargs.get("value", src)))


@op("scatter_")
def _scatter_inplace(value, dim, index, src=None, **kwargs):
    value.array = _scattered(value, dim, index, kwargs.get("value", src))
    return value


@op("where")
def _where(condition, left, right):
    return SymbolicTensor(ops.where(objects(condition), objects(left), objects(right)))


@op("masked_fill", "masked_fill_")
def _masked_fill(value, mask, fill):
    return _where(mask, fill, value)


@op("unsqueeze")
def _unsqueeze(value, dim):
    return SymbolicTensor(np.expand_dims(objects(value), dim))


@op("squeeze")
def _squeeze(value, dim=None):
    return SymbolicTensor(np.squeeze(objects(value), dim))


@op("view", "reshape")
def _reshape(value, *shape):
    shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list, torch.Size)) else shape
    return SymbolicTensor(objects(value).reshape(tuple(shape)))


@op("flatten")
def _flatten(value, start_dim=0, end_dim=-1):
    array = objects(value)
    end = end_dim % array.ndim
    return SymbolicTensor(array.reshape(array.shape[:start_dim] + (-1,) + array.shape[end + 1:]))


@op("t")
def _t(value):
    return SymbolicTensor(objects(value).T)


@op("transpose", "swapaxes")
def _transpose(value, a, b):
    return SymbolicTensor(np.swapaxes(objects(value), a, b))


@op("permute")
def _permute(value, *dims):
    dims = dims[0] if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
    return SymbolicTensor(np.transpose(objects(value), dims))


@op("expand_as", "broadcast_to", "expand")
def _expand(value, *shape):
    target = shape[0].shape if hasattr(shape[0], "shape") else (shape[0] if len(shape) == 1 else shape)
    return SymbolicTensor(np.broadcast_to(objects(value), tuple(target)).copy())


@op("index_select")
def _index_select(value, dim, index):
    return SymbolicTensor(np.take(objects(value), integers(index, "index_select's index"), axis=dim))


@op("zeros_like", "ones_like", "full_like")
def _like(value, fill_value=None, **kwargs):
    fill = 0 if fill_value is None else fill_value
    return SymbolicTensor(np.full(objects(value).shape, ops.to_sympy(fill), dtype=object))


TORCH_OPS["ones_like"] = lambda value, **kwargs: _like(value, 1)


@op("stack")
def _stack(tensors, dim=0):
    return SymbolicTensor(np.stack([objects(t) for t in tensors], axis=dim))


@op("cat", "concat", "concatenate")
def _cat(tensors, dim=0):
    return SymbolicTensor(np.concatenate([objects(t) for t in tensors], axis=dim))


# ----- torch.nn.functional losses, as torch documents them -----------------------------
def _reduce(losses: np.ndarray, reduction: str, denominator=None) -> SymbolicTensor:
    if reduction == "none":
        return SymbolicTensor(losses)
    total = ops.reduce("add", losses)
    if reduction == "sum":
        return SymbolicTensor(total)
    if reduction == "mean":
        return SymbolicTensor(ops.elementwise("true_divide", total, losses.size if denominator is None else denominator))
    raise TraceError(f"unknown reduction {reduction!r}")


@op("nll_loss")
def _nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
              reduction="mean"):
    logp = objects(input)
    labels = integers(target, "nll_loss's target")
    weights = objects(weight) if weight is not None else np.full(logp.shape[1], sp.Integer(1), dtype=object)
    keep = labels != ignore_index
    safe = np.where(keep, labels, 0)
    picked = np.array([-weights[c] * logp[i, c] if keep[i] else sp.Integer(0) for i, c in enumerate(safe)],
                      dtype=object)
    return _reduce(picked, reduction, sum(weights[c] for i, c in enumerate(safe) if keep[i]))


@op("cross_entropy")
def _cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                   reduction="mean", label_smoothing=0.0):
    logp = ops.log_softmax(objects(input), 1)
    classes = logp.shape[1]
    weights = objects(weight) if weight is not None else np.full(classes, sp.Integer(1), dtype=object)
    eps = ops.to_sympy(label_smoothing)
    probabilities = isinstance(target, SymbolicTensor) or (isinstance(target, torch.Tensor)
                                                            and target.is_floating_point())
    if probabilities:
        smoothed = objects(target) * (1 - eps) + eps / classes
        losses = -np.sum(weights[None, :] * smoothed * logp, axis=1)
        return _reduce(losses, reduction)
    labels = integers(target, "cross_entropy's target")
    keep = labels != ignore_index
    safe = np.where(keep, labels, 0)
    nll = np.array([-weights[c] * logp[i, c] for i, c in enumerate(safe)], dtype=object)
    smooth = -np.sum(weights[None, :] * logp, axis=1)
    losses = np.array([((1 - eps) * nll[i] + eps / classes * smooth[i]) if keep[i] else sp.Integer(0)
                       for i in range(len(safe))], dtype=object)
    return _reduce(losses, reduction, sum(weights[c] for i, c in enumerate(safe) if keep[i]))


@op("binary_cross_entropy")
def _binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    # torch clamps each log at -100 (its documented behaviour), so the trace does too
    r, b = objects(input), objects(target)
    clamp = lambda v: ops.elementwise("maximum", ops.elementwise("log", v), -100)
    losses = -(b * clamp(r) + (1 - b) * clamp(1 - r))
    if weight is not None:
        losses = losses * objects(weight)
    return _reduce(losses, reduction)


@op("binary_cross_entropy_with_logits")
def _binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                      reduction="mean", pos_weight=None):
    x, b = objects(input), objects(target)
    log_sigmoid = ops.elementwise("log", ops.elementwise("sigmoid", x))
    log_one_minus = ops.elementwise("log", 1 - ops.elementwise("sigmoid", x))
    positive = objects(pos_weight) if pos_weight is not None else sp.Integer(1)
    losses = -(positive * b * log_sigmoid + (1 - b) * log_one_minus)
    if weight is not None:
        losses = losses * objects(weight)
    return _reduce(losses, reduction)


@op("mse_loss")
def _mse_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    difference = objects(input) - objects(target)
    return _reduce(difference * difference, reduction)


def symbolic(array: np.ndarray) -> SymbolicTensor:
    return SymbolicTensor(array)


def concrete(values: np.ndarray) -> torch.Tensor:
    """A concrete input (integer labels) as the tensor torch code expects."""
    return torch.from_numpy(np.ascontiguousarray(values))


def expressions(result: object) -> np.ndarray:
    if isinstance(result, tuple):
        raise TraceError("the function returned a tuple; return the loss (or gradient) only")
    return objects(result)
