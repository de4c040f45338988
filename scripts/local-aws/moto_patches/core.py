"""Gaps of moto 5.2.5's server, for every service: 17."""
import moto.backends as moto_backends

from ._patching import replace

# Gap 17: to route each request to its service the server lists moto's package directory (about
# 150 entries, each checked to be a directory) when it matches the request's host: about a
# millisecond of its one core per request, every request of every service. The installed moto does
# not change while it runs: here the list is read once.

_modules = tuple(moto_backends.list_of_moto_modules())


def _installed_modules():
    return _modules


replace(moto_backends, "list_of_moto_modules", _installed_modules, same_parameters=True)
