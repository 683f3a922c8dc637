"""Start-up guards for what SQLite's own recovery cannot see: acknowledged commits gone missing.

At start SQLite replays its write-ahead log (``state.db-wal``) and stops at the first frame
whose salt or checksum does not match: a flipped byte there silently drops that commit and
every later one, acknowledged or not, and totals go back in time without a word. Two
independent checks turn that into a refusal before anything is written:

* :func:`scan_wal` reads the WAL by its documented format (header, salts, cumulative
  checksums: https://www.sqlite.org/fileformat2.html#walformat) before SQLite opens it, and
  finds a damaged frame followed by intact commit frames of the same log (lost commits).
* :class:`CommitMark` keeps the number of the last acknowledged commit in ``state.db-mark``.
  It is written after a commit is on disk and before it is acknowledged, without an fsync of
  its own: a killed process keeps that write (it is in the page cache), and after a power
  loss the mark can only be older than the database, never newer. A database that comes back
  with fewer commits than the mark lost acknowledged ones, wherever the damage was.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

MARK_NAME = "state.db-mark"
_MARK = struct.Struct("<8sQI")
_MARK_MAGIC = b"txwmark1"
_WAL_MAGIC = (0x377F0682, 0x377F0683)  # the low bit says big-endian checksum words
_WAL_HEADER, _FRAME_HEADER = 32, 24


class MarkError(ValueError):
    """The mark file is damaged: the number of acknowledged commits is unknown."""


def _checksum(data: bytes, big_endian: bool, s0: int, s1: int) -> tuple[int, int]:
    """SQLite's WAL checksum of ``data`` continued from (s0, s1)."""
    words = struct.unpack(f"{'>' if big_endian else '<'}{len(data) // 4}I", data)
    for a, b in zip(words[0::2], words[1::2], strict=True):
        s0 = (s0 + a + s1) & 0xFFFFFFFF
        s1 = (s1 + b + s0) & 0xFFFFFFFF
    return s0, s1


def scan_wal(path: Path) -> tuple[str, int] | None:
    """What SQLite would silently drop from this WAL: (description, commits lost), or None.

    Each frame is checked against the checksum stored in the frame before it, so a damaged
    frame does not hide the intact ones after it: an intact commit frame (same salts) after
    the first bad frame is a commit SQLite would drop. After a process crash a bad frame is
    never followed by one (frames are written in order); after a power loss only the last,
    never acknowledged, transaction can be torn, so two or more such commits prove damage.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    if len(data) < _WAL_HEADER:
        return None  # SQLite ignores it: no frame was ever written after a header
    magic, version, page_size, _, salt1, salt2, h0, h1 = struct.unpack_from(">8I", data)
    big = bool(magic & 1)
    if (magic not in _WAL_MAGIC or version != 3007000 or page_size < 512
            or page_size & (page_size - 1) or _checksum(data[:24], big, 0, 0) != (h0, h1)):
        if len(data) > _WAL_HEADER:  # lost commits, if any, show against the mark
            return f"{path.name} has a damaged header: SQLite ignores every frame in it", 0
        return None
    size = _FRAME_HEADER + page_size
    previous, first_bad, lost, frames = (h0, h1), -1, 0, (len(data) - _WAL_HEADER) // size
    for index in range(frames):
        start = _WAL_HEADER + index * size
        page, commit, s1, s2, c0, c1 = struct.unpack_from(">6I", data, start)
        computed = _checksum(data[start:start + 8], big, *previous)
        computed = _checksum(data[start + _FRAME_HEADER:start + size], big, *computed)
        intact = page != 0 and (s1, s2) == (salt1, salt2) and computed == (c0, c1)
        if not intact and first_bad < 0:
            first_bad = index
        elif intact and commit and first_bad >= 0:
            lost += 1
        previous = (c0, c1)
    if lost:
        return (f"{path.name} is damaged at frame {first_bad + 1} of {frames}: SQLite would "
                f"silently drop {lost} later committed transaction(s)"), lost
    return None


class CommitMark:
    """``state.db-mark``: how many commits were acknowledged, with a CRC of its own."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / MARK_NAME
        self._fd = -1

    def read(self) -> int | None:
        """The recorded count; None when there is no mark (new or restored state dir)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        if len(data) != _MARK.size:
            raise MarkError(f"{MARK_NAME} has {len(data)} bytes, not {_MARK.size}")
        magic, commits, check = _MARK.unpack(data)
        if magic != _MARK_MAGIC or check != zlib.crc32(data[:16]):
            raise MarkError(f"{MARK_NAME} fails its checksum")
        return commits

    def open(self, commits: int, fsync: bool) -> None:
        """Start from the database's own count, on disk before the first acknowledgement."""
        created = not self.path.exists()
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        self.write(commits)
        if fsync:
            os.fsync(self._fd)
            if created:
                directory = os.open(self.path.parent, os.O_RDONLY)
                try:
                    os.fsync(directory)
                finally:
                    os.close(directory)

    def write(self, commits: int) -> None:
        """One pwrite of 20 bytes at offset 0: a killed process cannot tear it."""
        head = _MARK_MAGIC + commits.to_bytes(8, "little")
        os.pwrite(self._fd, head + zlib.crc32(head).to_bytes(4, "little"), 0)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
