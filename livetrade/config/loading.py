"""Reading a config: file to text, text to TOML, TOML to a validated ``LiveTradeConfig``.

Every failure on the way becomes one ``ConfigError`` that lists every problem at once.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from livetrade.config.model import LiveTradeConfig
from livetrade.config.problems import format_problems
from livetrade.errors import ConfigError


def parse_config(text: str, source: str = "<config>") -> LiveTradeConfig:
    """Validate TOML text; raise ``ConfigError`` listing every problem."""
    try:
        raw: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        problem = f"{source}: not valid TOML: {exc}"
        raise ConfigError(f"cannot parse {source}", [problem], file=source) from exc
    try:
        return LiveTradeConfig.model_validate(raw)
    except ValidationError as exc:
        problems = format_problems(exc, text, source)
        raise ConfigError(f"{len(problems)} problem(s) in {source}", problems,
                          file=source) from None


def load_config(path: str | Path) -> LiveTradeConfig:
    """Read and validate a TOML config file; raise ``ConfigError`` listing every problem."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {file}: {exc.strerror}",
                          [f"{file}: cannot read: {exc.strerror}"], file=str(file)) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {file} is not UTF-8 text",
                          [f"{file}: byte {exc.start} is not UTF-8: is this a TOML file?"],
                          file=str(file)) from None
    return parse_config(text, str(file))
