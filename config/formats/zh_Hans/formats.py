"""Simplified Chinese date formats of the back office (issue 16): 2026年12月7日, 24-hour clock.

Django's own zh_Hans formats stand for everything not named here (FORMAT_MODULE_PATH in settings).
"""

SHORT_DATE_FORMAT = "Y年n月j日"
SHORT_DATETIME_FORMAT = "Y年n月j日 H:i"
