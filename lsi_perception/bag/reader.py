"""Read rosbag2 bags (mcap or sqlite3) with rosbags, and salvage what a damaged bag still holds.

``BagReader`` opens a bag folder (or a bare ``.mcap`` / ``.db3`` file) and yields deserialized messages in
time order. A bag cut short by a crash or a full disk (no ``metadata.yaml``, an MCAP file without its
footer, a record cut in half) is not silently half-read: the reader finds how much is intact and raises
:class:`BagReadError` naming the file, the damage and what could be salvaged. With ``salvage=True`` it
yields the intact messages instead and keeps the report in ``reader.damage``.
"""
from __future__ import annotations

import sqlite3
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rosbags.rosbag2 import Reader
from rosbags.rosbag2.errors import ReaderError
from rosbags.rosbag2.storage_mcap import decompress as decompress_mcap_chunk

from .typestore import typestore

MCAP_MAGIC = b"\x89MCAP0\r\n"
_OP_SCHEMA, _OP_CHANNEL, _OP_MESSAGE, _OP_CHUNK = 0x03, 0x04, 0x05, 0x06


class BagReadError(ValueError):
    """A bag could not be read in full; the message names the file and what was salvaged (a ValueError, so
    the CLI reports it as a plain error)."""


@dataclass(frozen=True)
class BagMessage:
    """One message: ``topic``, ``msgtype`` (e.g. ``sensor_msgs/msg/Image``), bag ``timestamp`` (ns), ``msg``."""

    topic: str
    msgtype: str
    timestamp: int
    msg: Any


@dataclass
class DamageReport:
    """What was wrong with a bag and what could still be read."""

    path: Path
    problem: str
    salvaged_counts: dict[str, int] = field(default_factory=dict)
    last_timestamp: int | None = None

    def describe(self) -> str:
        total = sum(self.salvaged_counts.values())
        if total:
            per_topic = ", ".join(f"{topic}: {n}" for topic, n in sorted(self.salvaged_counts.items()))
            salvaged = f"salvaged {total} intact messages ({per_topic})"
        else:
            salvaged = "no intact messages could be salvaged"
        return f"bag {self.path} is damaged ({self.problem}); {salvaged}"


@dataclass(frozen=True)
class _RawMessage:
    topic: str
    msgtype: str
    timestamp: int
    data: bytes


class BagReader:
    """Iterate a rosbag2 bag's messages; a context manager.

    Attributes after ``open()``: ``topics`` {topic: msgtype}, ``counts`` {topic: messages},
    ``custom_data`` (rosbag2 metadata custom_data, {} when absent), ``start_time``/``end_time`` (ns),
    ``damage`` (a :class:`DamageReport` when the bag was salvaged, else None).
    """

    def __init__(self, path: str | Path, *, salvage: bool = False) -> None:
        self.path = Path(path)
        self.salvage = salvage
        self.topics: dict[str, str] = {}
        self.counts: dict[str, int] = {}
        self.custom_data: dict[str, str] = {}
        self.start_time = 0
        self.end_time = 0
        self.damage: DamageReport | None = None
        self._reader: Reader | None = None
        self._salvaged: list[_RawMessage] | None = None

    # ---------------------------------------------------------------------------------------------
    def open(self) -> BagReader:
        if not self.path.exists():
            raise FileNotFoundError(f"bag {self.path} does not exist")
        try:
            reader = Reader(self.path)
            reader.open()
        except (ReaderError, FileNotFoundError, OSError, struct.error, ValueError) as exc:
            if self.path.is_dir() and not (self.path / "metadata.yaml").is_file():
                problem = "metadata.yaml is missing: the recorder never closed the bag"
            else:
                problem = f"{type(exc).__name__}: {exc}"
            self._open_damaged(problem)
            return self
        self._reader = reader
        self.topics = {c.topic: c.msgtype for c in reader.connections}
        self.counts = {topic: info.msgcount for topic, info in reader.topics.items()}
        custom = getattr(reader.storage, "metadata", None)
        self.custom_data = dict(getattr(custom, "custom", None) or {})
        self.start_time, self.end_time = (reader.start_time, reader.end_time) if reader.message_count else (0, 0)
        return self

    def _open_damaged(self, problem: str) -> None:
        messages, stop_reason = salvage_messages(self.path)
        counts: dict[str, int] = {}
        for m in messages:
            counts[m.topic] = counts.get(m.topic, 0) + 1
        self.damage = DamageReport(self.path, f"{problem}; {stop_reason}" if stop_reason else problem, counts,
                                   messages[-1].timestamp if messages else None)
        if not self.salvage:
            raise BagReadError(self.damage.describe() + "; pass --salvage to process the intact part")
        messages.sort(key=lambda m: m.timestamp)
        self._salvaged = messages
        self.topics = {m.topic: m.msgtype for m in messages}
        self.counts = counts
        self.start_time = messages[0].timestamp if messages else 0
        self.end_time = messages[-1].timestamp + 1 if messages else 0

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def __enter__(self) -> BagReader:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------------------------------------
    def raw_messages(self, topics: Iterable[str] | None = None, start: int | None = None
                     ) -> Iterator[tuple[str, str, int, bytes]]:
        """(topic, msgtype, timestamp ns, CDR bytes) in time order; ``start`` skips earlier messages."""
        wanted = set(topics) if topics is not None else None
        if self._salvaged is not None:
            for m in self._salvaged:
                if (wanted is None or m.topic in wanted) and (start is None or m.timestamp >= start):
                    yield m.topic, m.msgtype, m.timestamp, m.data
            return
        if self._reader is None:
            raise RuntimeError("BagReader is not open; use it as a context manager or call open()")
        connections = [c for c in self._reader.connections if wanted is None or c.topic in wanted]
        if not connections:
            return
        try:
            for conn, timestamp, data in self._reader.messages(connections, start=start):
                yield conn.topic, conn.msgtype, timestamp, data
        except (ReaderError, struct.error, sqlite3.DatabaseError, ValueError) as exc:
            raise BagReadError(
                f"bag {self.path} is damaged: reading stopped at a message after t={self.start_time} ns "
                f"({type(exc).__name__}: {exc}); run again with --salvage to use the intact part"
            ) from exc

    def messages(self, topics: Iterable[str] | None = None, start: int | None = None) -> Iterator[BagMessage]:
        """Deserialized messages (rosbags objects) in time order."""
        store = typestore()
        for topic, msgtype, timestamp, data in self.raw_messages(topics, start):
            yield BagMessage(topic, msgtype, timestamp, store.deserialize_cdr(data, msgtype))


