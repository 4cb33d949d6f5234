"""What the simulated merchants are: their trades (hours, tickets, daily volume, how
their customers pay) and the cities they are in.

Shares and weights here are probabilities for the generator, not money: money is
always integer fen (``*_minor``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tillpoint.core.geo import Position
from tillpoint.merchants.models import MerchantKind

P, B = MerchantKind.PERSONAL, MerchantKind.BUSINESS


def hm(text: str) -> int:
    """Minutes after midnight of ``HH:MM``."""
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


@dataclass(frozen=True)
class Window:
    """Part of a trading day (local time) and how much of the day's sales fall in it."""

    start_min: int
    end_min: int
    weight: float


def windows(*spec: tuple[str, str, float]) -> tuple[Window, ...]:
    return tuple(Window(hm(a), hm(b), w) for a, b, w in spec)


@dataclass(frozen=True)
class Mix:
    """How the trade's customers pay: a wallet code, or a domestic debit, domestic
    credit or foreign card."""

    wallet: float
    debit: float
    credit: float
    foreign: float

    def cards(self) -> tuple[float, float, float]:
        """The card shares alone (debit, credit, foreign), summing to one."""
        total = self.debit + self.credit + self.foreign
        return self.debit / total, self.credit / total, self.foreign / total


@dataclass(frozen=True)
class Trade:
    key: str
    name: str  # as a shop sign says it, both languages
    company: str  # what a business of the trade calls itself: 餐饮 Catering
    kind: MerchantKind
    mcc: str
    hours: tuple[Window, ...]
    ticket_minor: tuple[int, int, int]  # lowest, median, highest
    cents: bool  # a basket priced to the fen; else whole yuan
    sales_per_day: tuple[int, int]  # the merchant's mean is drawn in this range
    terminals: tuple[int, int]
    shops: tuple[int, int]
    mix: Mix
    regulars: tuple[int, int]  # loyal customers, each with a card of their own
    regular_share: float  # of the trade's card sales, by its regulars
    share: float  # of all simulated merchants (0: only imitated, never registered)


# Monday .. Sunday: more on Friday and the weekend (a hotel and a restaurant most).
WEEKLY = (0.92, 0.9, 0.93, 0.97, 1.1, 1.18, 1.05)

TRADES: tuple[Trade, ...] = (
    Trade("noodle_shop", "面馆 Noodles", "餐饮 Catering", P, "5812",
          windows(("10:00", "11:00", 1), ("11:00", "13:30", 5), ("13:30", "17:00", 1),
                  ("17:00", "20:00", 4), ("20:00", "21:00", 1)),
          (8_00, 22_00, 80_00), False, (5, 40), (1, 1), (1, 1),
          Mix(0.55, 0.32, 0.12, 0.01), (15, 60), 0.55, 0.24),
    Trade("street_vendor", "小吃 Snacks", "食品 Foods", P, "5499",
          windows(("10:00", "12:00", 2), ("12:00", "18:00", 3), ("18:00", "21:00", 3)),
          (5_00, 16_00, 60_00), False, (5, 40), (1, 1), (1, 1),
          Mix(0.70, 0.24, 0.06, 0.0), (10, 40), 0.45, 0.14),
    Trade("corner_shop", "便利店 Corner shop", "商贸 Trading", P, "5411",
          windows(("07:00", "09:00", 3), ("09:00", "17:00", 4), ("17:00", "21:00", 4),
                  ("21:00", "23:00", 1)),
          (5_00, 28_00, 150_00), True, (8, 40), (1, 1), (1, 1),
          Mix(0.60, 0.30, 0.10, 0.0), (20, 80), 0.5, 0.22),
    Trade("barber", "理发 Barber", "美发 Hair", P, "7230",
          windows(("10:00", "12:00", 2), ("12:00", "18:00", 3), ("18:00", "21:00", 3)),
          (20_00, 58_00, 300_00), False, (5, 25), (1, 1), (1, 1),
          Mix(0.50, 0.35, 0.15, 0.0), (15, 50), 0.6, 0.08),
    Trade("restaurant", "酒家 Restaurant", "餐饮 Catering", B, "5812",
          windows(("11:00", "14:00", 5), ("17:00", "22:00", 6)),
          (50_00, 180_00, 600_00), False, (20, 120), (1, 2), (1, 1),
          Mix(0.30, 0.30, 0.33, 0.07), (20, 80), 0.3, 0.12),
    Trade("convenience_chain", "便利 Mart", "商业 Commerce", B, "5411",
          windows(("07:00", "09:00", 3), ("09:00", "17:00", 4), ("17:00", "21:00", 4),
                  ("21:00", "23:00", 1)),
          (5_00, 30_00, 150_00), True, (40, 150), (1, 3), (1, 3),
          Mix(0.60, 0.28, 0.11, 0.01), (40, 120), 0.35, 0.09),
    Trade("hotel", "酒店 Hotel", "酒店管理 Hotels", B, "7011",
          windows(("00:00", "07:00", 1), ("07:00", "12:00", 5), ("12:00", "14:00", 2),
                  ("14:00", "23:00", 6), ("23:00", "23:59", 1)),
          (300_00, 650_00, 2000_00), False, (20, 60), (1, 2), (1, 1),
          Mix(0.20, 0.20, 0.45, 0.15), (10, 30), 0.1, 0.04),
    Trade("electronics", "数码 Digital", "电子 Electronics", B, "5732",
          windows(("10:00", "12:00", 2), ("12:00", "18:00", 4), ("18:00", "21:00", 4)),
          (200_00, 1200_00, 8000_00), False, (20, 60), (1, 2), (1, 1),
          Mix(0.20, 0.30, 0.45, 0.05), (10, 30), 0.15, 0.07),
    # Only imitated: what a category-mismatched merchant's traffic looks like.
    Trade("jewellery", "珠宝 Jewellery", "珠宝 Jewellery", B, "5944",
          windows(("10:00", "13:00", 2), ("13:00", "18:00", 4), ("18:00", "21:00", 3)),
          (2000_00, 9000_00, 60000_00), False, (3, 15), (1, 1), (1, 1),
          Mix(0.15, 0.30, 0.50, 0.05), (5, 15), 0.2, 0.0),
)  # fmt: skip
TRADE = {t.key: t for t in TRADES}
REGISTERED = tuple(t for t in TRADES if t.share > 0)
#: Trades whose merchants may be found selling another trade's goods (跳码), and what
#: they then look like: personal merchants the electronics trade (their per-payment
#: limit is below a jeweller's tickets), business ones jewellery or electronics.
MISMATCHABLE = frozenset({"noodle_shop", "street_vendor", "corner_shop", "restaurant",
                          "convenience_chain"})  # fmt: skip
