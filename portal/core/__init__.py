"""The foundation every app may use: small modules that import no app of the portal
(docs/architecture.md; the import contract in pyproject.toml checks it).

``clock`` (today's business date and the current time), ``calendar`` (working days), ``money``,
``errors``, ``audit`` (the hash-chained audit log), ``ratelimit``, ``request_context``,
``registry`` (extension points), ``transitions`` (status changes), ``interchange`` (billing-system
files and the import runner), ``wagtail_admin`` (audited back-office views), ``safejson`` (bounded
JSON from outside systems), ``jobs`` (the exit statuses every command shares), ``storage`` and
``media_bucket`` (the media bucket, and the public address of CMS images).
"""
