"""The `tui-gen` command: flags, subcommands and their output to a terminal or a pipe.

May import: every engine layer and, for `launch` alone and inside that function, tui_gen.app.
main.py imports no torch at module level, so `tui-gen --help` is instant."""
