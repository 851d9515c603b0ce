"""The order of the gallery's examples (sphinx-gallery's within_subsection_order).

From the drop-in comparison to the features, the cluster last; a script
not listed here comes after these, by file name.
"""

ORDER = [
    "plot_sklearn_comparison.py",
    "plot_activations.py",
    "plot_validation_curves.py",
    "digits_sensitivity.py",
    "plot_onnx_latency.py",
    "plot_benchmark.py",
    "quantile_intervals.py",
    "dask_lbfgs_fit.py",
    "dask_grid_search.py",
]


class ExampleOrder:
    """Sort key of an example's file name: its place in ORDER."""

    def __init__(self, src_dir: str):
        self.src_dir = src_dir

    def __call__(self, filename: str) -> tuple[int, str]:
        rank = ORDER.index(filename) if filename in ORDER else len(ORDER)
        return rank, filename
