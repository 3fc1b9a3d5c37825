"""Staff users: the back-office logins. Their roles are groups (``accounts.staff.roles``)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop
from simple_history.models import HistoricalRecords

from accounts.privacy.datamap import Category, DataMap, Erasure, Personal


class StaffUserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra) -> StaffUser:
        if not email:
            raise ValueError("A staff user needs an e-mail address to log in with.")
        user = self.model(email=self.normalize_email(email), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra) -> StaffUser:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra) -> StaffUser:
        extra.update(is_staff=True, is_superuser=True)
        return self._create_user(email, password, **extra)


class StaffUser(AbstractBaseUser, PermissionsMixin):
    """A back-office login. Roles are groups (see ``accounts.staff.roles``)."""

    email = models.EmailField(_("e-mail"), unique=True)
    full_name = models.CharField(_("full name"), max_length=150, blank=True)
    is_staff = models.BooleanField(
        _("may log in to the admin"), default=True, help_text=_("Back-office logins are staff by definition.")
    )
    is_active = models.BooleanField(_("active"), default=True)
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)
    # Issue 16: the language of this user's screens; blank follows the browser's Accept-Language
    # (accounts.staff.language.StaffLanguageMiddleware activates it, the language switch sets it).
    language = models.CharField(
        _("language"),
        max_length=10,
        blank=True,
        choices=settings.LANGUAGES,
        help_text=_("Blank: follow the browser's language."),
    )

    # Password hashes and login times are not decisions: kept out of the audit history.
    history = HistoricalRecords(excluded_fields=["password", "last_login"])

    objects = StaffUserManager()

    data_map = DataMap(
        subject="",
        personal={
            "email": Personal(Category.STAFF, False, gettext_noop("Staff e-mail"), Erasure.SET_NULL, exported=False),
            "full_name": Personal(Category.STAFF, False, gettext_noop("Staff name"), Erasure.SET_NULL, exported=False),
        },
        not_personal=(
            "id", "password", "last_login", "is_superuser", "groups", "user_permissions",
            "is_staff", "is_active", "date_joined", "language",
        ),
        note=_("Back-office logins, not members."),
    )

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        verbose_name = _("staff user")
        verbose_name_plural = _("staff users")
        ordering = ["pk"]

    def __str__(self) -> str:
        # Style rule 6: no names or addresses in __str__, which feeds admin log entries.
        return f"Staff #{self.pk}" if self.pk else "Staff (unsaved)"

    def get_full_name(self) -> str:
        return self.full_name

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else ""
