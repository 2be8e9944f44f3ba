"""The database: one SQLAlchemy metadata, an engine factory, and Alembic migrations."""
