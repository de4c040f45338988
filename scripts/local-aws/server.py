"""The local AWS: moto in server mode, with gaps of moto closed so it behaves like AWS here.

The patches live in moto_patches/, one module per service, each gap's note next to its patch. They
replace moto internals, so they hold for one moto version only: the one pinned in
requirements-dev.txt. The server checks at start that this is the moto installed, and exits with a
message naming both versions otherwise, before it patches anything.

The server does not log each request (werkzeug's access log): at thousands of requests per second
the log costs the server a noticeable share of its one Python core, for every client alike.

It counts the requests it serves, by service and operation (request_counter.py), for tests and
benchmarks that assert what a piece of work costs.

Usage: python server.py --port N   (binds 127.0.0.1 only)
"""
import logging
import re
import sys
from importlib import metadata
from pathlib import Path

REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements-dev.txt"


def pinned_moto(requirements_text):
    """The moto version that a requirements file pins ("moto[server]==X"), or None."""
    match = re.search(r"^moto(?:\[[^\]]*\])?\s*==\s*([^\s;#]+)", requirements_text, re.MULTILINE)
    return match.group(1) if match else None


def installed_moto():
    """The version of the moto distribution this interpreter would import, or None."""
    try:
        return metadata.version("moto")
    except metadata.PackageNotFoundError:
        return None


def check_moto_version(installed, requirements=REQUIREMENTS):
    """Exits (status 1, the message on stderr) unless installed is the moto that requirements pins."""
    pinned = pinned_moto(Path(requirements).read_text())
    if pinned is None:
        sys.exit(
            f"local-aws: {requirements} pins no moto version (a line moto[server]==X.Y.Z);"
            " the patches in scripts/local-aws/moto_patches/ are written against one version"
        )
    if installed != pinned:
        found = f"moto {installed} is installed" if installed else "moto is not installed"
        sys.exit(
            f"local-aws: {found}, but {Path(requirements).name} pins moto {pinned}, the version the patches in"
            " scripts/local-aws/moto_patches/ are written against. Recreate the venv: delete .venv (rm -rf .venv) and run"
            f" the tests again (they reinstall it from {Path(requirements).name})."
        )


def serve(argv):
    check_moto_version(installed_moto())
    import moto_patches  # noqa: F401  (importing it applies the patches)
    import request_counter  # noqa: F401  (counts requests by service and operation: GET /_local-aws/requests)
    from moto.server import main

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    main(["-H", "127.0.0.1", *argv])


if __name__ == "__main__":
    serve(sys.argv[1:])
