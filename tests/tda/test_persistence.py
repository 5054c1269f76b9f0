"""0-dim sublevel persistence of 1-D signals against ripser (the authors' path) and gudhi."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pinet.tda import sublevel_diagrams
from pinet.tda.reference import ripser_sublevel
from tests.tda.oracles import assert_same_diagram, gudhi_lower_star, gudhi_path_graph


def ours(signal: np.ndarray) -> np.ndarray:
    (diagram,) = sublevel_diagrams(np.asarray(signal, dtype=np.float64)[None, :])
    return diagram


# Small integer values make ties and plateaus common; floats cover the generic case.
tied_signals = st.lists(st.integers(-3, 3), min_size=1, max_size=80).map(
    lambda v: np.array(v, dtype=np.float64)
)
float_signals = arrays(
    np.float64,
    st.integers(1, 120),
    elements=st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
)
scaled_signals = st.tuples(
    arrays(np.float64, st.integers(1, 60), elements=st.floats(-10, 10)),
    st.sampled_from([1e-300, 1e-150, 1e-30, 1.0, 1e30, 1e150, 1e300]),
).map(lambda pair: pair[0] * pair[1])
any_signal = st.one_of(tied_signals, float_signals, scaled_signals)


@settings(max_examples=80, deadline=None)
@given(any_signal)
def test_matches_gudhi_exactly(signal):
    assert_same_diagram(ours(signal), gudhi_lower_star(signal))


@settings(max_examples=40, deadline=None)
@given(st.one_of(tied_signals, float_signals))
def test_matches_gudhi_simplex_tree(signal):
    assert_same_diagram(ours(signal), gudhi_path_graph(signal))


@settings(max_examples=60, deadline=None)
@given(st.one_of(tied_signals, float_signals))
def test_matches_ripser_on_float32_values_exactly(signal):
    # ripser works in float32: on float32-representable values both are exact.
    signal32 = signal.astype(np.float32).astype(np.float64)
    assert_same_diagram(ours(signal32), ripser_sublevel(signal32))


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.float64, st.integers(1, 100), elements=st.floats(-100, 100)).filter(
        lambda s: len(np.unique(s.astype(np.float32))) == len(np.unique(s))
    )
)
def test_matches_ripser_up_to_float32_rounding(signal):
    expected = ripser_sublevel(signal)
    assert_same_diagram(ours(signal), expected, rtol=2.0**-24, atol=1e-44)


@settings(max_examples=30, deadline=None)
@given(st.lists(any_signal, min_size=1, max_size=6), st.integers(1, 40))
def test_batch_equals_one_by_one(signals, length):
    batch = np.stack([np.resize(s, length) for s in signals])
    diagrams = sublevel_diagrams(batch)
    assert len(diagrams) == len(batch)
    for row, diagram in zip(batch, diagrams, strict=True):
        assert diagram.dtype == np.float64 and diagram.shape[1:] == (2,)
        np.testing.assert_array_equal(diagram, ours(row))
        assert_same_diagram(diagram, gudhi_lower_star(row))


@settings(max_examples=40, deadline=None)
@given(any_signal)
def test_diagram_invariants(signal):
    diagram = ours(signal)
    assert diagram.ndim == 2 and diagram.shape[1] == 2
    assert np.isfinite(diagram).all()
    assert (diagram[:, 1] > diagram[:, 0]).all()
    # Births and deaths are signal values; a pair is born at a value no lower than the minimum.
    assert np.isin(diagram, signal).all()
    if len(diagram):
        assert diagram[:, 0].min() >= signal.min() and diagram[:, 1].max() <= signal.max()
    # A positive scale (exact in binary) scales every pair.
    np.testing.assert_array_equal(ours(2.0 * signal), 2.0 * diagram)


@pytest.mark.parametrize(
    ("signal", "expected"),
    [
        ([3, 1, 4, 1, 5, 9, 2, 6], [(1, 4), (2, 9)]),
        ([0, 1, 0], [(0, 1)]),
        ([1, 0, 1], []),
        ([0, 0, 1, 1, 0, 0, 2, 2, 0, 0], [(0, 1), (0, 2)]),  # plateaus
        ([5.0], []),  # length 1
        ([1.0, 0.0], []),  # length 2: the second vertex dies at once
        ([2.0, 2.0, 2.0, 2.0], []),  # constant
        (list(range(20)), []),  # monotone increasing
        (list(range(20, 0, -1)), []),  # monotone decreasing
        ([0, 1] * 5, [(0, 1)] * 4),  # alternating: equal minima, elder rule picks any
        ([2, -1, 2, -1, 2], [(-1, 2)]),
        ([0.0, -0.0, 0.0], []),  # signed zeros are equal
        ([1e-300, 3e-300, 2e-300, 4e-300], [(2e-300, 3e-300)]),
        ([1e300, 3e300, 2e300, 4e300], [(2e300, 3e300)]),
        ([5e-324, 1.5e-323, 1e-323], [(1e-323, 1.5e-323)]),  # subnormals
    ],
)
def test_hand_computed_diagrams(signal, expected):
    signal = np.array(signal, dtype=np.float64)
    expected = np.array(expected, dtype=np.float64).reshape(-1, 2)
    assert_same_diagram(ours(signal), expected)
    assert_same_diagram(gudhi_lower_star(signal), expected)  # the oracle agrees too


def test_float64_precision_beyond_ripser():
    # SPEC 6: ripser's float32 loses these pairs; the float64 diagram keeps all of them.
    t = np.linspace(0, 20 * np.pi, 1000)
    signal = 1000 + 1e-5 * np.sin(t)
    expected = gudhi_lower_star(signal)
    assert len(expected) >= 9  # one per trough of the 10 periods, bar the oldest
    assert len(ripser_sublevel(signal)) < len(expected)
    assert_same_diagram(ours(signal), expected)


def test_empty_and_degenerate_rows_keep_shape():
    diagrams = sublevel_diagrams(np.array([[1.0, 1.0, 1.0], [0.0, 2.0, 0.0]]))
    assert diagrams[0].shape == (0, 2)
    np.testing.assert_array_equal(diagrams[1], [[0.0, 2.0]])


def test_long_signal_worst_case_capacity():
    # Alternating minima are the most pairs a path can have: ceil(L / 2) - 1 finite ones.
    for length in (999, 1000):
        signal = np.tile([0.0, 1.0], length)[:length] + np.arange(length) * 1e-9
        diagram = ours(signal)
        assert len(diagram) == (length + 1) // 2 - 1
        assert_same_diagram(diagram, gudhi_lower_star(signal))
