"""Project settings with every setting name of django-aws-api-gateway-websockets 4.x, as its documentation and
source spell them: ``manage.py check`` must report each one with its replacement (tests/test_legacy_settings.py)."""

from project.settings import *  # noqa: F403

AWS_GATEWAY_REGION_NAME = "eu-west-2"
AWS_REGION_NAME = "eu-west-1"
AWS_IAM_PROFILE = "websockets"
AWS_ACCESS_KEY_ID = "AKIAEXAMPLEEXAMPLE00"
AWS_SECRET_ACCESS_KEY = "legacy-secret-access-key-never-printed"

WEBSOCKETS = {
    "token_rate_limit_per_minute": 20,
    "token_expiry_seconds": 60,
    "rate_limit_max_attempts": 20,
    "rate_limit_window_minutes": 1,
    "push_changes_to_aws": True,
    "gateway_secret": "a-gateway-secret-of-at-least-32-characters-long",
    "allowed_integration_hosts": ["www.example.com"],
}
