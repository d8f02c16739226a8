"""Triage leads API: departments list their leads and report handling back to the complaint platform."""
