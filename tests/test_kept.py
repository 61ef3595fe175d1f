"""Vendor clients kept per thread: reused while the settings stay, closed when they change."""

from __future__ import annotations

import threading

from sms_agent.vendors.per_thread import PerThread


class Recorder:
    def __init__(self):
        self.built: list[tuple] = []
        self.closed: list[tuple] = []

    def kept(self) -> PerThread:
        return PerThread(self.build, close=self.closed.append)

    def build(self, *settings):
        client = ("client", *settings, len(self.built))
        self.built.append(client)
        return client


def test_the_same_settings_get_the_same_client():
    recorder = Recorder()
    kept = recorder.kept()
    assert kept.get("key", "http://a") is kept.get("key", "http://a")
    assert len(recorder.built) == 1 and recorder.closed == []


def test_new_settings_close_the_old_client_first():
    recorder = Recorder()
    kept = recorder.kept()
    old = kept.get("key", "http://a")
    new = kept.get("key", "http://b")
    assert new is not old
    assert recorder.closed == [old]


def test_each_thread_has_its_own_client():
    recorder = Recorder()
    kept = recorder.kept()
    mine = kept.get("key")
    theirs = []
    thread = threading.Thread(target=lambda: theirs.append(kept.get("key")))
    thread.start()
    thread.join()
    assert theirs[0] is not mine and len(recorder.built) == 2


def test_forget_closes_the_client_and_the_next_get_builds_one():
    recorder = Recorder()
    kept = recorder.kept()
    first = kept.get("key")
    kept.forget()
    assert recorder.closed == [first]
    assert kept.get("key") is not first
    kept.forget()
    kept.forget()  # nothing kept: nothing to close
    assert len(recorder.closed) == 2
