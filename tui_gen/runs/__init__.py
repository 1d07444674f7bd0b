"""Run folders, without torch: the folder a trainer holds, its lock, the metrics log and its
decoder, checkpoint headers, the listing of runs and the watcher that follows another process's run.

May import: tui_gen.core only. The app reads runs through this layer without paying for torch."""
