"""Training: the trainer (a generator of typed events), checkpoints, snapshots for the playground,
distributed training under torchrun, the device, and the one run set-up the CLI and the app share.

May import: tui_gen.core, tui_gen.data, tui_gen.model, tui_gen.runs, torch. setup.py imports torch
only inside its functions, so the app can build a RunRequest without loading torch."""
