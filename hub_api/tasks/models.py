"""Tables of joint tasks (SQLAlchemy Core on ``hub_api.db.Base.metadata``).

``joint_tasks`` holds one row per task (``origin_peer`` is set for a task received from
another province's hub); ``task_assignments`` one row per participant (``kind`` ``local``
for a department of this hub, ``peer`` for another province's hub, whose status follows
that hub's messages); ``task_events`` is the append-only history (every dispatch, action,
reminder and escalation); ``task_visits`` holds visit membership rows (one per entity, day
and assignment) which ``GET /tasks/visits`` merges into one visit per entity and day.
List-valued columns are JSON text.
"""

from __future__ import annotations

import sqlalchemy as sa

from hub_api.db import Base

_TS = sa.DateTime(timezone=True)

joint_tasks = sa.Table(
    "joint_tasks", Base.metadata,
    sa.Column("task_id", sa.String(64), primary_key=True),
    sa.Column("title", sa.String(255), nullable=False),
    sa.Column("scope", sa.String(32), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("instructions", sa.Text),
    sa.Column("initiator_code", sa.String(64), nullable=False, index=True),
    sa.Column("initiator_name", sa.String(255), nullable=False),
    sa.Column("region_code", sa.String(6), nullable=False),
    sa.Column("catalog_codes", sa.Text, nullable=False),
    sa.Column("target_entity_ids", sa.Text, nullable=False),
    sa.Column("plan_id", sa.String(64)),
    sa.Column("province_codes", sa.Text, nullable=False),
    sa.Column("visit_date", sa.Date),
    sa.Column("due_date", sa.Date),
    sa.Column("due_time", _TS),
    sa.Column("origin_peer", sa.String(64), doc="peer hub id for a task received over federation"),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("created_at", _TS, nullable=False),
    sa.Column("updated_at", _TS, nullable=False),
)

task_assignments = sa.Table(
    "task_assignments", Base.metadata,
    sa.Column("assignment_id", sa.String(160), primary_key=True),
    sa.Column("task_id", sa.String(64), nullable=False, index=True),
    sa.Column("kind", sa.String(8), nullable=False, doc="local / peer"),
    sa.Column("peer", sa.String(64), doc="peer hub id (kind peer)"),
    sa.Column("department_code", sa.String(64), nullable=False, index=True),
    sa.Column("department_name", sa.String(255), nullable=False),
    sa.Column("region_code", sa.String(6), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("catalog_codes", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False,
              doc="dispatched / accepted / declined / in_progress / completed"),
    sa.Column("due_time", _TS),
    sa.Column("visit_date", sa.Date),
    sa.Column("note", sa.Text),
    sa.Column("result_summary", sa.Text),
    sa.Column("inspection_numbers", sa.Text, nullable=False),
    sa.Column("peer_seq", sa.Integer, doc="last applied sequence number of the peer's messages"),
    sa.Column("reminded_at", _TS),
    sa.Column("escalated_at", _TS),
    sa.Column("escalated_to", sa.String(64)),
    sa.Column("created_at", _TS, nullable=False),
    sa.Column("updated_at", _TS, nullable=False),
)

task_events = sa.Table(
    "task_events", Base.metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("task_id", sa.String(64), nullable=False, index=True),
    sa.Column("assignment_id", sa.String(160)),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("at", _TS, nullable=False),
    sa.Column("detail", sa.Text, nullable=False, doc="JSON; codes and notes, never personal data"),
)

task_visits = sa.Table(
    "task_visits", Base.metadata,
    sa.Column("visit_id", sa.String(64), primary_key=True, doc="V-<yyyymmdd>-<entity id>"),
    sa.Column("assignment_id", sa.String(160), primary_key=True),
    sa.Column("entity_id", sa.String(32), nullable=False),
    sa.Column("visit_date", sa.Date, nullable=False, index=True),
    sa.Column("task_id", sa.String(64), nullable=False, index=True),
    sa.Column("department_code", sa.String(64), nullable=False),
    sa.Column("department_name", sa.String(255), nullable=False),
    sa.Column("catalog_codes", sa.Text, nullable=False),
)
