from django.contrib import admin
from django.urls import path

from config.health import health

admin.site.site_header = "Privacy back office"
admin.site.site_title = "Privacy back office"
admin.site.index_title = "Compliance"

urlpatterns = [
    path("health/", health, name="health"),
    path("admin/", admin.site.urls),
]
