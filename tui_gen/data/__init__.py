"""Text in: vocabularies, corpora and how they are cut into batches, the on-disk corpus cache, the
built-in corpora and their downloads, and the preview the new-run form shows.

May import: tui_gen.core. torch only in corpus.py (batches are tensors); the catalogue of built-in
corpora, the cache and the preview stay torch-free, so the app lists them without loading torch."""
