"""Textual front end for tui_gen."""
