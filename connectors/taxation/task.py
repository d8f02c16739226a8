"""The taxation source task: ``QueryCases(startSeq, maxCount)`` through zeep, one raw record per case.

zeep builds the request from the WSDL (operation, SOAPAction, endpoint address); the
response is kept raw so each ``<case>`` element's original bytes become the record's
payload (and, if rejected, the dead letter's value). The service pages by sequence
number: a record's offset is the ``startSeq`` to resume after it (its index + 1).
"""

from __future__ import annotations

from lxml import etree
from zeep import Client, Settings
from zeep.transports import Transport

from connectors.runtime.contract import RawRecord, SourceTask
from connectors.taxation.config import TaxationConfig

NS = "http://tax.zj.gov.cn/penalty/ws"
PARTITION = "QueryCases"


class ServiceError(RuntimeError):
    """The service answered with a fault or an HTTP error."""


class TaxationTask(SourceTask):
    """Reads cases in service order; runs on the runner's worker thread."""

    def __init__(self, config: TaxationConfig):
        self.config = config
        self._client: Client | None = None
        self._next = 0

    def open(self, offsets: dict[str, str]) -> None:
        import requests

        session = requests.Session()
        if self.config.username and self.config.password:
            session.auth = (self.config.username, self.config.password.get_secret_value())
        transport = Transport(session=session, timeout=self.config.timeout_seconds,
                              operation_timeout=self.config.timeout_seconds)
        # raw_response: keep each case's original XML; forbid DTDs and entities (untrusted input).
        settings = Settings(raw_response=True, forbid_dtd=True, forbid_entities=True, forbid_external=True)
        self._client = Client(self.config.wsdl_url, transport=transport, settings=settings)
        self._next = int(offsets.get(PARTITION, "0"))

    def poll(self, max_records: int) -> list[RawRecord]:
        count = min(max_records, self.config.page_size)
        response = self._client.service.QueryCases(startSeq=self._next, maxCount=count)
        if response.status_code >= 400:
            # A SOAP fault or a server error: transient from here; the runner retries with backoff.
            raise ServiceError(f"QueryCases answered HTTP {response.status_code}")
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
        root = etree.fromstring(response.content, parser)
        records = []
        for i, case in enumerate(root.iter(f"{{{NS}}}case")):
            key, version = case.findtext(f"{{{NS}}}ajbh"), case.findtext(f"{{{NS}}}bbh")
            records.append(RawRecord(
                partition=PARTITION, offset=str(self._next + i + 1), key=key or "", version=version or "",
                payload=etree.tostring(case, encoding="utf-8"), content_type="application/xml",
            ))
        self._next += len(records)
        return records

    def close(self) -> None:
        if self._client is not None:
            self._client.transport.session.close()
            self._client = None
