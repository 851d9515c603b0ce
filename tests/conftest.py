"""Fixtures shared by several test modules, and the report header."""

import os

import pytest


def pytest_report_header(config) -> str:
    """Name the fastnn build under test: where it was imported from and how.

    From a checkout, ``import fastnn`` can resolve to the sources' in-place
    build or to an installed copy; the header says which one ran.
    """
    from fastnn._engine._threads import cython_version, openmp_enabled

    import fastnn

    return (
        f"fastnn {fastnn.__version__} from {os.path.dirname(fastnn.__file__)} "
        f"(built with Cython {cython_version()}, OpenMP {openmp_enabled()})"
    )


# distributed's nanny writes OMP_NUM_THREADS=1 (and its like) into this
# process's environment when it starts workers, and leaves it there: a child
# process started by any later test would inherit a one-thread limit.
_THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
_SESSION_THREAD_ENV = {name: os.environ.get(name) for name in _THREAD_ENV}


@pytest.fixture(autouse=True)
def _session_thread_environment():
    """Give every test the thread environment the session started with."""
    for name, value in _SESSION_THREAD_ENV.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    yield


@pytest.fixture(scope="module")
def client():
    """A distributed Client on a real LocalCluster, one per test module.

    Two worker processes on the loopback interface with one thread each:
    pickling, importing fastnn on the workers, their thread limits and the
    data crossing process boundaries are all exercised.
    """
    distributed = pytest.importorskip("distributed")  # the `dask` extra
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        # Any free port: None still binds the scheduler's HTTP server to
        # 8787, and warns when another cluster on the machine holds it.
        dashboard_address=":0",
    )
    with distributed.Client(cluster) as client:
        yield client
    cluster.close()
