"""The import preview's comparison, of masked values only (PP-25)."""

from __future__ import annotations

from import_export.resources import Diff


class MaskedDiff(Diff):
    """The import preview compares masked values: a preview is no place to reveal (PP-25).

    (The library's ``Diff`` calls ``Diff._read_field_values`` by name, so both ends are overridden.)
    """

    def __init__(self, resource, instance, new):
        self.left = self._masked_values(resource, instance)
        self.right = []
        self.new = new

    def compare_with(self, resource, instance):
        self.right = self._masked_values(resource, instance)

    @staticmethod
    def _masked_values(resource, instance) -> list[str]:
        return [resource.preview_value(field, instance) for field in resource.get_import_fields()]
