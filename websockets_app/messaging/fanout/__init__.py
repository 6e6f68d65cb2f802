"""Very large sends through SQS: the queue's message format (``batches``: split, encode, decode, enqueue) and the
consumer that posts what it takes off the queue (``consumer``), together, so that both sides of the format live
in one place. Nothing is imported here: the consumer's senders load only in the fan-out function.
"""
