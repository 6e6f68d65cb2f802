from typing import Any

from django.core.management.base import CommandError, CommandParser

from websockets_app.management.commands._provisioning import ProvisioningCommand
from websockets_app.models import ApiGateway


class Command(ProvisioningCommand):
    help = (
        "Delete from AWS everything created for the ApiGateway row --pk: alias record, API mapping, custom domain, "
        "Lambda permission and the API with its routes and stage. The row stays and can be created again."
    )
    step_name = "Delete API Gateway"
    function_name = "delete_api_gateway"

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help="Do not ask for confirmation (for scripts and the Lambda 'manage' event).",
        )

    def confirm(self, gateway: ApiGateway, options: dict[str, Any]) -> None:
        if not options["interactive"]:
            return
        prompt = (
            f"This deletes API {gateway.api_id or '(none)'} of {gateway.api_name!r} and its custom domain from AWS; "
            "connected clients are cut off.\nType 'yes' to continue: "
        )
        try:
            answer = input(prompt)
        except EOFError:  # no terminal to ask on
            answer = ""
        if answer.strip().lower() != "yes":
            raise CommandError("Not confirmed; nothing was deleted. Use --noinput to skip the question.")
