"""The foundation every app may use: small modules that import no app of the portal.

``clock``: today's business date and the current time (docs/time.md).
"""
