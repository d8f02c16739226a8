"""Complaint-to-enforcement triage (统一业务协同中心): scenario rules, the triage processor and its leads."""
