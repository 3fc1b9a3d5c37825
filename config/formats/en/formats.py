"""English date formats of the back office (issue 16): ISO-like short dates, as the desk always showed them.

Django's own English formats stand for everything not named here (FORMAT_MODULE_PATH in settings).
"""

SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
