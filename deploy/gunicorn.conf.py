"""gunicorn's settings for a powerhall app server (docs/deploy.md): `gunicorn -c
deploy/gunicorn.conf.py portal.wsgi`. Each value can be changed from the environment (gunicorn
also reads GUNICORN_CMD_ARGS)."""

import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# Sync workers, about three per core of the machine, as measured in docs/performance.md ("Load":
# a burst of sign-ins then holds up other pages least). 3 suits make prod-local's two app
# servers on two cores; one app server on a machine of N cores: WEB_CONCURRENCY = 3 × N.
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
timeout = 30
graceful_timeout = 30
# A worker is replaced after this many requests, so a slow leak never grows for long.
max_requests = 2000
max_requests_jitter = 200
# Only the proxy on this machine may say the request came over HTTPS.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# nginx logs every request (with invitation tokens cut out: deploy/nginx-site.conf); the app
# servers' own access log is off unless asked for, since it would log paths whole.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms request_id=%({x-request-id}o)s'
