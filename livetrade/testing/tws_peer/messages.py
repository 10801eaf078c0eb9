"""Server-to-client messages at server version 176, field for field.

Each function returns the field list of one message; ``wire.encode`` frames it. The layouts
are the ones ib_insync 0.9.86 and ib_async 2.x decode at version 176 (both agree there).
"""

from __future__ import annotations

from decimal import Decimal

from livetrade.testing.tws_peer.book import ACCOUNT, PeerContract, PeerExecution, PeerOrder
from livetrade.testing.tws_peer.wire import Field

SERVER_VERSION = 176

# Incoming (client -> server) message ids the peer understands.
REQ_MKT_DATA, CANCEL_MKT_DATA, PLACE_ORDER, CANCEL_ORDER = 1, 2, 3, 4
REQ_OPEN_ORDERS, REQ_ACCOUNT_UPDATES, REQ_EXECUTIONS, REQ_IDS = 5, 6, 7, 8
REQ_CONTRACT_DETAILS, REQ_ALL_OPEN_ORDERS, REQ_CURRENT_TIME = 9, 16, 49
REQ_POSITIONS, REQ_ACCOUNT_SUMMARY, CANCEL_ACCOUNT_SUMMARY, START_API = 61, 62, 63, 71
REQ_ACCOUNT_UPDATES_MULTI, REQ_COMPLETED_ORDERS = 76, 99


def _contract_short(c: PeerContract) -> list[Field]:
    """conId .. tradingClass as open orders, executions and positions carry it (no
    primary exchange)."""
    return [c.con_id, c.symbol, c.sec_type, c.expiry, "0", "", c.multiplier, c.exchange,
            c.currency, c.local_symbol, c.symbol]


def managed_accounts(account: str = ACCOUNT) -> list[Field]:
    return [15, 1, account]


def next_valid_id(order_id: int) -> list[Field]:
    return [9, 1, order_id]


def error(req_id: int, code: int, message: str) -> list[Field]:
    return [4, 2, req_id, code, message, ""]


def order_status(o: PeerOrder) -> list[Field]:
    return [3, o.order_id, o.status, o.filled, o.remaining, o.avg_price, o.perm_id, 0,
            o.last_price, o.client_id, "", ""]


def open_order(o: PeerOrder) -> list[Field]:
    """The openOrder message (id 5): order, contract and order state, 176 layout."""
    price = o.limit_price if o.order_type in ("LMT", "STP LMT") else ""
    aux = o.aux_price if o.order_type in ("STP", "STP LMT") else ""
    fields: list[Field] = [5, o.order_id, *_contract_short(o.contract), o.action, o.quantity,
                           o.order_type, price, aux, o.tif, "", o.account, "O", 0,
                           o.order_ref, o.client_id, o.perm_id, 0, 0, 0, "", ""]
    # faGroup, faMethod, faPercentage, faProfile, modelCode, goodTillDate, rule80A,
    # percentOffset, settlingFirm, shortSaleSlot, designatedLocation, exemptCode,
    # auctionStrategy, startingPrice, stockRefPrice, delta, stockRangeLower/Upper,
    # displaySize, blockOrder, sweepToFill, allOrNone, minQty, ocaType, eTradeOnly,
    # firmQuoteOnly, nbboPriceCap, parentId, triggerMethod, volatility, volatilityType,
    # deltaNeutralOrderType (empty: no delta-neutral block), deltaNeutralAuxPrice
    fields += ["", "", "", "", "", "", "", "", "", 0, "", -1, 0, "", "", "", "", "",
               "", 0, 0, 0, "", 3, 0, 0, "", 0, 0, "", 0, "", ""]
    # continuousUpdate, referencePriceType, trailStopPrice, trailingPercent, basisPoints,
    # basisPointsType, comboLegsDescrip, 0 combo legs, 0 order combo legs, 0 smart params
    fields += [0, "", "", "", "", "", "", 0, 0, 0]
    # scaleInitLevelSize, scaleSubsLevelSize, scalePriceIncrement (empty: no scale block),
    # hedgeType (empty), optOutSmartRouting, clearingAccount, clearingIntent, notHeld,
    # no delta-neutral contract, algoStrategy (empty)
    fields += ["", "", "", "", 0, "", "", 0, 0, ""]
    # solicited, whatIf, status, 9 margin fields, commission, min/max commission,
    # commissionCurrency, warningText, randomizeSize, randomizePrice, 0 conditions
    fields += [0, 0, o.status, *([""] * 9), "", "", "", "", "", 0, 0, 0]
    # adjustedOrderType .. usePriceMgmtAlgo, duration, postToAts, autoCancelParent,
    # minTradeQty, minCompeteSize, competeAgainstBestOffset, midOffsetAtWhole/Half
    fields += ["", "", "", "", "", "", "", 0, "", "", "", "", 0, 0, "", "", "", "", 0,
               "", "", "", "", ""]
    return fields


