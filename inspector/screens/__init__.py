"""The inspector's screens: the sessions of a log, and one session (the main screen)."""
