"""Idempotency keys of the member-facing site's deliveries (``consents.api``); roles re-synced so the
reading roles see the new model."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

from accounts.staff.roles import sync_roles_migration


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0006_encrypt_funding_sources'),
        ('consents', '0003_append_only_and_roles'),
    ]

    operations = [
        migrations.CreateModel(
            name='SiteEvent',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('key', models.CharField(max_length=100, verbose_name='idempotency key')),
                ('kind', models.CharField(choices=[('grant', 'Grant of a purpose'), ('withdraw', 'Withdrawal of a purpose'), ('seen', 'Policy version seen'), ('accepted', 'Policy version accepted')], max_length=10, verbose_name='kind')),
                ('fingerprint', models.CharField(max_length=64, verbose_name='fingerprint')),
                ('outcome', models.CharField(choices=[('recorded', 'Recorded'), ('unchanged', 'Already on file: nothing changed'), ('not_needed', 'A minor version: continued use is acceptance (PP-39)')], max_length=12, verbose_name='outcome')),
                ('received_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='received at')),
                ('member', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='site_events', to='accounts.member')),
            ],
            options={
                'verbose_name': 'web site or app event',
                'verbose_name_plural': 'web site and app events',
                'ordering': ['-received_at', '-pk'],
                'constraints': [models.UniqueConstraint(fields=('key',), name='consents_siteevent_unique_key')],
            },
        ),
        migrations.RunPython(sync_roles_migration, migrations.RunPython.noop),
    ]
