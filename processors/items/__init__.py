"""Unified item catalog (统一事项目录): versioned supervision items and their check contents."""
