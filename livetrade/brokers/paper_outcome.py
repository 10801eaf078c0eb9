"""What a matching outcome does to one paper order, written into the change being built.

:mod:`livetrade.matching` decides what executes; this module turns that into the venue's
terms: fill events with the venue's commission and fill ids, then the order's new state
(resting, filled or canceled). It only adds to a :class:`~livetrade.brokers.paper_ledger.Batch`
and never touches the venue, so an order arriving (``submit_order``) and an order resting on
a quote (``on_market_data``) are booked by the same rules.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from livetrade.brokers.paper_config import PaperBrokerConfig
from livetrade.brokers.paper_ledger import Batch, PaperOrderStatus, Working
from livetrade.events import OrderCanceled, OrderFill, trusted
from livetrade.frozen import evolve
from livetrade.matching import MatchOutcome

__all__ = ["add_outcome"]

_BPS = Decimal(10_000)


def add_outcome(batch: Batch, working: Working, outcome: MatchOutcome, now: datetime,
                config: PaperBrokerConfig, *, arriving: bool) -> None:
    """Add what ``outcome`` does to ``working`` to ``batch``: fills, then its new state.

    Commission is ``commission_bps`` of each fill's notional plus ``commission_per_order``
    on the order's first fill. ``arriving``: the order is new, so it rests even unchanged.
    """
    charged = working.charged_per_order
    for execution in outcome.executions:
        commission = execution.price * execution.quantity * config.commission_bps / _BPS
        if not charged:
            commission += config.commission_per_order
            charged = True
        fill = trusted(
            OrderFill,
            order_id=working.sim.order_id,
            client_order_id=working.client_order_id,
            symbol=working.request.symbol,
            side=working.request.side,
            fill_price=execution.price,
            fill_amount=execution.quantity,
            commission=commission,
            timestamp=now,
            fill_id=f"PF{batch.next_fill_id}",
        )
        batch.next_fill_id += 1
        batch.fills.append(fill)
        batch.events.append(fill)
    # The matching rules return the same order object when nothing happened to it;
    # a new one means a fill or a stop that triggered silently.
    changed = outcome.order is not working.sim
    updated = evolve(working, sim=outcome.order, charged_per_order=charged,
                     updated_at=now) if changed else working
    if outcome.canceled_reason is not None:
        batch.close(evolve(updated, updated_at=now), PaperOrderStatus.CANCELED,
                    outcome.canceled_reason)
        batch.events.append(trusted(OrderCanceled, order_id=working.sim.order_id,
                                    client_order_id=working.client_order_id, timestamp=now,
                                    reason=outcome.canceled_reason))
    elif outcome.done:
        batch.close(updated, PaperOrderStatus.FILLED)
    elif arriving or changed:
        batch.resting[working.client_order_id] = updated
