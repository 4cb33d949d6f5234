"""Where shops and terminals are: a shop's registered position and city through the API
and the pages' shop forms; a terminal's reported place shown by the API and the console."""

from __future__ import annotations

import ipaddress
from decimal import Decimal
from typing import Any

from tests.api import test_console_merchants as console
from tests.api import test_portal_shops as portal
from tests.api.conftest import ApiEnv
from tests.api.test_resources import invalid, ok, problem
from tillpoint.access.models import AccountRole
from tillpoint.core.geo import Position
from tillpoint.demo import DEMO_CITY, demo_position
from tillpoint.iso8583 import fields as f


def patch(api: ApiEnv, who: str, path: str, body: object) -> Any:
    return api.client.patch(path, headers=api.headers(who), json=body)


def test_demo_shops_are_in_shanghai(api: ApiEnv) -> None:
    shops = ok(api.get("owner_a", f"/v1/merchants/{api.mid_a}/shops"))["data"]
    assert (shops[0]["latitude"], shops[0]["longitude"], shops[0]["city"]) == (
        "31.230400", "121.473700", DEMO_CITY,
    )  # fmt: skip
    (second,) = ok(api.get("owner_b", f"/v1/merchants/{api.mid_b}/shops"))["data"]
    assert Position.of(second["latitude"], second["longitude"]) == demo_position(2)
    assert demo_position(2) != demo_position(1)


def test_a_shop_opened_and_moved_through_the_api(api: ApiEnv) -> None:
    path = f"/v1/merchants/{api.mid_a}/shops"
    body = {"name": "徐汇店", "address": "上海市徐汇区漕溪北路88号", "latitude": "31.1889",
            "longitude": "121.4365", "city": "上海 Shanghai"}  # fmt: skip
    shop = ok(api.post("owner_a", path, json=body), 201)
    assert (shop["latitude"], shop["longitude"], shop["city"]) == (
        "31.188900", "121.436500", "上海 Shanghai",
    )  # fmt: skip
    one = f"{path}/{shop['number']}"
    moved = ok(patch(api, "owner_a", one, {"latitude": "-33.8688", "longitude": "151.2093"}))
    assert (moved["latitude"], moved["longitude"], moved["city"]) == (
        "-33.868800", "151.209300", "上海 Shanghai",
    )  # fmt: skip
    renamed = ok(patch(api, "owner_a", one, {"city": "Sydney"}))
    assert (renamed["latitude"], renamed["city"]) == ("-33.868800", "Sydney")
    cleared = ok(patch(api, "owner_a", one, {"latitude": None, "longitude": None, "city": None}))
    assert (cleared["latitude"], cleared["longitude"], cleared["city"]) == (None, None, None)
    # Who may: the merchant's owner and operations; another merchant's shop is not found.
    problem(patch(api, "staff_a", one, {"city": "x"}), 403, "auth.forbidden")
    assert patch(api, "owner_b", one, {"city": "x"}).status_code == 404
    assert ok(patch(api, "ops", one, {"city": "上海"}))["city"] == "上海"


def test_bad_positions_are_refused_and_change_nothing(api: ApiEnv) -> None:
    path = f"/v1/merchants/{api.mid_a}/shops"
    base = {"name": "Bad", "address": "1 Bad Road"}
    for wrong in ({"latitude": "91", "longitude": "0"}, {"latitude": "0", "longitude": "-180.5"}):
        problem(api.post("owner_a", path, json={**base, **wrong}), 422, "shop.position")
    problem(api.post("owner_a", path, json={**base, "latitude": "31.2"}), 422, "shop.position_half")
    invalid(api.post("owner_a", path, json={**base, "latitude": 31.2, "longitude": 121.4}),
            "body.latitude", "body.longitude")  # fmt: skip
    invalid(api.post("owner_a", path, json={**base, "latitude": "31.1234567", "longitude": "1"}),
            "body.latitude")  # fmt: skip
    assert len(ok(api.get("owner_a", path))["data"]) == 1
    one = f"{path}/1"
    problem(patch(api, "owner_a", one, {"latitude": "31.2"}), 422, "shop.position_half")
    problem(patch(api, "owner_a", one, {"latitude": "-90.000001", "longitude": "0"}), 422,
            "shop.position")  # fmt: skip
    invalid(patch(api, "owner_a", one, {"city": "x" * 51}), "body.city")
    invalid(patch(api, "owner_a", one, {"city": "x\x7f"}), "body.city")
    (shop,) = ok(api.get("owner_a", path))["data"]
    assert shop["latitude"] == "31.230400" and shop["city"] == DEMO_CITY


