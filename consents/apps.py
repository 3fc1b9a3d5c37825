from django.apps import AppConfig


class ConsentsConfig(AppConfig):
    name = "consents"
    verbose_name = "Consents and disclosures"

    def ready(self) -> None:
        # PP-10: accounts refuses to store a face capture without a biometric grant, through a hook
        # that accounts owns, so that accounts never imports consents (design card: imports run one way).
        from accounts.members.hooks import register_document_store_check
        from consents.selectors import face_capture_consent_check

        register_document_store_check(face_capture_consent_check)
