"""Malformed CSR and CSC input: a ValueError, never a read out of bounds.

SciPy builds ``csr_matrix((data, indices, indptr), shape)`` without reading
the indices, and the arrays can be edited afterwards.  The engine (and
SciPy's own conversions fastnn calls) take them as addresses, so every entry
point refuses them first.  Unsorted and duplicate indices are valid.
"""

import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose
from sklearn.exceptions import ConvergenceWarning

from fastnn import MLPClassifier, MLPRegressor, check_gradients

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

RNG = np.random.RandomState(0)
DENSE = np.where(RNG.uniform(size=(40, 4)) < 0.5, RNG.normal(size=(40, 4)), 0.0)
Y_CLASS = np.arange(40) % 3
Y_REG = DENSE @ [1.0, -1.0, 0.5, 2.0]
FIT = dict(hidden_layer_sizes=(5,), max_iter=3, random_state=0)


def _set(name, position, value):
    def edit(A, n_minor):
        getattr(A, name)[position] = value

    return edit


def _index_at_the_bound(A, n_minor):
    A.indices[3] = n_minor


def _swap_two_ends(A, n_minor):
    # Row (or column) i then ends after row i + 1 does: still within the
    # arrays, so only the order tells.
    i = 1 + np.flatnonzero(np.diff(A.indptr[1:]))[0]
    A.indptr[i], A.indptr[i + 1] = A.indptr[i + 1], A.indptr[i]


def _end_past_the_arrays(A, n_minor):
    A.indptr[-1] += 5


# Edits of a valid matrix's arrays, and what the message must say of each.
# The first three store indices outside [0, n): -2 and 10**6 used to crash
# the interpreter, n to read past the first layer's weights.
MALFORMED = {
    "index_-2": (_set("indices", 3, -2), "indices must be >= 0; got -2"),
    "index_n": (_index_at_the_bound, r"indices must be < (\d+) .*; got \1\.$"),
    "index_10**6": (_set("indices", 3, 10**6), "got 1000000"),
    "indptr_decreasing": (_swap_two_ends, "indptr must be a non-decreasing"),
    "indptr_negative": (_set("indptr", 2, -3), "indptr must be a non-decreasing"),
    "indptr_past_nnz": (_end_past_the_arrays, "last value of indptr"),
    "indptr_starts_at_1": (_set("indptr", 0, 1), "indptr should start with 0; got 1"),
}


def _malformed(case, fmt="csr", index_dtype=np.int32, dense=DENSE):
    """``dense`` as a ``fmt`` matrix, then edited as ``case`` says."""
    A = sp.csr_matrix(dense) if fmt == "csr" else sp.csc_matrix(dense)
    # Copies: SciPy may share index arrays between matrices.
    A.indices = A.indices.astype(index_dtype)
    A.indptr = A.indptr.astype(index_dtype)
    MALFORMED[case][0](A, A.shape[1] if fmt == "csr" else A.shape[0])
    return A


def _refused(case, fmt="csr", name="X"):
    message = MALFORMED[case][1]
    return pytest.raises(
        ValueError, match=rf"^{name} is a malformed {fmt.upper()} matrix: .*{message}"
    )


def _float32(X):
    X.data = X.data.astype(np.float32)
    return X


# What each entry point is given, and how it is called on a matrix X.
CALLS = {
    "fit_sgd": lambda X: MLPClassifier(solver="sgd", **FIT).fit(X, Y_CLASS),
    "fit_lbfgs": lambda X: MLPRegressor(solver="lbfgs", **FIT).fit(X, Y_REG),
    "fit_early_stopping": lambda X: MLPClassifier(early_stopping=True, **FIT).fit(
        X, Y_CLASS
    ),
    "partial_fit": lambda X: MLPClassifier(**FIT).partial_fit(
        X, Y_CLASS, classes=[0, 1, 2]
    ),
    "partial_fit_float32_model": lambda X: (
        MLPRegressor(**FIT)
        .partial_fit(DENSE.astype(np.float32), Y_REG)
        .partial_fit(X, Y_REG)
    ),
    "predict": lambda X: _FITTED_CLASSIFIER.predict(X),
    "predict_proba": lambda X: _FITTED_CLASSIFIER.predict_proba(X),
    "score": lambda X: _FITTED_REGRESSOR.score(X, Y_REG),
    "predict_float32_model": lambda X: _FITTED_FLOAT32.predict(X),
    # The input is cast to the model's float64 before the engine reads it.
    "predict_float32_input": lambda X: _FITTED_REGRESSOR.predict(_float32(X)),
    "check_gradients": lambda X: check_gradients(_FITTED_CLASSIFIER, X, Y_CLASS),
}


