from websockets_app.management.commands._provisioning import ProvisioningCommand


class Command(ProvisioningCommand):
    help = (
        "Send the current settings of the ApiGateway row --pk to its existing AWS API: integrations, routes "
        "(added, changed and removed), stage and tags; then redeploy the stage."
    )
    step_name = "Update API Gateway"
    function_name = "update_api_gateway"
