"""Shared body of the commands that run one provisioning step on the ApiGateway row named by --pk."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from websockets_app import provisioning
from websockets_app.models import ApiGateway


class ProvisioningCommand(BaseCommand):
    step_name: str  # shown in the output, e.g. "Create API Gateway"
    function_name: str  # the websockets_app.provisioning function that does the work

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--pk", type=int, required=True, help="Primary key of the ApiGateway row.")

    def handle(self, *args: Any, pk: int, **options: Any) -> None:
        try:
            gateway = ApiGateway.objects.get(pk=pk)
        except ApiGateway.DoesNotExist:
            raise CommandError(f"No ApiGateway with pk={pk}.") from None
        self.confirm(gateway, options)
        try:
            steps = getattr(provisioning, self.function_name)(gateway)
        except provisioning.ProvisioningError as exc:
            raise CommandError(f"{self.step_name} failed for {gateway.api_name!r}: {exc}") from exc
        if options["verbosity"] >= 1:
            for step in steps or ():
                self.stdout.write(f"  {step}")
        self.stdout.write(self.style.SUCCESS(f"{self.step_name} succeeded for {gateway.api_name!r}."))

    def confirm(self, gateway: ApiGateway, options: dict[str, Any]) -> None:
        """Raise CommandError to stop before anything is done; commands that destroy things ask first."""
