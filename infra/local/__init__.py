"""A local stand-in for API Gateway: the WebSocket API, its Management API and the HTTP API on 127.0.0.1.

AWS SAM's local mode has no WebSockets. This package gives the whole loop on a laptop, with no AWS account and no
Docker: browsers connect to a real WebSocket server that turns each connect, message and close into the same
Lambda event API Gateway sends, and the project's Lambda handlers answer them, in this process or behind a
``sam local start-lambda`` endpoint. ``python -m infra.local`` (``make local``) starts it.

- ``config``: the ports, limits and routes (API Gateway's quotas by default).
- ``events``: Lambda events, shaped as API Gateway delivers them.
- ``invokers``: running an event through a handler, in-process or over the Lambda Invoke API.
- ``frames``: API Gateway's 32 KB frame limit, which aiohttp does not have.
- ``gateway``: the servers and the connections they hold.
- ``sam``: ``sam local start-lambda`` as a child process.
"""
