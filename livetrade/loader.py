"""Loading a strategy class from ``module:Class`` or ``path/to/file.py:Class``.

Command-line parameters arrive as text; :func:`parse_param` turns ``k=v`` into a typed
value without ever producing a float (``2.5`` becomes ``Decimal("2.5")``).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from livetrade.errors import ConfigError
from livetrade.strategy import Strategy

_PACKAGE_ROOT = Path(__file__).resolve().parent.parent
_INTEGER = re.compile(r"[+-]?\d[\d_]*")


def _load_module(spec: str) -> Any:
    if spec.endswith(".py"):
        path = Path(spec)
        if not path.is_absolute() and not path.exists() and (_PACKAGE_ROOT / path).exists():
            path = _PACKAGE_ROOT / path  # e.g. examples/… from a checkout, run elsewhere
        if not path.exists():
            raise ConfigError(f"strategy file not found: {spec}", file=spec,
                              hint="give a path relative to the current directory")
        name = f"livetrade_user_{path.stem}"
        module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None or module_spec.loader is None:
            raise ConfigError(f"cannot import strategy file {spec}", file=spec)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        try:
            module_spec.loader.exec_module(module)
        except Exception as exc:
            sys.modules.pop(name, None)
            raise ConfigError(f"strategy file {spec} failed to import: "
                              f"{type(exc).__name__}: {exc}", file=spec,
                              line=_error_line(exc, path)) from exc
        return module
    try:
        return importlib.import_module(spec)
    except ImportError as exc:
        raise ConfigError(f"cannot import strategy module {spec!r}: {exc}", module=spec,
                          hint="a module must be importable (installed, or on PYTHONPATH); "
                               "or give path/to/file.py:Class") from exc
    except Exception as exc:
        raise ConfigError(f"strategy module {spec!r} failed to import: "
                          f"{type(exc).__name__}: {exc}", module=spec) from exc


def _error_line(exc: Exception, path: Path) -> int | str:
    """The line in the user's file where importing it failed, if we can tell."""
    if isinstance(exc, SyntaxError) and exc.lineno is not None:
        return exc.lineno
    tb = exc.__traceback__
    line: int | str = "?"
    while tb is not None:
        if Path(tb.tb_frame.f_code.co_filename).resolve() == path.resolve():
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def load_strategy(spec: str, params: dict[str, Any] | None = None) -> Strategy:
    """Import ``spec`` (``module:Class`` or ``file.py:Class``) and build it with ``params``."""
    module_part, sep, class_name = spec.rpartition(":")
    if not sep or not module_part or not class_name:
        raise ConfigError(f"strategy must look like module:Class or file.py:Class, got {spec!r}")
    module = _load_module(module_part)
    cls = getattr(module, class_name, None)
    if not inspect.isclass(cls) or not issubclass(cls, Strategy):
        raise ConfigError(f"{class_name} in {module_part} is not a livetrade Strategy class",
                          strategy=spec)
    try:
        return cls(**(params or {}))
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise ConfigError(f"strategy {class_name} rejected its parameters: {exc}",
                          strategy=spec) from exc


def parse_param(text: str) -> tuple[str, int | bool | str | Decimal]:
    """``"fast=5"`` → ``("fast", 5)``; ints, ``true``/``false``, decimals, else text."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier():
        raise ConfigError(f"--param must look like name=value, got {text!r}")
    value = raw.strip()
    if value.lower() in ("true", "false"):
        return key, value.lower() == "true"
    if _INTEGER.fullmatch(value):
        return key, int(value)
    try:
        number = Decimal(value)
    except InvalidOperation:
        return key, value
    return key, number if number.is_finite() else value
