"""One provisioning run: its boto3 clients, its AWS calls (errors made safe to show) and the steps it took."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from websockets_app.models import ApiGateway


class ProvisioningError(Exception):
    """A provisioning step could not run or failed; ``str()`` is fit for an admin message."""


def make_client(service: str, region: str) -> Any:
    """A boto3 client; the one seam between this module and AWS (tests replace it)."""
    import boto3

    from websockets_app.conf import ws_settings

    if ws_settings.AWS_PROFILE:
        return boto3.Session(profile_name=ws_settings.AWS_PROFILE).client(service, region_name=region)
    return boto3.client(service, region_name=region)


# Error codes that mean "the thing to delete or update is not there" for each service.
NOT_FOUND = frozenset({"NotFoundException", "ResourceNotFoundException"})


ALREADY_EXISTS = frozenset({"ConflictException", "ResourceConflictException"})


_MAX_AWS_MESSAGE = 200


class AwsError(ProvisioningError):
    """A failed AWS call; ``code`` is AWS's error code (or the botocore exception name)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class Run:
    """One provisioning run on one gateway: its clients, its AWS calls, and the record of what it did."""

    def __init__(self, gateway: ApiGateway) -> None:
        self.gateway = gateway
        self.region = gateway.effective_region
        if not self.region:
            raise ProvisioningError(f"No AWS region is known for API Gateway {gateway.api_name!r}.")
        self.steps: list[str] = []
        self._clients: dict[tuple[str, str], Any] = {}

    def client(self, service: str, region: str | None = None) -> Any:
        key = (service, region or self.region)
        if key not in self._clients:
            self._clients[key] = make_client(*key)
        return self._clients[key]

    @property
    def apigw(self) -> Any:
        return self.client("apigatewayv2")

    def call(self, step: str, method: Callable[..., Any], **params: Any) -> Any:
        """Make one AWS call; a failure becomes a ProvisioningError naming ``step`` and the AWS error code."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return method(**params)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = error.get("Code") or "ClientError"
            detail = self._scrub(str(error.get("Message") or ""))
            raise AwsError(f"{step} failed: {code}" + (f" ({detail})" if detail else ""), code) from None
        except BotoCoreError as exc:
            # No credentials, no connection, a parameter botocore refused: no AWS code, the class name says it.
            code = type(exc).__name__
            raise AwsError(f"{step} failed: {code} ({self._scrub(str(exc))})", code) from None

    def call_tolerating(self, codes: frozenset[str], step: str, method: Callable[..., Any], **params: Any) -> Any:
        """Like ``call``, but an error whose code is in ``codes`` returns None (e.g. deleting what is gone)."""
        try:
            return self.call(step, method, **params)
        except AwsError as exc:
            if exc.code in codes:
                return None
            raise

    def _scrub(self, text: str) -> str:
        # AWS and botocore sometimes echo request values; the integration secret is one of them.
        secret = self.gateway.integration_secret
        if secret:
            text = text.replace(secret, "[secret]")
        return text[:_MAX_AWS_MESSAGE]

    def save(self, *fields: str) -> None:
        self.gateway.save(update_fields=[*fields, "updated_on"])

    def did(self, step: str) -> None:
        self.steps.append(step)


def run_steps(gateway: ApiGateway, what: str, body: Callable[[Run], None]) -> list[str]:
    """Run ``body``; on failure record why on the row (everything done so far is already recorded) and re-raise."""
    run = Run(gateway)
    try:
        body(run)
    except ProvisioningError as exc:
        gateway.provisioning_error = f"{what}: {exc}"
        run.save("provisioning_error")
        raise
    if gateway.provisioning_error:
        gateway.provisioning_error = ""
        run.save("provisioning_error")
    return run.steps
