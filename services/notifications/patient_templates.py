"""The approved texts of messages to patients, one per template and channel.

Compliance approves these texts; a change is a code review and a new
`version`. HIPAA minimum necessary (45 CFR 164.502(b)): a reminder carries the
patient's name, a date and the organisation's contact, never a condition, a
treatment, a registry number, or what the card is for ("registry card" only),
since a message can be read by someone other than the patient.

Placeholders: {first_name}, {date} (the expiry date, written out), {organisation},
{contact}. Nothing else from the patient record can reach a message.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ApprovedTemplate:
    """One approved message in its four channel forms."""

    id: str
    version: int
    date_field: str  # the patient's date the message is about
    subject: str  # e-mail subject and letter heading
    email: str
    sms: str
    phone: str  # a script for the VA who calls
    letter: str


_CLOSING = "{organisation}\n{contact}"

TEMPLATES: dict[str, ApprovedTemplate] = {
    t.id: t
    for t in (
        ApprovedTemplate(
            id="card-renewal",
            version=1,
            date_field="card_expires_on",
            subject="Your registry card renewal",
            email=(
                "Dear {first_name},\n\n"
                "Your registry card expires on {date}. You can renew it now; renewing early "
                "avoids a gap.\n\n"
                "If you would like our help, reply to this e-mail or contact us.\n\n" + _CLOSING
            ),
            sms=(
                "{organisation}: Hi {first_name}, your registry card expires on {date}. "
                "Contact us if you would like help renewing: {contact}"
            ),
            phone=(
                "Ask for {first_name}. Say: your registry card expires on {date}; we can help "
                "you renew it. Leave only your name, that date and our contact ({contact}) "
                "on a voicemail."
            ),
            letter=(
                "Dear {first_name},\n\n"
                "Your registry card expires on {date}. You can renew it now.\n\n"
                "If you would like our help, please contact us.\n\n" + _CLOSING
            ),
        ),
        ApprovedTemplate(
            id="certification-renewal",
            version=1,
            date_field="certification_expires_on",
            subject="Your certification renewal",
            email=(
                "Dear {first_name},\n\n"
                "Your certification ends on {date}. Please book a renewal visit before then.\n\n"
                "If you would like our help, reply to this e-mail or contact us.\n\n" + _CLOSING
            ),
            sms=(
                "{organisation}: Hi {first_name}, your certification ends on {date}. "
                "Contact us if you would like help booking a renewal: {contact}"
            ),
            phone=(
                "Ask for {first_name}. Say: your certification ends on {date}; please book a "
                "renewal visit before then. Leave only your name, that date and our contact "
                "({contact}) on a voicemail."
            ),
            letter=(
                "Dear {first_name},\n\n"
                "Your certification ends on {date}. Please book a renewal visit before then.\n\n"
                "If you would like our help, please contact us.\n\n" + _CLOSING
            ),
        ),
    )
}
