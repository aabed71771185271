"""Cleaners: each turns a raw column into clean, typed, flagged columns."""
