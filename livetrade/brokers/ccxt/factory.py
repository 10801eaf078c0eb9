"""Building a ``CCXTAdapter`` from a ``[broker] type = "ccxt"`` section.

Credentials come from the environment variables the section names (or the file itself,
held as ``SecretStr``); they go into the ccxt object and nowhere else. ``rest_url`` points
the venue at ``livetrade sim-exchange`` (or any host speaking its API): the capability
row knows how to aim that venue's ``urls["api"]`` and which options keep ccxt from
calling endpoints a simulator does not serve.
"""

from __future__ import annotations

import os
from typing import Any

import ccxt

from livetrade.brokers.ccxt.adapter import CCXTAdapter
from livetrade.brokers.ccxt.capabilities import capabilities
from livetrade.clock import Clock
from livetrade.config import CCXTBrokerSection
from livetrade.errors import ConfigError


def _secret(section: CCXTBrokerSection, field: str, env_name: str) -> str:
    value = getattr(section, field)
    if value is not None:
        return str(value.get_secret_value())
    return os.environ.get(env_name, "")


def build_exchange(section: CCXTBrokerSection) -> tuple[ccxt.Exchange, list[str]]:
    """The configured ccxt exchange object and the secrets it holds (for scrubbing)."""
    caps = capabilities(section.exchange)
    cls = getattr(ccxt, section.exchange, None)
    if cls is None:
        raise ConfigError(f"ccxt has no exchange {section.exchange!r}",
                          [f"broker.exchange: {section.exchange!r} is not a ccxt exchange id"])
    key = _secret(section, "api_key", section.api_key_env)
    secret = _secret(section, "api_secret", section.api_secret_env)
    if not key or not secret:
        raise ConfigError(
            f"no credentials for {section.exchange}",
            [f"broker: set the environment variables {section.api_key_env} and "
             f"{section.api_secret_env} (or api_key / api_secret in the file)"])
    key_field, secret_field = caps.credentials
    options: dict[str, Any] = dict(caps.required_options)  # needed on the real venue too
    if section.rest_url:
        options.update(caps.sim_options)
    options.update(section.options)
    exchange = cls({key_field: key, secret_field: secret, "timeout": section.timeout_ms,
                    "enableRateLimit": section.enable_rate_limit, "options": options})
    if section.sandbox:
        exchange.set_sandbox_mode(True)
    if section.rest_url:
        exchange.urls["api"] = caps.sim_urls(section.rest_url)
    return exchange, [key, secret]


def ccxt_adapter_from_section(section: CCXTBrokerSection, clock: Clock) -> CCXTAdapter:
    if not section.symbols:
        raise ConfigError("a ccxt broker needs its symbols",
                          ["broker.symbols: list the markets to trade, e.g. [\"BTC/USDT\"]"])
    exchange, secrets = build_exchange(section)
    return CCXTAdapter(exchange, capabilities(section.exchange), symbols=section.symbols,
                       quote_currency=section.quote_currency,
                       poll_interval_s=section.poll_interval_s, clock=clock, secrets=secrets)
