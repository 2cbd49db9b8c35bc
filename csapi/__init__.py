"""csapi: a CloudStack-compatible API server whose headline feature is webhooks."""

__version__ = "0.1.0"
