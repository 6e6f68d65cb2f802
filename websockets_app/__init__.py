"""A reusable Django app that serves an AWS API Gateway WebSocket API with ordinary class-based views."""
