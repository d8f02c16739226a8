"""The topic catalog as code: every standard topic of the hub, its key, value schema and policy.

Naming convention: ``<domain>.<dataset>.<kind>``, lower case, segments of ``a-z``, ``0-9``
and ``-``; the ``<kind>`` segment is dropped when the dataset already says it
(``entity.registry``, ``risk.alerts``). The domain is the area of the value schema
(``penalty``, ``entity``, ...) or ``supervision`` for hub-generated alerts.

Two kinds of topic:

- **Registry** topics (``*.registry``, ``catalog.items``, ``entity.item-links``) hold the
  current state of a registry, written by its processor from the ``*.updates`` topics; they are compacted, keyed by the registry key, and keep the
  latest record per key indefinitely (``retention_ms`` None).
- **Event** topics hold facts in order per key; they use ``delete`` with a finite
  retention. The SQL registries and case tracker are the long-term store, not Kafka.

Values are Avro records of the data standard (``schemas/avro``) in Confluent framing;
the registry subject is ``<topic>-value`` (:attr:`TopicSpec.value_subject`). The message
key is the UTF-8 string at :attr:`TopicSpec.key_field` in the value, so every record of one
case, alert, task or registry entry lands on one partition, in order.

Dead-letter topics are *not* in this catalog: they hold the original bytes of rejected
records, not standard values. Each connector has one, named by :func:`dead_letter_topic`
(``dlq.<connector_name>``), with the rejection reason and source position in headers.

:data:`CATALOG` is an explicit dict; :func:`get` answers an unknown name with the valid ones.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas import loader

DAY_MS = 24 * 60 * 60 * 1000
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*){1,2}$")
"""Catalog topic names: two or three dot-separated lower-case segments."""
_KAFKA_LEGAL = re.compile(r"^[A-Za-z0-9._-]{1,245}$")

OWNERS: dict[str, str] = {
    "zj-dsj": "浙江省大数据发展管理局 / Zhejiang Big Data Bureau: data standard, data quality, hub operations",
    "zj-sft": "浙江省司法厅 / Department of Justice: enforcement officers, penalty and coercion supervision",
    "zj-scjg": "浙江省市场监督管理局 / Administration for Market Regulation: supervised objects, item catalog, double random",
    "zj-zfb": "浙江省人民政府办公厅 / General Office of the Provincial Government: 12345 complaints, joint tasks",
    "zj-zfw": "浙江省委政法委 / Political-Legal Affairs Commission: grassroots governance grid",
    "zj-fxyj": "统一风险预警中心 / Unified risk-warning center: risk clues, dispatch and feedback",
}
"""Owning department / team codes usable as :attr:`TopicSpec.owner`."""


class TopicSpec(BaseModel):
    """One catalog topic: what it holds, how it is keyed and how long the broker keeps it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Topic name, `<domain>.<dataset>.<kind>` in lower case.")
    key_field: str = Field(
        description="Dotted field path in the value whose string value is the message key, "
        "e.g. `case_id` or `envelope.record_id`."
    )
    value_schema: str = Field(description="Full name of the Avro record schema of the values.")
    partitions: int = Field(ge=1, description="Partition count the topic is created with.")
    cleanup_policy: Literal["delete", "compact"] = Field(
        description="`compact` for registries (latest record per key), `delete` for event streams."
    )
    retention_ms: int | None = Field(
        default=None, ge=1,
        description="Retention in milliseconds; None leaves the broker default (compacted topics keep all keys).",
    )
    owner: str = Field(description="Code of the owning department or team (a key of `OWNERS`).")
    level: Literal["L1", "L2", "L3", "L4"] = Field(
        description="Data classification of the topic (Zhejiang public-data grading); "
        "at least the strictest field level of the value schema."
    )
    description: str = Field(description="What the topic holds, in Chinese and English.")

    @property
    def pii_fields(self) -> dict[str, str]:
        """Dotted field path -> pii kind of the value schema (``schemas.loader.pii_fields``)."""
        return loader.pii_fields(self.value_schema)

    @property
    def value_subject(self) -> str:
        """Schema-registry subject of the values (Confluent TopicNameStrategy)."""
        return f"{self.name}-value"

    def config(self) -> dict[str, str]:
        """Kafka topic configs to create the topic with (replication is a provisioning setting)."""
        cfg = {"cleanup.policy": self.cleanup_policy}
        if self.retention_ms is not None:
            cfg["retention.ms"] = str(self.retention_ms)
        return cfg


