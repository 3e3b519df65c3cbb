"""Outgoing e-mail goes through the task queue, so a slow mail server never holds up a page.

A message is rendered in the request (in the user's language), turned into plain JSON here, and
delivered by ``portal.tasks.email_enqueue`` / ``email_deliver``: in-process by default, by the
worker in production. With the database queue the task row is part of the caller's transaction,
so a rolled-back change sends nothing.
"""

import base64

from django.core.mail import EmailMessage, EmailMultiAlternatives


def email_to_payload(message: EmailMessage) -> dict:
    return {
        "subject": str(message.subject),
        "body": str(message.body),
        "from_email": message.from_email,
        "to": list(message.to),
        "cc": list(message.cc),
        "bcc": list(message.bcc),
        "reply_to": list(message.reply_to),
        "headers": dict(message.extra_headers),
        "alternatives": [
            [str(alt.content), alt.mimetype] for alt in getattr(message, "alternatives", [])
        ],
        "attachments": [
            {
                "filename": filename,
                "content": base64.b64encode(
                    content.encode() if isinstance(content, str) else content
                ).decode(),
                "mimetype": mimetype,
            }
            for filename, content, mimetype in message.attachments
        ],
    }


def email_from_payload(payload: dict) -> EmailMultiAlternatives:
    message = EmailMultiAlternatives(
        subject=payload["subject"],
        body=payload["body"],
        from_email=payload["from_email"],
        to=payload["to"],
        cc=payload["cc"],
        bcc=payload["bcc"],
        reply_to=payload["reply_to"],
        headers=payload["headers"],
    )
    for content, mimetype in payload["alternatives"]:
        message.attach_alternative(content, mimetype)
    for attachment in payload["attachments"]:
        message.attach(
            attachment["filename"],
            base64.b64decode(attachment["content"]),
            attachment["mimetype"],
        )
    return message
