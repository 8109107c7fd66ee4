"""Atomic file output: write under a temporary name beside the target, rename only on success.

The temporary file is in the target's directory (same filesystem, so the rename is atomic); an
exception (or Ctrl-C) removes it, so a failed run never leaves a partial output file.
"""

from __future__ import annotations

import errno
import os
import tempfile
from types import TracebackType
from typing import Optional, Type


def os_error(e: OSError, what: str, path: str) -> OSError:
    """The same OSError subclass with a message naming the operation and the path.

    >>> str(os_error(FileNotFoundError(2, "No such file"), "cannot open input 'x'", "x"))
    "[Errno 2] cannot open input 'x': No such file: 'x'"
    """
    return e.__class__(e.errno, f"{what}: {e.strerror}", path)


def check_output_path(target: str) -> str:
    """The directory ``target`` will be written in; OSError naming ``target`` if it cannot be.

    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> check_output_path(d)
    Traceback (most recent call last):
    IsADirectoryError: [Errno 21] cannot write output '...': it is a directory: '...'
    """
    parent = os.path.dirname(os.path.abspath(target))
    if os.path.isdir(target):
        raise IsADirectoryError(errno.EISDIR, f"cannot write output {target!r}: it is a directory", target)
    if not os.path.isdir(parent):
        raise FileNotFoundError(errno.ENOENT, f"cannot write output {target!r}: directory {parent!r} does not exist", target)
    return parent


class AtomicOutput:
    """A temporary file ``.NAME.XXXXXX.tmp`` beside ``target``, renamed onto it by :meth:`commit`.

    Used as a context manager: leaving the block without ``commit()`` (an exception) closes and
    removes the temporary file. The result gets the mode a plain ``open()`` would give it
    (0666 & ~umask), not ``mkstemp``'s 0600.

    >>> import os, tempfile
    >>> target = os.path.join(tempfile.mkdtemp(), "out.bin")
    >>> with AtomicOutput(target) as out:
    ...     _ = os.write(out.fd, b"ids")
    ...     out.commit()
    >>> open(target, "rb").read()
    b'ids'
    """

    def __init__(self, target: str) -> None:
        self.target = target
        parent = check_output_path(target)
        try:
            self.fd, self.tmp_path = tempfile.mkstemp(
                dir=parent, prefix="." + os.path.basename(target) + ".", suffix=".tmp")
        except OSError as e:
            raise os_error(e, f"cannot write output {target!r}", target) from None
        self._open = True
        self._done = False

    def detach(self) -> int:
        """Hand the descriptor to the caller (who closes it, e.g. through ``os.fdopen``)."""
        self._open = False
        return self.fd

    def commit(self) -> None:
        """Close the temporary file, give it the default mode and rename it onto the target."""
        if self._open:
            self._open = False
            os.close(self.fd)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self.tmp_path, 0o666 & ~umask)
        os.replace(self.tmp_path, self.target)
        self._done = True

    def discard(self) -> None:
        """Close and remove the temporary file (no-op after :meth:`commit`)."""
        if self._open:
            self._open = False
            os.close(self.fd)
        if not self._done:
            self._done = True
            try:
                os.unlink(self.tmp_path)
            except OSError:
                pass

    def __enter__(self) -> "AtomicOutput":
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.discard()
