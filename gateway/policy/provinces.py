"""Province-level divisions, named as the Chinese geocoder of phonenumbers names them.

The geocoder is not consistent: it says `广西壮族自治区南宁市、崇左市` for one prefix and
`广西南宁市` for another, `天津` for one and `天津市` for the rest. Every description starts
with the division's short name, so matching on that prefix gives one canonical name.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Final

# Short name -> full name, in the order of GB/T 2260. The first 31 are the mainland.
_BY_SHORT_NAME: Final[dict[str, str]] = {
    "北京": "北京市",
    "天津": "天津市",
    "河北": "河北省",
    "山西": "山西省",
    "内蒙古": "内蒙古自治区",
    "辽宁": "辽宁省",
    "吉林": "吉林省",
    "黑龙江": "黑龙江省",
    "上海": "上海市",
    "江苏": "江苏省",
    "浙江": "浙江省",
    "安徽": "安徽省",
    "福建": "福建省",
    "江西": "江西省",
    "山东": "山东省",
    "河南": "河南省",
    "湖北": "湖北省",
    "湖南": "湖南省",
    "广东": "广东省",
    "广西": "广西壮族自治区",
    "海南": "海南省",
    "重庆": "重庆市",
    "四川": "四川省",
    "贵州": "贵州省",
    "云南": "云南省",
    "西藏": "西藏自治区",
    "陕西": "陕西省",
    "甘肃": "甘肃省",
    "青海": "青海省",
    "宁夏": "宁夏回族自治区",
    "新疆": "新疆维吾尔自治区",
    "台湾": "台湾省",
    "香港": "香港特别行政区",
    "澳门": "澳门特别行政区",
}

PROVINCES: Final[tuple[str, ...]] = tuple(_BY_SHORT_NAME.values())
MAINLAND_PROVINCES: Final[tuple[str, ...]] = PROVINCES[:31]
_PROVINCE_SET: Final[frozenset[str]] = frozenset(PROVINCES)


@lru_cache(maxsize=4096)
def canonical_province(text: str) -> str | None:
    """The province a place description (`江苏省连云港市`, `广西南宁市`) lies in, or None."""
    text = text.strip()
    # No short name is a prefix of another, so the first hit is the only one.
    for size in (2, 3):
        province = _BY_SHORT_NAME.get(text[:size])
        if province is not None:
            return province
    return None


def is_province(name: str) -> bool:
    return name in _PROVINCE_SET
