"""factory_boy factories shared by the whole suite."""

import factory

from accounts.models import StaffUser

TEST_PASSWORD = "correct-horse-battery-staple"


class StaffUserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StaffUser
        django_get_or_create = ("email",)
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"staff{n}@test.example")
    full_name = factory.Faker("name")
    is_staff = True
    password = factory.PostGenerationMethodCall("set_password", TEST_PASSWORD)

    @factory.post_generation
    def _save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save(update_fields=["password"])