IMITATED = {P: ("electronics",), B: ("jewellery", "electronics")}


@dataclass(frozen=True)
class City:
    key: str
    name: str  # as a shop's city is written: 上海 Shanghai
    district: str  # the address's first part, in Chinese
    region_code: str  # the merchant's region (MIDs are numbered by it)
    id_area: str  # the first six digits of a resident there's identity number
    centre: Position
    share: float
    ip_block: int  # the terminals' mobile carrier addresses there: 100.<64+n>.x.y


CITIES: tuple[City, ...] = (
    City("shanghai", "上海 Shanghai", "上海市黄浦区", "3100", "310101",
         Position(31_230_400, 121_473_700), 0.25, 0),
    City("beijing", "北京 Beijing", "北京市东城区", "1100", "110101",
         Position(39_904_200, 116_407_400), 0.20, 1),
    City("guangzhou", "广州 Guangzhou", "广州市越秀区", "4401", "440104",
         Position(23_129_100, 113_264_400), 0.12, 2),
    City("shenzhen", "深圳 Shenzhen", "深圳市福田区", "4403", "440304",
         Position(22_543_100, 114_057_900), 0.12, 3),
    City("hangzhou", "杭州 Hangzhou", "杭州市上城区", "3301", "330102",
         Position(30_274_100, 120_155_100), 0.08, 4),
    City("chengdu", "成都 Chengdu", "成都市锦江区", "5101", "510104",
         Position(30_572_800, 104_066_800), 0.08, 5),
    City("wuhan", "武汉 Wuhan", "武汉市江岸区", "4201", "420102",
         Position(30_592_800, 114_305_500), 0.05, 6),
    City("xian", "西安 Xi'an", "西安市新城区", "6101", "610102",
         Position(34_341_600, 108_939_800), 0.04, 7),
    City("nanjing", "南京 Nanjing", "南京市玄武区", "3201", "320102",
         Position(32_060_300, 118_796_900), 0.03, 8),
    City("chongqing", "重庆 Chongqing", "重庆市渝中区", "5000", "500103",
         Position(29_563_000, 106_551_600), 0.03, 9),
)  # fmt: skip
CITY = {c.key: c for c in CITIES}


def distance_km(a: Position, b: Position) -> int:
    """The great-circle distance, to the kilometre (haversine; floats are fine for a
    distance that only chooses a far city and is shown)."""
    la1, lo1 = math.radians(a.latitude_e6 / 1e6), math.radians(a.longitude_e6 / 1e6)
    la2, lo2 = math.radians(b.latitude_e6 / 1e6), math.radians(b.longitude_e6 / 1e6)
    h = (
        math.sin((la2 - la1) / 2) ** 2
        + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    )
    return round(2 * 6371 * math.asin(math.sqrt(h)))


SURNAMES = (
    ("李", "Li"), ("王", "Wang"), ("张", "Zhang"), ("刘", "Liu"), ("陈", "Chen"),
    ("杨", "Yang"), ("黄", "Huang"), ("赵", "Zhao"), ("吴", "Wu"), ("周", "Zhou"),
    ("徐", "Xu"), ("孙", "Sun"), ("马", "Ma"), ("朱", "Zhu"), ("胡", "Hu"),
    ("郭", "Guo"), ("何", "He"), ("林", "Lin"), ("罗", "Luo"), ("高", "Gao"),
)  # fmt: skip
GIVEN = (
    ("伟", "Wei"), ("芳", "Fang"), ("娜", "Na"), ("敏", "Min"), ("静", "Jing"),
    ("强", "Qiang"), ("磊", "Lei"), ("军", "Jun"), ("洋", "Yang"), ("勇", "Yong"),
    ("艳", "Yan"), ("杰", "Jie"), ("涛", "Tao"), ("明", "Ming"), ("超", "Chao"),
)  # fmt: skip
BRANDS = (
    ("金福", "Jinfu"), ("鸿运", "Hongyun"), ("华美", "Huamei"), ("顺和", "Shunhe"),
    ("盛世", "Shengshi"), ("福满", "Fuman"), ("嘉禾", "Jiahe"), ("东方", "Dongfang"),
    ("明珠", "Mingzhu"), ("新天", "Xintian"), ("永安", "Yong'an"), ("百佳", "Baijia"),
)  # fmt: skip
STREETS = (
    ("人民路", "Renmin Road"), ("解放路", "Jiefang Road"), ("中山路", "Zhongshan Road"),
    ("建设路", "Jianshe Road"), ("和平路", "Heping Road"), ("新华路", "Xinhua Road"),
    ("文化路", "Wenhua Road"), ("长江路", "Changjiang Road"),
)  # fmt: skip
