"""A week's :class:`~worker.domain.digest.Digest` rendered: MJML through
Jinja2, compiled to HTML by mjml-python, and the plain-text part. Rendering
never queries the store.
"""
