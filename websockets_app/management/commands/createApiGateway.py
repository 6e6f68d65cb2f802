from websockets_app.management.commands._provisioning import ProvisioningCommand


class Command(ProvisioningCommand):
    help = "Create the AWS API Gateway WebSocket API described by the ApiGateway row --pk."
    step_name = "Create API Gateway"
    function_name = "create_api_gateway"
