"""Alembic migrations for the Civility database (run with ``civility db upgrade``)."""
