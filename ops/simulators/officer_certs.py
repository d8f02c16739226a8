"""Enforcement officer and certificate management system (执法人员及执法证件管理系统): upload table.

Holds ``officers`` officers spread over the province, the eleven cities and their counties.
Each officer belongs to the department of one enforcement domain at one region
(:func:`schemas.domains.department_code` ``<region><suffix>``, e.g. ``330106SCJ``), holds one
enforcement certificate (14 characters: ``33`` + the city's two digits + a 10-digit
sequence) authorising 1-3 domains of that department, valid for five years from issuance.
Issuance dates are spread so that some certificates already expired (the system still says
``1`` valid: expiry is the hub's to compute) and some expire within weeks of ``anchor``.

Events, in this order: every officer's *issuance* (核发, version 1), then *renewal* (换发: new
validity), *suspension* (暂扣: status ``2``), *restoration* (恢复: status ``1``) and *revocation*
(吊销: status ``3``, final; operation ``D``), each a full snapshot with the next version.

Table ``t_zfry_upload`` (default name), the national upload-table convention, append-only::

    cd_id INTEGER PRIMARY KEY, cd_batch VARCHAR(13) (yyyyMMdd + 5 digits, one per tick),
    cd_operation 'I'/'U'/'D', cd_time TIMESTAMP, zjh certificate number (source key), bbh version,
    sjlx event kind (01 issuance, 02 renewal, 03 suspension, 04 restoration, 05 revocation),
    bgsj event time TIMESTAMP, xm name, xb sex (GB/T 2261.1: 1 male, 2 female), csrq birth date,
    sfzh resident ID, mz ethnicity (GB/T 3304), zzmm political status (GB/T 4762), xl education
    (GB/T 4658), zj rank, ryxz officer nature, sfjdry / sffzzg '1'/'0' supervisor / legal
    qualification, lxdh phone, bmdm / bmmc / bmxydm department code, name and credit code,
    fzjgdm / fzjgmc issuing authority, zfqy / zfqymc enforcement region, zfly domain codes
    joined by '|', yxqq / yxqz validity 'yyyy-MM-dd' (VARCHAR), zjzt status (1 valid,
    2 suspended, 3 revoked), xzqh region of the department.

Defects (:data:`OfficerGenerator.REASONS`): ``missing_required`` (no name: ``schema``),
``unknown_code`` (a status code outside the code list: ``unknown_code``), ``bad_date``
(validity end not a calendar date: ``bad_date``); plus re-uploads of earlier versions.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from ops.simulators.cases import SimEvent
from ops.simulators.master import MasterStream
from ops.simulators.sqlsim import SqlSimulator, insert, sql_cli
from schemas.codes import make_batch, make_resident_id, make_uscc
from schemas.domains import DOMAINS, department_code, department_name
from schemas.regions import cities, counties, region_name

EVENTS = {"issuance": "01", "renewal": "02", "suspension": "03", "restoration": "04", "revocation": "05"}
ETHNICITIES = [("01", "汉族"), ("03", "回族"), ("15", "土家族"), ("29", "畲族")]
POLITICAL = [("01", "中共党员"), ("03", "共青团员"), ("13", "群众")]
EDUCATION = [("21", "大学本科"), ("11", "研究生"), ("31", "大学专科")]
RANKS = [("0121", "四级主任科员"), ("0122", "一级科员"), ("0131", "二级科员"), ("0112", "三级主任科员")]
NATURES = [("1", "公务员"), ("2", "参照公务员法管理人员"), ("3", "事业编制人员")]
ISSUER = ("330000SFT", "浙江省人民政府")
VALID_YEARS = 5


def agency_uscc(dept_code: str) -> str:
    """A stable credit code for a government department (position 1-2 ``11``: organ, staffing office)."""
    digest = hashlib.sha256(dept_code.encode()).hexdigest().upper()
    body = "".join(ch for ch in digest if ch in "0123456789ABCDEFGHJKLMNPQRTUWXY")[:8]
    return make_uscc(dept_code[:6], body, "1", "1")


class OfficerGenerator(MasterStream):
    """Issuance of ``officers`` certificates, then renewals, suspensions, restorations, revocations."""

    REASONS = {"missing_required": "schema", "unknown_code": "unknown_code", "bad_date": "bad_date"}
    DEFAULT_DEFECTS = tuple(REASONS)
    salt = "officer-certs"

    def __init__(self, seed: int, bad_ratio: float = 0.05, duplicate_ratio: float = 0.02,
                 out_of_order_ratio: float = 0.02, *, officers: int = 2_000, **kw):
        super().__init__(seed, bad_ratio, duplicate_ratio, out_of_order_ratio, **kw)
        self.officers = officers
        self.issued: list[dict] = []  # current rows, issuance order
        self._regions = ["330000", *cities(), *(c for city in cities() for c in counties(city))]
        self._clock = datetime.combine(self.anchor - timedelta(days=120), datetime.min.time())

    def _new_officer(self, n: int) -> dict:
        rng, fake = self.rng, self.fake
        region = self._regions[n % len(self._regions)] if n < len(self._regions) else rng.choice(self._regions)
        domain = rng.choice(list(DOMAINS.values()))
        same = [d.code for d in DOMAINS.values() if d.department_suffix == domain.department_suffix and d is not domain]
        domains = [domain.code, *rng.sample(same, min(len(same), rng.randrange(0, 3)))]
        dept = department_code(domain, region)
        city = "01" if region == "330000" else region[2:4]
        # validity ends from ~1 year before the anchor to ~4 years after: some expired, some expiring soon
        valid_from = self.anchor - timedelta(days=rng.randrange(30, 365 * VALID_YEARS + 400))
        born = date(1965, 1, 1) + timedelta(days=rng.randrange(0, 12000))
        male = rng.random() < 0.6
        rid = make_resident_id(rng.choice(counties(rng.choice(cities()))), born, rng.randrange(0, 499) * 2 + male)
        return {"cert": f"33{city}{n + 1:010d}", "name": fake.name_male() if male else fake.name_female(),
                "sex": "1" if male else "2", "born": born, "resident_id": rid,
                "ethnicity": rng.choices(ETHNICITIES, weights=(90, 3, 2, 5))[0], "political": rng.choice(POLITICAL),
                "education": rng.choice(EDUCATION), "rank": rng.choice(RANKS), "nature": rng.choice(NATURES),
                "supervisor": rng.random() < 0.1, "legal_qual": rng.random() < 0.3,
                "phone": f"1{rng.choice('3578')}{rng.randrange(10**9):09d}", "dept_code": dept,
                "dept_name": department_name(domain, region), "dept_uscc": agency_uscc(dept),
                "region": region, "region_name": region_name(region), "domains": domains,
                "valid_from": valid_from, "valid_to": valid_from + timedelta(days=365 * VALID_YEARS + 1),
                "status": "1", "at": self.at(valid_from)}

    def _fresh_event(self) -> SimEvent:
        rng = self.rng
        if len(self.issued) < self.officers:
            o = self._new_officer(len(self.issued))
            self.issued.append(o)
            return self.event(o["cert"], "issuance", o)
        live = [o for o in (rng.choice(self.issued) for _ in range(8)) if o["status"] != "3"] or [self.issued[0]]
        o = live[0]
        self._clock = max(self._clock + timedelta(minutes=rng.randrange(5, 90)), o["at"] + timedelta(hours=1))
        o["at"] = self._clock
        roll = rng.random()
        if o["status"] == "2":
            stage = "restoration" if roll < 0.7 else "revocation"
        elif roll < 0.6 or o["status"] == "3":
            stage = "renewal"
        elif roll < 0.85:
            stage = "suspension"
        else:
            stage = "revocation"
        if stage == "renewal":
            o["valid_from"] = o["at"].date()
            o["valid_to"] = o["valid_from"] + timedelta(days=365 * VALID_YEARS + 1)
        o["status"] = {"renewal": "1", "restoration": "1", "suspension": "2", "revocation": "3"}[stage]
        return self.event(o["cert"], stage, o, operation="d" if stage == "revocation" else None)

    def apply_defect(self, ev: SimEvent, kind: str) -> None:
        f = ev.fields
        if kind == "missing_required":
            f["name"] = None
        elif kind == "unknown_code":
            f["status"] = self.rng.choice(["9", "0", "X"])
        elif kind == "bad_date":
            f["valid_to"] = f"{f['valid_to'].year}-02-{self.rng.choice([30, 31])}"


def row(ev: SimEvent) -> dict:
    """One upload row of ``ev`` (without the ``cd_*`` batch columns)."""
    f = ev.fields
    to = f["valid_to"] if isinstance(f["valid_to"], str) else f["valid_to"].isoformat()
    return {
        "zjh": f["cert"], "bbh": ev.version, "cd_operation": ev.operation.upper(), "sjlx": EVENTS[ev.stage],
        "bgsj": f["at"], "xm": f["name"], "xb": f["sex"], "csrq": f["born"], "sfzh": f["resident_id"],
        "mz": f["ethnicity"][0], "zzmm": f["political"][0], "xl": f["education"][0], "zj": f["rank"][0],
        "ryxz": f["nature"][0], "sfjdry": "1" if f["supervisor"] else "0", "sffzzg": "1" if f["legal_qual"] else "0",
        "lxdh": f["phone"], "bmdm": f["dept_code"], "bmmc": f["dept_name"], "bmxydm": f["dept_uscc"],
        "fzjgdm": ISSUER[0], "fzjgmc": ISSUER[1], "zfqy": f["region"], "zfqymc": f["region_name"],
        "zfly": "|".join(f["domains"]), "yxqq": f["valid_from"].isoformat(), "yxqz": to, "zjzt": f["status"],
        "xzqh": f["region"],
    }


class OfficerCertSimulator(SqlSimulator):
    """The upload table in a database (SQLite file by default, or ``url``); one batch per :meth:`tick`.

    Generator keywords: ``officers`` (default 2,000), ``anchor``.
    """

    system = "officer_certs"
    department_code = "330000SFT"
    table_name = "t_zfry_upload"

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.batch_seq = 0

    def make_generator(self, seed, bad_ratio, duplicate_ratio, out_of_order_ratio, *, defects=None, **kw):
        return OfficerGenerator(seed, bad_ratio, duplicate_ratio, out_of_order_ratio, defects=defects, **kw)

    def define_table(self, metadata: sa.MetaData) -> sa.Table:
        s = sa.String
        cols = [sa.Column("cd_id", sa.Integer, primary_key=True, autoincrement=True),
                sa.Column("cd_batch", s(13), nullable=False, index=True),
                sa.Column("cd_operation", s(1), nullable=False), sa.Column("cd_time", sa.DateTime, nullable=False),
                sa.Column("zjh", s(20), nullable=False), sa.Column("bbh", sa.Integer, nullable=False),
                sa.Column("bgsj", sa.DateTime), sa.Column("csrq", sa.Date)]
        cols += [sa.Column(n, s(200)) for n in (
            "sjlx", "xm", "xb", "sfzh", "mz", "zzmm", "xl", "zj", "ryxz", "sfjdry", "sffzzg", "lxdh", "bmdm",
            "bmmc", "bmxydm", "fzjgdm", "fzjgmc", "zfqy", "zfqymc", "zfly", "yxqq", "yxqz", "zjzt", "xzqh")]
        return sa.Table(self.table_name, metadata, *cols)

    def write(self, conn: sa.Connection, events: list[SimEvent]) -> None:
        if not events:
            return
        self.batch_seq += 1
        now = self.clock()
        batch = make_batch(now.date(), self.batch_seq % 100000)
        rows = [dict(row(ev), cd_batch=batch, cd_time=now) for ev in events]
        if len(rows) > 50:  # the initial load: one executemany; its rows get increasing ids in order
            conn.execute(self.table.insert(), rows)
            ids = conn.execute(sa.select(self.table.c.cd_id).where(self.table.c.cd_batch == batch)
                               .order_by(self.table.c.cd_id)).scalars().all()
        else:
            ids = [insert(conn, self.table, **r) for r in rows]
        for ev, row_id in zip(events, ids, strict=True):
            self.ledger.record(ev, position=f"{batch}/{row_id}", reason=self.generator.reason(ev))


def main(argv=None) -> None:
    sql_cli(OfficerCertSimulator, "Simulated officer & certificate management system (upload table)", argv)


if __name__ == "__main__":
    main()
