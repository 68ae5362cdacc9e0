"""The companion operator dashboard: a small stdlib WSGI app served next to Dagster's UI, its
pages rendered from Jinja2 templates (``templates/``) with autoescape on."""
