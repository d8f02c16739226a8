"""``file-drop``: CSV or XML files dropped in a directory, one record per line / element.

Files matching ``pattern`` (not ``*.tmp``, not dotfiles, unchanged for ``settle_seconds``)
are taken in name order, one file at a time: a poll never mixes records of two files.

* ``csv``: the payload of each record is the *original bytes* of its line (several physical
  lines when a quoted field holds a newline), declared in ``encoding`` (e.g. ``gb18030``);
  the runner decodes it strictly, so a line invalid in that encoding is dead-lettered with
  reason ``encoding`` and its own bytes. The header row (or ``columns``) names the fields:
  the mapper of this plugin turns the decoded line into ``{column: value}``, repairs the
  identifier columns and applies the mapping. Encodings must be ASCII-compatible (UTF-8,
  GB18030, GBK): lines are split on ``\\n`` bytes.
* ``xml``: the file is parsed with defusedxml (DTDs and entities refused); each element at
  ``record_path`` becomes a record whose payload is that element serialised as UTF-8 XML,
  decoded by the ``application/xml`` decoder into a dict. A file that does not parse becomes
  one record holding the whole file, dead-lettered at decode (reason ``encoding`` if it is
  not valid UTF-8, else ``xml``); if a lossy reading shows it holds a single record, that
  record's key and version name the dead letter.

**Offset** (partition ``files``): JSON ``{"file": name, "line": n}`` -- the last physical line
of the record (CSV; the header is line 1) or its 1-based element number (XML).

**Archive**: when every record of a file was handed out, the *next* poll moves the file to
``archive/`` before reading on. That is safe because the runner only polls again after the
previous batch was committed (a failed batch rewinds through ``close``/``open`` instead),
and a poll never mixes files. After a crash, ``open`` archives the committed file if no
record follows the committed position; every other file in the directory is unread (the
invariant: a file is archived before any record of a later file is committed), so it is
read from its start. Nothing is re-read and nothing is archived unread.
"""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from connectors.declarative.common import DeclarativeSource, SourceConfigError, identity
from connectors.declarative.decoders import XmlRejected, element_to_dict, parse_csv_line, parse_xml
from connectors.mapping import DeclarativeMapper
from connectors.runtime.contract import Doc, Mapped, MappingError, RawRecord, SourceTask
from connectors.runtime.pipeline import repair
from connectors.runtime.plugin import Plugin, PluginContext, SourceParts

PARTITION = "files"


