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
#: the ops that also have an in-place form ``x.op_(...)`` (added once the table is complete)
IN_PLACE: set[str] = {"clamp", "clip", "clamp_min", "clamp_max", "masked_fill", "scatter", "index_put", "fill", "zero"}


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
    if isinstance(value, (list, tuple)) and any(isinstance(v, SymbolicTensor) for v in value):
        return np.stack([objects(v) for v in value])
    return ops.as_objects(value)


def integers(value: object, what: str) -> np.ndarray:
    if isinstance(value, SymbolicTensor):
        return ops.concrete_integers(value.array, what)
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy().astype(np.int64)
    return np.asarray(value, dtype=np.int64)


def _axis(dim, kwargs):
    dim = kwargs.pop("axis", dim) if dim is None else dim
    return tuple(dim) if isinstance(dim, (list, tuple)) else dim


class SymbolicTensor(torch.Tensor):
    """A tensor of SymPy expressions that torch dispatches to.

    It is a real ``torch.Tensor`` (a wrapper subclass with no storage: float64 on the CPU), so
    ``isinstance``, ``torch.is_tensor``, ``.device``, ``.dtype`` and torch's argument parsing see
    a tensor, while every function and method comes to ``__torch_function__``. Basic indexing
    gives views, so element updates (``p[y[i]] -= 1``) write through, as in torch."""

    @staticmethod
    def __new__(cls, array: object, share: bool = False):
        array = array if share else ops.as_objects(array)
        tensor = torch.Tensor._make_wrapper_subclass(cls, array.shape, dtype=torch.float64,
                                                     device=torch.device("cpu"))
        tensor.array = array
        return tensor

    def __init__(self, array: object, share: bool = False):
        super().__init__()

    @classmethod
    def viewing(cls, array: np.ndarray) -> "SymbolicTensor":
        """A tensor sharing ``array`` (an object array of expressions), as ``x[i]`` shares ``x``."""
        return cls(array, share=True)

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", str(func))
        if name == "__get__":   # a property this class does not define (is_cuda, layout): the wrapper's
            with torch._C.DisableTorchFunctionSubclass():
                return func(*args, **(kwargs or {}))
        if name.startswith("__") and name.endswith("_") and name not in TORCH_OPS:
            name = name.strip("_")
        try:
            function = TORCH_OPS[name]
        except KeyError:
            raise TraceError(f"torch.{name} is not supported by the symbolic tracer") from None
        return function(*args, **(kwargs or {}))

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        # every call is answered in __torch_function__; one that gets past it finds no storage
        raise TraceError(f"{func} reached a traced tensor below torch's Python functions")

    @property
    def data(self):
        return self

    @property
    def shape(self):
        return torch.Size(self.array.shape)

    @property
    def ndim(self):
        return self.array.ndim

    @property
    def T(self):
        return SymbolicTensor(self.array.T)

    def requires_grad_(self, requires_grad=True):
        return self

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def tolist(self):
        raise TraceError("the function converts a traced tensor to Python numbers (.tolist())")

    def numpy(self, *args, **kwargs):
        from symce.verify import trace_numpy
        return trace_numpy.wrap(self.array)

    def size(self, dim=None):
        return self.shape if dim is None else self.array.shape[dim]

    def dim(self):
        return self.array.ndim

    def numel(self):
        return self.array.size

    def __len__(self):
        return len(self.array)

    def __getitem__(self, index):
        out = self.array[_index(index)]
        return SymbolicTensor.viewing(out) if isinstance(out, np.ndarray) else SymbolicTensor(out)

    def __setitem__(self, index, value):
        value = objects(value)
        self.array[_index(index)] = value[()] if value.ndim == 0 else value

    def __bool__(self):
        if self.array.size != 1:
            raise TraceError("the truth value of a traced tensor of more than one entry")
        return ops.decide(self.array.ravel()[0])

    def item(self):
        return ops.item(self.array, "tensor")

    def __float__(self):
        raise TraceError("the function converts a traced value to a Python float")

    def __repr__(self):
        return f"SymbolicTensor({self.array!r})"

    __str__ = __repr__


