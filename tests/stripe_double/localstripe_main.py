"""Run localstripe on 127.0.0.1 at a free port, printing the port on the first line.

localstripe's own ``start()`` binds every interface on a fixed port and pickles its
whole store to /tmp/localstripe.pickle after every write (shared by every process on the
machine, and slower with each object). Here it binds loopback only, on a port the kernel
chooses, and keeps its store in memory.
"""

from __future__ import annotations

import socket
import sys

from aiohttp import web
from localstripe import resources

resources.Store.dump_to_disk = lambda self: None  # type: ignore[method-assign]

from localstripe.server import app  # noqa: E402  (after the store is made memory-only)


def main() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    web.run_app(app, sock=sock, print=None, access_log=None)


if __name__ == "__main__":
    sys.exit(main())
