from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Members and staff"

    def ready(self) -> None:
        # Sign-in controls (issue 7): the session stamp receiver and the OTP_DEV_BYPASS check.
        from accounts.staff import security  # noqa: F401