def exec_details(req_id: int, e: PeerExecution) -> list[Field]:
    o = e.order
    side = "BOT" if o.action == "BUY" else "SLD"
    return [11, req_id, o.order_id, *_contract_short(o.contract), e.exec_id,
            str(e.time_epoch_s), o.account, "ISLAND", side, e.shares, e.price, o.perm_id,
            o.client_id, 0, e.cum_qty, e.avg_price, o.order_ref, "", "", "", 1]


def commission_report(e: PeerExecution) -> list[Field]:
    return [59, 1, e.exec_id, e.commission, e.order.contract.currency, "", "", ""]


def position(account: str, c: PeerContract, quantity: Decimal, avg_cost: Decimal
             ) -> list[Field]:
    return [61, 3, account, *_contract_short(c), quantity, avg_cost]


def contract_details(req_id: int, c: PeerContract) -> list[Field]:
    """contractDetails (id 10) at 176: no version field."""
    return [10, req_id, c.symbol, c.sec_type, c.expiry, "0", "", c.exchange, c.currency,
            c.local_symbol, c.symbol, c.symbol, c.con_id, "0.01", c.multiplier,
            "LMT,MKT,STP,STP LMT", "SMART," + c.primary_exchange, 1, 0, f"{c.symbol} INC",
            c.primary_exchange, c.expiry, "", "", "", "US/Eastern", "", "", "", "", 0,
            "", "", "", "26", c.expiry, "COMMON", "1", "1", "1"]


def tick_price(req_id: int, price: Decimal, size: Decimal) -> list[Field]:
    """A last-price tick (tick type 4) with its size."""
    return [1, 6, req_id, 4, price, size, 0]


def completed_order(o: PeerOrder) -> list[Field]:
    """completedOrder (id 101, no version field): a filled or cancelled order, 176 layout."""
    price = o.limit_price if o.order_type in ("LMT", "STP LMT") else ""
    aux = o.aux_price if o.order_type in ("STP", "STP LMT") else ""
    fields: list[Field] = [101, *_contract_short(o.contract), o.action, o.quantity,
                           o.order_type, price, aux, o.tif, "", o.account, "O", 0,
                           o.order_ref, o.perm_id, 0, 0, 0, ""]
    # faGroup, faMethod, faPercentage, faProfile, modelCode, goodTillDate, rule80A,
    # percentOffset, settlingFirm, shortSaleSlot, designatedLocation, exemptCode,
    # startingPrice, stockRefPrice, delta, stockRangeLower/Upper, displaySize, sweepToFill,
    # allOrNone, minQty, ocaType, triggerMethod, volatility, volatilityType,
    # deltaNeutralOrderType (empty), deltaNeutralAuxPrice
    fields += ["", "", "", "", "", "", "", "", "", 0, "", -1, "", "", "", "", "", "", 0, 0,
               "", 3, 0, "", 0, "", ""]
    # continuousUpdate, referencePriceType, trailStopPrice, trailingPercent,
    # comboLegsDescrip, 0 legs, 0 order legs, 0 params, scaleInit/Subs, increment (empty),
    # hedgeType (empty), clearingAccount, clearingIntent, notHeld, no delta-neutral,
    # algoStrategy (empty), solicited, status, randomizeSize, randomizePrice, 0 conditions
    fields += [0, "", "", "", "", 0, 0, 0, "", "", "", "", "", "", 0, 0, "", 0, o.status,
               0, 0, 0]
    # trailStopPrice, lmtPriceOffset, cashQty, dontUseAutoPriceForHedge, isOmsContainer,
    # autoCancelDate, filledQuantity, refFuturesConId, autoCancelParent, shareholder,
    # imbalanceOnly, routeMarketableToBbo, parentPermId, completedTime, completedStatus,
    # minTradeQty, minCompeteSize, competeAgainstBestOffset, midOffsetAtWhole/Half
    fields += ["", "", "", 0, 0, "", o.filled, "", 0, "", 0, 0, "", "", o.status,
               "", "", "", "", ""]
    return fields
