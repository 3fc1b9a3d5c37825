from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConsentsConfig(AppConfig):
    name = "consents"
    verbose_name = _("Consents and disclosures")

    def ready(self) -> None:
        # PP-10: accounts refuses to store a face capture without a biometric grant, through a hook
        # that accounts owns, so that accounts never imports consents (design card: imports run one way).
        from accounts.members.hooks import register_document_store_check, register_member_page_panel
        from consents.grounds.member_page import member_page_grounds
        from consents.selectors import face_capture_consent_check

        register_document_store_check(face_capture_consent_check)
        # PP-17: the member's page shows processing on legal grounds, through the same kind of hook.
        register_member_page_panel(member_page_grounds)
