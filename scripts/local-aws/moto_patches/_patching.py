"""How the patches change moto: attributes by name, arguments by name.

The patches replace private moto internals, so they are written against one moto version, the one
pinned in requirements-dev.txt (server.py refuses to start with another). Within that version they
still fail loudly rather than silently: replace() refuses to set an attribute that moto does not
have (a renamed internal would otherwise leave its gap open without a word), and Parameters binds a
call to the parameter names of moto's function, so a patch reads and changes an argument by its name
whether moto passes it by position or by keyword.
"""
import inspect


def replace(owner, name, value, same_parameters=False):
    """Sets owner.name (a module's or a class's attribute that moto defines) to value. With
    same_parameters, value is a function that stands in for moto's and must take its parameters:
    the same names, kinds and defaults, so that every call moto makes binds the same way."""
    if not hasattr(owner, name):
        raise AttributeError(f"local-aws: moto has no {owner.__name__}.{name} to patch")
    if same_parameters:
        def shape(function):
            return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]

        if shape(getattr(owner, name)) != shape(value):
            raise TypeError(
                f"local-aws: {value.__name__} does not take the parameters of moto's {owner.__name__}.{name}"
                f" {inspect.signature(getattr(owner, name))}"
            )
    setattr(owner, name, value)


class Parameters:
    """The signature of a moto function, to bind calls of it by parameter name."""

    def __init__(self, function, *names):
        self._signature = inspect.signature(function)
        missing = [name for name in names if name not in self._signature.parameters]
        if missing:
            raise TypeError(f"local-aws: moto's {function.__qualname__} has no parameter {', '.join(missing)}")

    def bind(self, *args, **kwargs):
        """The call's arguments by name, defaults filled in; call.args and call.kwargs pass them on."""
        call = self._signature.bind(*args, **kwargs)
        call.apply_defaults()
        return call
