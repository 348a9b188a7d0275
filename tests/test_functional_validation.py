"""symce.functional's argument checks: each bad input is refused, before any kernel runs, with an
exception whose type follows torch and whose message names the problem.

These tests need no generated kernels: a check that let a bad call through would reach the
kernel lookup, which is patched here to fail loudly.
"""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import symce.functional as F
from symce.functional import _kernels
from symce.functional._layout import Rows, class_rows


@pytest.fixture(autouse=True)
def no_kernels(monkeypatch):
    """Validation must finish before any kernel is looked up."""
    def refuse(reference):
        raise AssertionError(f"kernel {reference} reached with invalid input")
    monkeypatch.setattr(_kernels, "kernel", refuse)


LOGITS = np.zeros((3, 4))
LABELS = np.array([0, 1, 2])


def refuses(exception, pattern, fn, *args, **kwargs):
    with pytest.raises(exception, match=pattern):
        fn(*args, **kwargs)


def torch_refuses(fn, *args, **kwargs):
    """torch refuses the same call (so our refusal is parity, not a new restriction)."""
    converted = [torch.from_numpy(np.asarray(a)) if isinstance(a, np.ndarray) else a for a in args]
    kwargs = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    with pytest.raises((RuntimeError, ValueError, IndexError, NotImplementedError, TypeError)):
        fn(*converted, **kwargs)


class TestCrossEntropyValidation:
    @pytest.mark.parametrize("bad", [4, -3, 100])
    def test_label_out_of_range_names_value_and_bounds(self, bad):
        labels = np.array([0, bad, 1])
        refuses(IndexError, rf"target {bad} at index \(1,\) is out of bounds.*0 <= target < 4.*\(-100\)",
                F.cross_entropy, LOGITS, labels)
        refuses(IndexError, rf"target {bad}", F.cross_entropy_value_and_grad, LOGITS, labels)
        refuses(IndexError, rf"target {bad}", F.nll_loss, LOGITS, labels)
        torch_refuses(TF.cross_entropy, LOGITS, labels)

    def test_ignore_index_itself_is_not_out_of_range(self):
        refuses(IndexError, r"target -100", F.cross_entropy, LOGITS, np.array([0, -100, 1]), ignore_index=-1)

    def test_probability_targets_refuse_non_negative_ignore_index(self):
        probs = np.full((3, 4), 0.25)
        refuses(ValueError, "ignore_index is not supported for floating point target", F.cross_entropy,
                LOGITS, probs, ignore_index=0)
        torch_refuses(TF.cross_entropy, LOGITS, probs, ignore_index=0)

    def test_float_target_of_other_shape(self):
        refuses(TypeError, r"floating-point target.*\(3, 4\).*integer array of shape \(3,\)",
                F.cross_entropy, LOGITS, np.array([0.0, 1.0, 2.0]))
        torch_refuses(TF.cross_entropy, LOGITS.astype(np.float32), np.array([0.0, 1.0, 2.0], np.float32))

    @pytest.mark.parametrize("labels", [np.array([0, 1]), np.array([[0, 1, 2]]), np.zeros((3, 4), np.int64)])
    def test_target_shape_mismatch(self, labels):
        refuses(ValueError, r"target shape .* does not match input shape \(3, 4\).*need shape \(3,\)",
                F.cross_entropy, LOGITS, labels)
        torch_refuses(TF.cross_entropy, LOGITS, labels)

    def test_spatial_target_shape_mismatch(self):
        refuses(ValueError, r"need shape \(2, 4\)", F.cross_entropy, np.zeros((2, 3, 4)), np.zeros((2, 5), np.int64))

    @pytest.mark.parametrize("weight", [np.ones(3), np.ones((4, 1)), np.ones(5)])
    def test_weight_shape(self, weight):
        refuses(ValueError, r"weight must have shape \(4,\)", F.cross_entropy, LOGITS, LABELS, weight=weight)
        refuses(ValueError, r"weight must have shape \(4,\)", F.nll_loss, LOGITS, LABELS, weight=weight)

    @pytest.mark.parametrize("eps", [-0.1, 1.5])
    def test_label_smoothing_range(self, eps):
        refuses(ValueError, r"label_smoothing must be between 0.0 and 1.0", F.cross_entropy, LOGITS, LABELS,
                label_smoothing=eps)
        if eps > 1:  # torch checks only ε > 0 (a negative ε is silently plain CE there); we refuse both
            torch_refuses(TF.cross_entropy, LOGITS, LABELS, label_smoothing=eps)

    def test_label_smoothing_type(self):
        refuses(TypeError, "label_smoothing must be a real number", F.cross_entropy, LOGITS, LABELS,
                label_smoothing="0.1")

    @pytest.mark.parametrize("fn", [F.cross_entropy, F.cross_entropy_value_and_grad, F.nll_loss])
    def test_bad_reduction(self, fn):
        refuses(ValueError, r"'avg' is not a valid value for reduction", fn, LOGITS, LABELS, reduction="avg")
        torch_refuses(TF.cross_entropy, LOGITS, LABELS, reduction="avg")

    def test_integer_logits_refused_like_torch(self):
        refuses(TypeError, r"input must be a floating-point array.*int64", F.cross_entropy,
                LOGITS.astype(np.int64), LABELS)
        torch_refuses(TF.cross_entropy, LOGITS.astype(np.int64), LABELS)

    def test_zero_dimensional_input(self):
        refuses(ValueError, "0-dimensional", F.cross_entropy, np.float64(1.0), np.array(0))

    def test_bool_or_float_labels(self):
        refuses(TypeError, "class-index targets must be an integer array", F.cross_entropy, LOGITS,
                np.array([True, False, True]))

    def test_ignore_index_type(self):
        refuses(TypeError, "ignore_index must be an integer", F.cross_entropy, LOGITS, LABELS, ignore_index=1.5)

    def test_grad_output_shape(self):
        refuses(ValueError, r"grad_output of reduction='mean' must be a scalar", F.cross_entropy_value_and_grad,
                LOGITS, LABELS, grad_output=np.ones(3))
        refuses(ValueError, r"grad_output of shape \(4,\) cannot be broadcast", F.cross_entropy_value_and_grad,
                LOGITS, LABELS, reduction="none", grad_output=np.ones(4))


