"""The connect worker's garbage-collector schedule."""

import gc

import pytest
from fastapi import FastAPI

from connectors import worker as worker_module
from connectors.runtime.collector import tune_collector
from ops.settings import HubSettings


@pytest.fixture
def restore_gc():
    saved = gc.get_threshold()
    yield
    gc.set_threshold(*saved)


def test_tune_collector_sets_only_the_first_threshold(restore_gc):
    gc.set_threshold(700, 11, 12)
    assert tune_collector(25_000) == (700, 11, 12)
    assert gc.get_threshold() == (25_000, 11, 12)


def test_tune_collector_refuses_less_than_the_default(restore_gc):
    with pytest.raises(ValueError, match="at least 700"):
        tune_collector(0)  # 0 would switch the collector off


def test_settings_refuse_a_threshold_below_the_default():
    with pytest.raises(ValueError):
        HubSettings(connect_gc_threshold=10)


def test_connect_worker_applies_the_configured_threshold(restore_gc, monkeypatch, tmp_path):
    seen = {}

    class Worker:  # stands in for ConnectWorker: records the collector's schedule while it runs
        worker_id = "w-test"

        def __init__(self, *args, **kwargs):
            pass

        def run(self):
            seen["threshold"] = gc.get_threshold()[0]

        def stop(self):
            pass

    monkeypatch.setattr(worker_module, "ConnectWorker", Worker)
    monkeypatch.setattr(worker_module, "build_app", lambda worker: FastAPI())
    monkeypatch.setattr(worker_module.signal, "signal", lambda *args: None)
    settings = HubSettings(environment="test", database_url=f"sqlite:///{tmp_path / 'hub.db'}",
                           connect_gc_threshold=12_345)
    assert worker_module.run_worker(settings) == 0
    assert seen["threshold"] == 12_345
