"""The event log: every message recorded; sessions stored, read back and replayed."""
