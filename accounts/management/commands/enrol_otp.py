"""``manage.py enrol_otp EMAIL``: an administrator issues (or removes) a staff user's authenticator.

Self-enrolment at first sign-in is the usual path (``/admin/otp/enrol/``). This command is for the
cases it does not cover: a lost phone (``--remove``: the user enrols again at next sign-in, or
``--replace``: issue a new one now), and deployments that turn self-enrolment off
(``OTP_SELF_ENROLMENT=false``). It prints the otpauth URI once; hand it to the user privately.
"""

from __future__ import annotations

import io
import logging

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from accounts.models import StaffUser
from accounts.staff import otp

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Issue a TOTP authenticator for the staff user with this e-mail and print its otpauth URI "
        "(once), or remove the user's authenticators with --remove."
    )

    def add_arguments(self, parser):
        parser.add_argument("email", help="The staff user's sign-in e-mail.")
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--replace", action="store_true",
                           help="Replace an existing authenticator (the old one stops working).")
        group.add_argument("--remove", action="store_true",
                           help="Remove the user's authenticators; they set up a new one at next sign-in.")
        parser.add_argument("--qr", action="store_true", help="Also draw the QR code in the terminal.")

    def handle(self, *args, email: str, replace: bool = False, remove: bool = False, qr: bool = False, **options):
        user = StaffUser.objects.filter(email__iexact=email.strip()).first()
        if user is None:
            raise CommandError(_("No staff user has that e-mail."))
        if remove:
            count = otp.devices_remove(user=user)
            logger.info("Authenticators of staff user %s removed by enrol_otp (%d)", user.pk, count)
            self.stdout.write(_("Removed %(count)s authenticator(s) of staff user #%(user)s.")
                              % {"count": count, "user": user.pk})
            return
        try:
            device = otp.device_issue(user=user, replace=replace)
        except otp.DeviceExists as exc:
            raise CommandError(str(exc)) from exc
        logger.info("Authenticator issued for staff user %s by enrol_otp", user.pk)
        self.stdout.write(_("Authenticator issued for staff user #%(user)s. Give the user this URI privately; "
                            "it is not shown again:") % {"user": user.pk})
        self.stdout.write(device.config_url)
        self.stdout.write(_("Secret key (to type in instead): %(key)s") % {"key": otp.base32_secret(device)})
        if qr:
            import segno

            drawing = io.StringIO()
            segno.make(device.config_url, error="m").terminal(out=drawing, compact=True)
            self.stdout.write(drawing.getvalue(), ending="")
        if not otp.otp_required(user):
            self.stdout.write(_("Note: this user's role does not require two-factor sign-in; the code is now "
                                "asked at every sign-in all the same."))
