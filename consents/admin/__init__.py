"""The consents admin: purposes, policy versions with their campaigns, the ledger (read-only), the
per-member consent timeline, guardians, recipients and the disclosure register.

Nothing important happens here: publishing, preparing, approving and rejecting call the services
(``consents.campaigns``, ``consents.disclosures``) and show their errors with ``message_user``.
Every list sets ``list_select_related`` and reads a bounded number of queries per page; the big
tables (ledger, states, notices, disclosed members, SMS replies) skip the full ``COUNT(*)``.

One module a room: ``catalogues``, ``policy`` (versions and campaigns), ``ledger`` (events, states,
timeline, guardians, SMS replies), ``disclosures`` and ``grounds`` (processing on legal grounds,
PP-17); ``base`` holds what they share. Importing the package registers every page.
"""

from consents.admin import catalogues, disclosures, grounds, ledger, policy

__all__ = ["catalogues", "disclosures", "grounds", "ledger", "policy"]
