from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _

from accounts.staff.language import set_language
from accounts.staff.otp_views import StaffLoginForm
from config.health import health

admin.site.site_header = _("Privacy back office")
admin.site.site_title = _("Privacy back office")
admin.site.index_title = _("Compliance")
# Sign-in for the admin and the request desk: password, then the authenticator code (issue 7).
admin.site.login_form = StaffLoginForm

urlpatterns = [
    path("health/", health, name="health"),
    # The language switch of the desk and the admin (issue 16): Django's set_language, which also
    # stores the staff user's preference.
    path("i18n/setlang/", set_language, name="set_language"),
    # Reveal, document download and data-map pages; before the admin so its catch-all never shadows them.
    path("admin/accounts/", include("accounts.urls")),
    path("admin/otp/", include("accounts.staff.otp_urls")),  # two-factor verify and enrolment steps
    path("admin/", admin.site.urls),
    path("desk/", include("requests_desk.urls")),  # the agents' request queue and dashboard (issue 6)
    path("consents/", include("consents.urls")),  # PP-12: the SMS gateway's inbound replies
    path("packages/", include("requests_desk.package_urls")),  # PP-29: access-package download links
]