class TestIntegerRanges:
    def test_uint64_labels_past_int64_are_out_of_bounds_not_wrapped_onto_ignore_index(self):
        """2**64 - 100 as int64 is -100: cast first, it would silently drop the sample from the mean."""
        labels = np.array([0, 2**64 - 100, 1], dtype=np.uint64)
        for fn in (F.cross_entropy, F.cross_entropy_value_and_grad, F.nll_loss):
            refuses(IndexError, rf"target {2**64 - 100} at index \(1,\) is out of bounds", fn, LOGITS, labels)

    def test_uint8_labels_may_equal_a_positive_ignore_index(self):
        """Segmentation masks: uint8 labels with 255 for 'void' are valid, not out of bounds."""
        with pytest.raises(AssertionError, match="reached with invalid input"):
            F.cross_entropy(LOGITS, np.array([0, 255, 1], dtype=np.uint8), ignore_index=255)

    @pytest.mark.parametrize("ignore", [2**63, 2**64, -(2**63) - 1, np.uint64(2**64 - 1)])
    def test_ignore_index_outside_int64_is_refused_alike_by_every_entry_point(self, ignore):
        for fn in (F.cross_entropy, F.cross_entropy_value_and_grad, F.nll_loss, F.nll_loss_value_and_grad):
            refuses(ValueError, r"ignore_index must fit in a 64-bit signed integer", fn, LOGITS, LABELS,
                    ignore_index=ignore)

    def test_ignore_index_at_the_ends_of_int64_is_accepted(self):
        for ignore in (2**63 - 1, -(2**63)):
            with pytest.raises(AssertionError, match="reached with invalid input"):
                F.cross_entropy(LOGITS, LABELS, ignore_index=ignore)


class TestMaskedArrays:
    """np.asarray drops a mask silently: a masked value would be used as if it were not masked."""

    @pytest.mark.parametrize("call", [
        lambda m: F.cross_entropy(m(LOGITS), LABELS),
        lambda m: F.cross_entropy(LOGITS, m(LABELS)),
        lambda m: F.cross_entropy(LOGITS, LABELS, weight=m(np.ones(4))),
        lambda m: F.nll_loss_value_and_grad(LOGITS, m(LABELS)),
        lambda m: F.binary_cross_entropy_with_logits(LOGITS, m(np.zeros((3, 4)))),
        lambda m: F.kl_div(m(LOGITS), np.zeros((3, 4))),
        lambda m: F.softmax(m(LOGITS), dim=1),
        lambda m: F.logsumexp(m(LOGITS), dim=1),
        lambda m: F.entropy(m(np.full((3, 4), 0.25))),
        lambda m: F.linear_cross_entropy(m(LOGITS), np.zeros((5, 4)), LABELS),
    ])
    def test_masked_arrays_are_refused(self, call):
        with pytest.raises(TypeError, match=r"is a NumPy masked array.*filled"):
            call(lambda array: np.ma.masked_array(array, mask=np.zeros(np.shape(array), bool)))


def test_kl_div_log_target_must_be_a_bool():
    for bad in ("yes", None, 1):
        refuses(TypeError, r"log_target must be a bool", F.kl_div, LOGITS, np.zeros((3, 4)), log_target=bad)
    torch_refuses(TF.kl_div, LOGITS, np.zeros((3, 4)), log_target="yes")


