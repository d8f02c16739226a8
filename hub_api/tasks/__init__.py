"""Joint supervision tasks (联合监管任务): creation, fan-out, participant actions, visits, escalation, federation."""
