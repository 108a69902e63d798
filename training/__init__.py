"""Training: extraction, corpus building, labelling, fine-tuning, evaluation, export (needs torch)."""
