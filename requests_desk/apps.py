from django.apps import AppConfig


class RequestsDeskConfig(AppConfig):
    name = "requests_desk"
    verbose_name = "Request desk"
