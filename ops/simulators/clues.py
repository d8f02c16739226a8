"""Dialect-free risk-clue generator for the industry risk systems (medical waste, road transport).

A clue is raised when a monitored indicator crosses its threshold (``observed`` vs
``threshold``, in ``unit``), scored 0-1 and graded high / medium / low, against an entity
(hospital or transport company, by USCC).  It then walks ``new`` (新发现) -> ``verifying``
(核查中, score and level may be revised) -> ``confirmed`` (已确认) | ``dismissed`` (已排除) ->
``closed`` (已闭环); each step is one :class:`~ops.simulators.cases.SimEvent`, versioned 1, 2,
... per clue (``source_key`` = clue id).  ``kind`` picks the system: ``medical_waste`` (waste
weight anomalies, transfer-manifest gaps, storage overtime, per hospital) or
``road_transport`` (fatigue driving, overspeed, illegal route, per vehicle and company, with
plate numbers like ``浙A·12345``).  Each clue names the supervision item it matches
(``catalog_code``, 14 digits).

Defects (default :data:`CLUE_DEFECTS`) and expected reasons: ``bad_uscc_check`` (entity USCC
-> ``uscc_check``), ``unknown_region`` (-> ``region_unknown``), ``missing_required``
(``description`` null -> ``schema``), ``bad_item_code`` (catalog code not 14 digits ->
``item_code_format``); plus duplicate and out-of-order re-sends.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ops.simulators.cases import UNKNOWN_REGIONS
from ops.simulators.lifecycle import USCC_CHARS, ZJ_COUNTIES, Item, VersionedGenerator
from schemas.regions import region_name

CLUE_DEFECTS = ("bad_uscc_check", "unknown_region", "missing_required", "bad_item_code")
STATUS_NAMES = {"new": "新发现", "verifying": "核查中", "confirmed": "已确认", "dismissed": "已排除",
                "closed": "已闭环"}
LEVEL_NAMES = {"high": "高", "medium": "中", "low": "低"}
#: indicator code -> (name, unit, threshold range, how far over, category (code, name), catalog code)
INDICATORS = {
    "medical_waste": [
        ("MW01", "医疗废物日产生量异常波动率", "%", (30, 50), (1.1, 3.0), ("YF01", "医疗废物产生量异常"), "33011200100001"),
        ("MW02", "转移联单缺失批次", "批次", (0, 1), (1, 8), ("YF02", "转移联单缺失"), "33011200100002"),
        ("MW03", "暂存超时时长", "小时", (48, 48), (1.05, 2.5), ("YF03", "医疗废物暂存超时"), "33011200100003"),
        ("MW04", "产生量与床位数比值偏离度", "%", (40, 60), (1.1, 2.2), ("YF01", "医疗废物产生量异常"), "33011200100001"),
    ],
    "road_transport": [
        ("RT01", "连续驾驶时长", "小时", (4, 4), (1.05, 1.8), ("DL01", "疲劳驾驶"), "33011800200001"),
        ("RT02", "超速幅度", "%", (20, 20), (1.1, 3.0), ("DL02", "车辆超速"), "33011800200002"),
        ("RT03", "偏离核定线路里程", "公里", (5, 10), (1.2, 6.0), ("DL03", "违规线路运营"), "33011800200003"),
        ("RT04", "凌晨2-5时违规运行时长", "分钟", (0, 0), (10, 120), ("DL04", "凌晨违规运行"), "33011800200004"),
    ],
}
HOSPITAL_KINDS = ["人民医院", "中医院", "妇幼保健院", "第二人民医院", "口腔医院", "社区卫生服务中心"]
WASTE_KINDS = ["感染性废物", "损伤性废物", "病理性废物", "药物性废物", "化学性废物"]
PLATE_PREFIX = {"3301": "浙A", "3302": "浙B", "3303": "浙C", "3304": "浙F", "3305": "浙E", "3306": "浙D",
                "3307": "浙G", "3308": "浙H", "3309": "浙L", "3310": "浙J", "3311": "浙K"}
VEHICLE_KINDS = ["重型半挂牵引车", "危险货物运输车", "大型普通客车", "重型厢式货车"]
PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"


def level_of(score: float) -> str:
    return "high" if score >= 0.8 else "medium" if score >= 0.5 else "low"


class ClueGenerator(VersionedGenerator):
    """Deterministic risk clues for one industry risk system; see the module docstring."""

    DEFAULT_DEFECTS = CLUE_DEFECTS
    SUPPORTED_DEFECTS = CLUE_DEFECTS

    def __init__(self, seed: int, *args, kind: str = "medical_waste", entities: int = 40, **kw):
        if kind not in INDICATORS:
            raise ValueError(f"kind must be one of {sorted(INDICATORS)}")
        self.kind = kind
        self.salt = f"clue:{kind}"
        super().__init__(seed, *args, **kw)
        self._entities = [self._entity() for _ in range(entities)]

    def _entity(self) -> dict:
        rng = self.rng
        region = rng.choice(ZJ_COUNTIES)
        if self.kind == "medical_waste":
            name = f"{region_name(region)}{rng.choice(HOSPITAL_KINDS)}"
            return {"name": name, "uscc": self.uscc(region, "2", "1"), "region": region,
                    "beds": rng.randrange(80, 2000)}
        prefix = PLATE_PREFIX.get(region[:4], "浙A")
        vehicles = [(f"{prefix}·{rng.choice(PLATE_LETTERS)}{rng.randrange(1000, 9999)}"
                     if rng.random() < 0.5 else f"{prefix}·{rng.randrange(10000, 99999)}", rng.choice(VEHICLE_KINDS))
                    for _ in range(rng.randrange(2, 8))]
        return {"name": f"{(region_name(region) or '')[:-1]}{rng.choice(['顺达', '通运', '安捷', '恒通', '远航'])}"
                        f"{rng.choice(['物流', '运输', '客运', '危险品运输'])}有限公司",
                "uscc": self.uscc(region), "region": region, "vehicles": vehicles}

    def _new_item(self) -> Item:
        rng, fake = self.rng, self.fake
        ent = rng.choice(self._entities)
        code, name, unit, (lo, hi), (over_lo, over_hi), category, catalog = rng.choice(INDICATORS[self.kind])
        threshold = rng.randint(lo, hi)
        r = rng.random()  # how far over the threshold, 0..1 of the indicator's range
        factor = over_lo + r * (over_hi - over_lo)
        observed = round(threshold * factor, 1) if threshold else round(factor, 1)
        if unit in ("批次", "分钟"):
            observed = float(max(int(threshold) + 1, round(observed)))
        score = round(min(0.99, 0.3 + 0.6 * r + rng.random() * 0.1), 2)
        detected = self.when(self.anchor - timedelta(days=rng.randrange(1, 120)), 0, 24)
        prefix = "YFJC" if self.kind == "medical_waste" else "DLYS"
        key = f"{prefix}{detected:%Y%m%d}{self.seq:06d}"
        base = {
            "clue_id": key, "indicator_code": code, "indicator_name": name, "unit": unit,
            "threshold": float(threshold), "observed": float(observed), "score": score,
            "risk_level": level_of(score), "category_code": category[0], "category_name": category[1],
            "catalog_code": catalog, "entity_name": ent["name"], "entity_uscc": ent["uscc"],
            "region_code": ent["region"], "detected_time": detected, "status_note": None,
        }
        if self.kind == "medical_waste":
            waste = rng.choice(WASTE_KINDS)
            base |= {"waste_kind": waste, "beds": ent["beds"],
                     "manifest_no": f"ZJYF{detected:%Y%m}{rng.randrange(10**6):06d}" if code == "MW02" else None,
                     "description": f"{ent['name']}{waste}{name}{observed}{unit}，超过阈值{threshold}{unit}。"}
        else:
            plate, vehicle = rng.choice(ent["vehicles"])
            base |= {"plate": plate, "vehicle_kind": vehicle, "driver_name": fake.name(),
                     "speed_limit": 80 if code == "RT02" else None, "road": rng.choice(["G60沪昆高速", "G15沈海高速",
                                                                                       "G25长深高速", "S26诸永高速"]),
                     "description": f"{ent['name']}所属车辆{plate}（{vehicle}）{name}{observed}{unit}，"
                                    f"超过阈值{threshold}{unit}。"}
        tl: list[tuple[str, datetime, dict]] = [("new", detected, {})]
        t = detected

        def step(stage: str, hours: int, changes: dict | None = None) -> None:
            nonlocal t
            t = t + timedelta(hours=hours, minutes=rng.randrange(1, 59))
            tl.append((stage, t, changes or {}))

        step("verifying", rng.randrange(1, 48))
        if rng.random() < 0.3:  # re-scored during verification
            s2 = round(min(0.99, max(0.05, score + rng.choice([-0.3, -0.15, 0.15]))), 2)
            step("verifying", rng.randrange(1, 24), {"score": s2, "risk_level": level_of(s2),
                                                     "status_note": "核查中调整风险评分"})
        if rng.random() < 0.8:
            step("confirmed", rng.randrange(2, 72), {"status_note": "经现场核查，风险属实"})
        else:
            step("dismissed", rng.randrange(2, 72), {"status_note": "经核查为设备数据异常，予以排除"})
        step("closed", rng.randrange(24, 240), {"status_note": "已完成处置并闭环"})
        return Item(key, base, tl)

    def _apply_defect(self, f: dict, kind: str) -> None:
        if kind == "bad_uscc_check":
            f["entity_uscc"] = self.wrong_check(f["entity_uscc"], USCC_CHARS)
        elif kind == "unknown_region":
            f["region_code"] = self.rng.choice(UNKNOWN_REGIONS)
        elif kind == "missing_required":
            f["description"] = None
        elif kind == "bad_item_code":
            c = f["catalog_code"]
            f["catalog_code"] = self.rng.choice([c[:13], c + "0", c[:6] + "O" + c[7:]])
