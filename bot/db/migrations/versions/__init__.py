"""A package only so that setuptools ships the migration scripts; Alembic skips this file."""
