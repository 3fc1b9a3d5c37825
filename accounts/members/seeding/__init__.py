"""Demo members for ``manage.py seed_demo --members N --seed S`` (issue 3, requirement 12), one module per step.

What it makes, per member: an individual (about nine in ten, from ten countries) or an institution
(an ``InstitutionProfile`` and one to three related persons, each with an identity document),
identity documents whose numbers pass ``accounts.members.validators`` for their kind and country (PRC
resident ID check digit, Korean RRN, French NIR, German IdNr, Aadhaar, US SSN, ICAO passports, …),
real-name and advanced verifications, payment instruments (Luhn-valid cards, IBANs), device records
and 20 to 34 transaction records. Four in every hundred members are minors: aged exactly 13 or
exactly 16 on the day of seeding (PP-03, PP-37, PP-38 have something to act on).

Three properties the callers rely on:

- **Deterministic.** Member ``i`` is numbered ``M{i:09d}`` and every value is drawn from its own
  ``random.Random(f"…:{seed}:{i}")`` (never the global generator, no Faker state), so the same seed
  gives the same members, whatever the chunk size and whichever members already exist. Dates are
  drawn relative to ``today`` (minors must be 13 *today*), so a rerun on another day shifts them.
- **Idempotent.** Each chunk first reads which member numbers exist and creates only the others,
  with all their rows, in one transaction: a rerun (or a run after a crash) adds only what is missing.
- **Set-based.** ``bulk_create`` per model and chunk: the number of queries depends on the number of
  chunks, not of rows. ``bulk_create`` runs ``pre_save`` (blind indexes) and ``get_prep_value``
  (encryption) but not ``Model.save()``, so the values ``save()`` would derive (``birth_year``,
  ``last_four``) are set here. No audit-history rows are written for demo rows.

The steps: ``draws`` (random digits, the seeding day's clock), ``countries``, ``people``,
``plan`` (one member's unsaved rows, number, status, product lines), ``documents``,
``verifications``, ``instruments``, ``devices``, ``transactions``, ``individuals`` and
``institutions``; ``members`` (``MemberGenerator``) draws one member; ``reference`` ensures the
product lines and finds the demo reviewer; ``seed`` (``demo_members_seed``) writes them chunk by
chunk. The package itself imports none of them: import the step you need.
"""
