"""Write rosbag2 bags (mcap by default, or sqlite3) of rosbags message objects or raw CDR bytes."""
from __future__ import annotations

import shutil
from pathlib import Path

from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.rosbag2.errors import WriterError

from .typestore import typestore

STORAGES = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}


class BagWriter:
    """A rosbag2 writer with one connection per topic, created on first use; a context manager.

    ``overwrite=True`` replaces an existing bag folder (rosbags never overwrites on its own).
    """

    def __init__(self, path: str | Path, *, storage: str = "mcap", overwrite: bool = False) -> None:
        if storage not in STORAGES:
            raise ValueError(f"storage={storage!r} must be one of {', '.join(STORAGES)}")
        self.path = Path(path)
        if self.path.exists():
            if not overwrite:
                raise FileExistsError(f"{self.path} already exists; remove it or pass --overwrite")
            shutil.rmtree(self.path) if self.path.is_dir() else self.path.unlink()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = Writer(self.path, version=Writer.VERSION_LATEST, storage_plugin=STORAGES[storage])
        self._connections: dict[str, object] = {}
        self._types: dict[str, str] = {}
        self.counts: dict[str, int] = {}

    def __enter__(self) -> BagWriter:
        self._writer.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self._writer.close()

    def set_custom_data(self, key: str, value: str) -> None:
        """A key/value string stored in the bag's metadata.yaml (``ros2 bag info`` shows it)."""
        self._writer.set_custom_data(key, value)

    def _connection(self, topic: str, msgtype: str):
        conn = self._connections.get(topic)
        if conn is None:
            conn = self._writer.add_connection(topic, msgtype, typestore=typestore())
            self._connections[topic] = conn
            self._types[topic] = msgtype
            self.counts[topic] = 0
        elif self._types[topic] != msgtype:
            raise WriterError(f"topic {topic} already holds {self._types[topic]}, cannot also write {msgtype}")
        return conn

    def write(self, topic: str, timestamp_ns: int, msg) -> None:
        """Serialize a rosbags message object and write it at bag time ``timestamp_ns``."""
        msgtype = msg.__msgtype__
        self.write_raw(topic, msgtype, timestamp_ns, typestore().serialize_cdr(msg, msgtype))

    def write_raw(self, topic: str, msgtype: str, timestamp_ns: int, data: bytes | memoryview) -> None:
        """Write an already CDR-serialized message (e.g. from an rclpy raw subscription)."""
        self._writer.write(self._connection(topic, msgtype), int(timestamp_ns), data)
        self.counts[topic] += 1