def test_the_portal_and_console_shop_forms(api: ApiEnv) -> None:
    portal.as_owner(api)
    page = portal.after(api, portal.post(api, "/portal/shops/add", name="二号店 Shop 2",
                                         address="上海市徐汇区漕溪路2号", city="上海",
                                         latitude="91", longitude="121.43"))  # fmt: skip
    assert "Shop 2 (二号店 Shop 2) opened." not in page and "-90 to 90" in page
    assert len(api.tp.merchants.list_shops(api.mid_a)) == 1
    page = portal.after(api, portal.post(api, "/portal/shops/add", name="二号店 Shop 2",
                                         address="上海市徐汇区漕溪路2号", city="上海",
                                         latitude="31.19", longitude="121.43"))  # fmt: skip
    assert "Shop 2 (二号店 Shop 2) opened." in page
    assert "31.190000, 121.430000" in page and 'name="latitude"' in page
    shop = api.tp.merchants.list_shops(api.mid_a)[-1]
    assert (shop.latitude, shop.longitude, shop.city) == (
        Decimal("31.19"), Decimal("121.43"), "上海",
    )  # fmt: skip

    console.as_role(api, AccountRole.REVIEWER)
    base = f"/console/merchants/{api.mid_b}"
    page = console.flash_after(api, console.post(api, f"{base}/shops/add", name="East",
                                                 address="1 East Road", latitude="31.2"))  # fmt: skip
    assert "Give both the latitude and the longitude" in page
    page = console.flash_after(api, console.post(api, f"{base}/shops/add", name="East",
                                                 address="1 East Road", city="Shanghai",
                                                 latitude="31.2", longitude="121.5"))  # fmt: skip
    assert "Shop 2 (East) opened." in page and "31.200000, 121.500000" in page
    zh = api.client.get(f"{base}?lang=zh").text
    assert "纬度，单位度（选填）" in zh and "城市" in zh


def test_a_terminals_reported_place_in_the_api_and_the_console(api: ApiEnv) -> None:
    assert ok(api.get("ops", f"/v1/terminals/{api.tid_a}"))["place"] is None
    place = f.Place(f.DEVICE_COUNTERTOP, "DEMO00001", demo_position(1),
                    ip=ipaddress.ip_address("127.0.0.1"))  # fmt: skip
    api.tp.signon.sign_on(api.tid_a, api.mid_a, "001", place=place, source="192.0.2.7")
    shown = ok(api.get("owner_a", f"/v1/terminals/{api.tid_a}"))["place"]
    assert {k: shown[k] for k in ("device_type", "serial_no", "latitude", "longitude", "ip",
                                  "cell", "source_address")} == {
        "device_type": "01", "serial_no": "DEMO00001", "latitude": "31.230400",
        "longitude": "121.473700", "ip": "127.0.0.1", "cell": None,
        "source_address": "192.0.2.7",
    }  # fmt: skip
    assert shown["reported_at"] and shown["source_seen_at"]
    console.as_role(api, AccountRole.FLEET)
    page = api.client.get(f"/console/terminals/{api.tid_a}?lang=en").text
    assert "Where it is" in page and "31.230400, 121.473700" in page
    assert "Countertop (01)" in page and "192.0.2.7" in page
    other = api.client.get(f"/console/terminals/{api.tid_b}?lang=en").text
    assert "never reported" in other
