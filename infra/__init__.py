"""The AWS Lambda side of the project: entry points that turn AWS events into Django work."""