class TestBinaryValidation:
    @pytest.mark.parametrize("name", ["input", "target"])
    @pytest.mark.parametrize("bad", [1.5, -0.2, np.nan])
    def test_bce_outside_unit_interval(self, name, bad):
        values = {"input": np.full(3, 0.5), "target": np.full(3, 0.5)}
        values[name][1] = bad
        refuses(ValueError, rf"all elements of {name} should be between 0 and 1.*{name}\[1\]",
                F.binary_cross_entropy, values["input"], values["target"])
        torch_refuses(TF.binary_cross_entropy, values["input"], values["target"])

    @pytest.mark.parametrize("fn", [F.binary_cross_entropy, F.binary_cross_entropy_with_logits])
    def test_target_size_must_match(self, fn):
        refuses(ValueError, r"target size \(4,\) must be the same as input size \(3,\)", fn,
                np.full(3, 0.5), np.full(4, 0.5))

    def test_weight_and_pos_weight_must_broadcast_to_input(self):
        refuses(ValueError, r"weight of shape \(4,\) cannot be broadcast to the input's shape \(3,\)",
                F.binary_cross_entropy, np.full(3, 0.5), np.full(3, 0.5), weight=np.ones(4))
        refuses(ValueError, r"pos_weight of shape \(2,\) cannot be broadcast to the input's shape \(2, 3\)",
                F.binary_cross_entropy_with_logits, np.zeros((2, 3)), np.zeros((2, 3)), pos_weight=np.ones(2))
        torch_refuses(TF.binary_cross_entropy_with_logits, np.zeros((2, 3)), np.zeros((2, 3)),
                      pos_weight=np.ones(2))

    def test_bad_reduction(self):
        refuses(ValueError, "not a valid value for reduction", F.binary_cross_entropy_with_logits,
                np.zeros(3), np.zeros(3), reduction="batchmean")

    def test_non_numeric_target(self):
        refuses(TypeError, "target must be a real-valued array", F.binary_cross_entropy_with_logits,
                np.zeros(2), np.array(["a", "b"]))


class TestOtherValidation:
    def test_kl_div_batchmean_only_for_kl(self):
        refuses(ValueError, "not a valid value for reduction", F.cross_entropy, LOGITS, LABELS,
                reduction="batchmean")

    def test_kl_div_target_must_broadcast_to_input(self):
        refuses(ValueError, r"target of shape \(2, 3\) cannot be broadcast to the input's shape \(3,\)",
                F.kl_div, np.zeros(3), np.ones((2, 3)))

    @pytest.mark.parametrize("fn", [F.softmax, F.log_softmax, F.logsumexp, F.entropy])
    def test_dim_out_of_range(self, fn):
        refuses(IndexError, r"dim 2 is out of range.*\[-2, 1\]", fn, LOGITS, 2)

    def test_logsumexp_dims(self):
        refuses(ValueError, "at least one dim", F.logsumexp, LOGITS, ())
        refuses(ValueError, "names a dimension twice", F.logsumexp, LOGITS, (1, -1))

    def test_integer_input_to_softmax(self):
        refuses(TypeError, "floating-point", F.softmax, np.arange(3), 0)
        torch_refuses(TF.softmax, np.arange(3), 0)


class TestLayout:
    """Rows/back is the identity for every axis choice (pure NumPy, no kernels)."""

    @pytest.mark.parametrize("shape,axes", [((2, 3, 4), (1,)), ((2, 3, 4), (0, 2)), ((5,), (0,)), ((), ()),
                                            ((2, 0, 3), (1,)), ((3, 2), ())])
    def test_round_trip(self, shape, axes):
        array = np.arange(int(np.prod(shape)), dtype=float).reshape(shape)
        layout = Rows(shape, axes)
        rows = layout.to_rows(array)
        assert rows.flags.c_contiguous and rows.shape == (layout.count, int(np.prod(layout.row_shape)))
        np.testing.assert_array_equal(layout.from_rows(rows), array)

    def test_class_rows_put_classes_last(self):
        array = np.arange(24.0).reshape(2, 3, 4)  # (N, C, d1)
        rows = class_rows(array.shape).to_rows(array)
        np.testing.assert_array_equal(rows[1], array[0, :, 1])
        assert rows.shape == (8, 3)

    def test_non_contiguous_rows_are_copied_contiguous(self):
        array = np.arange(24.0).reshape(4, 6)[:, ::2]
        np.testing.assert_array_equal(class_rows(array.shape).to_rows(array), array)
        assert class_rows(array.shape).to_rows(array).flags.c_contiguous


def test_messages_name_their_argument():
    """Every refusal message names the argument it is about (sanity check over the suite above)."""
    with pytest.raises(ValueError) as info:
        F.cross_entropy(LOGITS, LABELS, weight=np.ones(2))
    assert re.search(r"\bweight\b", str(info.value))
