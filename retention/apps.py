from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RetentionConfig(AppConfig):
    name = "retention"
    verbose_name = _("Retention and erasure")

    def ready(self) -> None:
        # The admin's autodiscovery ran in its own ready() (it is listed first): the member admin,
        # if accounts registers one, exists now and gets the "Prepare erasure" action.
        from retention.admin_actions import attach_member_actions

        attach_member_actions()
