"""Read a rendered message back the way a mail client would."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage


def parse_sent(message: EmailMessage) -> EmailMessage:
    """The message as the mailers put it on the wire (CRLF, folded), parsed back."""
    parsed = message_from_bytes(message.as_bytes(policy=policy.SMTP), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def body(parsed: EmailMessage, subtype: str) -> str:
    """The text of the `plain` or `html` alternative, with line ends as a mail client shows them."""
    part = parsed.get_body((subtype,))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")
