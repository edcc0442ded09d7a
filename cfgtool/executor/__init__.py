"""Numpy forward/backward execution of Darknet networks (imports numpy; never used by validate/summary)."""
