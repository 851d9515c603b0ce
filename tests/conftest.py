"""Fixtures shared by several test modules."""

import pytest


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
