"""Connector registry: built-in channels by name, outside ones by the `syncd.connectors` entry point."""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from syncd.connectors.base import Connector

_BUILTIN = {
    "prestashop": "syncd.connectors.prestashop.connector:PrestaShopConnector",
    "magento": "syncd.connectors.magento.connector:MagentoConnector",
    "csv_till": "syncd.connectors.csv_till.connector:CsvTillConnector",
}


_REGISTERED: dict[str, type[Connector[Any]]] = {}


def register_connector(cls: type[Connector[Any]]) -> None:
    """Make a connector class available by its `type` at run time (tests, embedding programs)."""
    _REGISTERED[cls.type] = cls


def unregister_connector(type_name: str) -> None:
    """Forget a type added by :func:`register_connector` (a test's fake, after the test)."""
    _REGISTERED.pop(type_name, None)


def connector_types() -> list[str]:
    """Every connector type this installation knows, sorted."""
    names = set(_BUILTIN) | set(_REGISTERED)
    names.update(ep.name for ep in entry_points(group="syncd.connectors"))
    return sorted(names)


def connector_class(type_name: str) -> type[Connector[Any]]:
    """The connector class for a config `type`; KeyError names the valid types."""
    if type_name in _REGISTERED:
        return _REGISTERED[type_name]
    target = _BUILTIN.get(type_name)
    if target is None:
        for ep in entry_points(group="syncd.connectors"):
            if ep.name == type_name:
                target = ep.value
                break
    if target is None:
        raise KeyError(
            f"unknown connector type {type_name!r}; valid: {', '.join(connector_types())}"
        )
    module_name, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    if not (isinstance(cls, type) and issubclass(cls, Connector)):
        raise KeyError(f"connector type {type_name!r} does not name a Connector subclass")
    return cls
