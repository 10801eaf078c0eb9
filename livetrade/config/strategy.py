"""The ``[strategy]`` and ``[risk]`` tables: what trades, and within which pre-trade limits."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field, field_validator

from livetrade.config.base import PosDecimal, _Section

DEFAULT_STRATEGY = "examples/sma_crossover.py:SmaCrossover"


class StrategySection(_Section):
    """``[strategy]``: ``path`` is ``module:Class`` or ``file.py:Class``; ``params`` go to
    the constructor as keyword arguments."""

    path: str = DEFAULT_STRATEGY
    params: dict[str, int | bool | str | Decimal] = Field(default_factory=dict)

    @field_validator("path")
    @classmethod
    def _module_and_class(cls, value: str) -> str:
        module, sep, name = value.rpartition(":")
        if not sep or not module or not name.isidentifier():
            raise ValueError("must look like module:Class or path/to/file.py:Class")
        return value


class RiskSection(_Section):
    """``[risk]``: pre-trade limits; leave a key out to disable that limit."""

    max_order_quantity: PosDecimal | None = None
    max_order_notional: PosDecimal | None = None
    max_position_quantity: PosDecimal | None = None
    max_open_orders: int | None = Field(None, gt=0)
    max_orders_per_second: int | None = Field(None, gt=0)
