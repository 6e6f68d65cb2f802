"""Connection attempts become counters: one row per client address, user and time bucket instead of one per attempt.

The old rows of the current window are folded into buckets, so the limits hold across the deployment; older rows are
dropped: the limits never read them again, and under a flood folding them would mean reading every one.
"""

import ipaddress
from datetime import UTC, datetime, timedelta

import django.db.models.deletion
import django.db.models.functions.comparison
from django.conf import settings
from django.db import migrations, models
from django.utils import timezone

BUCKETS_PER_WINDOW = 10


def _counted_address(value, ipv6_prefix_length):
    address = ipaddress.ip_address(value)
    if isinstance(address, ipaddress.IPv4Address):
        return str(address)
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    host_bits = 128 - ipv6_prefix_length
    return str(ipaddress.IPv6Address(int(address) >> host_bits << host_bits))


def fold_attempts_into_buckets(apps, schema_editor):
    from websockets_app.conf import ws_settings

    attempts = apps.get_model("websockets_app", "ConnectionRateLimit").objects.using(schema_editor.connection.alias)
    window = ws_settings.CONNECT_RATE_LIMIT_WINDOW_SECONDS
    bucket_length = max(1, window // BUCKETS_PER_WINDOW)
    prefix_length = ws_settings.CONNECT_RATE_LIMIT_IPV6_PREFIX_LENGTH
    attempts.filter(last_attempt__lt=timezone.now() - timedelta(seconds=window)).delete()

    buckets = {}
    folded = []
    for row in attempts.order_by("pk").iterator(chunk_size=2000):
        epoch = int(row.last_attempt.timestamp())
        bucket_start = datetime.fromtimestamp(epoch - epoch % bucket_length, tz=UTC)
        key = (_counted_address(row.ip_address, prefix_length), row.user_id, bucket_start)
        # Before the fold, successful is the old boolean (0 or 1) and the row is one attempt.
        successful, refused = row.successful, 1 - row.successful
        bucket = buckets.get(key)
        if bucket is None:
            row.ip_address, row.bucket_start = key[0], bucket_start
            row.successful, row.refused = successful, refused
            buckets[key] = row
        else:
            bucket.successful += successful
            bucket.refused += refused
            bucket.last_attempt = max(bucket.last_attempt, row.last_attempt)
            folded.append(row.pk)
    attempts.bulk_update(
        buckets.values(), ["ip_address", "bucket_start", "last_attempt", "successful", "refused"], batch_size=500
    )
    for start in range(0, len(folded), 5000):
        attempts.filter(pk__in=folded[start : start + 5000]).delete()
    # Run the deferred foreign-key checks these updates queued now: PostgreSQL refuses the ALTER TABLEs that follow
    # in this transaction while a table has pending trigger events.
    schema_editor.connection.check_constraints(table_names=[attempts.model._meta.db_table])


class Migration(migrations.Migration):
    dependencies = [
        ("websockets_app", "0006_session_message_window"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(model_name="connectionratelimit", name="wsapp_attempt_ip_idx"),
        migrations.RemoveIndex(model_name="connectionratelimit", name="wsapp_attempt_user_idx"),
        migrations.RenameField(model_name="connectionratelimit", old_name="attempt_time", new_name="last_attempt"),
        migrations.AlterField(
            model_name="connectionratelimit",
            name="last_attempt",
            field=models.DateTimeField(default=timezone.now, editable=False),
        ),
        migrations.AlterField(
            model_name="connectionratelimit",
            name="successful",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="connectionratelimit",
            name="refused",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="connectionratelimit",
            name="bucket_start",
            field=models.DateTimeField(editable=False, null=True),
        ),
        migrations.AlterField(
            model_name="connectionratelimit",
            name="user",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="connection_attempts",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="connectionratelimit",
            name="ip_address",
            field=models.GenericIPAddressField(
                help_text="For IPv6, the first address of the client's network "
                "(WEBSOCKETS['CONNECT_RATE_LIMIT_IPV6_PREFIX_LENGTH']).",
                verbose_name="IP address",
            ),
        ),
        migrations.RunPython(fold_attempts_into_buckets, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="connectionratelimit",
            name="bucket_start",
            field=models.DateTimeField(editable=False),
        ),
        migrations.AlterModelOptions(
            name="connectionratelimit",
            options={"ordering": ["-last_attempt"], "verbose_name": "connection attempts bucket"},
        ),
        migrations.AddConstraint(
            model_name="connectionratelimit",
            constraint=models.UniqueConstraint(
                models.F("ip_address"),
                models.F("bucket_start"),
                django.db.models.functions.comparison.Coalesce(models.F("user"), 0),
                name="wsapp_attempt_bucket_uniq",
            ),
        ),
        migrations.AddIndex(
            model_name="connectionratelimit",
            index=models.Index(fields=["user", "bucket_start"], name="wsapp_attempt_user_bucket_idx"),
        ),
    ]
