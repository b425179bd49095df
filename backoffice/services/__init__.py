"""The back office's own operations over its models: the job outbox, API tokens, staff alerts."""
