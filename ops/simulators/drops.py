"""File-drop plumbing shared by the simulators that deliver batch files into a directory.

A file is written as ``.<name>.tmp`` and renamed into place (``os.replace``), so a poller that
ignores dot-files and ``*.tmp`` never sees half a file; the ledger records a file's events
only once it has been renamed.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import tempfile
from pathlib import Path

from ops.simulators.base import cli, now_cst, sim_options
from ops.simulators.cases import SimEvent


def drop_directory(directory: str | Path | None, temp_prefix: str) -> Path:
    """``directory``, or a new temporary directory named with ``temp_prefix``."""
    return Path(directory or tempfile.mkdtemp(prefix=temp_prefix))


class FileDrop:
    """Mixin for a :class:`~ops.simulators.base.Simulator` whose feed is files in ``directory``.

    Adds the constructor keyword ``directory`` (default: a new temporary directory named
    ``<temp_prefix>...``); ``files`` lists the dropped paths in order.  ``publish`` calls
    :meth:`drop`.
    """

    temp_prefix = "drop-"

    def __init__(self, *args, directory: str | Path | None = None, **kw):
        super().__init__(*args, **kw)
        self.directory = drop_directory(directory, self.temp_prefix)
        self.files: list[Path] = []

    def drop(self, name: str, data: bytes) -> Path:
        """Write ``data`` atomically as ``<directory>/<name>``; returns the path."""
        path = self.directory / name
        tmp = self.directory / f".{name}.tmp"
        tmp.write_bytes(data)
        os.replace(tmp, path)
        self.files.append(path)
        return path

    def start(self) -> str:
        """Write the initial batches; returns the drop directory."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.emit(self.initial_count)
        return str(self.directory)


class CsvFileDrop(FileDrop):
    """:class:`FileDrop` of CSV batches ``<file_prefix>_<yyyyMMddHHmmss>_<batch:05d>.csv``.

    Adds the constructor keyword ``batch_size`` (records per file at most, default
    ``default_batch_size``).  One header row (``columns``), rows from :meth:`row`; ledger
    position ``<file name>:<line>`` (the header is line 1).  Subclasses set ``file_prefix``,
    ``columns``, ``encoding`` and ``csv_options`` (``csv.writer`` keywords).
    """

    file_prefix = "DROP"
    columns: list[str] = []
    encoding = "utf-8"
    csv_options: dict = {}
    default_batch_size = 100

    def __init__(self, *args, batch_size: int | None = None, **kw):
        super().__init__(*args, **kw)
        self.batch_size = self.default_batch_size if batch_size is None else batch_size
        self.batch_seq = 0

    def row(self, ev: SimEvent) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def publish(self, events: list[SimEvent]) -> None:
        for i in range(0, len(events), self.batch_size):
            self._write_file(events[i:i + self.batch_size])

    def _write_file(self, events: list[SimEvent]) -> None:
        self.batch_seq += 1
        name = f"{self.file_prefix}_{now_cst():%Y%m%d%H%M%S}_{self.batch_seq:05d}.csv"
        buf = io.StringIO(newline="")
        w = csv.writer(buf, **self.csv_options)
        w.writerow(self.columns)
        for ev in events:
            w.writerow(self.row(ev))
        self.drop(name, buf.getvalue().encode(self.encoding))
        for line, ev in enumerate(events, start=2):
            self.ledger.record(ev, position=f"{name}:{line}")


def drop_cli(simulator, description: str, argv=None) -> None:
    """:func:`~ops.simulators.base.cli` of a drop simulator: ``--dir``, and ``--batch-size`` for CSV."""
    batched = issubclass(simulator, CsvFileDrop)

    def extra(p: argparse.ArgumentParser) -> None:
        p.add_argument("--dir", default=None, help="drop directory (default: a new temp dir)")
        if batched:
            p.add_argument("--batch-size", type=int, default=simulator.default_batch_size)

    def build(a: argparse.Namespace):
        return simulator(**sim_options(a), directory=a.dir, **({"batch_size": a.batch_size} if batched else {}))

    cli(build, description, extra=extra, argv=argv)
