"""NpzStreamWriter: writes an uncompressed ``.npz`` (a ZIP64 archive of ``.npy`` members) one
member at a time, each member streamed in blocks, so arrays larger than memory can be stored.

Why not ``zipfile``: a Ctrl-C that lands in the first lines of ``ZipFile``'s member ``close()``
(before its ``try``) leaves the archive flagged "writing", and closing it then raises a
ValueError that hides the KeyboardInterrupt (seen in CI: the CLI exited 1 instead of 130).
Here an exception leaves nothing to close but the caller's file, and the caller discards it.
The layout is the one ``zipfile`` writes with ``force_zip64=True`` (stored, CRC-32 checked,
ZIP64 sizes and offsets in every header), and ``np.load``/``zipfile`` read it back.
"""

from __future__ import annotations

import io
import struct
import time
import zlib
from typing import BinaryIO, Iterable, List, Tuple

import numpy as np

_LOCAL = struct.Struct("<IHHHHHIIIHH")  # local file header (30 bytes) before name and extra
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")  # central directory header (46 bytes)
_ZIP64_EOCD = struct.Struct("<IQHHIIQQQQ")  # 56 bytes
_ZIP64_LOCATOR = struct.Struct("<IIQI")
_EOCD = struct.Struct("<IHHHHIIH")
_VERSION = 45  # ZIP64 needs 4.5
_FULL32 = 0xFFFFFFFF


def _dos_time(t: float) -> Tuple[int, int]:
    y, mo, d, h, mi, s = time.localtime(t)[:6]
    y = min(max(y, 1980), 2107)
    return (h << 11) | (mi << 5) | (s // 2), ((y - 1980) << 9) | (mo << 5) | d


class NpzStreamWriter:
    """Appends ``.npy`` members to a seekable binary file opened for writing at offset 0.

    >>> import io, numpy as np
    >>> buf = io.BytesIO()
    >>> w = NpzStreamWriter(buf)
    >>> w.add("a", np.dtype(np.uint16), 3, [np.array([1, 2], np.uint16), np.array([3], np.uint16)])
    >>> w.finish()
    >>> _ = buf.seek(0); np.load(buf)["a"].tolist()
    [1, 2, 3]
    """

    def __init__(self, f: BinaryIO) -> None:
        self._f = f
        self._members: List[Tuple[bytes, int, int, int]] = []  # name, header offset, size, crc
        self._time, self._date = _dos_time(time.time())

    def add(self, name: str, dtype: np.dtype, n: int, blocks: Iterable[np.ndarray]) -> None:
        """Writes member ``name + '.npy'``: a 1-D C-order array of ``n`` items of ``dtype``
        whose data are ``blocks`` in order. ValueError if the blocks do not hold ``n`` items."""
        f = self._f
        fname = (name + ".npy").encode()
        offset = f.tell()
        f.write(self._local_header(fname, 0, 0))
        crc, size = 0, 0

        def put(data: memoryview) -> None:
            nonlocal crc, size
            f.write(data)
            crc = zlib.crc32(data, crc)
            size += len(data)

        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            header, {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": (n,)}
        )
        put(header.getbuffer())
        items = 0
        for block in blocks:
            if block.dtype != dtype or block.ndim != 1:
                raise ValueError(f"npz member {name!r}: block is {block.dtype} {block.shape}, expected 1-D {dtype}")
            items += len(block)
            put(np.ascontiguousarray(block).data.cast("B"))
        if items != n:
            raise ValueError(f"npz member {name!r}: {items} items written, header says {n}")
        end = f.tell()
        f.seek(offset)
        f.write(self._local_header(fname, size, crc))
        f.seek(end)
        self._members.append((fname, offset, size, crc))

    def finish(self) -> None:
        """Writes the central directory; the archive is complete after this."""
        f = self._f
        start = f.tell()
        for fname, offset, size, crc in self._members:
            extra = struct.pack("<HHQQQ", 1, 24, size, size, offset)
            f.write(_CENTRAL.pack(0x02014B50, _VERSION | (3 << 8), _VERSION, 0, 0, self._time, self._date,
                                  crc, _FULL32, _FULL32, len(fname), len(extra), 0, 0, 0,
                                  0o100600 << 16, _FULL32))
            f.write(fname)
            f.write(extra)
        end = f.tell()
        count = len(self._members)
        f.write(_ZIP64_EOCD.pack(0x06064B50, _ZIP64_EOCD.size - 12, _VERSION, _VERSION, 0, 0,
                                 count, count, end - start, start))
        f.write(_ZIP64_LOCATOR.pack(0x07064B50, 0, end, 1))
        f.write(_EOCD.pack(0x06054B50, 0, 0, min(count, 0xFFFF), min(count, 0xFFFF),
                           min(end - start, _FULL32), _FULL32, 0))
        f.flush()

    def _local_header(self, fname: bytes, size: int, crc: int) -> bytes:
        extra = struct.pack("<HHQQ", 1, 16, size, size)
        return _LOCAL.pack(0x04034B50, _VERSION, 0, 0, self._time, self._date, crc,
                           _FULL32, _FULL32, len(fname), len(extra)) + fname + extra

