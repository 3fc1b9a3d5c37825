"""The accounts app's admin, one module per room: staff users, the access log, members' records.

Django's admin autodiscovery imports this module; importing the rooms' admin modules registers them.
"""

from accounts.members.admin import members as members_admin
from accounts.members.admin import records as records_admin
from accounts.privacy import admin as privacy_admin
from accounts.staff import admin as staff_admin

__all__ = ["members_admin", "privacy_admin", "records_admin", "staff_admin"]
