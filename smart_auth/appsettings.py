"""A lazy settings object for one app's settings dict (the DRF/DOT ``api_settings`` shape).

Shared by the four apps: each declares its DEFAULTS and IMPORT_STRINGS and gets an object that
reads ``settings.<NAME>`` on first access and reloads on ``setting_changed``.
"""

from django.conf import settings
from django.core.signals import setting_changed
from django.utils.module_loading import import_string


class AppSettings:
    def __init__(self, name, defaults, import_strings=()):
        self._name = name
        self._defaults = defaults
        self._import_strings = set(import_strings)
        self._cache = {}
        setting_changed.connect(self._on_setting_changed, weak=False)

    @property
    def user_settings(self):
        return getattr(settings, self._name, {}) or {}

    def __getattr__(self, attr):
        if attr.startswith("_"):
            raise AttributeError(attr)
        if attr not in self._defaults:
            raise AttributeError(f"Invalid {self._name} setting: {attr!r}")
        if attr in self._cache:
            return self._cache[attr]
        value = self.user_settings.get(attr, self._defaults[attr])
        if attr in self._import_strings:
            value = _import(value)
        self._cache[attr] = value
        return value

    def reload(self):
        self._cache.clear()

    def _on_setting_changed(self, setting, **kwargs):
        if setting == self._name:
            self.reload()


def _import(value):
    if isinstance(value, str):
        return import_string(value)
    if isinstance(value, list | tuple):
        return [import_string(v) if isinstance(v, str) else v for v in value]
    return value
