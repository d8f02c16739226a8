"""Data quality per source system and department: completeness, accuracy, timeliness, duplicates, rejects."""
