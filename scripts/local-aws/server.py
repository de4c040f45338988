"""The local AWS: moto in server mode, with gaps of moto closed so it behaves like AWS here.

The patches live in moto_patches/, one module per service, each gap's note next to its patch.

The server does not log each request (werkzeug's access log): at thousands of requests per second
the log costs the server a noticeable share of its one Python core, for every client alike.

Usage: python server.py --port N   (binds 127.0.0.1 only)
"""
import logging
import sys

import moto_patches  # noqa: F401  (importing it applies the patches)
from moto.server import main

logging.getLogger("werkzeug").setLevel(logging.WARNING)

if __name__ == "__main__":
    main(["-H", "127.0.0.1", *sys.argv[1:]])
