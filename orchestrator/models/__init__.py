"""The model layer: registry, role binding, providers and the one gateway every call goes through.

Importing this package must stay cheap: LiteLLM and llama-cpp are imported lazily, inside functions.
"""
