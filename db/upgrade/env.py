"""Alembic environment: the URL comes from csapi (CLI option or CSAPI_DATABASE_URL)."""

from alembic import context


from csapi.db import database_url, make_engine
from csapi.db.models import Base

config = context.config
url = config.attributes.get("database_url") or database_url()

engine = make_engine(url)
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=url.startswith("sqlite"),
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()

