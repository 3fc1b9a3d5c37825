"""The records a file names, loaded in one query per 5,000 keys (an encrypted key through its blind index)."""

from __future__ import annotations

from import_export.instance_loaders import ModelInstanceLoader

from accounts.privacy import crypto
from accounts.privacy.fields import BlindIndexField
from accounts.progress import chunked


class KeyedInstanceLoader(ModelInstanceLoader):
    """Loads the existing records a file names in one query per 5,000 keys (not one per row).

    Tolerates bad keys: the row that holds one gets a field error instead of stopping the import.
    """

    def __init__(self, resource, dataset=None):
        super().__init__(resource, dataset)
        self.key_field = resource.fields[resource.get_import_id_fields()[0]]
        keys = set()
        if dataset is not None and self.key_field.column_name in (dataset.headers or []):
            for value in dataset[self.key_field.column_name]:
                key = self._key(value)
                if key not in (None, ""):
                    keys.add(key)
        self.instances = {}
        index = self._blind_index_of(self.key_field.attribute)
        for chunk in chunked(sorted(keys, key=str), 5000):
            if index is None:
                found = self.get_queryset().filter(**{f"{self.key_field.attribute}__in": chunk})
            else:  # an encrypted key (the order number): matched through its blind index
                hashes = [crypto.blind_index(index.kind, str(key)) for key in chunk]
                found = self.get_queryset().filter(**{f"{index.name}__in": hashes})
            for instance in found:
                self.instances[getattr(instance, self.key_field.attribute)] = instance

    def _blind_index_of(self, attribute: str) -> BlindIndexField | None:
        for model_field in self.resource._meta.model._meta.concrete_fields:
            if isinstance(model_field, BlindIndexField) and model_field.source == attribute:
                return model_field
        return None

    def _key(self, value):
        try:
            return self.key_field.widget.clean(value)
        except (ValueError, TypeError, ArithmeticError):
            return None

    def get_instance(self, row):
        return self.instances.get(self._key(row.get(self.key_field.column_name)))
