"""``/portal/developers``: what a merchant's own systems need to talk to Tillpoint (the
owner only): API keys and webhook endpoints, the REST API's own (access/service.py,
notify/webhooks.py), now with pages.

- API keys: the merchant's keys (a prefix, never a secret), made with a role (the
  owner's or the staff's); a new key's secret is shown once, on the page that answers
  the form, and kept nowhere; revoking (after a confirmation) stops it at once.
- Webhook endpoints: added with their URL (public addresses only, unless the operator
  allows more: notify/destinations.py), events and description; the signing secret is
  shown when the endpoint is made and when it is rolled, never otherwise; enabled,
  disabled, deleted (after a confirmation); each with its recent deliveries, paged,
  and a delivery's attempts and exact body.

Every read and change is scoped by the signed-in account's merchant: another
merchant's key, endpoint or delivery is not found (404). Every change, and every
refused one, is in the audit log under the person's name (``console_actor``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from tillpoint.access.accounts import SignedIn
from tillpoint.access.models import Role
from tillpoint.core.errors import NotFound, TillpointError, invariant
from tillpoint.core.i18n import N_, _
from tillpoint.notify.events import EVENT_TYPES
from tillpoint.notify.models import DeliveryStatus
from tillpoint.notify.webhooks import (
    ALL_EVENTS,
    MAX_DESCRIPTION_CHARS,
    MAX_ENDPOINTS,
    MAX_URL_CHARS,
    WebhookService,
)
from tillpoint.web.page import (
    MAX_ID,
    P_DEVELOPERS,
    PAGE,
    actor,
    after_action,
    audit,
    enum_query,
    page,
    page_link,
    portal_guard,
    query_int,
    query_text,
    read_form,
    speak,
    tp,
    trouble,
)

router = APIRouter(include_in_schema=False)
Owner = Annotated[SignedIn, portal_guard(P_DEVELOPERS)]
HERE = P_DEVELOPERS.href
KEY_ROLES = (Role.MERCHANT_OWNER, Role.MERCHANT_STAFF)
# What each role of key may do, as the form explains it (docs/api.md).
KEY_ROLE_NOTES = {
    Role.MERCHANT_OWNER: N_("everything of this merchant's, keys and webhooks included"),
    Role.MERCHANT_STAFF: N_("takes payments and refunds, and reads"),
}
# A delivery's status in words of its own ("pending" is a payment's waiting for its
# customer elsewhere).
DELIVERY_STATES = {
    DeliveryStatus.PENDING: N_("Still trying"),
    DeliveryStatus.SUCCEEDED: N_("Delivered"),
    DeliveryStatus.FAILED: N_("Gave up"),
}
MAX_EVENT_FIELDS = len(EVENT_TYPES) + 1  # every type, and "all"


def _merchant_id(session: SignedIn) -> int:
    """The signed-in owner's merchant: every read and change is scoped by it."""
    merchant_id = session.account.merchant_id
    invariant(merchant_id is not None, "a merchant's owner has a merchant")
    assert merchant_id is not None  # for mypy: invariant raised otherwise
    return merchant_id


BIG_ID = 2**62  # deliveries' ids are 64-bit (the API's ObjectId takes as many)


def _number(text: str, most: int = MAX_ID) -> int:
    """An id from the address (a key's, an endpoint's: 32-bit; a delivery's: up to
    ``most``); 0, which names nothing, for anything else."""
    if not (text.isascii() and text.isdigit()) or len(text) > 20:
        return 0
    value = int(text)
    return value if value <= most else 0


def hooks(request: Request) -> WebhookService:
    """The webhooks, under this server's settings (which addresses they may reach)."""
    return WebhookService(tp(request).ctx)


def api_base(request: Request) -> str:
    """Where the merchant's systems reach the API: the public_url setting, else as this
    request came in."""
    return (tp(request).ctx.settings.public_url or str(request.base_url)).rstrip("/")


def _no_store(response: Response) -> Response:
    """A page that shows a secret: kept by no cache, the browser's included."""
    response.headers["Cache-Control"] = "no-store"
    return response


