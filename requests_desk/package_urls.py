"""The access-package download link (PP-29), mounted at ``packages/``. The token is random, not personal."""

from django.urls import path

from requests_desk import package_views

app_name = "packages"

urlpatterns = [
    path("<str:token>/", package_views.package_download, name="download"),
]
