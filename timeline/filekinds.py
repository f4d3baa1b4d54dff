"""What a file that is not a regular file or a folder is: FIFOs, devices and sockets may
block for ever or never end, so they are read only when named as a path."""

from __future__ import annotations

import stat

#: What a file that is not a regular file is, by its ``st_mode`` test.
_SPECIAL = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
            (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def special_kind(mode: int) -> str:
    """``"a FIFO"``, ``"a character device"``... for a file that is not regular, else ""."""
    return next((what for test, what in _SPECIAL if test(mode)), "")
