import secrets

from django.db import migrations, models

import websockets_app.models


def give_each_gateway_its_own_secret(apps, schema_editor):
    # AddField evaluates the callable default once, so rows that existed before would share one secret.
    ApiGateway = apps.get_model("websockets_app", "ApiGateway")
    for gateway in ApiGateway.objects.only("pk"):
        ApiGateway.objects.filter(pk=gateway.pk).update(integration_secret=secrets.token_urlsafe(32))


class Migration(migrations.Migration):
    dependencies = [
        ("websockets_app", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="apigateway",
            name="integration_secret",
            field=models.CharField(
                default=websockets_app.models.generate_integration_secret, editable=False, max_length=64
            ),
        ),
        migrations.RunPython(give_each_gateway_its_own_secret, migrations.RunPython.noop),
    ]
