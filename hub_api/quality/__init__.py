"""Data-quality report API: figures per source system and department from the quality monitor's windows."""
