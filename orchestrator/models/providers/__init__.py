"""In-process model providers: the embedded local models and the scripted fakes, plus their LiteLLM bridge."""
