"""URLs of the consents app, mounted at ``/consents/``."""

from django.urls import path

from consents import views

app_name = "consents"

urlpatterns = [
    # PP-12: the SMS gateway posts members' replies here (signed, no login).
    path("sms/inbound/", views.sms_inbound, name="sms-inbound"),
]
