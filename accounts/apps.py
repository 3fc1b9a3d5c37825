from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Members and staff")

    def ready(self) -> None:
        # Sign-in controls (issue 7): the session stamp receiver and the OTP_DEV_BYPASS check.
        from accounts.staff import security  # noqa: F401