def _refused(
    request: Request, session: SignedIn, action: str, target: str, error: TillpointError
) -> None:
    audit(request, session, action, target, error, merchant_id=session.account.merchant_id)


# --- the page ---------------------------------------------------------------------------


@router.get(HERE, response_class=HTMLResponse)
def developers(request: Request, session: Owner) -> Response:
    merchant_id = _merchant_id(session)
    keys = tp(request).access.list_keys(merchant_id=merchant_id, limit=PAGE + 1,
                                        after_id=query_int(request, "after"))  # fmt: skip
    more, keys = len(keys) > PAGE, keys[:PAGE]
    endpoints = hooks(request).list_endpoints(merchant_id=merchant_id, limit=MAX_ENDPOINTS)
    working = [k for k in keys if k.revoked_at is None]
    live = "test" if tp(request).ctx.settings.demo else "live"
    sample = working[-1].prefix if working else f"tp_{live}_"
    return page(request, session, "portal/developers/index.html", keys=keys,
                endpoints=endpoints, max_endpoints=MAX_ENDPOINTS, base=api_base(request),
                sample=sample, next_href=page_link(request, after=keys[-1].id) if more else "",
                all_events=ALL_EVENTS)  # fmt: skip


# --- API keys ---------------------------------------------------------------------------


