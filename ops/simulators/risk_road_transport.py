"""Road-transport monitoring platform (道路运输车辆动态监控平台): risk alarms as UTF-8 CSV file drops.

Every :meth:`RoadTransportSimulator.emit` writes one or more batch files into the drop directory::

    <dir>/DLYS_ALARM_<yyyyMMddHHmmss>_<batch:05d>.csv

written as ``.<name>.tmp`` and renamed (``os.replace``) once complete, so a poller that
ignores dot-files and ``*.tmp`` never sees half a file.  Encoding UTF-8 (no BOM),
comma-delimited, ``\\n`` line ends, one header row, minimal quoting (csv module ``unix``
dialect with ``QUOTE_MINIMAL``); an empty cell is a missing value.  At most ``batch_size``
records per file.

Columns (:data:`COLUMNS`, snake English): ``alarm_id`` (source key), ``alarm_version``,
``alarm_status`` (``new``/``verifying``/``confirmed``/``dismissed``/``closed``),
``update_time`` and ``alarm_time`` ``yyyyMMddHHmmss`` (China Standard Time), ``company_name``,
``company_uscc``, ``area_code``, ``plate_no`` (``浙A·12345``-style, with U+00B7), ``vehicle_type``,
``driver_name`` (personal information), ``road``, ``alarm_code``/``alarm_name`` (indicator),
``threshold``, ``observed``, ``unit``, ``speed_limit`` (km/h, overspeed alarms only),
``risk_grade`` ``1`` high / ``2`` medium / ``3`` low, ``risk_score`` (``0.00``-``1.00``),
``risk_type_code``/``risk_type_name``, ``item_code`` (14 digits), ``alarm_desc``, ``remark``.

Ledger: one entry per alarm version when its file is renamed into place; ``position`` =
``<file name>:<line>`` (the header is line 1), the ``file-drop`` connector's offset.  Defects:
see :mod:`ops.simulators.clues` (no encoding defects: the whole feed is UTF-8).
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from pathlib import Path

from ops.simulators.base import cli, fmt, now_cst
from ops.simulators.cases import SimEvent
from ops.simulators.clues import ClueGenerator
from ops.simulators.lifecycle import GeneratedSimulator

TS = "%Y%m%d%H%M%S"
GRADES = {"high": "1", "medium": "2", "low": "3"}
COLUMNS = ["alarm_id", "alarm_version", "alarm_status", "update_time", "alarm_time", "company_name",
           "company_uscc", "area_code", "plate_no", "vehicle_type", "driver_name", "road", "alarm_code",
           "alarm_name", "threshold", "observed", "unit", "speed_limit", "risk_grade", "risk_score",
           "risk_type_code", "risk_type_name", "item_code", "alarm_desc", "remark"]


class RoadTransportSimulator(GeneratedSimulator):
    system = "risk_road_transport"
    department_code = "330000JTT"

    def __init__(self, *args, directory: str | Path | None = None, batch_size: int = 100, **kw):
        super().__init__(*args, **kw)
        self.directory = Path(directory or tempfile.mkdtemp(prefix="road-transport-drop-"))
        self.batch_size = batch_size
        self.batch_seq = 0
        self.files: list[Path] = []

    def make_generator(self, seed, bad_ratio, duplicate_ratio, out_of_order_ratio, **kw) -> ClueGenerator:
        return ClueGenerator(seed, bad_ratio, duplicate_ratio, out_of_order_ratio, kind="road_transport", **kw)

    def row(self, ev: SimEvent) -> list[str]:
        f = ev.fields
        vals = [f["clue_id"], ev.version, ev.stage, fmt(f["stage_time"], TS), fmt(f["detected_time"], TS),
                f["entity_name"], f["entity_uscc"], f["region_code"], f["plate"], f["vehicle_kind"],
                f["driver_name"], f["road"], f["indicator_code"], f["indicator_name"], f["threshold"],
                f["observed"], f["unit"], f["speed_limit"], GRADES[f["risk_level"]], f"{f['score']:.2f}",
                f["category_code"], f["category_name"], f["catalog_code"], f["description"], f["status_note"]]
        return ["" if v is None else str(v) for v in vals]

    def publish(self, events: list[SimEvent]) -> None:
        for i in range(0, len(events), self.batch_size):
            self._write_file(events[i:i + self.batch_size])

    def _write_file(self, events: list[SimEvent]) -> None:
        self.batch_seq += 1
        name = f"DLYS_ALARM_{now_cst():%Y%m%d%H%M%S}_{self.batch_seq:05d}.csv"
        buf = io.StringIO(newline="")
        w = csv.writer(buf, dialect="unix", quoting=csv.QUOTE_MINIMAL)
        w.writerow(COLUMNS)
        for ev in events:
            w.writerow(self.row(ev))
        tmp = self.directory / f".{name}.tmp"
        tmp.write_bytes(buf.getvalue().encode("utf-8"))
        os.replace(tmp, self.directory / name)
        self.files.append(self.directory / name)
        for line, ev in enumerate(events, start=2):
            self.ledger.record(ev, position=f"{name}:{line}")

    def start(self) -> str:
        """Write the initial batches; returns the drop directory."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.emit(self.initial_count)
        return str(self.directory)

    def stop(self) -> None:
        self.ledger.close()


def main(argv=None) -> None:
    def extra(p):
        p.add_argument("--dir", default=None, help="drop directory (default: a new temp dir)")
        p.add_argument("--batch-size", type=int, default=100)

    cli(lambda a: RoadTransportSimulator(a.seed, a.count, bad_ratio=a.bad_ratio, ledger_path=a.ledger,
                                         directory=a.dir, batch_size=a.batch_size),
        "Simulated road-transport monitoring platform (risk alarms as UTF-8 CSV file drops)",
        extra=extra, argv=argv)


if __name__ == "__main__":
    main()
