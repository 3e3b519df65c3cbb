"""The portal's pages: ``profile`` (the person's own area), ``binding`` (the dashboard and
binding accounts), ``notifications``, ``org`` and ``org_accounts`` (organisations), ``site``
(privacy notice, health check, error pages). URLs: portal/urls*.py."""
