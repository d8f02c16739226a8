"""Dialect-free 12345 ticket generator: complaints (投诉) and reports (举报) through the 12345 loop.

Each ticket walks received (登记) -> accepted (受理, within 7 working days) | refused (不予受理)
-> dispatched (派单) -> handling (办理) -> replied (答复) -> [supervising (督办)] -> closed (办结)
-> return_visit (回访) -> evaluated (评价) (DESIGN.md §7 complaint clocks); every stage is
one :class:`~ops.simulators.cases.SimEvent`, a full snapshot of the ticket, versioned 1, 2, ...
per ticket (``source_key`` = ticket number).

Tickets carry the complainant's personal information (name, mobile, resident ID, address --
``None`` on anonymous reports), a category (:data:`CATEGORIES`: counterfeit goods, illegal
construction, medical beauty, construction-site dust and noise, food safety, ...), free text
naming the target entity, the target's name, USCC and address, the region, the channel
(hotline / web / app) and, from dispatch on, the handling department.  ``usccs`` (optional)
is a pool of target USCCs -- e.g. parties of the penalty simulators, see :func:`penalty_usccs`
-- that ``reuse_ratio`` of the tickets point at, so the hub can link tickets to cases.  Of the
other tickets, ``pool_share`` complain about a business of the entity ``pool`` (default: the
demo's :func:`~ops.simulators.entity_pool.shared_pool` of the seed): the register's USCC, but
as the complainant knows it (often the shop's short name, sometimes its former address).

Defects (``defects=``, default :attr:`TicketGenerator.DEFAULT_DEFECTS`) and expected reasons:
``bad_resident_id`` (complainant ID with a wrong check digit -> ``id_check``),
``unknown_region`` (-> ``region_unknown``), ``missing_required`` (``text`` is ``None`` ->
``schema``), ``fullwidth_digits`` (complainant ID and mobile in full-width digits: repairable,
accepted); optional ``bad_uscc_check`` (target USCC -> ``uscc_check``).  Plus ``duplicate``
and ``out_of_order`` re-sends.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from ops.simulators.cases import UNKNOWN_REGIONS, SimEvent, add_workdays, to_fullwidth
from ops.simulators.entity_pool import EntityPool, shared_pool
from ops.simulators.lifecycle import USCC_CHARS, ZJ_COUNTIES, Item, VersionedGenerator
from schemas.regions import is_known_region, region_name

#: (code, name, kinds it occurs as, handling department (code, kind), text templates)
CATEGORIES = [
    ("0101", "假冒伪劣", ("report",), ("330000SCJ", "市场监督管理局"),
     ["市民反映{target}（{addr}）销售假冒{brand}品牌{goods}，价格明显低于市场价，疑似假货，要求查处。",
      "举报{target}仓库内存放大量无厂名厂址的{goods}，贴牌冒充{brand}产品对外批发。"]),
    ("0102", "违法建设", ("report",), ("330000ZHZF", "综合行政执法局"),
     ["反映{addr}{target}在屋顶违规搭建约{n}平方米的彩钢棚，堵塞消防通道，要求拆除。",
      "举报{target}未取得建设工程规划许可证，擅自在{addr}加建{n}层厂房。"]),
    ("0103", "医疗美容", ("complaint", "report"), ("330000WJW", "卫生健康委员会"),
     ["投诉人于{day}在{target}做{proj}项目，术后出现{sym}，该机构操作医生疑无执业资质，要求退款并查处。",
      "举报{target}（{addr}）无《医疗机构执业许可证》开展{proj}，使用来源不明的注射针剂。"]),
    ("0104", "工地扬尘噪声", ("report",), ("330000ZHZF", "综合行政执法局"),
     ["反映{target}施工工地（{addr}）夜间22时后仍在打桩施工，噪声扰民，且渣土未覆盖，扬尘严重。",
      "举报{target}渣土车未密闭运输，沿途抛洒，工地出口未设置车辆冲洗设施。"]),
    ("0105", "食品安全", ("complaint", "report"), ("330000SCJ", "市场监督管理局"),
     ["投诉人于{day}在{target}购买的{food}已超过保质期{n}天，要求退一赔十。",
      "反映{target}后厨卫生脏乱，员工未持健康证上岗，投诉人就餐后出现腹泻症状。"]),
    ("0106", "消费纠纷", ("complaint",), ("330000SCJ", "市场监督管理局"),
     ["投诉{target}预付卡（会员卡）余额{amt}元，商家突然闭店，联系不上经营者，要求退款。",
      "投诉人在{target}购买的{goods}七天内出现质量问题，商家拒绝退换货。"]),
    ("0107", "环境污染", ("report",), ("330000STJ", "生态环境局"),
     ["反映{target}夜间偷排废水，{addr}附近河道发黑发臭，要求查处。",
      "举报{target}喷涂车间废气未经处理直排，周边居民闻到刺鼻气味。"]),
    ("0108", "价格违法", ("complaint", "report"), ("330000SCJ", "市场监督管理局"),
     ["反映{target}商品明码标价与实际结算价不一致，多收{amt}元。",
      "举报{target}在促销活动中虚构原价，先涨价后打折。"]),
]
CHANNELS = [("01", "12345热线"), ("02", "政府门户网站"), ("03", "浙里办APP")]
EVALUATIONS = [("1", "满意"), ("2", "基本满意"), ("3", "不满意")]
KIND_NAMES = {"complaint": "投诉", "report": "举报"}
STAGE_NAMES = {"received": "登记", "accepted": "受理", "refused": "不予受理", "dispatched": "派单",
               "handling": "办理", "replied": "答复", "supervising": "督办", "closed": "办结",
               "return_visit": "回访", "evaluated": "评价"}
REFUSE_REASONS = ["诉求不属于本平台受理范围，已告知通过司法途径解决", "诉求人反映内容已进入诉讼程序",
                  "重复诉求，已并案办理"]
REPLIES = ["经现场核查，反映情况属实，已责令当事人立即整改，并依法立案调查。",
           "经核查，未发现反映的违法行为，已向诉求人说明情况。",
           "已约谈经营者，双方达成调解协议，商家同意退款。",
           "反映问题部分属实，已责令限期整改，将持续跟踪。"]
BRANDS = ["耐克", "阿迪达斯", "五粮液", "茅台", "华为", "欧莱雅", "LV"]
GOODS = ["运动鞋", "白酒", "手机充电器", "化妆品", "箱包", "儿童玩具"]
FOODS = ["牛奶", "面包", "速冻水饺", "婴幼儿配方奶粉", "熟食卤味"]
PROJECTS = ["玻尿酸注射", "双眼皮手术", "水光针", "肉毒素除皱", "激光祛斑"]
SYMPTOMS = ["红肿化脓", "局部硬结", "面部不对称", "皮肤灼伤"]
TICKET_DEFECTS = ("bad_resident_id", "unknown_region", "missing_required", "fullwidth_digits")


def penalty_usccs(events: Iterable[SimEvent]) -> list[str]:
    """Distinct enterprise party USCCs of good penalty-case events (``CaseGenerator`` output), in order."""
    seen: dict[str, None] = {}
    for ev in events:
        f = ev.fields
        if ev.defect is None and f.get("party_type") == "enterprise":
            seen.setdefault(f["party_id"], None)
    return list(seen)


class TicketGenerator(VersionedGenerator):
    """Deterministic 12345 tickets; see the module docstring."""

    DEFAULT_DEFECTS = TICKET_DEFECTS
    SUPPORTED_DEFECTS = (*TICKET_DEFECTS, "bad_uscc_check")
    salt = "12345"

    def __init__(self, seed: int, *args, usccs: Iterable[str | tuple[str, str]] | None = None,
                 reuse_ratio: float = 0.4, pool: EntityPool | None = None, pool_share: float = 0.6, **kw):
        super().__init__(seed, *args, **kw)
        self.entities = pool if pool is not None else (shared_pool(seed) if pool_share else None)
        self.pool_share = pool_share
        self.pool = [(u, None) if isinstance(u, str) else tuple(u) for u in (usccs or ())]
        self.reuse_ratio = reuse_ratio
        self._names: dict[str, str] = {}

    def _target(self) -> tuple[str, str, str, str | None]:
        """(name, uscc, region, address or None) of the entity complained about."""
        rng = self.rng
        if self.pool and rng.random() < self.reuse_ratio:
            uscc, name = rng.choice(self.pool)
            region = uscc[2:8] if is_known_region(uscc[2:8]) and uscc[2:4] == "33" else rng.choice(ZJ_COUNTIES)
            name = name or self._names.setdefault(uscc, self.fake.company())
            return name, uscc, region, None
        if self.entities is not None and rng.random() < self.pool_share:
            e = self.entities.pick(rng, "individual_business" if rng.random() < 0.4 else "enterprise")
            if e.uscc:  # a business (pick falls back to any kind in a tiny pool)
                v = self.entities.variant(e, rng)
                return v["name"], e.uscc, e.region_code, v["address"]
        region = rng.choice(ZJ_COUNTIES)
        return self.fake.company(), self.uscc(region), region, None

    def _new_item(self) -> Item:
        rng, fake = self.rng, self.fake
        code, cname, kinds, dept, templates = rng.choice(CATEGORIES)
        kind = rng.choice(kinds)
        tname, tuscc, region, taddr = self._target()
        taddr = taddr or self.address(region)
        received_day = self.anchor - timedelta(days=rng.randrange(1, 240))
        received = self.when(received_day, 7, 14)
        key = f"ZJ12345{received:%Y%m%d}{self.seq:06d}"
        anonymous = kind == "report" and rng.random() < 0.15
        person_region = rng.choice(ZJ_COUNTIES)
        text = rng.choice(templates).format(
            target=tname, addr=taddr, brand=rng.choice(BRANDS), goods=rng.choice(GOODS),
            food=rng.choice(FOODS), proj=rng.choice(PROJECTS), sym=rng.choice(SYMPTOMS),
            n=rng.randrange(2, 60), amt=rng.randrange(200, 20000), day=f"{received_day - timedelta(days=rng.randrange(1, 30)):%Y年%m月%d日}")
        channel = rng.choices(CHANNELS, weights=(6, 2, 3))[0]
        base = {
            "ticket_no": key, "kind": kind, "kind_name": KIND_NAMES[kind],
            "category_code": code, "category_name": cname,
            "title": f"关于{tname}{cname}问题的{KIND_NAMES[kind]}", "text": text,
            "anonymous": anonymous,
            "complainant_name": None if anonymous else fake.name(),
            "complainant_phone": None if anonymous else self.mobile(),
            "complainant_id": None if anonymous else self.resident_id(person_region),
            "complainant_address": None if anonymous else self.address(person_region),
            "target_name": tname, "target_uscc": tuscc, "target_address": taddr,
            "region_code": region, "channel_code": channel[0], "channel_name": channel[1],
            "received_time": received, "due_date": add_workdays(received_day, 7),
            "handling_dept_code": None, "handling_dept_name": None, "reply_text": None,
            "supervise_count": 0, "evaluation_code": None, "evaluation_name": None, "case_no": None,
        }
        tl: list[tuple[str, datetime, dict]] = [("received", received, {})]
        t = received
        roll = rng.random()

        def step(stage: str, workdays: int, changes: dict | None = None) -> None:
            nonlocal t
            d = add_workdays(t.date(), workdays) if workdays else t.date()
            t = max(self.when(d), t + timedelta(minutes=rng.randrange(5, 90)))
            tl.append((stage, t, changes or {}))

        if roll < 0.06:
            step("refused", rng.randrange(0, 7), {"reply_text": rng.choice(REFUSE_REASONS)})
        else:
            step("accepted", rng.randrange(0, 7),
                 {"due_date": add_workdays(received_day, 15 if kind == "report" else 10)})
            dept_name = f"{region_name(region)}{dept[1]}"
            step("dispatched", 0, {"handling_dept_code": dept[0], "handling_dept_name": dept_name})
            step("handling", rng.randrange(0, 3))
            step("replied", rng.randrange(1, 10), {"reply_text": rng.choice(REPLIES)})
            if roll < 0.25:
                step("supervising", rng.randrange(1, 4), {"supervise_count": 1})
            referred = kind == "report" and rng.random() < 0.3
            step("closed", rng.randrange(0, 4),
                 {"case_no": f"{dept[0]}-{received.year}-{rng.randrange(1, 10**6):06d}" if referred else None})
            step("return_visit", rng.randrange(1, 4))
            ev = rng.choices(EVALUATIONS, weights=(7, 2, 1))[0]
            step("evaluated", 0, {"evaluation_code": ev[0], "evaluation_name": ev[1]})
        limit = datetime.combine(self.anchor, datetime.max.time())
        tl = [s for s in tl if s[1] <= limit] or tl[:1]
        return Item(key, base, tl)

    def _applicable(self, kind: str, f: dict) -> bool:
        if kind in ("bad_resident_id", "fullwidth_digits"):
            return f["complainant_id"] is not None
        return True

    def _apply_defect(self, f: dict, kind: str) -> None:
        if kind == "bad_resident_id":
            f["complainant_id"] = self.wrong_check(f["complainant_id"], "0123456789")
        elif kind == "unknown_region":
            f["region_code"] = self.rng.choice(UNKNOWN_REGIONS)
        elif kind == "missing_required":
            f["text"] = None
        elif kind == "fullwidth_digits":
            f["complainant_id"] = to_fullwidth(f["complainant_id"])
            f["complainant_phone"] = to_fullwidth(f["complainant_phone"])
        elif kind == "bad_uscc_check":
            f["target_uscc"] = self.wrong_check(f["target_uscc"], USCC_CHARS)
