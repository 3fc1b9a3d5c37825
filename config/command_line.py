"""``manage.py``'s command line: Django's, run in the operator's language (issue 16, requirement 1).

A person runs a command at a terminal (or cron runs it for them), so its messages follow their
locale environment as any gettext program's do: ``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES``, ``LANG``,
the first one set deciding (``accounts.languages.environment_language``). ``LANG=zh_CN.UTF-8
manage.py erase_members …`` reports in Chinese, ``LANGUAGE=en`` in English whatever ``LANG`` says,
and with none of them set a command speaks ``LANGUAGE_CODE`` as before.

This is the one place that reads the operator's language, and only ``manage.py`` comes through it.
The web (gunicorn, ``config.wsgi``), the Celery worker and beat (``celery -A config``) and
``call_command`` from code start elsewhere and keep Django's per-request or default language.
Within a command the activation holds for its own thread only (threads the command starts begin in
the default), and letters and staff e-mails name their recipient's language explicitly
(``translation.override``), so a Chinese operator's run still writes English mail to an English
member. Commands that must not translate (``migrate``, ``makemigrations``) deactivate it themselves
(Django's ``@no_translations``).
"""

from __future__ import annotations

from django.apps import apps
from django.core.management import ManagementUtility
from django.utils import translation

from accounts.languages import environment_language


class OperatorLanguageUtility(ManagementUtility):
    """Django's ``ManagementUtility``, activating the operator's language before a command runs."""

    def fetch_command(self, subcommand):
        # Django looks the command up after django.setup() (with --settings applied), just before it
        # runs it or prints its help: the first moment a catalogue can be loaded. Without ready apps
        # (broken settings) Django is about to report that error: it is left as it is.
        if apps.ready:
            translation.activate(environment_language())
        return super().fetch_command(subcommand)


def execute_from_command_line(argv: list[str] | None = None) -> None:
    """``django.core.management.execute_from_command_line``, in the operator's language."""
    OperatorLanguageUtility(argv).execute()
