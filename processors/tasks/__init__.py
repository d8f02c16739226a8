"""The ``tasks`` processor: runs the joint-task escalation timer (reminders, then one level up)."""
