"""The garbage collector of web and worker processes: start-up frozen, collections spaced."""

from __future__ import annotations

import gc

import pytest
from celery.signals import worker_init

from sms_agent.ops.collector import OLDER_GENERATIONS, tune_collector


@pytest.fixture
def collector():
    """Puts Python's collector back as it was: other tests run in this process too."""
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_a_ready_process_freezes_what_start_up_built_and_spaces_collections(collector):
    tune_collector({"GC_GEN0_THRESHOLD": 50_000})
    assert gc.get_threshold() == (50_000, *OLDER_GENERATIONS)
    assert gc.get_freeze_count() > 0


def test_a_threshold_of_zero_keeps_pythons_own_settings(collector):
    before = gc.get_threshold()
    tune_collector({"GC_GEN0_THRESHOLD": 0})
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_a_celery_worker_tunes_its_collector_from_the_apps_config(app, collector):
    app.config["GC_GEN0_THRESHOLD"] = 12_345
    worker = type("Worker", (), {"app": app.extensions["celery"]})()  # the WorkController
    worker_init.send(sender=worker)
    assert gc.get_threshold() == (12_345, *OLDER_GENERATIONS)
