"""Risk loop API: departments receive, handle, feed back or return dispatched clues; clue state and figures."""
