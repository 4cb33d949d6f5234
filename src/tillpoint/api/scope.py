"""Tenancy for the resource routes: a merchant's key sees its own merchant only.

Another merchant's object answers 404 with the same code and message the services give
for one that does not exist, so a key cannot even learn that it exists. Operations keys
(ops_admin, reviewer, risk) see every merchant.
"""

from __future__ import annotations

from tillpoint.access.service import Principal
from tillpoint.api.deps import Watcher
from tillpoint.api.problems import ApiProblem
from tillpoint.core.errors import NotFound
from tillpoint.core.i18n import N_, _
from tillpoint.http.services import Services
from tillpoint.terminals.views import TerminalView

# Reads that only the acquirer's side may make (ops_admin, reviewer, risk).
Operations = Watcher


def merchant_ref(caller: Principal, ref: str) -> str:
    """``ref`` (a MID or application number), if the caller may see that merchant."""
    if caller.operations or ref.strip() in (caller.mid, str(caller.merchant_id)):
        return ref
    raise NotFound("merchant.not_found", N_("No merchant {ref}"), ref=ref)


def scoped_mid(caller: Principal, mid: str | None) -> str | None:
    """The MID a list is limited to: what was asked for (operations), or always the
    caller's own (a merchant key; asking for another merchant's is a 404)."""
    if caller.operations:
        return mid
    if mid is not None:
        merchant_ref(caller, mid)
    return caller.mid


def own_or_named(caller: Principal, mid: str | None, required_code: str) -> str:
    """The merchant a new object is for: a merchant key's own (naming another is a
    404), or the one an operations key names (it must name one: 422 ``required_code``)."""
    if caller.mid is not None:
        scoped_mid(caller, mid)
        return caller.mid
    if mid is None:
        raise ApiProblem(422, required_code, _("Name the merchant (mid)"))
    return mid


def scoped_merchant_id(svc: Services, caller: Principal, mid: str | None) -> int | None:
    """As ``scoped_mid``, as the merchant's internal id (for services that take one)."""
    if not caller.operations:
        scoped_mid(caller, mid)
        return caller.merchant_id
    return None if mid is None else svc.tp.merchants.get(mid).id


def visible_terminal(svc: Services, caller: Principal, tid: str) -> TerminalView:
    """The terminal, if it is bound to the caller's merchant (or the caller is operations)."""
    terminal = svc.tp.terminals.get(tid)
    if caller.operations or (terminal.mid is not None and terminal.mid == caller.mid):
        return terminal
    raise NotFound("terminal.not_found", N_("No terminal {tid}"), tid=tid)