def _index(index):
    """An index as NumPy takes it: a traced one through ``ops.index_of``, a real one by value."""
    if isinstance(index, tuple):
        return tuple(_index(i) for i in index)
    if isinstance(index, SymbolicTensor):
        return ops.index_of(index.array)
    if isinstance(index, torch.Tensor):
        return index.numpy() if index.dtype == torch.bool else integers(index, "an index")
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
                      ("lt", "lt"), ("le", "le"), ("eq", "eq"), ("ne", "ne"), ("greater", "gt"), ("less", "lt"),
                      ("xlogy", "xlogy"), ("special_xlogy", "xlogy")):
    TORCH_OPS[_name] = _binary(_ufunc)
    IN_PLACE.add(_name)
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
                      ("sigmoid", "sigmoid"), ("logsigmoid", "logsigmoid"), ("log_sigmoid", "logsigmoid"),
                      ("square", "square"), ("reciprocal", "reciprocal"), ("tanh", "tanh"), ("sign", "sign"),
                      ("log2", "log2"), ("log10", "log10"), ("exp2", "exp2"), ("positive", "positive"),
                      ("relu", "relu"), ("special_entr", "entr")):
    TORCH_OPS[_name] = _unary(_ufunc)
    IN_PLACE.add(_name)


@op("softplus")
def _softplus(value, beta=1.0, threshold=20.0):
    """log(1 + exp(βx))/β; torch returns x where βx > threshold, which the exact trace need not copy."""
    beta = ops.to_sympy(beta)
    return SymbolicTensor(ops.elementwise("true_divide", ops.elementwise("softplus", objects(value) * beta), beta))


SymbolicTensor.__neg__ = lambda self: TORCH_OPS["neg"](self)
SymbolicTensor.__abs__ = lambda self: TORCH_OPS["abs"](self)
SymbolicTensor.__matmul__ = lambda self, other: SymbolicTensor(np.matmul(self.array, objects(other)))
SymbolicTensor.__rmatmul__ = lambda self, other: SymbolicTensor(np.matmul(objects(other), self.array))


@op("float", "double", "to", "type_as", "type", "clone", "tensor")
def _as_float(value, *args, **kwargs):
    """A float copy; a condition (``(x > 0).float()``) becomes 1 where it holds, else 0."""
    return SymbolicTensor(ops.floats(objects(value)))


@op("detach", "contiguous", "cpu", "cuda", "requires_grad_", "as_tensor")
def _same(value, *args, **kwargs):
    return SymbolicTensor.viewing(objects(value))


@op("long", "int", "bool")
def _to_integers(value, *args, **kwargs):
    return SymbolicTensor(ops.concrete_integers(objects(value), "a tensor converted to integers"))


@op("clamp", "clip")
def _clamp(value, min=None, max=None):
    out = objects(value)
    if min is not None:
        out = ops.elementwise("maximum", out, objects(min))
    if max is not None:
        out = ops.elementwise("minimum", out, objects(max))
    return SymbolicTensor(out)


TORCH_OPS["clamp_min"] = lambda value, min: _clamp(value, min=min)
TORCH_OPS["clamp_max"] = lambda value, max: _clamp(value, max=max)


@op("fill")
def _fill(value, fill):
    return SymbolicTensor(np.full(objects(value).shape, objects(fill)[()], dtype=object))


@op("zero")
def _zero(value):
    return _fill(value, 0)


def _note_dtype(dtype) -> None:
    """A reduction asked to compute in a narrower type rounds there; the report says so."""
    if dtype in (torch.float32, torch.float16, torch.bfloat16):
        ops.note(f"the function computes a reduction in {dtype} (dtype=): its result carries that type's "
                 "rounding, which the exact trace does not show", kind="narrow reduction")


def _reduction(name):
    def apply(value, dim=None, keepdim=False, **kwargs):
        _note_dtype(kwargs.pop("dtype", None))
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


