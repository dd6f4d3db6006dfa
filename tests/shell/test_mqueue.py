"""The POSIX message queue binding."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from ltsp_mesh.errors import ConfigError
from ltsp_mesh.shell.client.mqueue import MessageQueue, queue_name


@pytest.fixture
def name() -> Iterator[str]:
    name = f"ltsp-mesh-test-{secrets.token_hex(4)}"
    yield name
    try:
        MessageQueue(name, create=True).unlink()
    except OSError:
        pass


def test_a_reader_receives_what_the_writer_publishes(name: str) -> None:
    writer, reader = MessageQueue(name, create=True), None
    try:
        reader = MessageQueue(name, create=False)
        writer.publish(b"snapshot")
        assert reader.receive() == b"snapshot"
        assert reader.receive() is None
    finally:
        writer.close()
        if reader:
            reader.close()


def test_publishing_to_a_full_queue_replaces_the_old_message(name: str) -> None:
    queue = MessageQueue(name, create=True, max_messages=1)
    try:
        queue.publish(b"old")
        queue.publish(b"new")
        assert queue.receive() == b"new"
    finally:
        queue.close()


def test_opening_a_queue_that_does_not_exist_is_file_not_found(name: str) -> None:
    with pytest.raises(FileNotFoundError):
        MessageQueue(name, create=False)


def test_unlink_removes_the_queue(name: str) -> None:
    queue = MessageQueue(name, create=True)
    queue.close()
    queue.unlink()
    with pytest.raises(FileNotFoundError):
        MessageQueue(name, create=False)


@pytest.mark.parametrize("bad", ["", "/", "a/b", "x" * 300])
def test_queue_names_are_one_word(bad: str) -> None:
    with pytest.raises(ConfigError):
        queue_name(bad)


def test_a_leading_slash_is_optional() -> None:
    assert queue_name("ltsp-mesh") == queue_name("/ltsp-mesh") == b"/ltsp-mesh"
