"""The payment provider's webhook endpoint: CSRF-exempt (the provider has no session; the
signature proves who sent it) and outside any request transaction: storing the event and
handling it are one transaction of their own, and a failure is recorded after its rollback
(payments/webhooks.py)."""

from django.db import transaction
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from ..models import Gateway
from ..webhooks import webhook_receive


@csrf_exempt
@require_POST
@transaction.non_atomic_requests
def stripe_webhook(request):
    answer = webhook_receive(
        request.body, request.headers.get("Stripe-Signature"), gateway=Gateway.STRIPE
    )
    return HttpResponse(answer.text, status=answer.status, content_type="text/plain")
