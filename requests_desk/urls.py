"""The request desk's pages (mounted at ``desk/``). Requests are named by public reference only."""

from django.urls import path

from requests_desk import views

app_name = "requests_desk"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("take-next/", views.take_next, name="take_next"),
    path("new/", views.intake, name="intake"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("r/<str:reference>/", views.request_detail, name="request_detail"),
    path("r/<str:reference>/do/<slug:name>/", views.request_transition, name="request_transition"),
    path("r/<str:reference>/identity-check/", views.identity_check, name="identity_check"),
    path("r/<str:reference>/reply/", views.reply, name="reply"),
    path("r/<str:reference>/letter-language/", views.letter_language, name="letter_language"),
    path("r/<str:reference>/contact/", views.log_contact, name="log_contact"),
    path("r/<str:reference>/fee/", views.fee, name="fee"),
    path("r/<str:reference>/member/", views.identify_member, name="identify_member"),
    path("r/<str:reference>/packages/<int:pk>/retry/", views.package_retry, name="package_retry"),
    path("r/<str:reference>/attachments/<int:pk>/", views.attachment, name="attachment"),
]
