"""Credentials: the developer's ADC, the IAM Credentials client, the local signer, the token
cache. Nothing here knows about HTTP requests to the emulator."""
