"""Instructions per record of the connector's CPU work, counted by callgrind: steady where rates are not.

On a shared machine a round's records/s moves by ±10 % with the neighbours, so a change of a
few microseconds per record cannot be seen in :mod:`ops.bench.connector_bench`. Instruction
counts do not move: this runs the ``sql-poll`` example connector's poll and prepare (decode,
repair, map, validate, encode: everything but the broker) over ``--records`` rows under
``valgrind --tool=callgrind``, counting one warm round only, and then the Avro encoding of the
same mapped records alone -- the bare loop's CPU work without the send. It prints both per
record and their ratio. Needs ``valgrind`` (Debian package ``valgrind``).

Run: ``python -m ops.bench.connector_instructions [--records 2000]``. Compare two versions of
the code by running it in each checkout.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


class _Registry:
    """The schema id the serializer asks for once; the broker and the registry are not measured here."""

    def schema_id(self, subject: str, schema_str: str) -> int:
        return 1

    def get_schema(self, schema_id: int) -> str:  # pragma: no cover - never decoded here
        raise KeyError(schema_id)


def _counting(label: str, fn) -> None:
    # Instrument from here on, zero the counters, run, dump them under `label` (callgrind_control
    # talks to this process; the imports and the source build before it ran uninstrumented).
    pid = str(os.getpid())
    subprocess.run(["callgrind_control", "-i", "on", pid], check=True, capture_output=True)
    subprocess.run(["callgrind_control", "-z", pid], check=True, capture_output=True)
    fn()
    subprocess.run(["callgrind_control", "-d", label, pid], check=True, capture_output=True)


def workload(records: int, tmp: Path) -> None:
    """Under callgrind: build the source, warm up once, then count poll+prepare and encode-only."""
    from connectors.config import validate_config
    from connectors.plugins import get_plugin
    from connectors.runtime.offsets import OffsetStore
    from connectors.runtime.pipeline import decode, record_id, stamp_envelope
    from connectors.runtime.plugin import PluginContext
    from connectors.runtime.runner import SourceRunner
    from hub_api.db import Database
    from ops.bench.connector_bench import EXAMPLE, build_source
    from ops.settings import HubSettings

    build_source(f"sqlite:///{tmp / 'source.db'}", records)
    raw_config = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    raw_config["config"]["url"] = f"sqlite:///{tmp / 'source.db'}"
    connector, plugin_config, errors = validate_config(raw_config)
    assert not errors, errors
    plugin = get_plugin(connector.plugin)
    settings = HubSettings(kafka_bootstrap="unused:9092", environment="test",
                           database_url=f"sqlite:///{tmp / 'hub.db'}")
    db = Database(settings.database_url)
    db.create_schema()

    def runner() -> SourceRunner:
        parts = plugin.build(plugin_config, PluginContext("instr", settings, tmp / "instr", time.time))
        run = SourceRunner("instr", parts.task, parts.mapper, source_system=connector.source_system,
                           settings=settings, producer=None, registry=_Registry(), offsets=OffsetStore(db),
                           identifier_fields=parts.identifier_fields, batch_size=connector.batch_size)
        run._ensure_open()
        return run

    def prepare_all(run: SourceRunner) -> list:
        out = []
        while (batch := run._poll_and_prepare()).polled:
            out += batch.prepared
        return out

    warm = runner()
    prepared = prepare_all(warm)  # caches, compiled mappers and rules, first-use imports
    warm.close()
    if sum(isinstance(sends, list) for _raw, sends in prepared) != records:
        raise SystemExit("the benchmark source must map every row")
    counted = runner()
    _counting("prepare", lambda: prepare_all(counted))
    counted.close()
    # The bare loop's CPU work: encoding the already-mapped values (their sends hold the bytes).
    out = counted._outputs["penalty.case.events"]
    values = []
    for raw, _sends in prepared:
        doc = decode(raw)
        counted._repair(doc)
        for m in counted.mapper(doc, raw):
            stamp_envelope(m.value, record_id=record_id(connector.source_system, raw.key, raw.version),
                           source_system=connector.source_system, raw=raw, ingest_time_ms=0)
            values.append(m.value)
    serialize = out.serialize
    _counting("encode", lambda: [serialize(v) for v in values])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--workload", type=Path, help=argparse.SUPPRESS)  # the run under valgrind
    args = parser.parse_args(argv)
    if args.workload:
        workload(args.records, args.workload)
        return 0
    if not shutil.which("valgrind"):
        raise SystemExit("valgrind is not installed: apt-get install valgrind")
    with tempfile.TemporaryDirectory(prefix="hub-instr-") as tmp:
        out = Path(tmp) / "callgrind.out"
        print(f"  … counting instructions under callgrind ({args.records:,} records; about a minute)", flush=True)
        run = subprocess.run(["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
                              sys.executable, "-m", "ops.bench.connector_instructions", "--records",
                              str(args.records), "--workload", tmp], capture_output=True, text=True)
        if run.returncode:
            lines = [ln for ln in run.stderr.splitlines() if not ln.startswith("==")]
            raise SystemExit("the workload failed under callgrind:\n" + "\n".join(lines[-20:]))
        counts = {}
        for dump in Path(tmp).glob("callgrind.out.*"):
            text = dump.read_text(errors="replace")
            label = re.search(r"^desc: Trigger: dump (\w+)$", text, re.M)
            total = re.search(r"^summary: (\d+)$", text, re.M)
            if label and total:
                counts[label.group(1)] = int(total.group(1)) / args.records
    prepare, encode = counts["prepare"], counts["encode"]
    print(f"\nInstructions per record ({args.records:,} records, callgrind):")
    print(f"  connector poll + prepare (decode, repair, map, validate, encode): {prepare:>12,.0f}")
    print(f"  encode only (the bare loop's CPU work before the send):           {encode:>12,.0f}")
    print(f"  the connector's own work: {prepare - encode:,.0f}; encode / (poll + prepare) = {encode / prepare:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
