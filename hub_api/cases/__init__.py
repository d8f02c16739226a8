"""API of the penalty-case tracker: case status and history, open supervision alerts by department and region."""
