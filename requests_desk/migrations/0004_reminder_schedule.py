"""The reminder job's schedule (issue 15, requirement 3; PP-34).

``Request.reminder_due_at``: when the reminder job must next look at an open request; every existing
row starts at 1970-01-01, so the first run after this migration looks at each open request once
(claims already in the log are skipped: the unique constraint) and schedules it. ``reminder_run``:
the stamp of the run that last looked. Partial indexes on open requests serve both lookups; one on
the unsent reminder rows serves the send step.
"""

import datetime
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('requests_desk', '0003_channel_in_person'),
    ]

    operations = [
        migrations.AddField(
            model_name='request',
            name='reminder_due_at',
            field=models.DateTimeField(blank=True, default=datetime.datetime(1970, 1, 1, 0, 0, tzinfo=datetime.timezone.utc), editable=False, null=True, verbose_name='reminders next due at'),
        ),
        migrations.AddField(
            model_name='request',
            name='reminder_run',
            field=models.DateTimeField(blank=True, editable=False, null=True, verbose_name='reminders last looked at by run'),
        ),
        migrations.AddIndex(
            model_name='reminderlog',
            index=models.Index(condition=models.Q(('sent_at__isnull', True)), fields=['id'], name='desk_reminderlog_unsent'),
        ),
        migrations.AddIndex(
            model_name='request',
            index=models.Index(condition=models.Q(('status__in', ['awaiting_approval', 'awaiting_identity', 'in_progress', 'new'])), fields=['reminder_due_at'], name='desk_request_reminder_due'),
        ),
        migrations.AddIndex(
            model_name='request',
            index=models.Index(condition=models.Q(('status__in', ['awaiting_approval', 'awaiting_identity', 'in_progress', 'new'])), fields=['reminder_run'], name='desk_request_reminder_run'),
        ),
    ]