def _key_form(
    request: Request, session: SignedIn, values: dict[str, str], error: str = "",
    status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    return page(request, session, "portal/developers/key_new.html", status_code=status_code,
                values=values, roles=KEY_ROLES, notes=KEY_ROLE_NOTES, error=error)  # fmt: skip


@router.get(HERE + "/keys/new", response_class=HTMLResponse)
def new_key(request: Request, session: Owner) -> Response:
    return _key_form(request, session, {"name": "", "role": Role.MERCHANT_STAFF.value})


@router.post(HERE + "/keys", response_class=HTMLResponse)
async def create_key(request: Request, session: Owner) -> Response:
    values = await read_form(request, session, "name", "role", max_chars=200)
    merchant_id = _merchant_id(session)
    if values["role"] not in KEY_ROLES:
        return _key_form(request, session, values, _("Choose a role from the list"), 400)
    try:
        made = tp(request).access.create_key(
            Role(values["role"]), values["name"], actor(session), merchant_ref=session.account.mid
        )
    except TillpointError as e:
        _refused(request, session, "api key create", "api keys", e)
        return _key_form(request, session, values, e.localized(), 400)
    key = made.key
    audit(request, session, "api key created", f"api key {key.id} {key.prefix}",
          merchant_id=merchant_id, role=key.role.value, name=key.name)  # fmt: skip
    return _no_store(page(request, session, "portal/developers/key_made.html", made=made,
                          base=api_base(request)))  # fmt: skip


@router.get(HERE + "/keys/{key_id}/revoke", response_class=HTMLResponse)
def confirm_revoke(request: Request, session: Owner, key_id: str) -> Response:
    try:
        key = tp(request).access.get_key(_number(key_id), merchant_id=_merchant_id(session))
    except TillpointError as e:
        return trouble(request, session, e, HERE)
    return page(request, session, "portal/developers/confirm.html", kind="key", key=key,
                action=f"{HERE}/keys/{key.id}/revoke")  # fmt: skip


@router.post(HERE + "/keys/{key_id}/revoke", response_class=HTMLResponse)
async def revoke_key(request: Request, session: Owner, key_id: str) -> Response:
    await read_form(request, session)
    number = _number(key_id)
    try:
        key = tp(request).access.revoke(number, actor(session), merchant_id=_merchant_id(session))
    except TillpointError as e:
        _refused(request, session, "api key revoke", f"api key {number}", e)
        return trouble(request, session, e, HERE)
    audit(request, session, "api key revoked", f"api key {key.id} {key.prefix}",
          merchant_id=session.account.merchant_id)  # fmt: skip
    return after_action(HERE, _("Key {prefix}… revoked: it works no more.").format(
        prefix=key.prefix))  # fmt: skip


# --- webhook endpoints ------------------------------------------------------------------


def _endpoint_form(
    request: Request, session: SignedIn, values: dict[str, str], events: list[str],
    error: str = "", status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    return page(request, session, "portal/developers/webhook_new.html", status_code=status_code,
                values=values, events=events, event_types=EVENT_TYPES, all_events=ALL_EVENTS,
                max_url=MAX_URL_CHARS, max_description=MAX_DESCRIPTION_CHARS,
                error=error)  # fmt: skip


@router.get(HERE + "/webhooks/new", response_class=HTMLResponse)
def new_endpoint(request: Request, session: Owner) -> Response:
    return _endpoint_form(request, session, {"url": "", "description": ""}, [ALL_EVENTS])


@router.post(HERE + "/webhooks", response_class=HTMLResponse)
async def create_endpoint(request: Request, session: Owner) -> Response:
    values = await read_form(request, session, "url", "description", max_chars=MAX_URL_CHARS + 1)
    form = await request.form()  # the same form, read once already: its checked boxes
    events = [str(e)[:40] for e in form.getlist("events")[:MAX_EVENT_FIELDS]]
    merchant_id, mid = _merchant_id(session), session.account.mid
    try:
        invariant(mid is not None, "an owner's merchant has its MID")
        made = hooks(request).create_endpoint(str(mid), values["url"], events,
                                              values["description"] or None)  # fmt: skip
    except TillpointError as e:
        _refused(request, session, "webhook endpoint create", "webhook endpoints", e)
        return _endpoint_form(request, session, values, events, e.localized(), 400)
    audit(request, session, "webhook endpoint created", f"webhook endpoint {made.id}",
          merchant_id=merchant_id, url=made.url, events=made.events)  # fmt: skip
    return _no_store(page(request, session, "portal/developers/secret.html", endpoint=made,
                          secret=made.secret, rolled=False))  # fmt: skip


def _endpoint_page(request: Request, session: SignedIn, endpoint_id: int) -> Response:
    speak(request, session)  # the deliveries' errors are told in the page's language
    service, merchant_id = hooks(request), _merchant_id(session)
    status = enum_query(request, "status", DeliveryStatus)
    before = _number(query_text(request, "before", 20), BIG_ID) or None
    endpoint = service.get_endpoint(endpoint_id, merchant_id=merchant_id)
    rows = service.list_deliveries(endpoint_id, merchant_id=merchant_id, status=status,
                                   before_id=before, limit=PAGE + 1)  # fmt: skip
    more, rows = len(rows) > PAGE, rows[:PAGE]
    return page(request, session, "portal/developers/endpoint.html", endpoint=endpoint,
                rows=rows, states=DELIVERY_STATES, status=status.value if status else "",
                all_events=ALL_EVENTS, filtered=status is not None or before is not None,
                next_href=page_link(request, before=rows[-1].id) if more else "")  # fmt: skip


@router.get(HERE + "/webhooks/{endpoint_id}", response_class=HTMLResponse)
def endpoint_detail(request: Request, session: Owner, endpoint_id: str) -> Response:
    try:
        return _endpoint_page(request, session, _number(endpoint_id))
    except NotFound as e:
        return trouble(request, session, e, HERE)


async def _change(
    request: Request, session: SignedIn, endpoint_id: str, enabled: bool
) -> Response:  # fmt: skip
    await read_form(request, session)
    number = _number(endpoint_id)
    what = "webhook endpoint enabled" if enabled else "webhook endpoint disabled"
    try:
        endpoint = hooks(request).update_endpoint(number, merchant_id=_merchant_id(session),
                                                  enabled=enabled)  # fmt: skip
    except TillpointError as e:
        _refused(request, session, what, f"webhook endpoint {number}", e)
        return trouble(request, session, e, HERE)
    audit(request, session, what, f"webhook endpoint {endpoint.id}",
          merchant_id=session.account.merchant_id)  # fmt: skip
    message = (_("Enabled: new events are sent to {url} again.") if enabled
               else _("Disabled: nothing is sent to {url} until it is enabled again."))  # fmt: skip
    return after_action(f"{HERE}/webhooks/{endpoint.id}", message.format(url=endpoint.url))


@router.post(HERE + "/webhooks/{endpoint_id}/enable", response_class=HTMLResponse)
async def enable_endpoint(request: Request, session: Owner, endpoint_id: str) -> Response:
    return await _change(request, session, endpoint_id, True)


@router.post(HERE + "/webhooks/{endpoint_id}/disable", response_class=HTMLResponse)
async def disable_endpoint(request: Request, session: Owner, endpoint_id: str) -> Response:
    return await _change(request, session, endpoint_id, False)


def _confirm(request: Request, session: SignedIn, endpoint_id: str, kind: str) -> Response:
    try:
        endpoint = hooks(request).get_endpoint(_number(endpoint_id),
                                               merchant_id=_merchant_id(session))  # fmt: skip
    except TillpointError as e:
        return trouble(request, session, e, HERE)
    return page(request, session, "portal/developers/confirm.html", kind=kind,
                endpoint=endpoint, action=f"{HERE}/webhooks/{endpoint.id}/{kind}")  # fmt: skip


@router.get(HERE + "/webhooks/{endpoint_id}/roll", response_class=HTMLResponse)
def confirm_roll(request: Request, session: Owner, endpoint_id: str) -> Response:
    return _confirm(request, session, endpoint_id, "roll")


@router.post(HERE + "/webhooks/{endpoint_id}/roll", response_class=HTMLResponse)
async def roll_secret(request: Request, session: Owner, endpoint_id: str) -> Response:
    await read_form(request, session)
    number = _number(endpoint_id)
    try:
        rolled = hooks(request).roll_secret(number, merchant_id=_merchant_id(session))
    except TillpointError as e:
        _refused(request, session, "webhook secret roll", f"webhook endpoint {number}", e)
        return trouble(request, session, e, HERE)
    audit(request, session, "webhook secret rolled", f"webhook endpoint {rolled.id}",
          merchant_id=session.account.merchant_id)  # fmt: skip
    return _no_store(page(request, session, "portal/developers/secret.html", endpoint=rolled,
                          secret=rolled.secret, rolled=True))  # fmt: skip


@router.get(HERE + "/webhooks/{endpoint_id}/delete", response_class=HTMLResponse)
def confirm_delete(request: Request, session: Owner, endpoint_id: str) -> Response:
    return _confirm(request, session, endpoint_id, "delete")


@router.post(HERE + "/webhooks/{endpoint_id}/delete", response_class=HTMLResponse)
async def delete_endpoint(request: Request, session: Owner, endpoint_id: str) -> Response:
    await read_form(request, session)
    number = _number(endpoint_id)
    service, merchant_id = hooks(request), _merchant_id(session)
    try:
        endpoint = service.get_endpoint(number, merchant_id=merchant_id)
        service.delete_endpoint(number, merchant_id=merchant_id)
    except TillpointError as e:
        _refused(request, session, "webhook endpoint delete", f"webhook endpoint {number}", e)
        return trouble(request, session, e, HERE)
    audit(request, session, "webhook endpoint deleted", f"webhook endpoint {endpoint.id}",
          merchant_id=merchant_id, url=endpoint.url)  # fmt: skip
    return after_action(HERE, _("Deleted: nothing more is sent to {url}.").format(
        url=endpoint.url))  # fmt: skip


@router.get(HERE + "/webhooks/{endpoint_id}/deliveries/{delivery_id}",
            response_class=HTMLResponse)  # fmt: skip
def delivery_detail(
    request: Request, session: Owner, endpoint_id: str, delivery_id: str
) -> Response:  # fmt: skip
    service, merchant_id = hooks(request), _merchant_id(session)
    speak(request, session)  # the delivery's errors are told in the page's language
    try:
        endpoint = service.get_endpoint(_number(endpoint_id), merchant_id=merchant_id)
        delivery = service.get_delivery(endpoint.id, _number(delivery_id, BIG_ID),
                                        merchant_id=merchant_id)  # fmt: skip
    except TillpointError as e:
        found = e.code != "webhook_endpoint.not_found"
        return trouble(
            request, session, e, f"{HERE}/webhooks/{_number(endpoint_id)}" if found else HERE
        )
    return page(request, session, "portal/developers/delivery.html", endpoint=endpoint,
                delivery=delivery, states=DELIVERY_STATES)  # fmt: skip
