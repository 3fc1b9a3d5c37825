"""URLs of the consents app, mounted at ``/consents/``."""

from django.urls import path

from consents import api, views

app_name = "consents"

urlpatterns = [
    # PP-12: the SMS gateway posts members' replies here (signed, no login).
    path("sms/inbound/", views.sms_inbound, name="sms-inbound"),
    # PP-05, PP-38, PP-39, PP-40: the member-facing web site and app post consent events here (signed).
    path("api/events/", api.site_events, name="site-events"),
]
