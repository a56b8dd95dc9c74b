from django.apps import AppConfig
from django.core.signals import request_finished

from .requests import request_done


class CoreConfig(AppConfig):
    name = "core"

    def ready(self):
        request_finished.connect(request_done, dispatch_uid="core.requests.request_done")
