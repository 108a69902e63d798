"""Comment extraction: saved text renderings, HTML pages and CSV/JSONL exports -> comment records."""