def _fitted(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


_FITTED_CLASSIFIER = _fitted(MLPClassifier(**FIT), DENSE, Y_CLASS)
_FITTED_REGRESSOR = _fitted(MLPRegressor(**FIT), DENSE, Y_REG)
_FITTED_FLOAT32 = _fitted(MLPRegressor(**FIT), DENSE.astype(np.float32), Y_REG)


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("case", MALFORMED)
def test_every_entry_point_refuses_a_malformed_csr_matrix(case, call):
    with _refused(case):
        CALLS[call](_malformed(case))


@pytest.mark.parametrize("call", ["fit_sgd", "fit_lbfgs", "predict", "check_gradients"])
@pytest.mark.parametrize("case", MALFORMED)
def test_a_malformed_csc_matrix_is_refused_before_scipy_converts_it(case, call):
    # SciPy's tocsr writes through a CSC matrix's row indices.
    with _refused(case, "csc"):
        CALLS[call](_malformed(case, "csc"))


@pytest.mark.parametrize(
    "case, index_dtype",
    [
        ("index_-2", np.int64),
        ("index_10**6", np.int64),
        ("indptr_decreasing", np.int64),
        # SciPy makes int32 or int64 index arrays, but takes any in their
        # place once built.
        ("index_10**6", np.uint32),
        ("indptr_decreasing", np.uint32),
        ("index_-2", np.int16),
    ],
)
def test_malformed_matrices_of_any_index_dtype_are_refused(case, index_dtype):
    with _refused(case):
        CALLS["predict"](_malformed(case, index_dtype=index_dtype))


@pytest.mark.parametrize("case", MALFORMED)
def test_a_malformed_validation_set_is_refused_naming_x_val(case):
    model = MLPClassifier(early_stopping=True, **FIT)
    X_val = _malformed(case, dense=DENSE[:20])
    with _refused(case, name="X_val"):
        model.fit(sp.csr_matrix(DENSE), Y_CLASS, X_val=X_val, y_val=Y_CLASS[:20])


def test_integer_data_is_refused_before_its_conversion_reads_indptr():
    # Converting the dtype makes SciPy sort each row through indptr: a row
    # ending a billion entries on used to hang or crash there.
    A = sp.csr_matrix(np.round(DENSE * 3).astype(np.int64))
    A.indptr = A.indptr.copy()
    A.indptr[1] = 10**9
    with pytest.raises(ValueError, match="X is a malformed CSR matrix: indptr"):
        MLPClassifier(**FIT).fit(A, Y_CLASS)


@pytest.mark.parametrize("fmt", ["coo", "bsr"])
def test_formats_converted_to_csr_are_refused_after_conversion(fmt):
    # SciPy copies their column indices unchecked into the CSR matrix.
    A = sp.csr_matrix(DENSE).asformat(fmt)
    if fmt == "coo":
        A.col[3] = 10**6
    else:
        A.indices[3] = 10**6
    with pytest.raises(ValueError, match="X is a malformed CSR matrix: column"):
        MLPClassifier(**FIT).fit(A, Y_CLASS)


@pytest.mark.parametrize(
    "fmt, case, message",
    [
        ("csr", "index_n", "column indices must be < 4 (X has 4 columns); got 4."),
        ("csc", "index_-2", "row indices must be >= 0; got -2."),
        (
            "csr",
            "indptr_past_nnz",
            "the last value of indptr (78) exceeds the size "
            "of its indices and data arrays (73 and 73).",
        ),
    ],
)
def test_the_message_says_what_is_wrong_with_x(fmt, case, message):
    with pytest.raises(ValueError) as caught:
        _FITTED_CLASSIFIER.predict(_malformed(case, fmt))
    assert str(caught.value) == f"X is a malformed {fmt.upper()} matrix: {message}"


def test_malformed_arrays_of_other_shapes_or_dtypes_are_refused():
    A = sp.csr_matrix(DENSE)
    A.indptr = A.indptr[:-1]
    with pytest.raises(ValueError, match="indptr has 40 entries; it should have 41"):
        _FITTED_CLASSIFIER.predict(A)
    A = sp.csr_matrix(DENSE)
    A.indices = A.indices.astype(np.float64)
    with pytest.raises(ValueError, match="indices and indptr must hold integers"):
        _FITTED_CLASSIFIER.predict(A)


def test_valid_edge_cases_pass():
    # No stored entry, stored entries past indptr[-1] (never read), and a
    # wide matrix of one row.
    empty = sp.csr_matrix(DENSE.shape)
    assert _FITTED_CLASSIFIER.predict(empty).shape == (40,)
    A = sp.csr_matrix(DENSE)
    A.indices = np.concatenate([A.indices, [10**6, -2]]).astype(A.indices.dtype)
    A.data = np.concatenate([A.data, [1.0, 2.0]])
    assert_allclose(
        _FITTED_CLASSIFIER.predict_proba(A), _FITTED_CLASSIFIER.predict_proba(DENSE)
    )
    wide = MLPRegressor(**FIT).fit(sp.csr_matrix(np.eye(2, 3000)), [0.0, 1.0])
    assert wide.predict(sp.csr_matrix(np.eye(1, 3000))).shape == (1,)


def _non_canonical(A):
    """A with each row's entries reversed and its first entry split in two
    stored halves."""
    indices, data, indptr = [], [], [0]
    for i in range(A.shape[0]):
        row = slice(A.indptr[i], A.indptr[i + 1])
        cols, vals = A.indices[row][::-1], A.data[row][::-1]
        if len(cols):
            # Halves add up to the value exactly.
            cols = np.append(cols, cols[0])
            vals = np.append(vals, vals[0] / 2)
            vals[0] = vals[-1]
        indices.extend(cols)
        data.extend(vals)
        indptr.append(len(indices))
    B = sp.csr_matrix((data, indices, indptr), shape=A.shape)
    assert not B.has_canonical_format
    return B


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_unsorted_and_duplicate_indices_fit_as_their_canonical_form(solver):
    A = sp.csr_matrix(DENSE)
    B = _non_canonical(A)
    assert (B.toarray() == DENSE).all()
    ours = MLPClassifier(solver=solver, **FIT).fit(B, Y_CLASS)
    canonical = MLPClassifier(solver=solver, **FIT).fit(A, Y_CLASS)
    for a, b in zip(
        ours.coefs_ + ours.intercepts_, canonical.coefs_ + canonical.intercepts_
    ):
        assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    assert_allclose(ours.predict_proba(B), canonical.predict_proba(A), rtol=1e-10)
    # The caller's matrix is left as it was: not summed, not sorted.
    assert not B.has_canonical_format


CHILD = """
import warnings

import numpy as np
import scipy.sparse as sp

from fastnn import MLPClassifier

warnings.simplefilter("ignore")
rng = np.random.RandomState(0)
X = np.where(rng.uniform(size=(200, 50)) < 0.3, rng.normal(size=(200, 50)), 0.0)
y = np.arange(200) % 2
model = MLPClassifier(hidden_layer_sizes=(8,), max_iter=2, random_state=0).fit(X, y)
calls = {
    "predict": model.predict,
    "partial_fit": lambda A: model.partial_fit(A, y),
    "fit": lambda A: MLPClassifier(max_iter=2, random_state=0).fit(A, y),
}
for fmt in ("csr", "csc"):
    for value in (10**6, -2, -(10**9)):
        for name, call in calls.items():
            A = sp.csr_matrix(X) if fmt == "csr" else sp.csc_matrix(X)
            A.indices = A.indices.copy()
            A.indices[len(A.indices) // 2] = value
            try:
                call(A)
            except ValueError as exc:
                assert "malformed" in str(exc), exc
            else:
                raise AssertionError(f"{fmt} {name} {value}: no error")
print("ok")
"""


def test_indices_that_used_to_crash_the_interpreter_raise_in_a_fresh_one(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(CHILD))
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
        env=os.environ,
    )
    assert result.returncode == 0, (
        f"child exited with {result.returncode}\n{result.stdout}\n{result.stderr}"
    )
    assert result.stdout.strip() == "ok"
