"""Load an exported Civility model bundle and score text (no torch at request time)."""
