"""Shared pieces of the four apps' system checks: one settings dict, its keys, types and hooks.

A value of the wrong type gets exactly one error naming the key and the type wanted, and the
app's other checks then skip that key (a string where a list is wanted must not be read as a
list of one-letter URLs).
"""

from django.core.checks import Error
from django.utils.module_loading import import_string


LIST = "a list"
STRINGS = "a list of strings"
POSITIVE = "a positive number"
STRING = "a string"
OPTIONAL_STRING = "a string or None"
BOOL = "True or False"
DICTS = "a list of dicts"
NON_NEGATIVE = "a number >= 0"
OPTIONAL_DICT = "a dict or None"


def _is(kind, value):
    if kind == LIST:
        return isinstance(value, list | tuple)
    if kind == STRINGS:
        return isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
    if kind == DICTS:
        return isinstance(value, list | tuple) and all(isinstance(v, dict) for v in value)
    if kind == POSITIVE:
        return isinstance(value, int | float) and not isinstance(value, bool) and value > 0
    if kind == STRING:
        return isinstance(value, str) and bool(value)
    if kind == OPTIONAL_STRING:
        return value is None or isinstance(value, str)
    if kind == NON_NEGATIVE:
        return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
    if kind == OPTIONAL_DICT:
        return value is None or isinstance(value, dict)
    if kind == BOOL:
        return isinstance(value, bool)
    raise ValueError(kind)


class SettingsCheck:
    """Checks of ``settings.<name>`` against its DEFAULTS and a type per key."""

    def __init__(self, name, defaults, types, ids):
        # ids: {"dict": ..., "unknown": ..., "type": ..., "import": ...}
        self.name = name
        self.defaults = defaults
        self.types = types
        self.ids = ids
        self.errors = []
        self.bad_keys = set()

    def run(self):
        """Return the effective settings (defaults + user values whose type is right)."""
        from django.conf import settings

        user = getattr(settings, self.name, {})
        if user is None:
            user = {}
        if not isinstance(user, dict):
            self.errors.append(
                Error(f"{self.name} must be a dict, not {type(user).__name__}.", id=self.ids["dict"])
            )
            return dict(self.defaults)
        unknown = sorted(set(user) - set(self.defaults))
        if unknown:
            self.errors.append(
                Error(
                    f"Unknown {self.name} keys: {', '.join(unknown)}.",
                    hint=f"Known keys (see the app's docs page): {', '.join(sorted(self.defaults))}.",
                    id=self.ids["unknown"],
                )
            )
        effective = dict(self.defaults)
        for key, value in user.items():
            kind = self.types.get(key)
            if key not in self.defaults:
                continue
            if kind is not None and not _is(kind, value):
                self.bad_keys.add(key)
                self.errors.append(
                    Error(
                        f"{self.name}[{key!r}] must be {kind}, not {type(value).__name__} {value!r:.60}.",
                        id=self.ids["type"],
                    )
                )
                continue
            effective[key] = value
        return effective

    def importable(self, key, path, callable_required=True):
        """An error when the import string ``path`` of ``key`` cannot be imported (or called)."""
        if key in self.bad_keys:
            return
        try:
            target = import_string(path) if isinstance(path, str) else path
        except ImportError as exc:
            self.errors.append(
                Error(f"{self.name}[{key!r}]: cannot import {path!r} ({exc}).", id=self.ids["import"])
            )
            return
        if callable_required and not callable(target):
            self.errors.append(
                Error(f"{self.name}[{key!r}]: {path!r} is not callable.", id=self.ids["import"])
            )
