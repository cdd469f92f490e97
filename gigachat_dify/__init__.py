"""GigaChat knowledge for the Dify provider: pure, separately tested modules (see docs/architecture.md)."""
