"""The examples in the docstrings run and print what they show."""

import doctest
import importlib
import pkgutil
import warnings

import pytest
from sklearn.exceptions import ConvergenceWarning

import fastnn
from fastnn import activations, losses
from fastnn import dask as fastnn_dask
from fastnn import inspection as fastnn_inspection
from fastnn import onnx as fastnn_onnx

METHODS = ["fit", "partial_fit", "predict", "input_gradient"]
PUBLIC = [
    fastnn.MLPClassifier,
    fastnn.MLPRegressor,
    *(
        getattr(cls, m)
        for cls in (fastnn.MLPClassifier, fastnn.MLPRegressor)
        for m in METHODS
    ),
    fastnn.MLPClassifier.predict_proba,
    fastnn.MLPClassifier.predict_log_proba,
    fastnn.show_config,
    fastnn.check_gradients,
    fastnn_onnx.to_onnx,
    fastnn_onnx.register_converters,
    activations.Activation.spec,
    fastnn_dask.partial_fit_blocks,
    fastnn_inspection.input_sensitivity,
    fastnn_inspection.SensitivityDisplay,
    fastnn_inspection.SensitivityDisplay.plot,
    fastnn_inspection.SensitivityDisplay.from_estimator,
    fastnn_inspection.SensitivityDisplay.from_sensitivity,
    fastnn_dask.fit,
    fastnn_dask.predict,
    fastnn_dask.predict_proba,
    fastnn_dask.score,
    *sorted(set(activations.ACTIVATIONS.values()), key=lambda cls: cls.__name__),
    losses.Loss.spec,
    losses.Loss.check_y,
    losses.Loss.averages_outputs.fget,
    *losses.LOSS_CLASSES.values(),
]


@pytest.mark.parametrize("obj", PUBLIC, ids=lambda o: o.__qualname__)
def test_docstring_examples(obj):
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    tests = finder.find(obj, obj.__qualname__, globs={})
    assert tests and tests[0].examples, f"{obj.__name__} has no example"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for test in tests:
            runner.run(test)
    assert runner.failures == 0


# Every module of the package, compiled ones included.
MODULES = sorted(m.name for m in pkgutil.walk_packages(fastnn.__path__, "fastnn."))
PUBLIC_DOCSTRINGS = {obj.__doc__ for obj in PUBLIC}


@pytest.mark.parametrize("name", MODULES)
def test_every_other_docstring_example_in_the_package_runs(name):
    # The examples of private helpers, properties and module docstrings
    # too: a docstring example anywhere in fastnn is one that runs.  (The
    # public names' run above.)
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for test in doctest.DocTestFinder().find(module, name):
            if test.examples and test.docstring not in PUBLIC_DOCSTRINGS:
                runner.run(test)
    assert runner.failures == 0


def test_public_methods_have_numpydoc_sections():
    for cls in (fastnn.MLPClassifier, fastnn.MLPRegressor):
        for name in ("fit", "partial_fit", "predict"):
            doc = getattr(cls, name).__doc__
            assert "Parameters\n" in doc and "Returns\n" in doc, (cls, name)


def test_every_public_name_is_covered_by_a_doctest():
    # Public functions, classes and the methods fastnn defines itself (the
    # inherited scikit-learn ones carry scikit-learn's documentation).
    import inspect

    # Class methods compare by their function: each lookup binds a new object.
    covered = {id(getattr(obj, "__func__", obj)) for obj in PUBLIC}
    public = [
        getattr(fastnn, n) for n in fastnn.__all__ if callable(getattr(fastnn, n))
    ]
    public += [getattr(fastnn_onnx, n) for n in fastnn_onnx.__all__]
    public += [getattr(fastnn_dask, n) for n in fastnn_dask.__all__]
    public += [getattr(fastnn_inspection, n) for n in fastnn_inspection.__all__]
    display = fastnn_inspection.SensitivityDisplay
    public += [getattr(display, n) for n in vars(display) if not n.startswith("_")]
    public += list(activations.ACTIVATIONS.values())
    public += list(losses.LOSS_CLASSES.values())
    for cls in (fastnn.MLPClassifier, fastnn.MLPRegressor):
        for name, member in vars(cls).items():
            if inspect.isfunction(member) and not name.startswith("_"):
                public.append(getattr(cls, name))
    missing = [
        getattr(o, "__qualname__", o)
        for o in public
        if id(getattr(o, "__func__", o)) not in covered
    ]
    assert not missing, f"no doctest for {missing}"


@pytest.mark.parametrize("cls", [fastnn.MLPClassifier, fastnn.MLPRegressor])
def test_activation_docs_list_every_accepted_name(cls):
    # The list is derived from fastnn.activations: an activation added there
    # is documented without a second edit.
    doc = cls.__doc__
    entry = doc[doc.index("    activation :") : doc.index("    solver :")]
    for name in activations.ACTIVATIONS:
        assert f"``'{name}'``" in entry
