"""The OpenAI-compatible front door (`/v1/...`): OpenAI's SDKs and HTTP formats on top of mediagate."""

from mediagate.api.openai.router import router

__all__ = ["router"]
