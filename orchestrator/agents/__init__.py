"""Agents: personas, the agent loop, context packets, the tools, the sandbox and the write policy."""
