"""The OTP steps of staff sign-in, mounted at ``admin/otp/`` (before the admin's catch-all)."""

from django.urls import path

from accounts.staff import otp_views

app_name = "otp"

urlpatterns = [
    path("verify/", otp_views.verify, name="verify"),
    path("enrol/", otp_views.enrol, name="enrol"),
]
