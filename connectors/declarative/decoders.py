"""Decoders of untrusted XML records and CSV lines, for :data:`connectors.runtime.pipeline.DECODERS`.

XML is parsed with defusedxml (DTDs, entity declarations and external references refused),
so a hostile file cannot expand entities or read local files. An element becomes a dict:
child elements by local name (namespaces dropped; repeated children become a list; nested
elements become dicts), attributes as ``@name``, text of a leaf as a string, mixed text as
``#text``. Rejections name positions, never content. Pure functions; safe on any thread.
"""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring


class XmlRejected(ValueError):
    """The bytes are not acceptable XML; ``message`` says where, never what."""


def parse_xml(data: bytes | str) -> ET.Element:
    """The root element of ``data``; raises :class:`XmlRejected` (bad XML, DTD or entities)."""
    try:
        return fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except ET.ParseError as exc:
        line, column = getattr(exc, "position", (0, 0))
        raise XmlRejected(f"invalid XML at line {line} column {column}") from None
    except DefusedXmlException as exc:
        raise XmlRejected(f"forbidden XML construct ({type(exc).__name__})") from None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else str(tag)


def element_to_dict(element: ET.Element) -> Any:
    """One element as a dict (see the module docstring); a leaf without attributes is its text."""
    children = list(element)
    text = (element.text or "").strip()
    if not children and not element.attrib:
        return text or None
    out: dict[str, Any] = {f"@{_local(k)}": v for k, v in element.attrib.items()}
    for child in children:
        name, value = _local(child.tag), element_to_dict(child)
        if name in out:
            out[name] = out[name] if isinstance(out[name], list) else [out[name]]
            out[name].append(value)
        else:
            out[name] = value
    if text:
        out["#text"] = text
    return out


def decode_xml(text: str) -> Any:
    """``application/xml`` decoder: one record element -> dict; rejects with reason ``xml``."""
    from connectors.runtime.pipeline import RecordRejected  # the pipeline imports this module

    try:
        doc = element_to_dict(parse_xml(text.encode("utf-8")))
    except XmlRejected as exc:
        raise RecordRejected("decode", "xml", str(exc)) from None
    return doc if isinstance(doc, dict) else {"#text": doc}


def parse_csv_line(text: str, delimiter: str = ",") -> list[str]:
    """The fields of one CSV record (RFC 4180 quoting); raises ``csv.Error`` on bad quoting."""
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True))
    if len(rows) > 1:
        raise csv.Error("more than one record")
    return rows[0] if rows else []


def decode_csv(text: str) -> list[str]:
    """``text/csv`` decoder: one comma-separated record -> its fields; rejects with reason ``csv``."""
    from connectors.runtime.pipeline import RecordRejected

    try:
        return parse_csv_line(text.rstrip("\r\n"))
    except csv.Error:
        raise RecordRejected("decode", "csv", "the line is not valid CSV (quoting)") from None