class CsvFormat(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["csv"] = Field(description="Delimited text, one record per line.")
    encoding: str = Field("utf-8", description="Encoding of the files (utf-8, gb18030, gbk).")
    delimiter: str = Field(",", min_length=1, max_length=1, description="Field delimiter.")
    header: bool = Field(True, description="The first line names the columns.")
    columns: list[str] | None = Field(None, description="Column names (override or replace the header row).")


class XmlFormat(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["xml"] = Field(description="An XML document holding repeated record elements.")
    record_path: str = Field(description="ElementPath of the record elements from the root, e.g. `Case` or `Cases/Case`.")


class FileDropConfig(DeclarativeSource):
    """Config of the ``file-drop`` plugin."""

    directory: str = Field(description="Directory the system drops files into (archive/ is created inside).")
    pattern: str = Field("*", description="Glob of the files to take, e.g. `*.csv`.")
    format: Annotated[CsvFormat | XmlFormat, Field(discriminator="type")] = Field(description="csv or xml.")
    settle_seconds: float = Field(2.0, ge=0, description="A file is complete once unchanged this long.")


class FileDropTask(SourceTask):
    """Reads files in name order; see the module docstring for offsets and archiving."""

    def __init__(self, config: FileDropConfig, clock=time.time):
        self.config, self.clock = config, clock
        self.dir = Path(config.directory)
        self.archive_dir = self.dir / "archive"
        self.current: str | None = None
        self.pending: list[RawRecord] = []
        self.done: str | None = None  # fully handed out; archived on the next poll

    def open(self, offsets: dict[str, str]) -> None:
        if not self.dir.is_dir():
            raise SourceConfigError(f"drop directory {self.config.directory!r} does not exist")
        self.archive_dir.mkdir(exist_ok=True)
        self.current, self.pending, self.done = None, [], None
        stored = offsets.get(PARTITION)
        if stored:
            pos = json.loads(stored)
            path = self.dir / pos["file"]
            if path.is_file():
                rest = [r for r in self._read(path) if json.loads(r.offset)["line"] > pos["line"]]
                if rest:
                    self.current, self.pending = pos["file"], rest
                else:
                    self._archive(pos["file"])

    def close(self) -> None:
        self.current, self.pending, self.done = None, [], None

    def poll(self, max_records: int) -> list[RawRecord]:
        if self.done is not None:
            self._archive(self.done)
            self.done = None
        if not self.pending:
            name = self._next_file()
            if name is None:
                return []
            self.current, self.pending = name, self._read(self.dir / name)
        batch, self.pending = self.pending[:max_records], self.pending[max_records:]
        if not self.pending:
            self.done = self.current
        return batch

    def _next_file(self) -> str | None:
        now = self.clock()
        for path in sorted(self.dir.glob(self.config.pattern)):
            name = path.name
            if not path.is_file() or name.startswith(".") or name.endswith(".tmp"):
                continue
            if now - path.stat().st_mtime < self.config.settle_seconds:
                return None  # keep name order: wait for this file rather than take a later one
            return name
        return None

    def _archive(self, name: str) -> None:
        src, dst = self.dir / name, self.archive_dir / name
        if dst.exists():
            dst = self.archive_dir / f"{name}.{int(self.clock() * 1000)}"
        if src.exists():
            os.replace(src, dst)

    def _read(self, path: Path) -> list[RawRecord]:
        data = path.read_bytes()
        fmt = self.config.format
        return self._csv(path.name, data, fmt) if isinstance(fmt, CsvFormat) else self._xml(path.name, data, fmt)

    def _record(self, name: str, n: int, payload: bytes, doc, encoding: str, content_type: str) -> RawRecord:
        offset = json.dumps({"file": name, "line": n}, ensure_ascii=False)
        key, version = identity(self.config, doc, payload, f"{name}:{n}")
        return RawRecord(PARTITION, offset, key, version, payload, encoding=encoding, content_type=content_type)

    def _csv(self, name: str, data: bytes, fmt: CsvFormat) -> list[RawRecord]:
        lines = data.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        content_type = "text/csv" if fmt.delimiter == "," else "text/plain"
        out, start = [], 0
        columns = fmt.columns
        if fmt.header:
            try:
                header = parse_csv_line(lines[0].rstrip(b"\r").decode(fmt.encoding), fmt.delimiter) if lines else []
            except (UnicodeDecodeError, LookupError):
                raise SourceConfigError(f"header of {name} is not valid {fmt.encoding}") from None
            columns, start = columns or header, 1
        i = start
        while i < len(lines):
            chunk = [lines[i]]
            text = _try_decode(lines[i], fmt.encoding)
            while text is not None and text.count('"') % 2 and i + 1 < len(lines):  # newline inside quotes
                i += 1
                chunk.append(lines[i])
                text = _try_decode(b"\n".join(chunk), fmt.encoding)
            payload = b"\n".join(chunk).rstrip(b"\r")
            i += 1
            if not payload.strip():
                continue
            # Lossy text only to find the key and version of a line that will be dead-lettered.
            doc = _row_or_none(text if text is not None else payload.decode(fmt.encoding, errors="replace"),
                               fmt.delimiter, columns)
            out.append(self._record(name, i, payload, doc, fmt.encoding, content_type))
        return out

    def _xml(self, name: str, data: bytes, fmt: XmlFormat) -> list[RawRecord]:
        try:
            root = parse_xml(data)
        except XmlRejected:
            return [self._record(name, 1, data, _lone_record(data, fmt), "utf-8", "application/xml")]
        import xml.etree.ElementTree as ET

        out = []
        for n, element in enumerate(root.iterfind(fmt.record_path), start=1):
            payload = ET.tostring(element, encoding="utf-8")
            out.append(self._record(name, n, payload, element_to_dict(element), "utf-8", "application/xml"))
        return out


def _lone_record(data: bytes, fmt: XmlFormat) -> dict | None:
    """Key and version source of a file that does not parse, if it holds exactly one record.

    Lossy text (invalid UTF-8 bytes replaced) only to name the record the whole file will be
    dead-lettered as (e.g. GB18030 bytes under a UTF-8 declaration: reason ``encoding``); the
    payload stays the original bytes. Still parsed by defusedxml: a file refused for a DTD or
    entities stays nameless.
    """
    try:
        root = parse_xml(data.decode("utf-8", errors="replace").encode("utf-8"))
    except XmlRejected:
        return None
    records = list(root.iterfind(fmt.record_path))
    return element_to_dict(records[0]) if len(records) == 1 else None


def _try_decode(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def _row_or_none(text: str | None, delimiter: str, columns: list[str] | None) -> dict | None:
    # Only for the key and version: a line that does not decode or parse is still handed
    # out (the runner dead-letters it with its own bytes).
    if text is None:
        return None
    try:
        return to_row(parse_csv_line(text.rstrip("\r"), delimiter), columns)
    except csv.Error:
        return None


def to_row(fields: list[str], columns: list[str] | None) -> dict[str, str]:
    """``{column: field}``; extra fields are ignored, missing ones are absent."""
    return dict(zip(columns or [f"c{i}" for i in range(len(fields))], fields, strict=False))


class CsvMapper:
    """Decoded CSV line -> ``{column: value}`` -> identifier repair -> the declarative mapping.

    Column names come from ``columns`` or from the header line of the record's file
    (partition ``files``, file named in the offset; looked up in the directory or its
    archive, cached). Pure apart from reading a header line once per file.
    """

    def __init__(self, config: FileDropConfig):
        self.config, self.inner = config, DeclarativeMapper(config.mapping)
        self._headers: dict[str, list[str]] = {}

    def _columns(self, raw: RawRecord) -> list[str] | None:
        fmt = self.config.format
        assert isinstance(fmt, CsvFormat)
        if fmt.columns or not fmt.header:
            return fmt.columns
        name = json.loads(raw.offset)["file"]
        if name not in self._headers:
            base = Path(self.config.directory)
            path = next((p for p in (base / name, base / "archive" / name) if p.is_file()), None)
            if path is None:
                raise MappingError("no_header", "the record's file (and its header) is gone")
            with open(path, "rb") as fh:
                line = fh.readline().rstrip(b"\r\n")
            self._headers[name] = parse_csv_line(line.decode(fmt.encoding), fmt.delimiter)
        return self._headers[name]

    def __call__(self, doc: Doc, raw: RawRecord) -> list[Mapped]:
        fmt = self.config.format
        assert isinstance(fmt, CsvFormat)
        if isinstance(doc, str):
            try:
                doc = parse_csv_line(doc, fmt.delimiter)
            except csv.Error:
                raise MappingError("csv", "the line is not valid CSV (quoting)") from None
        if not isinstance(doc, list):
            raise MappingError("not_csv", "the record is not a CSV line")
        row = to_row(doc, self._columns(raw))
        repair(row, self.config.identifier_fields)
        return self.inner(row, raw)


def build(config: FileDropConfig, ctx: PluginContext) -> SourceParts:
    """The directory reader and mapper of one ``file-drop`` connector."""
    task = FileDropTask(config, clock=ctx.clock or time.time)
    if isinstance(config.format, CsvFormat):
        return SourceParts(task, CsvMapper(config), ())
    return SourceParts(task, DeclarativeMapper(config.mapping), tuple(config.identifier_fields))


PLUGIN = Plugin(
    name="file-drop", kind="source", config_model=FileDropConfig, build=build,
    description="Take CSV (any ASCII-compatible encoding, e.g. GB18030) or XML files dropped in a directory, "
                "archive them when done, and map each line/element declaratively onto a standard topic.")