def _t(name: str, value_schema: str, key_field: str, *, policy: Literal["delete", "compact"],
       retention_days: int | None, partitions: int, owner: str, level: str, description: str) -> TopicSpec:
    return TopicSpec(
        name=name, key_field=key_field, value_schema=f"gov.zj.supervision.{value_schema}",
        partitions=partitions, cleanup_policy=policy,
        retention_ms=retention_days * DAY_MS if retention_days else None,
        owner=owner, level=level, description=description,
    )


_SPECS = [
    # Registries: compacted, current state per key.
    _t("catalog.items", "catalog.SupervisionItem", "catalog_code", policy="compact", retention_days=None,
       partitions=3, owner="zj-scjg", level="L2",
       description="监管事项目录 / Supervision item catalog: one record per 14-digit item code, with check contents"),
    _t("officer.registry", "officer.EnforcementOfficer", "certificate_number", policy="compact", retention_days=None,
       partitions=3, owner="zj-sft", level="L4",
       description="执法人员库 / Enforcement officer registry: one record per certificate number"),
    _t("entity.registry", "entity.SupervisedEntity", "entity_id", policy="compact", retention_days=None,
       partitions=6, owner="zj-scjg", level="L4",
       description="监管对象库 / Supervised-object registry: enterprises, individual businesses, natural persons"),
    _t("entity.item-links", "entity.EntityItemLink", "link_id", policy="compact", retention_days=None,
       partitions=6, owner="zj-scjg", level="L2",
       description="对象-事项-部门关联 / Object -> item -> department links: who supervises whom, for what"),
    # Source updates of the registries: what each owning or mentioning system said, before merging.
    _t("catalog.updates", "catalog.SupervisionItem", "catalog_code", policy="delete", retention_days=30,
       partitions=3, owner="zj-scjg", level="L2",
       description="事项目录更新 / Item catalog updates from the catalog system, input of the item-catalog processor"),
    _t("officer.updates", "officer.EnforcementOfficer", "certificate_number", policy="delete", retention_days=30,
       partitions=3, owner="zj-sft", level="L4",
       description="执法人员更新 / Officer and certificate updates (issue, renew, suspend, revoke), input of the officer registry"),
    _t("entity.updates", "entity.SupervisedEntity", "entity_id", policy="delete", retention_days=30,
       partitions=6, owner="zj-scjg", level="L4",
       description="监管对象更新 / Entity records as each source system describes them, merged by the entity registry"),
    # Events: delete with retention.
    _t("inspection.records", "inspection.InspectionRecord", "inspection_number", policy="delete",
       retention_days=30, partitions=6, owner="zj-sft", level="L4",
       description="行政检查记录 / Administrative inspection records from inspection apps"),
    _t("penalty.case.events", "penalty.PenaltyCaseEvent", "case_id", policy="delete", retention_days=30,
       partitions=6, owner="zj-sft", level="L4",
       description="处罚案件事件 / Penalty case lifecycle events from the 1+N case systems, ordered per case"),
    _t("penalty.coercions", "penalty.CoercionRecord", "coercion_number", policy="delete", retention_days=30,
       partitions=3, owner="zj-sft", level="L4",
       description="行政强制记录 / Administrative coercion records"),
    _t("complaint.tickets", "complaint.Complaint", "ticket_id", policy="delete", retention_days=14,
       partitions=6, owner="zj-zfb", level="L4",
       description="投诉举报工单 / Complaint and report tickets from the 12345 platform"),
    _t("grassroots.events", "grassroots.GridEvent", "event_id", policy="delete", retention_days=14,
       partitions=3, owner="zj-zfw", level="L3",
       description="基层治理事件 / Grid events from the grassroots governance platform"),
    _t("risk.alerts", "risk.RiskAlert", "alert_id", policy="delete", retention_days=14,
       partitions=3, owner="zj-fxyj", level="L3",
       description="风险线索 / Risk clues from industry risk systems"),
    _t("risk.dispatches", "risk.RiskDispatch", "alert_id", policy="delete", retention_days=14,
       partitions=3, owner="zj-fxyj", level="L2",
       description="风险推送 / Risk clues pushed to responsible departments, keyed by alert"),
    _t("risk.feedback", "risk.RiskFeedback", "alert_id", policy="delete", retention_days=14,
       partitions=3, owner="zj-fxyj", level="L3",
       description="风险反馈 / Departments' receipts and feedback on risk clues, keyed by alert"),
    _t("supervision.alerts", "risk.SupervisionAlert", "subject_id", policy="delete", retention_days=14,
       partitions=3, owner="zj-dsj", level="L2",
       description="监督预警 / Hub alerts: overdue statutory clocks, dispatches, tasks; data-quality breaches"),
    _t("task.joint", "task.JointTask", "task_id", policy="delete", retention_days=30,
       partitions=3, owner="zj-zfb", level="L2",
       description="联合监管任务 / Joint supervision tasks (cross-department, cross-region, cross-province)"),
    _t("task.assignments", "task.TaskAssignment", "task_id", policy="delete", retention_days=30,
       partitions=3, owner="zj-zfb", level="L3",
       description="任务分派 / Assignments of joint tasks to departments, keyed by task"),
    _t("task.status", "task.TaskStatus", "task_id", policy="delete", retention_days=30,
       partitions=3, owner="zj-zfb", level="L2",
       description="任务状态 / Status changes of joint tasks and assignments, keyed by task"),
    _t("sampling.plans", "sampling.SamplingPlan", "plan_id", policy="delete", retention_days=30,
       partitions=1, owner="zj-scjg", level="L2",
       description="双随机抽查计划 / Double-random plans with their seed commitments"),
    _t("sampling.draws", "sampling.SamplingDraw", "plan_id", policy="delete", retention_days=30,
       partitions=3, owner="zj-scjg", level="L3",
       description="双随机抽取结果 / Drawn objects and inspector teams, keyed by plan"),
    _t("quality.reports", "quality.DataQualityReport", "source_system", policy="delete", retention_days=30,
       partitions=1, owner="zj-dsj", level="L2",
       description="数据质量报告 / Completeness, accuracy, timeliness and duplicates per source and department"),
]

CATALOG: dict[str, TopicSpec] = {spec.name: spec for spec in _SPECS}
"""All standard topics, keyed by name."""


def get(name: str) -> TopicSpec:
    """The spec of topic ``name``; ``KeyError`` listing the valid names if there is none."""
    try:
        return CATALOG[name]
    except KeyError:
        raise KeyError(f"unknown topic {name!r}; valid topics: {', '.join(sorted(CATALOG))}") from None


def dead_letter_topic(connector_name: str) -> str:
    """Dead-letter topic of a connector: ``dlq.<connector_name>`` (raw bytes, not in the catalog).

    Raises ``ValueError`` if the name would not make a legal Kafka topic name
    (ASCII letters, digits, ``.``, ``_``, ``-``; at most 249 characters in all).
    """
    if not _KAFKA_LEGAL.match(connector_name or ""):
        raise ValueError(f"connector name {connector_name!r} does not make a legal Kafka topic name")
    return f"dlq.{connector_name}"
