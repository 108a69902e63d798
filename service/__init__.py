"""The HTTP service: scoring API, Perspective and Coral compatibility, review queue."""
