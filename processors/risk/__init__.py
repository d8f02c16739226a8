"""The risk push-and-feedback loop (统一风险预警中心): route clues to departments, track receipt, feedback and escalation."""
