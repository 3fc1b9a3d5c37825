"""Fulfilment of each type of request (issue 6, requirement 8): what "fulfil" does besides the status.

Every fulfilment in this package makes the ``fulfil`` transition through ``requests_desk.workflow.transition``
(so roles, the identity gate PP-30 and four eyes are checked there, once) and does the type's work
in the **same transaction**, then tells the requester with the ``fulfilment`` letter
(``requests_desk.letters``). If any step fails (a rule, the engine, the mail server) nothing is
recorded: the request stays where it was.

``dispatcher.request_fulfil`` picks the right one by type; screens and admin actions call it.

==========================  ===========================================================================
type                        fulfilment
==========================  ===========================================================================
access (PP-29)              the access package, generated from the data map, with an expiring link
correction                  the proposed change (``details["changes"]``) applied to the member with history
deletion (PP-29)            prepared by compliance, approved by a supervisor, erased by the retention
                            engine honouring legal holds and retention; the reply lists what was kept
consent withdrawal (PP-32)  a withdrawal event per purpose named in ``details["purposes"]``
account cancellation        the member is marked cancelled; ``anonymise_cancelled`` erases after the
(PP-33)                     grace period
underage report (PP-37)     confirmed by compliance: ``retention.jobs.under_14.purge_under_14`` reads
                            confirmed (fulfilled) reports and closes and erases the member
security report (PP-28)     needs a severity; routed to a compliance officer
complaint, dispute,         the reply
enquiry
==========================  ===========================================================================

One module a type (or group): ``access``, ``correction``, ``deletion``, ``consent_withdrawal``,
``cancellation``, ``reports`` (underage and security reports); ``dispatcher`` holds ``request_fulfil``
and the reply-only types; ``base`` what they share.
"""
