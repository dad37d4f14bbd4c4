"""Reporting stage: the report's tables and the Markdown summary of the study."""