# --------------------------------------------------------------------------------------------------
# Salvage


def salvage_messages(path: Path) -> tuple[list[_RawMessage], str]:
    """Every intact message of a damaged bag, and why reading stopped ('' when it reached the end)."""
    files = [path] if path.is_file() else sorted([*path.glob("*.mcap"), *path.glob("*.db3")])
    if not files:
        return [], f"no .mcap or .db3 storage file in {path}"
    messages: list[_RawMessage] = []
    reasons = []
    for file in files:
        found, reason = _salvage_mcap(file) if file.suffix == ".mcap" else _salvage_sqlite(file)
        messages.extend(found)
        if reason:
            reasons.append(f"{file.name}: {reason}")
    return messages, "; ".join(reasons)


class _Truncated(Exception):
    pass


class _Cursor:
    """Little-endian reads from a bytes buffer that raise _Truncated instead of reading past the end."""

    def __init__(self, data: bytes | memoryview, pos: int = 0) -> None:
        self.data = memoryview(data)
        self.pos = pos

    def take(self, n: int) -> memoryview:
        if self.pos + n > len(self.data):
            raise _Truncated(f"record cut short at byte {self.pos}")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def u16(self) -> int:
        return struct.unpack("<H", self.take(2))[0]

    def u32(self) -> int:
        return struct.unpack("<I", self.take(4))[0]

    def u64(self) -> int:
        return struct.unpack("<Q", self.take(8))[0]

    def string(self) -> str:
        return bytes(self.take(self.u32())).decode("utf-8", errors="replace")


def _salvage_mcap(file: Path) -> tuple[list[_RawMessage], str]:
    """Scan MCAP records from the start until the data ends or a record is cut short."""
    data = file.read_bytes()
    if not data.startswith(MCAP_MAGIC):
        return [], "not an MCAP file (bad magic bytes)"
    schemas: dict[int, str] = {}
    channels: dict[int, tuple[str, str]] = {}
    messages: list[_RawMessage] = []

    def walk(buf: _Cursor, top: bool) -> None:
        while buf.pos < len(buf.data):
            op = buf.take(1)[0]
            length = buf.u64()
            if op == _OP_CHUNK and top and buf.pos + length > len(buf.data):
                _walk_partial_chunk(_Cursor(buf.data[buf.pos:]))
            body = _Cursor(buf.take(length))
            if op == _OP_SCHEMA:
                schema_id = body.u16()
                schemas[schema_id] = body.string()
            elif op == _OP_CHANNEL:
                channel_id, schema_id = body.u16(), body.u16()
                channels[channel_id] = (body.string(), schemas.get(schema_id, ""))
            elif op == _OP_MESSAGE:
                channel_id = body.u16()
                body.u32()  # sequence
                log_time = body.u64()
                body.u64()  # publish time
                if channel_id in channels:
                    topic, msgtype = channels[channel_id]
                    messages.append(_RawMessage(topic, msgtype, log_time, bytes(body.data[body.pos:])))
            elif op == _OP_CHUNK and top:
                body.u64(), body.u64()
                size, crc = body.u64(), body.u32()
                compression = body.string()
                payload = bytes(body.take(body.u64()))
                walk(_Cursor(decompress_mcap_chunk(payload, compression, size, crc)), top=False)

    def _walk_partial_chunk(chunk: _Cursor) -> None:
        """An uncompressed chunk cut short still holds whole records before the cut (always raises)."""
        chunk.u64(), chunk.u64(), chunk.u64(), chunk.u32()
        if chunk.string():
            raise _Truncated("compressed chunk cut short")
        chunk.u64()
        walk(_Cursor(chunk.data[chunk.pos:]), top=False)
        raise _Truncated("chunk cut short")

    cursor = _Cursor(data, len(MCAP_MAGIC))
    try:
        walk(cursor, top=True)
    except _Truncated as exc:
        return messages, f"truncated: {exc}"
    except ReaderError as exc:
        return messages, f"corrupt chunk: {exc}"
    return messages, ""


def _salvage_sqlite(file: Path) -> tuple[list[_RawMessage], str]:
    """Read the rosbag2 sqlite3 tables row by row until the database reports corruption."""
    messages: list[_RawMessage] = []
    try:
        db = sqlite3.connect(f"file:{file}?mode=ro", uri=True)
        try:
            topics = {row[0]: (row[1], row[2]) for row in db.execute("SELECT id, name, type FROM topics")}
            for topic_id, timestamp, data in db.execute(
                    "SELECT topic_id, timestamp, data FROM messages ORDER BY timestamp"):
                if topic_id in topics:
                    messages.append(_RawMessage(*topics[topic_id], int(timestamp), bytes(data)))
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        return messages, f"sqlite3: {exc}"
    return messages, ""