def _truth(name):
    """any/all of conditions: each decided at the inputs' sample points (an input check)."""
    def apply(value, dim=None, keepdim=False):
        decided = ops.decided(objects(value))
        reduce = np.any if name == "any" else np.all
        return SymbolicTensor(np.asarray(reduce(decided, axis=dim, keepdims=keepdim), dtype=object))
    return apply


TORCH_OPS["any"], TORCH_OPS["all"] = _truth("any"), _truth("all")
TORCH_OPS["_is_all_true"], TORCH_OPS["_is_any_true"] = TORCH_OPS["all"], TORCH_OPS["any"]
for _name, _ufunc in (("and", "logical_and"), ("or", "logical_or"), ("logical_and", "logical_and"),
                      ("logical_or", "logical_or"), ("bitwise_and", "logical_and"), ("bitwise_or", "logical_or")):
    TORCH_OPS[_name] = _binary(_ufunc)
TORCH_OPS["logical_not"] = TORCH_OPS["bitwise_not"] = TORCH_OPS["invert"] = _unary("logical_not")
SymbolicTensor.__and__ = lambda self, other: TORCH_OPS["and"](self, other)
SymbolicTensor.__or__ = lambda self, other: TORCH_OPS["or"](self, other)
SymbolicTensor.__invert__ = lambda self: TORCH_OPS["invert"](self)

# what a tensor says about itself, asked through torch.Tensor's methods
TORCH_OPS["dim"] = TORCH_OPS["ndimension"] = lambda value: objects(value).ndim
TORCH_OPS["numel"] = TORCH_OPS["nelement"] = lambda value: objects(value).size
TORCH_OPS["is_floating_point"] = lambda value: True
TORCH_OPS["is_complex"] = lambda value: False


class _ValuesAndIndices(tuple):
    """torch.max(x, dim)'s (values, indices); the indices are opaque ``argmax`` terms."""

    @property
    def values(self):
        return self[0]

    @property
    def indices(self):
        return self[1]


def _extremum(name):
    largest = name == "maximum"

    def apply(value, dim=None, keepdim=False, **kwargs):
        if isinstance(dim, torch.Tensor):        # torch.max(a, b): elementwise (a SymbolicTensor passes too)
            return SymbolicTensor(ops.elementwise(name, objects(value), objects(dim)))
        out = _reduction(name)(value, dim, keepdim, **kwargs)
        axis = _axis(dim, kwargs)
        if axis is None:
            return out
        indices = ops.arg_extremum(objects(value), axis, largest)
        return _ValuesAndIndices((out, SymbolicTensor(np.expand_dims(indices, axis) if keepdim else indices)))
    return apply


def _arg_extremum(largest):
    def apply(value, dim=None, keepdim=False):
        array = objects(value)
        array, dim = (array.reshape(-1), 0) if dim is None else (array, dim)
        indices = ops.arg_extremum(array, dim, largest)
        return SymbolicTensor(np.expand_dims(indices, dim) if keepdim else indices)
    return apply


TORCH_OPS["argmax"] = _arg_extremum(True)
TORCH_OPS["argmin"] = _arg_extremum(False)


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


@op("take_along_dim")
def _take_along_dim(value, indices, dim=None):
    array, indices = objects(value), integers(indices, "take_along_dim's indices")
    if dim is None:
        return SymbolicTensor(np.take_along_axis(array.reshape(-1), indices.reshape(-1), axis=0))
    shape = list(np.broadcast_shapes(array.shape[:dim % array.ndim] + (1,) + array.shape[dim % array.ndim + 1:],
                                     indices.shape[:dim % array.ndim] + (1,) + indices.shape[dim % array.ndim + 1:]))
    shape[dim] = indices.shape[dim]
    return SymbolicTensor(np.take_along_axis(array, np.broadcast_to(indices, shape), axis=dim))


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


@op("one_hot")
def _one_hot(value, num_classes=-1):
    if num_classes < 0:
        raise TraceError("F.one_hot of traced indices needs num_classes")
    return SymbolicTensor(ops.one_hot(objects(value), num_classes))


