"""What every config section shares: frozen, unknown keys rejected, exact decimals.

Kept apart so the section modules depend on this one small base and never on each other.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

NonNegDecimal = Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]
PosDecimal = Annotated[Decimal, Field(gt=0, allow_inf_nan=False)]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
