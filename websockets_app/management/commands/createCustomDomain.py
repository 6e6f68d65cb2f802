from websockets_app.management.commands._provisioning import ProvisioningCommand


class Command(ProvisioningCommand):
    help = "Create the custom domain and API mapping of the ApiGateway row --pk."
    step_name = "Create Custom Domain"
    function_name = "create_custom_domain"
