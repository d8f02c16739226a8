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

from ops.simulators.base import fmt
from ops.simulators.cases import SimEvent
from ops.simulators.clues import ClueGenerator
from ops.simulators.drops import CsvFileDrop, drop_cli
from ops.simulators.lifecycle import GeneratedSimulator

TS = "%Y%m%d%H%M%S"
GRADES = {"high": "1", "medium": "2", "low": "3"}
COLUMNS = ["alarm_id", "alarm_version", "alarm_status", "update_time", "alarm_time", "company_name",
           "company_uscc", "area_code", "plate_no", "vehicle_type", "driver_name", "road", "alarm_code",
           "alarm_name", "threshold", "observed", "unit", "speed_limit", "risk_grade", "risk_score",
           "risk_type_code", "risk_type_name", "item_code", "alarm_desc", "remark"]


class RoadTransportSimulator(CsvFileDrop, GeneratedSimulator):
    system = "risk_road_transport"
    department_code = "330000JTT"
    file_prefix = "DLYS_ALARM"
    columns = COLUMNS
    csv_options = {"dialect": "unix", "quoting": csv.QUOTE_MINIMAL}
    temp_prefix = "road-transport-drop-"
    default_batch_size = 100

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


def main(argv=None) -> None:
    drop_cli(RoadTransportSimulator,
             "Simulated road-transport monitoring platform (risk alarms as UTF-8 CSV file drops)", argv)


if __name__ == "__main__":
    main()