@op("index_put")
def _index_put(value, indices, values, accumulate=False):
    out = objects(value).copy()
    where = _index(tuple(indices))
    out[where] = (out[where] + objects(values)) if accumulate else objects(values)
    return SymbolicTensor(out)


@op("where")
def _where(condition, left, right):
    return SymbolicTensor(ops.where(objects(condition), objects(left), objects(right)))


@op("masked_fill")
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


def _filled(shape, fill) -> SymbolicTensor:
    return SymbolicTensor(np.full(tuple(shape), objects(fill)[()], dtype=object))


def _shape(args) -> tuple:
    return tuple(args[0]) if len(args) == 1 and isinstance(args[0], (tuple, list, torch.Size)) else tuple(args)


# a new tensor shaped like a traced one (its values do not depend on the inputs); an "empty"
# one holds zeros, which any code that reads it before writing it would get wrong anyway
TORCH_OPS["zeros_like"] = TORCH_OPS["empty_like"] = lambda value, **kwargs: _filled(objects(value).shape, 0)
TORCH_OPS["ones_like"] = lambda value, **kwargs: _filled(objects(value).shape, 1)
TORCH_OPS["full_like"] = lambda value, fill_value, **kwargs: _filled(objects(value).shape, fill_value)
TORCH_OPS["new_zeros"] = TORCH_OPS["new_empty"] = lambda value, *size, **kwargs: _filled(_shape(size), 0)
TORCH_OPS["new_ones"] = lambda value, *size, **kwargs: _filled(_shape(size), 1)
TORCH_OPS["new_full"] = lambda value, size, fill_value, **kwargs: _filled(size, fill_value)
TORCH_OPS["new_tensor"] = lambda value, data, **kwargs: SymbolicTensor(objects(data))


@op("stack")
def _stack(tensors, dim=0):
    return SymbolicTensor(np.stack([objects(t) for t in tensors], axis=dim))


@op("cat", "concat", "concatenate")
def _cat(tensors, dim=0):
    return SymbolicTensor(np.concatenate([objects(t) for t in tensors], axis=dim))


def _in_place(function):
    """``x.op_(...)``: the result of ``op`` written into ``x`` (through views of it)."""
    def apply(value, *args, **kwargs):
        if not isinstance(value, SymbolicTensor):
            raise TraceError("the function writes traced values into a tensor that holds numbers")
        result = objects(function(value, *args, **kwargs))
        value.array[...] = np.broadcast_to(result, value.array.shape)
        return value
    return apply


for _name in IN_PLACE:
    TORCH_OPS[_name + "_"] = _in_place(TORCH_OPS[_name])
for _name in ("add", "sub", "mul", "truediv", "pow"):
    setattr(SymbolicTensor, f"__i{_name}__", lambda self, other, _f=TORCH_OPS[_name]: _in_place(_f)(self, other))


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


@op("kl_div")
def _kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """Σ target · (log target − input), pointwise as torch computes it; 'batchmean' divides by N."""
    logq, p = objects(input), objects(target)
    log_p = p if log_target else ops.elementwise("log", p)
    p = ops.elementwise("exp", p) if log_target else p
    losses = p * (log_p - logq)
    if reduction == "batchmean":
        return SymbolicTensor(ops.elementwise("true_divide", ops.reduce("add", losses), logq.shape[0]))
    return _reduce(losses, reduction)


@op("mse_loss")
def _mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    difference = objects(input) - objects(target)
    losses = difference * difference * (objects(weight) if weight is not None else 1)
    return _reduce(losses, reduction)


def symbolic(array: np.ndarray) -> SymbolicTensor:
    return SymbolicTensor(array)


def concrete(values: np.ndarray) -> torch.Tensor:
    """A concrete input (integer labels) as the tensor torch code expects."""
    return torch.from_numpy(np.ascontiguousarray(values))


def expressions(result: object) -> np.ndarray:
    if isinstance(result, tuple):
        raise TraceError("the function returned a tuple; return the loss (or gradient) only")
    return objects(result)
