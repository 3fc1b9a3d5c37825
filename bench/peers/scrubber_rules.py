"""django-scrubber rules for the personal fields of the models ``bench/erasure.py`` seeds.

Written as a django-scrubber user would (one ``Scrubbers`` class per model, named in
``SCRUBBER_MAPPING``), field by field from our data map, with what works on our columns:

- plain text: ``Faker`` for names and addresses, ``Hash`` for keys that must stay unique or joinable
  (member number, device id, counterparty nickname), ``Empty`` for the rest;
- **encrypted** columns (``EncryptedTextField``/``EncryptedDateField``): ``Empty``/``Null`` only.
  ``Faker`` or ``Hash`` would write a value that is not a Fernet token, and every later read of the
  row fails (``erasure_vs_scrubber.py`` shows it on one row);
- blind indexes: ``Null``: scrubber does not know that ``email_bidx`` is derived from ``email``; left
  alone it keeps the member findable by exact e-mail, phone or document number.

Scrubber cannot delete a row, so documents, devices, cards, guardians keep their rows with empty
columns; the consent ledger (``consents.ConsentEvent``) is left out: its append-only trigger refuses
scrubber's ``UPDATE`` (shown by the script too).
"""

from django_scrubber.scrubbers import Empty, Faker, Hash, Null


class MemberScrubbers:
    member_number = Hash
    legal_name = Faker("name")
    local_name = Faker("name")
    nationality = Empty
    date_of_birth = Null
    email = Empty
    email_bidx = Null
    phone = Empty
    phone_bidx = Null


class InstitutionProfileScrubbers:
    legal_name = Faker("company")
    local_name = Empty
    registration_number = Hash
    registration_info = Empty
    business_phone = Empty
    main_place_of_business = Faker("address")
    company_structure = Empty
    funding_sources = Empty


class RelatedPersonScrubbers:
    legal_name = Faker("name")
    local_name = Empty
    nationality = Empty
    date_of_birth = Null
    email = Empty
    email_bidx = Null
    phone = Empty
    phone_bidx = Null


class IdentityDocumentScrubbers:
    issuing_country = Empty
    number = Empty
    number_bidx = Null
    file = Empty  # the column only: the file stays on disk


class PaymentInstrumentScrubbers:
    bank_name = Empty
    number = Empty
    number_bidx = Null
    last_four = Empty


class DeviceRecordScrubbers:
    ip_address = Null
    device_id = Hash
    imei = Empty
    mac_address = Empty
    browser = Empty
    region = Empty
    location = Empty


class TransactionRecordScrubbers:
    counterparty_nickname = Hash


class GuardianScrubbers:
    name = Faker("name")
    contact = Empty
    contact_bidx = Null
    verification_evidence = Empty
