"""Admin pages of the accounts app beside the model admins, mounted under ``admin/accounts/``.

Records are named by model label, primary key and field name: never by a value (requirement 11).
"""

from django.contrib import admin
from django.urls import path

from accounts.members import views as member_views
from accounts.privacy import views

app_name = "accounts"

urlpatterns = [
    path(
        "reveal/<str:model_label>/<str:object_id>/<str:field_name>/",
        admin.site.admin_view(views.reveal_value),
        name="reveal",
    ),
    path("documents/<int:pk>/file/", admin.site.admin_view(member_views.document_file), name="document_file"),
    path("data-map/", admin.site.admin_view(views.data_map), name="data_map"),
    path("data-map/download/<str:fmt>/", admin.site.admin_view(views.data_map_download), name="data_map_download"),
]
