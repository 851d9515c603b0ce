"""SensitivityDisplay: input sensitivities as a bar chart or as heat maps.

Follows scikit-learn's Display convention (``from_estimator``, a
``from_<result>`` constructor, ``plot(ax=...)`` storing the artists, ``ax_``
and ``figure_``); matplotlib is imported only inside the plotting methods.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.base import is_classifier
from sklearn.utils._optional_dependencies import check_matplotlib_support

from ._sensitivity import _check_inputs, _output_index, _split_model, _summarize

_KINDS = ("auto", "bar", "image")


def _check_kind(kind: str, image_shape) -> str:
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}.")
    _check_image_shape(image_shape)
    if kind == "auto":
        return "bar" if image_shape is None else "image"
    return kind


def _check_image_shape(image_shape) -> None:
    if image_shape is None:
        return
    try:
        entries = list(image_shape)
    except TypeError:
        entries = None
    if (
        entries is None
        or len(entries) != 2
        or not all(
            isinstance(n, Integral) and not isinstance(n, bool) and n > 0
            for n in entries
        )
    ):
        raise ValueError(
            "image_shape must hold 2 positive integers (height, width), "
            f"got {image_shape!r}."
        )


def _as_list(target) -> list:
    if isinstance(target, (list, tuple, np.ndarray)):
        return list(target)
    return [target]


def _need_one_panel(kind: str, values: np.ndarray) -> None:
    if kind == "bar" and values.ndim != 1:
        raise ValueError(
            f"A bar chart shows the sensitivities of one output; these have "
            f"{values.shape[0]} outputs: choose one with target=."
        )


class SensitivityDisplay:
    """Input sensitivities as a bar chart of the top features, or heat maps.

    Read more in the :doc:`User Guide </user_guide/inspection>`.

    It is recommended to use :meth:`from_estimator` or
    :meth:`from_sensitivity` to create a display.  All parameters are stored
    as attributes.

    Parameters
    ----------
    importances_mean : ndarray of shape (n_features,) or \
            (n_rows, n_cols, n_features)
        The sensitivity of each feature: one set for a bar chart or a single
        heat map, or a grid of sets drawn as a grid of heat maps.
    importances_std : ndarray of shape (n_features,), default=None
        Error bars of the bar chart.
    feature_names : array-like of str of shape (n_features,), default=None
        Names on the bar chart; ``x0``, ``x1``, ... when None.
    image_shape : tuple of int (height, width), default=None
        Shape of the images whose pixels are the features, for heat maps.
    row_labels : list of str, default=None
        Label of each row of a grid of heat maps.
    column_labels : list of str, default=None
        Label of each column of a grid of heat maps.
    title : str, default=None
        Title of the plot.

    Attributes
    ----------
    bars_ : matplotlib BarContainer or None
        The bars, in decreasing order of absolute sensitivity (bar chart).
    images_ : ndarray of matplotlib AxesImage of shape (n_rows, n_cols) or None
        The heat maps.
    ax_ : matplotlib Axes or ndarray of Axes of shape (n_rows, n_cols)
        The axes of the plot; an array when the heat maps have several
        panels.
    bounding_ax_ : matplotlib Axes or None
        The axes passed as ``ax`` and divided into the panels, if any.
    figure_ : matplotlib Figure
        The figure holding the plot.

    See Also
    --------
    input_sensitivity : Compute the sensitivities.
    sklearn.inspection.PartialDependenceDisplay : Partial dependence plots.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> import numpy as np
    >>> from fastnn.inspection import SensitivityDisplay
    >>> disp = SensitivityDisplay(np.array([0.1, -0.5, 0.2]),
    ...                           feature_names=["a", "b", "c"])
    >>> disp.plot()
    <...SensitivityDisplay object at ...>
    >>> [label.get_text() for label in disp.ax_.get_yticklabels()]
    ['b', 'c', 'a']
    >>> plt.close("all")
    """

    def __init__(
        self,
        importances_mean,
        *,
        importances_std=None,
        feature_names=None,
        image_shape=None,
        row_labels=None,
        column_labels=None,
        title=None,
    ):
        self.importances_mean = importances_mean
        self.importances_std = importances_std
        self.feature_names = feature_names
        self.image_shape = image_shape
        self.row_labels = row_labels
        self.column_labels = column_labels
        self.title = title

    def plot(self, *, kind: str = "auto", max_features: int = 10, ax=None):
        """Plot the sensitivities.

        Parameters
        ----------
        kind : {"auto", "bar", "image"}, default="auto"
            ``"bar"``: horizontal bars of the ``max_features`` features of
            largest absolute sensitivity, largest at the top, with
            ``importances_std`` as error bars.  ``"image"``: each set of
            sensitivities reshaped to ``image_shape`` and drawn as a heat map,
            signed values in a diverging map centred on zero, non-negative
            ones from zero up, one colour scale per row.  ``"auto"`` draws
            heat maps when ``image_shape`` is set, bars otherwise.
        max_features : int, default=10
            Number of bars.
        ax : matplotlib Axes or array-like of Axes, default=None
            Axes to plot on; None creates a figure, with constrained layout
            so that long feature names fit in it (on Axes of your own, the
            figure's layout is yours to choose).  For several heat maps, a
            single Axes is divided into the panels and an array of Axes must
            have one per panel.

        Returns
        -------
        display : SensitivityDisplay
            The display, with the artists stored.

        Examples
        --------
        >>> import matplotlib.pyplot as plt
        >>> import numpy as np
        >>> from fastnn.inspection import SensitivityDisplay
        >>> values = np.arange(6.0).reshape(1, 1, 6)
        >>> disp = SensitivityDisplay(values, image_shape=(2, 3)).plot()
        >>> disp.images_[0, 0].get_array().shape
        (2, 3)
        >>> plt.close("all")
        """
        check_matplotlib_support(f"{type(self).__name__}.plot")
        kind = _check_kind(kind, self.image_shape)
        values = np.asarray(self.importances_mean)
        if values.ndim not in (1, 3):
            raise ValueError(
                "importances_mean must have shape (n_features,) or "
                f"(n_rows, n_cols, n_features); got {values.shape}."
            )
        self.bars_ = self.images_ = self.bounding_ax_ = None
        if kind == "bar":
            if values.ndim != 1:
                raise ValueError(
                    "A bar chart shows one set of sensitivities; "
                    f"importances_mean has shape {values.shape}."
                )
            self._plot_bars(values, max_features, ax)
        else:
            if values.ndim == 1:
                values = values[None, None]
            self._plot_images(values, ax)
        return self

    def _plot_bars(self, values: np.ndarray, max_features: int, ax) -> None:
        import matplotlib.pyplot as plt

        n_features = values.shape[0]
        names = self.feature_names
        if names is None:
            names = [f"x{j}" for j in range(n_features)]
        names = np.asarray(names, dtype=object)
        if names.shape != (n_features,):
            raise ValueError(
                f"feature_names has {names.size} names for {n_features} features."
            )
        if ax is None:
            # Constrained layout fits the axes to the labels when the figure
            # is drawn: long feature names would otherwise run off its left
            # edge in a saved picture.
            _, ax = plt.subplots(layout="constrained")
        order = np.argsort(-np.abs(values), kind="stable")[:max_features]
        std = self.importances_std
        xerr = None if std is None else np.asarray(std)[order]
        position = np.arange(len(order))[::-1]  # largest at the top
        self.bars_ = ax.barh(position, values[order], xerr=xerr)
        ax.set_yticks(position, labels=[str(name) for name in names[order]])
        ax.set_xlabel("sensitivity")
        if self.title is not None:
            ax.set_title(self.title)
        self.ax_ = ax
        self.figure_ = ax.figure

    def _panel_axes(self, ax, n_rows: int, n_cols: int) -> np.ndarray:
        import matplotlib.pyplot as plt
        from matplotlib.axes import Axes
        from matplotlib.gridspec import GridSpecFromSubplotSpec

        if ax is None:
            _, axes = plt.subplots(
                n_rows,
                n_cols,
                squeeze=False,
                figsize=(1.5 * n_cols + 1.5, 1.5 * n_rows + 0.7),
            )
            return axes
        if isinstance(ax, Axes):
            if n_rows * n_cols == 1:
                return np.array([[ax]])
            spec = ax.get_subplotspec()
            if spec is None:
                raise ValueError(
                    "To hold several heat maps, ax must be a subplot "
                    "(e.g. from plt.subplots) or an array of Axes."
                )
            ax.set_axis_off()
            self.bounding_ax_ = ax
            grid = GridSpecFromSubplotSpec(n_rows, n_cols, subplot_spec=spec)
            return np.array(
                [
                    [ax.figure.add_subplot(grid[r, c]) for c in range(n_cols)]
                    for r in range(n_rows)
                ]
            )
        axes = np.asarray(ax, dtype=object)
        if axes.size != n_rows * n_cols:
            raise ValueError(
                f"Expected ax to have {n_rows * n_cols} axes, got {axes.size}."
            )
        return axes.reshape(n_rows, n_cols)

    def _plot_images(self, values: np.ndarray, ax) -> None:
        shape = self.image_shape
        _check_image_shape(shape)
        if shape is None or int(np.prod(shape)) != values.shape[-1]:
            raise ValueError(
                f"image_shape={shape} does not hold the {values.shape[-1]} "
                "features: its product must equal the number of features."
            )
        n_rows, n_cols = values.shape[:2]
        axes = self._panel_axes(ax, n_rows, n_cols)
        figure = axes[0, 0].figure
        self.images_ = np.empty((n_rows, n_cols), dtype=object)
        for r in range(n_rows):
            # One scale per row, so that its panels compare.
            vmax = float(np.abs(values[r]).max()) or 1.0
            signed = bool((values[r] < 0).any())
            style = dict(
                cmap="RdBu_r" if signed else "viridis",
                vmin=-vmax if signed else 0.0,
                vmax=vmax,
                interpolation="nearest",
            )
            for c in range(n_cols):
                panel = axes[r, c]
                self.images_[r, c] = panel.imshow(values[r, c].reshape(shape), **style)
                panel.set_xticks([])
                panel.set_yticks([])
                if r == 0 and self.column_labels is not None:
                    panel.set_title(str(self.column_labels[c]), fontsize="small")
                if c == 0 and self.row_labels is not None:
                    panel.set_ylabel(str(self.row_labels[r]), fontsize="small")
            # The bar takes a share of the whole row: keep it narrow for many
            # panels.
            figure.colorbar(
                self.images_[r, -1],
                ax=list(axes[r]),
                shrink=0.8,
                fraction=0.15 / n_cols,
                pad=0.1 / n_cols,
            )
        if self.title is not None:
            if n_rows * n_cols == 1:
                axes[0, 0].set_title(self.title)
            elif self.bounding_ax_ is not None:
                self.bounding_ax_.set_title(self.title)
            elif ax is None:
                figure.suptitle(self.title)
        self.ax_ = axes[0, 0] if n_rows * n_cols == 1 else axes
        self.figure_ = figure

    @classmethod
    def from_sensitivity(
        cls,
        sensitivity,
        *,
        target=None,
        feature_names=None,
        image_shape=None,
        kind: str = "auto",
        max_features: int = 10,
        ax=None,
    ):
        """Plot the result of :func:`input_sensitivity`.

        Parameters
        ----------
        sensitivity : :class:`~sklearn.utils.Bunch`
            What :func:`input_sensitivity` returned.
        target : int or list of int, default=None
            For a result with an output axis (several outputs, no ``y``), the
            output(s) to show.  None shows every output as heat maps; a bar
            chart needs exactly one.
        feature_names : array-like of str, default=None
            Names of the features; ``x0``, ``x1``, ... when None.
        image_shape : tuple of int (height, width), default=None
            Shape of the images whose pixels are the features.
        kind : {"auto", "bar", "image"}, default="auto"
            See :meth:`plot`.
        max_features : int, default=10
            Number of bars.
        ax : matplotlib Axes or array-like of Axes, default=None
            See :meth:`plot`.

        Returns
        -------
        display : SensitivityDisplay

        Examples
        --------
        >>> import matplotlib.pyplot as plt
        >>> import numpy as np
        >>> from fastnn import MLPRegressor
        >>> from fastnn.inspection import SensitivityDisplay, input_sensitivity
        >>> rng = np.random.RandomState(0)
        >>> X = rng.normal(size=(100, 3))
        >>> reg = MLPRegressor(hidden_layer_sizes=(8,), max_iter=50,
        ...                    random_state=0).fit(X, X[:, 2])
        >>> result = input_sensitivity(reg, X, X[:, 2])
        >>> disp = SensitivityDisplay.from_sensitivity(result)
        >>> len(disp.bars_)
        3
        >>> plt.close("all")
        """
        check_matplotlib_support(f"{cls.__name__}.from_sensitivity")
        kind = _check_kind(kind, image_shape)
        mean = np.asarray(sensitivity.importances_mean)
        std = np.asarray(sensitivity.importances_std)
        columns = None
        if mean.ndim == 2:
            outputs = range(mean.shape[0]) if target is None else _as_list(target)
            for k in outputs:
                if not isinstance(k, (int, np.integer)) or not 0 <= k < len(mean):
                    raise ValueError(
                        f"target={k!r} must be an output index in [0, {len(mean) - 1}]."
                    )
            outputs = list(outputs)
            mean, std = mean[outputs], std[outputs]
            columns = [f"output {k}" for k in outputs]
            if len(outputs) == 1:
                mean, std = mean[0], std[0]
            _need_one_panel(kind, mean)
            if mean.ndim == 2:
                mean = mean[None]
        elif target is not None:
            raise ValueError(
                "target selects an output, and this sensitivity has none "
                "(it is of the loss or of the model's only output)."
            )
        display = cls(
            mean,
            importances_std=std if mean.ndim == 1 else None,
            feature_names=feature_names,
            image_shape=image_shape,
            column_labels=columns,
        )
        return display.plot(kind=kind, max_features=max_features, ax=ax)

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        y=None,
        *,
        sample_weight=None,
        target=None,
        feature_names=None,
        image_shape=None,
        kind: str = "auto",
        max_features: int = 10,
        ax=None,
    ):
        """Compute and plot the input sensitivities of a fitted model.

        The bar chart ranks the features by their mean absolute sensitivity
        (``input_sensitivity(..., reduce="mean_abs")``) with its standard
        deviation as error bars.  The heat maps show, for each output shown
        (or the loss), two panels: the mean signed sensitivity of each pixel
        (which way it moves the loss or output) and the mean absolute one
        (how much).

        Parameters
        ----------
        estimator : fitted MLPClassifier, MLPRegressor or Pipeline
            As for :func:`input_sensitivity`.
        X : array-like of shape (n_samples, n_features)
            Dense input.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs), \
                default=None
            Targets: when given, the sensitivity of each sample's loss;
            otherwise of the outputs.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples in the averages.
        target : class label, int or list of them, default=None
            Without ``y``, the output(s) to show: class labels of a
            classifier (a binary classifier's ``classes_[0]`` shows the
            negated gradient of the probability of ``classes_[1]``), output
            indices of a regressor.  None shows every output as heat maps;
            a bar chart of a model with several outputs needs exactly one.
        feature_names : array-like of str, default=None
            Names of the features; when None, the estimator's
            ``feature_names_in_`` if it has them, else ``x0``, ``x1``, ...
        image_shape : tuple of int (height, width), default=None
            Shape of the images whose pixels are the features; e.g. (8, 8)
            for scikit-learn's digits.
        kind : {"auto", "bar", "image"}, default="auto"
            See :meth:`plot`.
        max_features : int, default=10
            Number of bars.
        ax : matplotlib Axes or array-like of Axes, default=None
            See :meth:`plot`.

        Returns
        -------
        display : SensitivityDisplay

        Examples
        --------
        >>> import matplotlib.pyplot as plt
        >>> from sklearn.datasets import load_digits
        >>> from fastnn import MLPClassifier
        >>> from fastnn.inspection import SensitivityDisplay
        >>> X, y = load_digits(return_X_y=True)
        >>> clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=20,
        ...                     random_state=0).fit(X / 16, y)
        >>> disp = SensitivityDisplay.from_estimator(
        ...     clf, X[:200] / 16, target=[0, 1, 2], image_shape=(8, 8))
        >>> disp.images_.shape
        (2, 3)
        >>> plt.close("all")
        """
        check_matplotlib_support(f"{cls.__name__}.from_estimator")
        kind = _check_kind(kind, image_shape)
        _, model = _split_model(estimator)
        if y is not None and target is not None:
            raise ValueError(
                "target selects an output; with y the sensitivity is of the "
                "loss, which has none. Pass y=None to see the outputs."
            )
        gradient, sample_weight = _check_inputs(estimator, X, y, sample_weight)
        columns = ["loss"] if y is not None else None
        quantity = "∂loss/∂x" if y is not None else "∂output/∂x"
        if y is None:
            if target is None:
                # A binary classifier's one output is classes_[1]'s probability.
                labels = (
                    list(model.classes_[-model.n_outputs_ :])
                    if is_classifier(model)
                    else list(range(model.n_outputs_))
                )
            else:
                labels = _as_list(target)
                picks = [_output_index(estimator, label) for label in labels]
                gradient = np.stack(
                    [sign * gradient[:, k] for k, sign in picks], axis=1
                )
            prefix = "class" if is_classifier(model) else "output"
            columns = [f"{prefix} {label}" for label in labels]
            if gradient.shape[1] == 1:
                gradient = gradient[:, 0]
        if feature_names is None:
            feature_names = getattr(estimator, "feature_names_in_", None)
        if kind == "bar":
            _need_one_panel(kind, gradient[0])
            result = _summarize(gradient, sample_weight, "mean_abs")
            display = cls(
                result.importances_mean,
                importances_std=result.importances_std,
                feature_names=feature_names,
                title=f"{columns[0]}: mean |{quantity}|",
            )
        else:
            signed = _summarize(gradient, sample_weight, "mean").importances_mean
            absolute = _summarize(gradient, sample_weight, "mean_abs")
            grid = np.stack([signed, absolute.importances_mean]).reshape(
                2, len(columns), -1
            )
            display = cls(
                grid,
                feature_names=feature_names,
                image_shape=image_shape,
                row_labels=[f"mean {quantity}", f"mean |{quantity}|"],
                column_labels=columns,
            )
        return display.plot(kind=kind, max_features=max_features, ax=ax)
