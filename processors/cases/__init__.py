"""Penalty-case tracker (1+N): one state machine over every case system, statutory clocks on a working-day calendar, supervision alerts."""
